"""Open Inference Protocol v2 conformance: endpoint shapes per the protocol, and tritonclient.http against us."""

import json

import numpy as np
import pytest
import tritonclient.http as triton

from serving.ort_session import session
from tests.serving.serving_harness import CONFIG, ServerProcess, add_version, infer_body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo") / "models"
    add_version(root, 1)
    with ServerProcess(root, tmp_path_factory.mktemp("logs")) as running:
        running.root = root
        yield running


def is_tensor_metadata(entry):
    return set(entry) == {"name", "datatype", "shape"} and isinstance(entry["shape"], list)


def test_health_endpoints(server):
    assert server.request("GET", "/v2/health/live")[0] == 200
    assert server.request("GET", "/v2/health/ready")[0] == 200
    status, body, _ = server.request("GET", "/v2")
    assert status == 200 and {"name", "version", "extensions"} <= set(body)


def test_model_metadata_and_readiness_have_protocol_shapes(server):
    status, body, _ = server.request("GET", "/v2/models/fraud")
    assert status == 200
    assert body["name"] == "fraud" and body["versions"] == ["1"] and body["platform"] == "onnxruntime_onnx"
    assert all(is_tensor_metadata(t) for t in body["inputs"] + body["outputs"])
    assert [(t["name"], t["datatype"], t["shape"]) for t in body["inputs"]] == [
        ("numeric", "FP32", [-1, 8]),
        ("categorical", "INT64", [-1, 3]),
    ]
    assert server.request("GET", "/v2/models/fraud/ready")[:2] == (200, {"name": "fraud", "ready": True})
    assert server.request("GET", "/v2/models/fraud/versions/1/ready")[0] == 200
    assert server.request("GET", "/v2/models/fraud/versions/9/ready")[0] == 503
    assert server.request("GET", "/v2/models/nope")[0] == 404


def test_infer_response_has_protocol_shape_and_the_right_scores(server):
    status, body, headers = server.request("POST", "/v2/models/fraud/infer", infer_body(rows=3, id="req-7"))
    assert status == 200 and headers["content-type"] == "application/json"
    assert set(body) == {"model_name", "model_version", "id", "outputs"}
    assert (body["model_name"], body["model_version"], body["id"]) == ("fraud", "1", "req-7")
    (output,) = body["outputs"]
    assert set(output) == {"name", "datatype", "shape", "data"}
    assert (output["name"], output["datatype"], output["shape"]) == ("score", "FP32", [3, 1])
    engine = session(server.root / "fraud" / "1" / "model.onnx")
    request = json.loads(infer_body(rows=3))
    inputs = {
        t["name"]: np.asarray(t["data"], dtype=np.float32 if t["datatype"] == "FP32" else np.int64).reshape(t["shape"])
        for t in request["inputs"]
    }
    np.testing.assert_allclose(output["data"], engine.run(None, inputs)[0].ravel(), rtol=1e-6)


def test_versioned_infer_and_errors_are_json(server):
    assert server.request("POST", "/v2/models/fraud/versions/1/infer", infer_body())[0] == 200
    status, body, _ = server.request("POST", "/v2/models/fraud/versions/2/infer", infer_body())
    assert status == 404 and "version 2" in body["error"]
    status, body, _ = server.request("GET", "/v2/models/fraud/infer")
    assert status == 405 and "POST" in body["error"]


def test_tritonclient_http_works_unchanged(server):
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("fraud")
    metadata = client.get_model_metadata("fraud")
    assert [i["name"] for i in metadata["inputs"]] == [t.name for t in CONFIG.inputs]
    config = client.get_model_config("fraud")
    assert config["max_batch_size"] == CONFIG.max_batch_size
    rng = np.random.default_rng(3)
    numeric = rng.normal(size=(5, 8)).astype(np.float32)
    categorical = rng.integers(0, 4, size=(5, 3)).astype(np.int64)
    inputs = [
        triton.InferInput("numeric", list(numeric.shape), "FP32"),
        triton.InferInput("categorical", list(categorical.shape), "INT64"),
    ]
    inputs[0].set_data_from_numpy(numeric, binary_data=False)
    inputs[1].set_data_from_numpy(categorical, binary_data=False)
    outputs = [triton.InferRequestedOutput("score", binary_data=False)]
    result = client.infer("fraud", inputs, outputs=outputs, request_id="tc-1")
    scores = result.as_numpy("score")
    expected = session(server.root / "fraud" / "1" / "model.onnx").run(
        None, {"numeric": numeric, "categorical": categorical}
    )[0]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert result.get_response()["id"] == "tc-1"
    default_outputs = client.infer("fraud", inputs)  # tritonclient then asks for binary outputs; JSON is still valid
    np.testing.assert_allclose(default_outputs.as_numpy("score"), expected, rtol=1e-6)
    client.close()
