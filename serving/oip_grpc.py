"""Open Inference Protocol v2 over gRPC: the protocol's second transport, the `inference.GRPCInferenceService` that
Triton and KServe serve and `tritonclient.grpc` speaks, on its own port, sharing the HTTP server's models, batchers,
rollouts, prediction log and metrics (requests count under endpoint="grpc_infer").

The messages and the service are the stubs generated from Triton's `grpc_service.proto` that tritonclient ships
(KServe's v2 messages plus Triton's extensions): one generated definition for client and server, no second copy of
the protocol here. The methods a Flywheel server does not offer (repository control, shared memory, statistics,
tracing, logging, streaming) are not registered, so gRPC answers them UNIMPLEMENTED.

Inputs come as typed contents (`fp32_contents`, `int64_contents`, ...) or as little-endian `raw_input_contents`
(what tritonclient sends); outputs go back as `raw_output_contents`. Every check of the HTTP/JSON path applies
(names, datatypes, shapes, batch size, finite values), each bad request is INVALID_ARGUMENT (NOT_FOUND for an unknown
model or version, RESOURCE_EXHAUSTED for a batch or message over the limit) with a message naming the problem, and
overload is UNAVAILABLE; none of them is INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

from serving.model_config import ModelConfig, TensorSpec
from serving.oip_codec import (
    InferRequest,
    RequestError,
    batch_rows,
    check_finite,
    check_requested_outputs,
    check_tensor_header,
    match_inputs,
)

if TYPE_CHECKING:
    from serving.server import InferenceServer

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""The HTTP path's client-error statuses as gRPC codes (anything else a RequestError carries: INVALID_ARGUMENT)."""

CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}
"""The InferTensorContents field that carries each datatype (the protocol's table; FP16 and BYTES only travel raw)."""


def _parameters(parameters) -> dict:
    """A request's map<string, InferParameter> as plain values (a sticky key for canary routing, for example)."""
    plain = {}
    for key, parameter in parameters.items():
        which = parameter.WhichOneof("parameter_choice")
        if which is not None:
            plain[key] = getattr(parameter, which)
    return plain


def _decode_tensor(request, index: int, tensor, spec: TensorSpec, max_batch_size: int) -> np.ndarray:
    name = spec.name
    shape = check_tensor_header(list(tensor.shape), tensor.datatype, spec, max_batch_size)
    count = math.prod(shape)
    dtype = spec.numpy_dtype
    if request.raw_input_contents:
        raw = request.raw_input_contents[index]
        needed = count * dtype.itemsize
        if len(raw) != needed:
            what = f"shape {shape} of {spec.datatype}"
            raise RequestError(400, f"input '{name}': {len(raw)} bytes of raw contents, {what} needs {needed}")
        array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)
    else:
        field = CONTENTS_FIELDS.get(spec.datatype)
        values = getattr(tensor.contents, field) if field else ()
        if len(values) != count:
            raise RequestError(400, f"input '{name}': {len(values)} values given, shape {shape} needs {count}")
        wide = np.asarray(values)
        array = wide.astype(dtype, copy=False)
        if dtype.kind in "iu" and count and not np.array_equal(array, wide):
            raise RequestError(400, f"input '{name}': values outside the {spec.datatype} range")
        array = array.reshape(shape)
    check_finite(array, spec)
    return array


def decode_grpc_request(request: service_pb2.ModelInferRequest, config: ModelConfig) -> InferRequest:
    """Validates a ModelInferRequest against the model config (the JSON path's checks); RequestError on any
    problem."""
    if not request.inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors")
    if request.raw_input_contents and len(request.raw_input_contents) != len(request.inputs):
        raise RequestError(
            400,
            f"raw_input_contents has {len(request.raw_input_contents)} entries for {len(request.inputs)} inputs;"
            " give one per input, in the order of 'inputs', or none",
        )
    given = match_inputs([(tensor.name, (i, tensor)) for i, tensor in enumerate(request.inputs)], config)
    arrays = {
        spec.name: _decode_tensor(request, *given[spec.name], spec, config.max_batch_size) for spec in config.inputs
    }
    outputs = check_requested_outputs([output.name for output in request.outputs], config)
    return InferRequest(request.id or None, arrays, batch_rows(arrays), outputs, _parameters(request.parameters))


def encode_grpc_response(
    config: ModelConfig, version: int, request_id: str | None, outputs: dict[str, np.ndarray], names: tuple[str, ...]
) -> service_pb2.ModelInferResponse:
    """A ModelInferResponse with each requested output as little-endian raw contents."""
    specs = {t.name: t for t in config.outputs}
    response = service_pb2.ModelInferResponse(model_name=config.name, model_version=str(version), id=request_id or "")
    for name in names:
        spec = specs[name]
        array = np.ascontiguousarray(outputs[name], dtype=spec.numpy_dtype.newbyteorder("<"))
        response.outputs.add(name=name, datatype=spec.datatype, shape=array.shape)
        response.raw_output_contents.append(array.tobytes())
    return response


def _tensor_metadata(tensor: TensorSpec) -> service_pb2.ModelMetadataResponse.TensorMetadata:
    return service_pb2.ModelMetadataResponse.TensorMetadata(
        name=tensor.name, datatype=tensor.datatype, shape=[-1, *tensor.dims]
    )


def model_config_message(config: ModelConfig) -> model_config_pb2.ModelConfig:
    """The served model's configuration as Triton's ModelConfig message (ModelConfig RPC)."""

    def tensors(kind, specs):
        return [kind(name=t.name, data_type=model_config_pb2.DataType.Value(t.data_type), dims=t.dims) for t in specs]

    return model_config_pb2.ModelConfig(
        name=config.name,
        platform=config.platform,
        backend="onnxruntime",
        max_batch_size=config.max_batch_size,
        input=tensors(model_config_pb2.ModelInput, config.inputs),
        output=tensors(model_config_pb2.ModelOutput, config.outputs),
    )


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The OIP gRPC service on top of one worker's InferenceServer."""

    def __init__(self, server: InferenceServer) -> None:
        self._server = server

    async def ServerLive(self, request, context):  # noqa: N802 - the protocol's method names
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):  # noqa: N802
        return service_pb2.ServerReadyResponse(ready=self._server.ready())

    async def ServerMetadata(self, request, context):  # noqa: N802
        from serving.server import SERVER_NAME, SERVER_VERSION

        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=SERVER_VERSION, extensions=["model_configuration"]
        )

    async def ModelReady(self, request, context):  # noqa: N802
        return service_pb2.ModelReadyResponse(ready=self._server.model_ready(request.name, request.version or None))

    async def ModelMetadata(self, request, context):  # noqa: N802
        loaded = await self._call(context, self._server.loaded_version, request.name, request.version or None)
        return service_pb2.ModelMetadataResponse(
            name=loaded.config.name,
            versions=[str(loaded.version)],
            platform=loaded.config.platform,
            inputs=[_tensor_metadata(t) for t in loaded.config.inputs],
            outputs=[_tensor_metadata(t) for t in loaded.config.outputs],
        )

    async def ModelConfig(self, request, context):  # noqa: N802
        loaded = await self._call(context, self._server.loaded_version, request.name, request.version or None)
        return service_pb2.ModelConfigResponse(config=model_config_message(loaded.config))

    async def ModelInfer(self, request, context):  # noqa: N802
        from serving.server import Overloaded

        received = asyncio.get_running_loop().time()
        version = request.model_version or None
        try:
            served = self._server.served_model(request.model_name, version)
            config, infer, outputs, answered = await self._server.infer(
                served, version, lambda config: decode_grpc_request(request, config), received, "grpc_infer"
            )
        except RequestError as exc:
            await context.abort(STATUS_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), exc.message)
        except Overloaded as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return encode_grpc_response(config, answered, infer.id, outputs, infer.outputs)

    @staticmethod
    async def _call(context, method, *args):
        try:
            return method(*args)
        except RequestError as exc:
            await context.abort(STATUS_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), exc.message)


class _Malformed:
    """What the service's deserializer returns for bytes that are not the request message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


SERVED_METHODS = {
    "ServerLive": (service_pb2.ServerLiveRequest, service_pb2.ServerLiveResponse),
    "ServerReady": (service_pb2.ServerReadyRequest, service_pb2.ServerReadyResponse),
    "ServerMetadata": (service_pb2.ServerMetadataRequest, service_pb2.ServerMetadataResponse),
    "ModelReady": (service_pb2.ModelReadyRequest, service_pb2.ModelReadyResponse),
    "ModelMetadata": (service_pb2.ModelMetadataRequest, service_pb2.ModelMetadataResponse),
    "ModelConfig": (service_pb2.ModelConfigRequest, service_pb2.ModelConfigResponse),
    "ModelInfer": (service_pb2.ModelInferRequest, service_pb2.ModelInferResponse),
}
"""The methods this server answers (the others of the service are UNIMPLEMENTED), with their message types."""


def _handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The served methods, registered like the generated code does but with a deserializer that turns bytes that
    are not a message into INVALID_ARGUMENT (gRPC's own answer to a failed deserialization is INTERNAL)."""

    def tolerant(request_type):
        def deserialize(data: bytes):
            try:
                return request_type.FromString(data)
            except DecodeError as error:
                return _Malformed(str(error))

        return deserialize

    def guarded(method, request_name: str):
        async def call(request, context):
            if isinstance(request, _Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {request_name}: {request.reason}")
            return await method(request, context)

        return call

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            guarded(getattr(servicer, name), request_type.__name__),
            request_deserializer=tolerant(request_type),
            response_serializer=response_type.SerializeToString,
        )
        for name, (request_type, response_type) in SERVED_METHODS.items()
    }
    return grpc.method_handlers_generic_handler("inference.GRPCInferenceService", handlers)


async def start_grpc_server(server: InferenceServer, host: str, port: int, max_message_bytes: int) -> grpc.aio.Server:
    """The gRPC endpoint of one worker, listening on host:port (SO_REUSEPORT, so every worker shares the port);
    messages over `max_message_bytes` are refused by gRPC with RESOURCE_EXHAUSTED."""
    endpoint = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    endpoint.add_generic_rpc_handlers((_handlers(InferenceServicer(server)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        endpoint.add_insecure_port(address)
    except RuntimeError as error:
        raise RuntimeError(f"cannot listen for gRPC on {address}: {error}") from None
    await endpoint.start()
    log.info("OIP gRPC endpoint on %s", address)
    return endpoint
