"""Open Inference Protocol v2 (KServe / Triton REST) JSON: decode and validate infer requests against a model's
config, encode responses and errors. Every bad request becomes a RequestError with a 4xx status naming the problem."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from serving.model_config import ModelConfig, TensorSpec


class RequestError(Exception):
    """A client error: HTTP status (400, 404, 413, ...) and a message that names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class InferRequest:
    """A validated infer request: arrays shaped [batch, *dims] in the config's dtypes."""

    id: str | None
    """Client request id, echoed in the response."""
    inputs: dict[str, np.ndarray]
    """Input arrays by tensor name, in config order."""
    rows: int
    """Batch size (leading dimension shared by every input)."""
    outputs: tuple[str, ...]
    """Requested output names (all outputs if the request named none)."""
    parameters: dict
    """Request-level parameters, e.g. transaction_ids for the prediction log."""


def parse_json_object(body: bytes, what: str = "request body") -> dict:
    """The body as a JSON object, or a 400 naming the syntax error."""
    if not body:
        raise RequestError(400, f"{what} is empty; expected a JSON object")
    try:
        document = orjson.loads(body)  # strict RFC 8259 JSON, several times faster than the standard library
    except orjson.JSONDecodeError:
        # The standard library's reading of what orjson refused: its error message, or the document where it is
        # only non-standard (NaN and Infinity literals, lone surrogates), which the checks below then judge.
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"{what} is not valid JSON: {exc}") from None
        except RecursionError:
            raise RequestError(400, f"{what} nests too deeply") from None
    if not isinstance(document, dict):
        raise RequestError(400, f"{what} must be a JSON object, got {type(document).__name__}")
    return document


def _flatten(data: list) -> list:
    if data and isinstance(data[0], list):
        flat: list = []
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            else:
                flat.append(item)
        return flat
    return data


def check_tensor_header(shape: Any, datatype: Any, tensor: TensorSpec, max_batch_size: int) -> list[int]:
    """The shape of an input tensor, checked against the model's TensorSpec: integers, [batch, *dims] with the
    model's dims, a batch of 1..max_batch_size and the model's datatype (every transport's first check)."""
    name = tensor.name
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise RequestError(400, f"input '{name}': 'shape' must be a list of integers, got {shape!r}")
    if datatype != tensor.datatype:
        raise RequestError(400, f"input '{name}': datatype is {datatype!r}, the model expects {tensor.datatype!r}")
    if len(shape) != len(tensor.dims) + 1 or any(
        a != e and e != -1 for a, e in zip(shape[1:], tensor.dims, strict=False)
    ):
        raise RequestError(
            400, f"input '{name}': shape {shape} does not match [batch, {', '.join(map(str, tensor.dims))}]"
        )
    if shape[0] < 1 or any(d < 0 for d in shape):
        raise RequestError(400, f"input '{name}': shape {shape} must have a batch of at least 1 and no negative dims")
    if shape[0] > max_batch_size:
        raise RequestError(413, f"input '{name}': batch of {shape[0]} rows exceeds max_batch_size {max_batch_size}")
    return shape


def check_finite(array: np.ndarray, tensor: TensorSpec) -> None:
    """A float input holds no NaN, infinity or value that overflowed its type (one float64 reduction; the row of
    the first bad value is named)."""
    if array.dtype.kind == "f" and not math.isfinite(np.add.reduce(array, axis=None, dtype=np.float64)):
        row = int(np.argmax(~np.isfinite(array.reshape(len(array), -1)).all(axis=1)))
        raise RequestError(
            400, f"input '{tensor.name}': NaN, infinity or a value beyond {tensor.datatype} range in row {row}"
        )


def match_inputs(items: list[tuple[str, Any]], config: ModelConfig) -> dict[str, Any]:
    """(name, tensor) pairs of a request matched to the model's inputs, in the model's order; unknown, repeated and
    missing inputs are 400s naming them."""
    specs = {t.name: t for t in config.inputs}
    given: dict[str, Any] = {}
    for name, item in items:
        if name not in specs:
            raise RequestError(400, f"input '{name}' is not an input of model '{config.name}'; expected {list(specs)}")
        if name in given:
            raise RequestError(400, f"input '{name}' is given twice")
        given[name] = item
    missing = [name for name in specs if name not in given]
    if missing:
        raise RequestError(400, f"inputs {missing} are missing; model '{config.name}' expects {list(specs)}")
    return {name: given[name] for name in specs}


def batch_rows(arrays: dict[str, np.ndarray]) -> int:
    """The batch size every input agrees on (a 400 when they disagree)."""
    batch = {array.shape[0] for array in arrays.values()}
    if len(batch) != 1:
        raise RequestError(400, f"inputs disagree on the batch size: {sorted(batch)}")
    return batch.pop()


def check_requested_outputs(names: list[str], config: ModelConfig) -> tuple[str, ...]:
    """Requested output names, each an output of the model (all outputs when none is named)."""
    outputs = [t.name for t in config.outputs]
    for name in names:
        if name not in outputs:
            raise RequestError(400, f"output '{name}' is not an output of model '{config.name}'; it has {outputs}")
    return tuple(names) or tuple(outputs)


def _decode_tensor(item: Any, tensor: TensorSpec, max_batch_size: int) -> np.ndarray:
    name = tensor.name
    shape = check_tensor_header(item.get("shape"), item.get("datatype"), tensor, max_batch_size)
    parameters = item.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, f"input '{name}': 'parameters' must be an object")
    if "binary_data_size" in parameters:
        raise RequestError(400, f"input '{name}': the binary tensor extension is not supported; send JSON 'data'")
    data = item.get("data")
    if not isinstance(data, list):
        raise RequestError(400, f"input '{name}': 'data' must be a JSON array, got {type(data).__name__}")
    flat = _flatten(data)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise RequestError(400, f"input '{name}': {len(flat)} values given, shape {shape} needs {expected}")
    dtype = tensor.numpy_dtype
    kind = dtype.kind
    if kind != "b" and bool in set(map(type, flat)):
        raise RequestError(400, f"input '{name}': booleans are not {tensor.datatype} values")
    try:
        raw = np.array(flat)
    except (ValueError, TypeError, OverflowError) as exc:
        raise RequestError(400, f"input '{name}': data is not a flat list of numbers ({exc})") from None
    allowed = _ALLOWED_KINDS[kind]
    if raw.dtype.kind not in allowed:
        what = "integers" if kind in "iu" else "numbers" if kind == "f" else "booleans"
        raise RequestError(400, f"input '{name}': {tensor.datatype} data must be {what}, got {_sample(flat, allowed)}")
    if kind in "iu" and raw.dtype != dtype and raw.size:
        info = np.iinfo(dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise RequestError(400, f"input '{name}': values outside the {tensor.datatype} range")
    with np.errstate(over="ignore", invalid="ignore"):
        array = raw.astype(dtype, copy=False).reshape(shape)
        check_finite(array, tensor)  # also catches values that overflowed the cast
    return array


_ALLOWED_KINDS = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}
"""numpy kinds of parsed JSON data accepted for each tensor kind (integers are valid floats, not the reverse)."""


def _sample(flat: list, allowed: str) -> str:
    for value in flat:
        if np.asarray(value).dtype.kind not in allowed:
            return f"{value!r} ({type(value).__name__})"
    return "a non-numeric value"


def decode_infer_request(body: bytes, config: ModelConfig) -> InferRequest:
    """Validates an OIP v2 JSON infer request against the model config; raises RequestError (4xx) on any problem."""
    document = parse_json_object(body)
    unknown = set(document) - {"id", "inputs", "outputs", "parameters"}
    if unknown:
        raise RequestError(400, f"unknown request fields {sorted(unknown)}; expected id, inputs, outputs, parameters")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, f"'id' must be a string, got {type(request_id).__name__}")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(400, "'parameters' must be an object")
    items = document.get("inputs")
    if not isinstance(items, list) or not items:
        raise RequestError(400, "'inputs' must be a non-empty array of tensors")
    if not all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in items):
        raise RequestError(400, "every entry of 'inputs' must be an object with a string 'name'")
    given = match_inputs([(item["name"], item) for item in items], config)
    arrays = {t.name: _decode_tensor(given[t.name], t, config.max_batch_size) for t in config.inputs}
    rows = batch_rows(arrays)
    outputs = _requested_outputs(document.get("outputs"), config)
    transaction_ids = parameters.get("transaction_ids")
    if transaction_ids is not None and (not isinstance(transaction_ids, list) or len(transaction_ids) != rows):
        raise RequestError(400, f"parameter 'transaction_ids' must be a list of {rows} ids, one per row")
    return InferRequest(request_id, arrays, rows, outputs, parameters)


def _requested_outputs(items: Any, config: ModelConfig) -> tuple[str, ...]:
    if items is None:
        return check_requested_outputs([], config)
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise RequestError(400, "'outputs' must be an array of objects with a string 'name'")
    requested = check_requested_outputs([item["name"] for item in items], config)
    for item in items:
        if (item.get("parameters") or {}).get("binary_data"):
            raise RequestError(400, f"output '{item['name']}': binary_data is not supported; request JSON outputs")
    return requested


def encode_infer_response(
    config: ModelConfig, version: int, request_id: str | None, outputs: dict[str, np.ndarray], names: tuple[str, ...]
) -> bytes:
    """An OIP v2 infer response: outputs as flat row-major data with shape and datatype."""
    specs = {t.name: t for t in config.outputs}
    document: dict[str, Any] = {"model_name": config.name, "model_version": str(version)}
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = [
        {
            "name": name,
            "datatype": specs[name].datatype,
            "shape": list(outputs[name].shape),
            "data": outputs[name].reshape(-1).tolist(),
        }
        for name in names
    ]
    return orjson.dumps(document)


def encode_error(message: str) -> bytes:
    """The OIP error body: {"error": message}."""
    return json.dumps({"error": message}).encode()


def model_metadata(config: ModelConfig, version: int) -> dict:
    """GET /v2/models/{name}: name, versions, platform, inputs and outputs."""
    return {
        "name": config.name,
        "versions": [str(version)],
        "platform": config.platform,
        "inputs": [t.metadata() for t in config.inputs],
        "outputs": [t.metadata() for t in config.outputs],
    }


def model_config_json(config: ModelConfig) -> dict:
    """GET /v2/models/{name}/config (Triton's model configuration extension), as Triton's JSON rendering."""

    def tensors(specs):
        return [{"name": t.name, "data_type": t.data_type, "dims": [str(d) for d in t.dims]} for t in specs]

    return {
        "name": config.name,
        "platform": config.platform,
        "backend": "onnxruntime",
        "max_batch_size": config.max_batch_size,
        "input": tensors(config.inputs),
        "output": tensors(config.outputs),
        "dynamic_batching": {
            "preferred_batch_size": list(config.preferred_batch_sizes),
            "max_queue_delay_microseconds": str(config.max_queue_delay_microseconds),
            "default_queue_policy": {"max_queue_size": str(config.max_queue_size)},
        },
    }
