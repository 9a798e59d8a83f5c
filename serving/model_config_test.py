"""config.pbtxt round trip, Triton-style parsing and the FeatureSpec contract."""

import dataclasses

import numpy as np
import pytest

from serving.model_config import ModelConfig, ModelConfigError, TensorSpec, contract_config, parse_text_proto
from serving.synthetic_data import reference_spec

TRITON_STYLE = """
# written by hand, as in Triton's docs
name: "scorer"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [
  { name: "numeric", data_type: TYPE_FP32, dims: [ 5 ] },
  { name: "categorical" data_type: TYPE_INT64 dims: [ 2 ] }
]
output { name: "score" data_type: TYPE_FP32 dims: [ 1 ] }
dynamic_batching { max_queue_delay_microseconds: 100 preferred_batch_size: [ 8, 16 ] }
instance_group [ { count: 2, kind: KIND_CPU } ]
"""


def test_contract_config_follows_the_feature_spec():
    spec = reference_spec(n_numeric=5, n_categorical=2)
    config = contract_config("scorer", spec, max_batch_size=64)
    assert [(t.name, t.datatype, t.dims) for t in config.inputs] == [
        ("numeric", "FP32", (5,)),
        ("categorical", "INT64", (2,)),
    ]
    assert [(t.name, t.datatype, t.dims) for t in config.outputs] == [("score", "FP32", (1,))]
    assert config.inputs[1].numpy_dtype == np.int64


def test_pbtxt_round_trip_is_lossless():
    config = contract_config(
        "scorer", reference_spec(), max_batch_size=128, max_queue_delay_microseconds=250, max_queue_size=999
    )
    parsed = ModelConfig.from_pbtxt(config.to_pbtxt())
    assert parsed == config
    assert parsed.max_queue_size == 999 and parsed.max_queue_delay_microseconds == 250


def test_parses_hand_written_triton_config():
    config = ModelConfig.from_pbtxt(TRITON_STYLE)
    assert config.max_batch_size == 64
    assert config.inputs == (TensorSpec("numeric", "TYPE_FP32", (5,)), TensorSpec("categorical", "TYPE_INT64", (2,)))
    assert config.outputs == (TensorSpec("score", "TYPE_FP32", (1,)),)
    assert config.preferred_batch_sizes == (8, 16)
    assert config.extra["instance_group"][0]["count"] == [2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('platform: "onnxruntime_onnx" max_batch_size: 1 input { name: "a" data_type: TYPE_FP32 dims: [1] }', "name"),
        (TRITON_STYLE.replace("TYPE_INT64", "TYPE_COMPLEX"), "unknown data_type"),
        (TRITON_STYLE.replace("onnxruntime_onnx", "pytorch_libtorch"), "platform"),
        (TRITON_STYLE.replace("max_batch_size: 64", "max_batch_size: 0"), "max_batch_size"),
        (TRITON_STYLE.replace("dynamic_batching {", "dynamic_batching "), "config.pbtxt"),
    ],
)
def test_bad_configs_are_refused_with_a_reason(text, message):
    with pytest.raises(ModelConfigError, match=message):
        ModelConfig.from_pbtxt(text)


def test_text_proto_strings_numbers_and_nesting():
    parsed = parse_text_proto('a: "x y" b: 3 c: 1.5 d { e: [1, 2] } d { e: 3 }')
    assert parsed == {"a": ["x y"], "b": [3], "c": [1.5], "d": [{"e": [1, 2]}, {"e": [3]}]}


def test_version_policy_round_trips_and_names_one_version():
    pinned = dataclasses.replace(contract_config("scorer", reference_spec()), pinned_version=4)
    assert ModelConfig.from_pbtxt(pinned.to_pbtxt()).pinned_version == 4
    assert ModelConfig.from_pbtxt(contract_config("scorer", reference_spec()).to_pbtxt()).pinned_version is None
    two = pinned.to_pbtxt().replace("versions: [ 4 ]", "versions: [ 4, 5 ]")
    with pytest.raises(ModelConfigError, match=r"lists \[4, 5\]; this server serves exactly one version"):
        ModelConfig.from_pbtxt(two)
