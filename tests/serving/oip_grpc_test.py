"""Open Inference Protocol over gRPC: tritonclient.grpc against a real server process, the same scores as over
HTTP/JSON, and every bad message answered with a status naming the problem (never INTERNAL) while the server stays
up."""

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from serving.ort_session import session
from tests.serving.serving_harness import CONFIG, ServerProcess, add_version, infer_body
from tools.services.process import free_port

MAX_MESSAGE_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo") / "models"
    add_version(root, 1)
    grpc_port = free_port()
    args = ("--grpc-port", str(grpc_port), "--max-body-bytes", str(MAX_MESSAGE_BYTES))
    with ServerProcess(root, tmp_path_factory.mktemp("logs"), *args) as running:
        running.root = root
        running.grpc_url = f"127.0.0.1:{grpc_port}"
        yield running


@pytest.fixture(scope="module")
def client(server):
    with triton.InferenceServerClient(server.grpc_url) as connected:
        yield connected


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_url) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def features(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The same values infer_body(rows, seed) sends."""
    numeric = np.asarray([float((seed + i) % 7) / 3 for i in range(rows * 8)], dtype=np.float32).reshape(rows, 8)
    categorical = np.asarray([(seed + i) % 4 for i in range(rows * 3)], dtype=np.int64).reshape(rows, 3)
    return numeric, categorical


def inputs(numeric: np.ndarray, categorical: np.ndarray) -> list:
    tensors = []
    for name, values, datatype in (("numeric", numeric, "FP32"), ("categorical", categorical, "INT64")):
        tensors.append(triton.InferInput(name, list(values.shape), datatype))
        tensors[-1].set_data_from_numpy(values)
    return tensors


def expected_scores(root, numeric, categorical) -> np.ndarray:
    engine = session(root / "fraud" / "1" / "model.onnx")
    return engine.run(None, {"numeric": numeric, "categorical": categorical})[0]


def abort_of(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_health_metadata_and_config(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("fraud") and client.is_model_ready("fraud", "1")
    assert not client.is_model_ready("fraud", "9") and not client.is_model_ready("nope")
    assert client.get_server_metadata().name == "flywheel"
    metadata = client.get_model_metadata("fraud")
    assert metadata.name == "fraud" and list(metadata.versions) == ["1"] and metadata.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("numeric", "FP32", [-1, 8]),
        ("categorical", "INT64", [-1, 3]),
    ]
    config = client.get_model_config("fraud").config
    assert config.name == "fraud" and config.max_batch_size == CONFIG.max_batch_size
    assert [t.name for t in config.input] == ["numeric", "categorical"]
    with pytest.raises(InferenceServerException, match="not served here"):
        client.get_model_metadata("nope")


def test_infer_over_grpc_gives_the_http_answer_and_the_model_scores(server, client):
    numeric, categorical = features(rows=3, seed=5)
    result = client.infer("fraud", inputs(numeric, categorical), request_id="grpc-7")
    scores = result.as_numpy(CONFIG.outputs[0].name)
    np.testing.assert_array_equal(scores, expected_scores(server.root, numeric, categorical))
    response = result.get_response()
    assert response.model_name == "fraud" and response.model_version == "1" and response.id == "grpc-7"
    status, body, _ = server.request("POST", "/v2/models/fraud/infer", infer_body(rows=3, seed=5))
    assert status == 200
    assert body["outputs"][0]["data"] == scores.reshape(-1).tolist()
    explicit = client.infer("fraud", inputs(numeric, categorical), model_version="1")
    np.testing.assert_array_equal(explicit.as_numpy(CONFIG.outputs[0].name), scores)


def test_typed_contents_are_read_as_well_as_raw_bytes(server, stub):
    numeric, categorical = features(rows=2, seed=1)
    request = service_pb2.ModelInferRequest(model_name="fraud")
    first = request.inputs.add(name="numeric", datatype="FP32", shape=[2, 8])
    first.contents.fp32_contents.extend(numeric.reshape(-1).tolist())
    second = request.inputs.add(name="categorical", datatype="INT64", shape=[2, 3])
    second.contents.int64_contents.extend(categorical.reshape(-1).tolist())
    response = stub.ModelInfer(request)
    (output,) = response.outputs
    assert output.datatype == "FP32" and list(output.shape) == [2, 1]
    scores = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(2, 1)
    np.testing.assert_array_equal(scores, expected_scores(server.root, numeric, categorical))


def raw_request(model_name: str = "fraud", tensors: list | None = None) -> service_pb2.ModelInferRequest:
    """A ModelInferRequest with raw contents: (name, datatype, shape, values) per tensor, default one good row."""
    numeric, categorical = features(rows=1)
    request = service_pb2.ModelInferRequest(model_name=model_name)
    for name, datatype, shape, values in tensors or [numeric_tensor([1, 8], numeric), CATEGORICAL]:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(np.ascontiguousarray(values).tobytes())
    return request


def numeric_tensor(shape: list[int], values: np.ndarray, datatype: str = "FP32") -> tuple:
    return ("numeric", datatype, shape, values)


CATEGORICAL = ("categorical", "INT64", [1, 3], np.zeros(3, np.int64))


@pytest.mark.parametrize(
    ("tensors", "code", "message"),
    [
        ([numeric_tensor([1, 8], np.zeros(8), "FP64"), CATEGORICAL], "INVALID_ARGUMENT", "datatype is 'FP64'"),
        ([numeric_tensor([1, 7], np.zeros(7, np.float32)), CATEGORICAL], "INVALID_ARGUMENT", "does not match"),
        ([numeric_tensor([1, 8], np.zeros(8, np.float32))], "INVALID_ARGUMENT", "missing"),
        ([numeric_tensor([1, 8], np.zeros(5, np.float32)), CATEGORICAL], "INVALID_ARGUMENT", "20 bytes of raw"),
        ([numeric_tensor([1, 8], np.full(8, np.nan, np.float32)), CATEGORICAL], "INVALID_ARGUMENT", "NaN, infinity"),
        (
            [
                numeric_tensor([65, 8], np.zeros(520, np.float32)),
                ("categorical", "INT64", [65, 3], np.zeros(195, np.int64)),
            ],
            "RESOURCE_EXHAUSTED",
            "exceeds max_batch_size",
        ),
    ],
    ids=["wrong-dtype", "wrong-shape", "missing-input", "short-raw-bytes", "nan", "batch-too-large"],
)
def test_bad_tensors_get_a_status_naming_the_problem(stub, tensors, code, message):
    error = abort_of(lambda: stub.ModelInfer(raw_request(tensors=tensors)))
    assert error.code() == getattr(grpc.StatusCode, code) and message in error.details()


def test_unknown_model_malformed_and_oversize_messages(server, stub):
    error = abort_of(lambda: stub.ModelInfer(raw_request(model_name="nope")))
    assert error.code() == grpc.StatusCode.NOT_FOUND and "not served here" in error.details()
    with grpc.insecure_channel(server.grpc_url) as channel:
        send = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        error = abort_of(lambda: send(b"\xff\xff\xff not a protobuf"))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "malformed ModelInferRequest" in error.details()
    big = raw_request(tensors=[("numeric", "FP32", [1, 8], np.zeros(MAX_MESSAGE_BYTES // 4, np.float32))])
    assert abort_of(lambda: stub.ModelInfer(big)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_server_stays_up_and_counts_grpc_requests(server, client):
    numeric, categorical = features(rows=1)
    assert client.infer("fraud", inputs(numeric, categorical)).as_numpy(CONFIG.outputs[0].name).shape == (1, 1)
    assert server.request("POST", "/v2/models/fraud/infer", infer_body())[0] == 200
    status, text, _ = server.request("GET", "/metrics")
    assert status == 200
    lines = text.splitlines() if isinstance(text, str) else text.decode().splitlines()
    prefix = "flywheel_inference_requests_total{"
    counted = {line[len(prefix) :].split("}")[0] for line in lines if line.startswith(prefix)}
    assert any('endpoint="grpc_infer"' in labels and 'status="200"' in labels for labels in counted)
    assert any('endpoint="grpc_infer"' in labels and 'status="400"' in labels for labels in counted)
