"""Open Inference Protocol v2 request validation and response shapes, on the contract config."""

import json

import numpy as np
import pytest

from serving.model_config import contract_config
from serving.oip_codec import RequestError, decode_infer_request, encode_infer_response, model_metadata
from serving.synthetic_data import reference_spec

CONFIG = contract_config("scorer", reference_spec(n_numeric=3, n_categorical=2), max_batch_size=4)


def tensor(name, shape, datatype, data, **extra):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **extra}


def request(numeric=None, categorical=None, **top):
    numeric = numeric or tensor("numeric", [1, 3], "FP32", [0.5, 1.0, -2.0])
    categorical = categorical or tensor("categorical", [1, 2], "INT64", [1, 0])
    return json.dumps({"inputs": [numeric, categorical], **top}).encode()


def test_valid_request_decodes_to_typed_arrays():
    decoded = decode_infer_request(request(id="r1"), CONFIG)
    assert decoded.id == "r1" and decoded.rows == 1 and decoded.outputs == ("score",)
    assert decoded.inputs["numeric"].dtype == np.float32 and decoded.inputs["numeric"].shape == (1, 3)
    assert decoded.inputs["categorical"].dtype == np.int64
    np.testing.assert_array_equal(decoded.inputs["categorical"], [[1, 0]])


def test_nested_data_is_accepted_like_flat_data():
    nested = tensor("numeric", [2, 3], "FP32", [[1, 2, 3], [4, 5, 6]])
    decoded = decode_infer_request(request(nested, tensor("categorical", [2, 2], "INT64", [[1, 2], [3, 4]])), CONFIG)
    np.testing.assert_array_equal(decoded.inputs["numeric"], [[1, 2, 3], [4, 5, 6]])


BAD = [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"inputs": []}).encode(), 400, "non-empty array"),
    (request(bogus=1), 400, "unknown request fields"),
    (json.dumps({"inputs": [tensor("numeric", [1, 3], "FP32", [1, 2, 3])]}).encode(), 400, "missing"),
    (request(tensor("numeric", [1, 3], "FP64", [1, 2, 3])), 400, "datatype"),
    (request(tensor("numeric", [1, 4], "FP32", [1, 2, 3, 4])), 400, "does not match"),
    (request(tensor("numeric", [3], "FP32", [1, 2, 3])), 400, "does not match"),
    (request(tensor("numeric", [1, 3], "FP32", [1, 2])), 400, "2 values given"),
    (request(tensor("numeric", [1, 3], "FP32", [1, "2", 3])), 400, "must be numbers"),
    (request(tensor("numeric", [1, 3], "FP32", [1, None, 3])), 400, "numbers"),
    (request(tensor("numeric", [1, 3], "FP32", [1, True, 3])), 400, "booleans"),
    (request(tensor("numeric", [1, 3], "FP32", [1, 1e39, 3])), 400, "beyond FP32 range in row 0"),
    (request(categorical=tensor("categorical", [1, 2], "INT64", [1.5, 2])), 400, "must be integers"),
    (request(categorical=tensor("categorical", [1, 2], "INT64", [2**70, 2])), 400, "INT64"),
    (request(tensor("numeric", [5, 3], "FP32", [0.0] * 15)), 413, "max_batch_size"),
    (request(tensor("numeric", [0, 3], "FP32", [])), 400, "at least 1"),
    (request(tensor("numeric", [1, 3], "FP32", [1, 2, 3], parameters={"binary_data_size": 12})), 400, "binary"),
    (request(tensor("numeric", [2, 3], "FP32", [0.0] * 6)), 400, "disagree"),
    (request(outputs=[{"name": "nope"}]), 400, "not an output"),
    (request(id=7), 400, "'id' must be a string"),
    (request(parameters={"transaction_ids": ["a", "b"]}), 400, "transaction_ids"),
    (json.dumps({"inputs": [tensor("extra", [1, 1], "FP32", [1])]}).encode(), 400, "not an input"),
]


@pytest.mark.parametrize(("body", "status", "fragment"), BAD)
def test_bad_requests_name_the_problem(body, status, fragment):
    with pytest.raises(RequestError) as caught:
        decode_infer_request(body, CONFIG)
    assert caught.value.status == status
    assert fragment in caught.value.message


def test_nan_and_infinity_are_refused_with_the_row():
    body = request(
        tensor("numeric", [2, 3], "FP32", [1, 2, 3, 4, float("nan"), 6]),
        tensor("categorical", [2, 2], "INT64", [1, 1, 1, 1]),
    )
    with pytest.raises(RequestError, match="NaN, infinity or a value beyond FP32 range in row 1"):
        decode_infer_request(body, CONFIG)


def test_response_has_protocol_shape():
    body = encode_infer_response(CONFIG, 3, "r1", {"score": np.array([[0.25], [0.5]], dtype=np.float32)}, ("score",))
    document = json.loads(body)
    assert document == {
        "model_name": "scorer",
        "model_version": "3",
        "id": "r1",
        "outputs": [{"name": "score", "datatype": "FP32", "shape": [2, 1], "data": [0.25, 0.5]}],
    }


def test_metadata_describes_tensors_with_dynamic_batch():
    metadata = model_metadata(CONFIG, 2)
    assert metadata["versions"] == ["2"]
    assert metadata["inputs"][0] == {"name": "numeric", "datatype": "FP32", "shape": [-1, 3]}
