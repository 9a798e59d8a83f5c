"""The serving image, run for real in a private Docker engine: health, model metadata and an inference request."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.images.docker_engine import run_detached, wait_for
from tools.services.process import free_port

RUNFILES = Path(os.environ.get("TEST_SRCDIR", "")) / os.environ.get("TEST_WORKSPACE", "flywheel")
IMAGE = RUNFILES / "infra/images/serving_test.tar"
MODEL_REPOSITORY = "tests/images/test_models"  # baked at /app/<this> by //infra/images:serving_test
MODEL = "tiny"


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def _post(url: str, document: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def serving(docker_engine):
    """The baked serving image running on a free host port; yields its base URL."""
    reference = docker_engine.load(IMAGE)
    port = free_port()
    name = f"serving-{port}"
    args = ["--repository", f"/app/{MODEL_REPOSITORY}", "--host", "127.0.0.1", "--port", str(port)]
    run_detached(docker_engine, reference, args, name)
    url = f"http://127.0.0.1:{port}"

    def logs() -> str:
        result = docker_engine.docker("logs", name, check=False)
        return result.stdout + result.stderr

    wait_for(lambda: _get(f"{url}/v2/health/ready")[0] == 200, 60, "serving /v2/health/ready", logs)
    yield url, reference, logs
    docker_engine.docker("rm", "-f", name, check=False)


def test_health_ready(serving):
    url, _, _ = serving
    assert _get(f"{url}/v2/health/ready")[0] == 200
    assert _get(f"{url}/v2/health/live")[0] == 200


def test_inference_matches_onnx_runtime_on_the_baked_model(serving):
    url, _, logs = serving
    model_file = RUNFILES / MODEL_REPOSITORY / MODEL / "1" / "model.onnx"
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape[1] for i in session.get_inputs()}
    rng = np.random.default_rng(3)
    numeric = rng.normal(size=(3, shapes["numeric"])).astype(np.float32)
    categorical = rng.integers(0, 4, size=(3, shapes["categorical"])).astype(np.int64)
    request = {
        "inputs": [
            {"name": "numeric", "datatype": "FP32", "shape": list(numeric.shape), "data": numeric.ravel().tolist()},
            {
                "name": "categorical",
                "datatype": "INT64",
                "shape": list(categorical.shape),
                "data": categorical.ravel().tolist(),
            },
        ]
    }
    response = _post(f"{url}/v2/models/{MODEL}/infer", request)
    (score,) = [o for o in response["outputs"] if o["name"] == "score"]
    assert score["shape"] == [3, 1], logs()
    expected = session.run(["score"], {"numeric": numeric, "categorical": categorical})[0]
    np.testing.assert_allclose(np.array(score["data"], dtype=np.float32).reshape(3, 1), expected, rtol=1e-5, atol=1e-6)


def test_model_metadata_comes_from_the_baked_config(serving):
    url, _, _ = serving
    _, body = _get(f"{url}/v2/models/{MODEL}")
    metadata = json.loads(body)
    assert metadata["name"] == MODEL
    assert {t["name"] for t in metadata["inputs"]} == {"numeric", "categorical"}


def test_runs_as_non_root_with_a_working_ca_bundle(docker_engine, serving):
    _, reference, _ = serving
    probe = (
        "import os, ssl; print(os.getuid(), os.getgid(), ssl.create_default_context().cert_store_stats()['x509_ca'])"
    )
    result = docker_engine.docker("run", "--rm", "--entrypoint", "/usr/bin/python3.11", reference, "-c", probe)
    uid, gid, certificates = (int(v) for v in result.stdout.split())
    assert (uid, gid) == (65532, 65532)
    assert certificates > 100
    config = docker_engine.inspect(reference)["Config"]
    assert config["User"] == "65532:65532"
    assert "org.opencontainers.image.revision" in config["Labels"]
