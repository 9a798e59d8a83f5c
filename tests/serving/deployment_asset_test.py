"""The deployment asset publishes the built version and starts its rollout on a running server (shadow first, or at
once where the model is declared without stages), and fails with the old deployment intact on a refused version."""

import dataclasses
import json

import dagster as dg
import pytest

from assets.deployment import deployment_asset, engine_key
from domain.models import FRAUD
from features.model_declaration import RolloutDeclaration
from serving.deployment_plan import read_deployment
from tests.serving.serving_harness import ServerProcess, add_version

STAGED = deployment_asset(FRAUD)
AT_ONCE = deployment_asset(dataclasses.replace(FRAUD, rollout=RolloutDeclaration(stages=(100,))))
SERVING_ENGINE = engine_key(FRAUD)


def report_engine(instance: dg.DagsterInstance, build_root, version: int, limit: float | None = None) -> None:
    """Records a serving_engine materialization, as the asset would after building `version`."""
    metadata = {"model": "fraud", "version": version, "repository": str(build_root), "variant": "fp32"}
    if limit is not None:
        metadata["divergence_limit"] = limit
    instance.report_runless_asset_event(dg.AssetMaterialization(SERVING_ENGINE, metadata=metadata))


def run_deployment(instance, server, asset=AT_ONCE, timeout_s: float = 20):
    config = {"server_url": server.url, "served_repository": str(server.root), "ready_timeout_seconds": timeout_s}
    return dg.materialize(
        [asset],
        instance=instance,
        run_config={"ops": {"fraud_deployment": {"config": config}}},
        raise_on_error=False,
    )


def metadata_of(result) -> dict:
    (materialization,) = result.asset_materializations_for_node("fraud_deployment")
    return {k: v.value for k, v in materialization.metadata.items()}


@pytest.fixture
def setup(tmp_path):
    served, built = tmp_path / "served", tmp_path / "built"
    add_version(served, 1)
    add_version(built, 2)
    with ServerProcess(served, tmp_path, "--workers", "2") as server:
        server.root = served
        yield server, built


def test_a_new_version_starts_in_shadow_beside_the_serving_one(setup):
    server, built = setup
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 2, limit=0.05)
        result = run_deployment(instance, server, STAGED)
        assert result.success
        metadata = metadata_of(result)
    assert metadata["live_version"] == 2 and metadata["rollout"] == "start" and metadata["weights"] == {"1": 100}
    deployment = read_deployment(server.root, "fraud")
    assert deployment.shadow == (2,) and deployment.rollout["divergence_limit"] == 0.05
    assert server.request("GET", "/v2/models/fraud/versions/2/ready")[0] == 200, "loaded, scoring the mirror"
    metadata = server.request("GET", "/v2/models/fraud")[1]
    assert metadata["versions"] == ["1"] and metadata["deployment"]["shadow"] == ["2"], "nobody sees v2's answers"


def test_a_model_declared_without_stages_switches_at_once(setup):
    server, built = setup
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 2)
        result = run_deployment(instance, server)
        assert result.success and metadata_of(result)["weights"] == {"2": 100}
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["2"]
    assert (server.root / "fraud" / "2" / "model.onnx").read_bytes() == (
        built / "fraud" / "2" / "model.onnx"
    ).read_bytes()


def test_a_version_the_server_refuses_fails_the_deployment_and_the_old_one_stays_live(setup):
    server, built = setup
    broken = add_version(built, 3)
    (broken / "model.onnx").write_bytes(b"not a model")
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 3)
        result = run_deployment(instance, server, STAGED, timeout_s=4)
        assert not result.success
        failure = result.failure_data_for_node("fraud_deployment")
        assert "did not report version 3 of model 'fraud' ready" in failure.user_failure_data.description
        assert "['1']" in failure.user_failure_data.description, "the message says what is live instead"
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["1"]
    deployment = json.loads((server.root / "fraud" / "deployment.json").read_text())
    assert deployment["weights"] == {"1": 100} and deployment["shadow"] == [], "the deployment before it, restored"


def test_deploying_an_older_version_rolls_the_running_server_back_at_once(setup):
    server, built = setup
    add_version(built, 1)
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 2)
        assert run_deployment(instance, server).success
        assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["2"]
        report_engine(instance, built, 1)  # e.g. after `training.registry rollback`: the engine of the old champion
        result = run_deployment(instance, server, STAGED)
        assert result.success
        assert metadata_of(result)["live_version"] == 1 and metadata_of(result)["rollout"] == "follow"
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["1"], "an older version is not staged"
