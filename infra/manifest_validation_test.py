"""What infra/ deploys, rendered by Terraform itself, checked offline against every schema we have."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from infra.manifest_validation import (
    WORKSPACE,
    SchemasMissing,
    check_image,
    image_references,
    load_crds,
    schemas_root,
    validate_custom,
    validate_native,
    validate_values,
)
from infra.terraform_cli import render

RUNFILES = Path(os.environ.get("TEST_SRCDIR", "")) / os.environ.get("TEST_WORKSPACE", "flywheel")
REGISTRY = "europe-docker.pkg.dev/flywheel-prod/flywheel"


def bazel_images() -> dict[str, str | None]:
    """Image name -> digest Bazel built (None where the test does not build it: the multi-GB torch images)."""
    names = {p.name.removesuffix(".recipe.json") for p in (RUNFILES / "infra/images").glob("*.recipe.json")}
    assert {"serving", "user_code", "training_job", "training_job_gpu"} <= names, names
    digests = {name: None for name in names}
    digests["serving"] = (RUNFILES / "infra/images/serving.digest").read_text().strip()
    return digests


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    images = bazel_images()
    refs = {
        name: f"{REGISTRY}/{name}@{digest or 'sha256:' + hashlib.sha256(name.encode()).hexdigest()}"
        for name, digest in images.items()
        if name in ("serving", "user_code", "training_job", "training_job_gpu")
    }
    return render(tmp_path_factory.mktemp("render"), refs)


@pytest.fixture(scope="module")
def schemas() -> Path:
    return schemas_root()


def _native(rendered):
    return {k: m for k, m in rendered["manifests"].items() if "." not in m["apiVersion"].split("/")[0]}


def _custom(rendered):
    return {k: m for k, m in rendered["manifests"].items() if "." in m["apiVersion"].split("/")[0]}


def test_everything_the_stack_needs_is_rendered(rendered):
    kinds = {m["kind"] for m in rendered["manifests"].values()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet"} <= kinds
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= kinds
    assert set(rendered["helm_values"]) == {"dagster", "strimzi", "kube_prometheus_stack", "prometheus_adapter"}


def test_native_objects_match_kubernetes_schemas(rendered):
    errors = {key: validate_native(m) for key, m in _native(rendered).items()}
    assert not {k: e for k, e in errors.items() if e}


def test_custom_resources_match_their_crds(rendered, schemas):
    crds = load_crds(schemas)
    errors = {key: validate_custom(m, crds) for key, m in _custom(rendered).items()}
    assert not {k: e for k, e in errors.items() if e}


def test_a_broken_custom_resource_is_caught(rendered, schemas):
    crds = load_crds(schemas)
    kafka = next(m for m in rendered["manifests"].values() if m["kind"] == "Kafka")
    broken = json.loads(json.dumps(kafka))
    del broken["spec"]["kafka"]["listeners"]
    assert any("listeners" in e for e in validate_custom(broken, crds))


def test_dagster_values_match_the_chart_schemas(rendered, schemas):
    values = rendered["helm_values"]["dagster"]
    assert validate_values(values, schemas / "dagster-helm" / "values.schema.json") == []
    subchart = schemas / "dagster-helm" / "charts" / "dagster-user-deployments" / "values.schema.json"
    assert validate_values(values["dagster-user-deployments"], subchart) == []
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    bad = {**values, "runLauncher": {"type": "K8sRunLaunchr", "config": {}}}
    assert validate_values(bad, schemas / "dagster-helm" / "values.schema.json")


def test_serving_scales_on_queue_depth_and_keeps_capacity(rendered):
    manifests = rendered["manifests"]
    hpa = manifests["serving/HorizontalPodAutoscaler/flywheel-serving"]["spec"]
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "flywheel_inference_queue_rows"
    adapter_rule = rendered["helm_values"]["prometheus_adapter"]["rules"]["custom"][0]
    assert adapter_rule["name"]["as"] == "flywheel_inference_queue_rows"
    pdb = manifests["serving/PodDisruptionBudget/flywheel-serving"]["spec"]
    assert pdb["minAvailable"] >= 1 and hpa["minReplicas"] > pdb["minAvailable"]


def test_gpu_variants_select_and_tolerate_the_gpu_pool(rendered):
    cpu = rendered["manifests"]["serving/Deployment/flywheel-serving"]["spec"]["template"]["spec"]
    gpu = rendered["manifests"]["serving-gpu/Deployment/flywheel-serving-gpu"]["spec"]["template"]["spec"]
    assert not cpu["nodeSelector"] and not cpu["tolerations"]
    assert gpu["nodeSelector"] and gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    training = json.loads(
        rendered["helm_values"]["dagster"]["dagster-user-deployments"]["deployments"][0]["env"][
            "FLYWHEEL_TRAINING_K8S_CONFIG"
        ]
    )
    assert training["pod_spec_config"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "/training_job_gpu@sha256:" in training["container_config"]["image"]


def test_every_image_is_built_by_bazel_or_pinned_third_party(rendered):
    third_party = set(json.loads((WORKSPACE / "infra" / "third_party_images.json").read_text())["images"])
    images = bazel_images()
    deployment = rendered["helm_values"]["dagster"]["dagster-user-deployments"]["deployments"][0]
    training = json.loads(deployment["env"]["FLYWHEEL_TRAINING_K8S_CONFIG"])
    references = list(image_references(rendered)) + list(image_references(training, "/training"))
    assert len(references) == 6, references
    problems = [f"{where}: {why}" for where, ref in references if (why := check_image(ref, images, third_party))]
    assert not problems
    assert check_image(f"{REGISTRY}/serving:latest", images, third_party)
    assert check_image(f"{REGISTRY}/notours@sha256:{'0' * 64}", images, third_party)
    assert check_image(f"{REGISTRY}/serving@sha256:{'0' * 64}", images, third_party)


def test_missing_schemas_are_named(monkeypatch, tmp_path):
    import infra.manifest_validation as validation

    monkeypatch.setattr(validation, "WORKSPACE", tmp_path / "clone")
    with pytest.raises(SchemasMissing, match="shared/schemas"):
        validation.schemas_root()


def test_a_broken_native_object_is_caught(rendered):
    deployment = json.loads(json.dumps(rendered["manifests"]["serving/Deployment/flywheel-serving"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = "http"
    assert validate_native(deployment)
