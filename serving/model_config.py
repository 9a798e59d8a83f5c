"""A model's serving contract as data: Triton's config.pbtxt (tensor names, dtypes, dims, batching), read and written.

Everything on the serving side (the codec, the batcher, the loader) reads tensor names, dtypes and dims from a
ModelConfig parsed from the repository's config.pbtxt, never from constants, so the same repository can be served by
NVIDIA Triton unchanged. `contract_config` is the one place that turns a FeatureSpec into that config.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from features.model_contract import ContractTensor, input_tensors, output_tensors
from features.spec import FeatureSpec

# Triton config type -> (Open Inference Protocol datatype, numpy dtype, ONNX Runtime type string).
_TYPES: dict[str, tuple[str, str, str]] = {
    "TYPE_BOOL": ("BOOL", "bool", "tensor(bool)"),
    "TYPE_UINT8": ("UINT8", "uint8", "tensor(uint8)"),
    "TYPE_INT8": ("INT8", "int8", "tensor(int8)"),
    "TYPE_INT16": ("INT16", "int16", "tensor(int16)"),
    "TYPE_INT32": ("INT32", "int32", "tensor(int32)"),
    "TYPE_INT64": ("INT64", "int64", "tensor(int64)"),
    "TYPE_FP16": ("FP16", "float16", "tensor(float16)"),
    "TYPE_FP32": ("FP32", "float32", "tensor(float)"),
    "TYPE_FP64": ("FP64", "float64", "tensor(double)"),
}
_BY_ORT_TYPE = {ort: config for config, (_, _, ort) in _TYPES.items()}
_NUMPY = {config: np.dtype(numpy) for config, (_, numpy, _) in _TYPES.items()}

PLATFORM_ONNX = "onnxruntime_onnx"
PLATFORM_TENSORRT = "tensorrt_plan"
MODEL_FILE = {PLATFORM_ONNX: "model.onnx", PLATFORM_TENSORRT: "model.plan"}


class ModelConfigError(ValueError):
    """A config.pbtxt is malformed or describes something we cannot serve."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: its name, Triton data type and per-row dims (the batch dimension excluded)."""

    name: str
    """Tensor name in the model graph and on the wire."""
    data_type: str
    """Triton config type, e.g. TYPE_FP32."""
    dims: tuple[int, ...]
    """Shape of one row; -1 marks a variable dimension."""

    def __post_init__(self) -> None:
        if self.data_type not in _TYPES:
            raise ModelConfigError(
                f"tensor '{self.name}': unknown data_type {self.data_type}; expected one of {sorted(_TYPES)}"
            )

    @property
    def datatype(self) -> str:
        """The Open Inference Protocol datatype name (FP32, INT64, ...)."""
        return _TYPES[self.data_type][0]

    @property
    def numpy_dtype(self) -> np.dtype:
        return _NUMPY[self.data_type]

    @property
    def row_size(self) -> int:
        """Elements per row, for fixed dims."""
        return math.prod(self.dims)

    def metadata(self) -> dict:
        """The tensor as GET /v2/models/{name} describes it (batch dimension as -1)."""
        return {"name": self.name, "datatype": self.datatype, "shape": [-1, *self.dims]}


@dataclass(frozen=True)
class ModelConfig:
    """The subset of Triton's ModelConfig that we write, read and serve."""

    name: str
    """Model name: the repository folder and the URL segment /v2/models/{name}."""
    platform: str
    """Triton platform: onnxruntime_onnx or tensorrt_plan."""
    max_batch_size: int
    """Largest batch one inference runs; also the largest batch one request may carry."""
    inputs: tuple[TensorSpec, ...]
    """Input tensors, in graph order."""
    outputs: tuple[TensorSpec, ...]
    """Output tensors."""
    max_queue_delay_microseconds: int = 0
    """How long the dynamic batcher may hold the first queued row waiting for more (0: run what queued while the
    previous batch ran, which batches well under load without taxing a lone request)."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """Batch sizes Triton prefers to form (informational for our batcher, which runs whatever has queued)."""
    max_queue_size: int = 4096
    """Rows the batcher's queue holds before new requests are rejected (Triton: default_queue_policy.max_queue_size)."""
    pinned_version: int | None = field(default=None, compare=False)
    """The one version to serve (Triton's `version_policy: { specific: { versions: [N] } }`), written by the
    deployment; None serves the newest complete version (`version_policy: { latest: { num_versions: 1 } }`)."""
    extra: dict = field(default_factory=dict, compare=False)
    """Anything else the file held, kept verbatim (parameters, instance groups...)."""

    def __post_init__(self) -> None:
        if self.platform not in MODEL_FILE:
            raise ModelConfigError(
                f"model '{self.name}': platform {self.platform!r} is not one of {sorted(MODEL_FILE)}"
            )
        if self.max_batch_size < 1:
            raise ModelConfigError(f"model '{self.name}': max_batch_size must be >= 1 (batching is required)")
        if not self.inputs or not self.outputs:
            raise ModelConfigError(f"model '{self.name}': a config needs at least one input and one output")
        names = [t.name for t in (*self.inputs, *self.outputs)]
        if len(set(names)) != len(names):
            raise ModelConfigError(f"model '{self.name}': tensor names repeat: {names}")

    @property
    def model_file(self) -> str:
        """File name of the engine inside a version folder (model.onnx or model.plan)."""
        return MODEL_FILE[self.platform]

    def signature(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        """Inputs and outputs: two versions are interchangeable for clients when their signatures are equal."""
        return self.inputs, self.outputs

    def to_pbtxt(self) -> str:
        """The config as Triton's protobuf text format."""

        def tensors(kind: str, specs: tuple[TensorSpec, ...]) -> str:
            body = ",\n".join(
                f'  {{\n    name: "{t.name}"\n    data_type: {t.data_type}\n'
                f"    dims: [ {', '.join(map(str, t.dims))} ]\n  }}"
                for t in specs
            )
            return f"{kind} [\n{body}\n]\n"

        preferred = f"  preferred_batch_size: [ {', '.join(map(str, self.preferred_batch_sizes))} ]\n"
        return (
            f'name: "{self.name}"\nplatform: "{self.platform}"\nmax_batch_size: {self.max_batch_size}\n'
            + tensors("input", self.inputs)
            + tensors("output", self.outputs)
            + "dynamic_batching {\n"
            + (preferred if self.preferred_batch_sizes else "")
            + f"  max_queue_delay_microseconds: {self.max_queue_delay_microseconds}\n"
            + f"  default_queue_policy {{\n    max_queue_size: {self.max_queue_size}\n  }}\n}}\n"
            + (
                f"version_policy: {{ specific: {{ versions: [ {self.pinned_version} ] }} }}\n"
                if self.pinned_version is not None
                else "version_policy: { latest: { num_versions: 1 } }\n"
            )
            + "instance_group [ { count: 1, kind: KIND_CPU } ]\n"
        )

    @classmethod
    def from_pbtxt(cls, text: str) -> ModelConfig:
        """Parses a config.pbtxt; raises ModelConfigError naming what is missing or wrong."""
        fields = parse_text_proto(text)

        def one(message: dict, key: str, default=None):
            values = message.get(key)
            if not values:
                if default is not None:
                    return default
                raise ModelConfigError(f"config.pbtxt: field '{key}' is missing")
            return values[0]

        def tensor_list(key: str) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(
                    name=one(t, "name"),
                    data_type=one(t, "data_type"),
                    dims=tuple(int(d) for d in t.get("dims", [])),
                )
                for t in fields.get(key, [])
            )

        batching = one(fields, "dynamic_batching", {})
        policy = one(batching, "default_queue_policy", {})
        known = {"name", "platform", "max_batch_size", "input", "output", "dynamic_batching", "version_policy"}
        version_policy = one(fields, "version_policy", {})
        pinned = None
        if "specific" in version_policy:
            listed = [int(v) for v in one(version_policy, "specific").get("versions", [])]
            if len(listed) != 1:
                raise ModelConfigError(
                    f"config.pbtxt: version_policy.specific lists {listed}; this server serves exactly one version "
                    "per model, so name one"
                )
            pinned = listed[0]
        return cls(
            name=one(fields, "name"),
            platform=one(fields, "platform"),
            max_batch_size=int(one(fields, "max_batch_size")),
            inputs=tensor_list("input"),
            outputs=tensor_list("output"),
            max_queue_delay_microseconds=int(one(batching, "max_queue_delay_microseconds", 0)),
            preferred_batch_sizes=tuple(int(b) for b in batching.get("preferred_batch_size", [])),
            max_queue_size=int(one(policy, "max_queue_size", 4096)),
            pinned_version=pinned,
            extra={k: v for k, v in fields.items() if k not in known},
        )


def contract_config(
    name: str,
    spec: FeatureSpec,
    *,
    platform: str = PLATFORM_ONNX,
    max_batch_size: int = 256,
    max_queue_delay_microseconds: int = 0,
    max_queue_size: int = 4096,
) -> ModelConfig:
    """The model contract (`features/model_contract.py`) for a FeatureSpec, as a Triton-style config."""
    inputs = [_contract_tensor(t) for t in input_tensors(spec)]
    return ModelConfig(
        name=name,
        platform=platform,
        max_batch_size=max_batch_size,
        inputs=tuple(inputs),
        outputs=tuple(_contract_tensor(t) for t in output_tensors()),
        max_queue_delay_microseconds=max_queue_delay_microseconds,
        preferred_batch_sizes=tuple(b for b in (32, 64, 128, 256) if b <= max_batch_size),
        max_queue_size=max_queue_size,
    )


def _contract_tensor(tensor: ContractTensor) -> TensorSpec:
    (data_type,) = (config for config, dtype in _NUMPY.items() if dtype == tensor.dtype)
    return TensorSpec(tensor.name, data_type, (tensor.width,))


def config_type_for_ort(ort_type: str) -> str:
    """Triton config type for an ONNX Runtime type string such as 'tensor(float)'."""
    if ort_type not in _BY_ORT_TYPE:
        raise ModelConfigError(f"ONNX type {ort_type} has no Triton equivalent we serve")
    return _BY_ORT_TYPE[ort_type]


_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}\[\]:,;])|([^\s{}\[\]:,;"#]+))')


def _tokens(text: str) -> list[str]:
    out, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ModelConfigError(
                f"config.pbtxt: cannot read text at offset {position}: {text[position : position + 20]!r}"
            )
        position = match.end()
        if match.group(1) is None:
            out.append(next(g for g in match.groups()[1:] if g is not None))
    return out


def parse_text_proto(text: str) -> dict[str, list]:
    """Parses protobuf text format into {field: [values]}; nested messages become dicts, scalars str/int/float."""
    tokens = _tokens(text)
    position = 0

    def scalar(token: str):
        if token.startswith('"'):
            return bytes(token[1:-1], "utf-8").decode("unicode_escape")
        for convert in (int, float):
            try:
                return convert(token)
            except ValueError:
                pass
        return token

    def value():
        nonlocal position
        token = tokens[position]
        if token == "{":
            position += 1
            return message("}")
        position += 1
        return scalar(token)

    def message(end: str | None) -> dict[str, list]:
        nonlocal position
        fields: dict[str, list] = {}
        while position < len(tokens) and tokens[position] != end:
            key = tokens[position]
            position += 1
            if position < len(tokens) and tokens[position] == ":":
                position += 1
            if position >= len(tokens):
                raise ModelConfigError(f"config.pbtxt: field '{key}' has no value")
            if tokens[position] == "[":
                position += 1
                while tokens[position] != "]":
                    fields.setdefault(key, []).append(value())
                    if tokens[position] == ",":
                        position += 1
                position += 1
                fields.setdefault(key, [])
            else:
                fields.setdefault(key, []).append(value())
            if position < len(tokens) and tokens[position] in {",", ";"}:
                position += 1
        if end is not None:
            if position >= len(tokens):
                raise ModelConfigError(f"config.pbtxt: missing '{end}'")
            position += 1
        return fields

    try:
        return message(None)
    except IndexError:
        raise ModelConfigError("config.pbtxt: unexpected end of file (unbalanced brackets?)") from None
