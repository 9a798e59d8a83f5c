"""Hand-built ONNX graphs for tests: a logistic model with the contract signature, and deliberately wrong ones.

Built with onnx.helper (no torch), so repository, reload and server tests start in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from serving.model_config import ModelConfig

_ONNX_TYPES = {"TYPE_FP32": TensorProto.FLOAT, "TYPE_INT64": TensorProto.INT64, "TYPE_FP64": TensorProto.DOUBLE}


def logistic_model(config: ModelConfig, seed: int = 0, output_offset: float = 0.0) -> onnx.ModelProto:
    """score = sigmoid(sum_i x_i @ w_i + b + output_offset), x_i cast to float, with `config`'s signature.

    A different seed gives a different, distinguishable version.
    """
    rng = np.random.default_rng(seed)
    nodes, initializers, terms = [], [], []
    for tensor in config.inputs:
        name = tensor.name
        width = tensor.dims[0]
        weight = numpy_helper.from_array((rng.normal(size=(width, 1)) * 0.3).astype(np.float32), f"{name}_w")
        initializers.append(weight)
        source = name
        if tensor.data_type != "TYPE_FP32":
            nodes.append(helper.make_node("Cast", [name], [f"{name}_f"], to=TensorProto.FLOAT))
            source = f"{name}_f"
        nodes.append(helper.make_node("MatMul", [source, f"{name}_w"], [f"{name}_t"]))
        terms.append(f"{name}_t")
    bias = numpy_helper.from_array(np.array([[rng.normal() * 0.1 + output_offset]], dtype=np.float32), "bias")
    initializers.append(bias)
    nodes.append(helper.make_node("Sum", [*terms, "bias"], ["logit"]))
    output = config.outputs[0]
    nodes.append(helper.make_node("Sigmoid", ["logit"], [output.name]))
    return _model(config, nodes, initializers)


def slow_logistic_model(config: ModelConfig, width: int = 1024, layers: int = 4, seed: int = 0) -> onnx.ModelProto:
    """A contract model that burns ~layers * 2 * width^2 FLOPs per row before its logistic output (overload tests)."""
    rng = np.random.default_rng(seed)
    first = config.inputs[0]
    nodes = [helper.make_node("MatMul", [first.name, "w_in"], ["h0"])]
    initializers = [numpy_helper.from_array(rng.normal(size=(first.dims[0], width)).astype(np.float32) * 0.01, "w_in")]
    for i in range(layers):
        initializers.append(numpy_helper.from_array(rng.normal(size=(width, width)).astype(np.float32) * 0.01, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("ReduceMean", [f"h{layers}"], ["logit0"], axes=[1], keepdims=1))
    for tensor in config.inputs[1:]:
        nodes.append(helper.make_node("Cast", [tensor.name], [f"{tensor.name}_f"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("ReduceMean", [f"{tensor.name}_f"], [f"{tensor.name}_m"], axes=[1], keepdims=1))
    extra = [f"{t.name}_m" for t in config.inputs[1:]]
    nodes.append(helper.make_node("Sum", ["logit0", *extra], ["logit"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], [config.outputs[0].name]))
    return _model(config, nodes, initializers)


def linear_unbounded_model(config: ModelConfig, seed: int = 0) -> onnx.ModelProto:
    """Like logistic_model but without the sigmoid: outputs leave [0, 1] and fail the load check."""
    model = logistic_model(config, seed, output_offset=5.0)
    graph = model.graph
    sigmoid = next(n for n in graph.node if n.op_type == "Sigmoid")
    sigmoid.op_type = "Identity"
    return model


def slow_twin_model(config: ModelConfig, seed: int = 0, width: int = 1024, layers: int = 4) -> onnx.ModelProto:
    """logistic_model's scores (the same seed gives the same scores), after ~layers * 2 * width^2 FLOPs per row of
    work whose result is multiplied by zero: a version that is only slower."""
    model = logistic_model(config, seed)
    graph = model.graph
    rng = np.random.default_rng(seed + 1)
    first = config.inputs[0]
    weights = [rng.normal(size=(first.dims[0], width)).astype(np.float32) * 0.01]
    weights += [rng.normal(size=(width, width)).astype(np.float32) * 0.01 for _ in range(layers)]
    graph.initializer.extend(numpy_helper.from_array(w, f"burn_w{i}") for i, w in enumerate(weights))
    graph.initializer.append(numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "burn_zero"))
    nodes = [helper.make_node("MatMul", [first.name, "burn_w0"], ["burn_h0"])]
    for i in range(1, layers + 1):
        nodes.append(helper.make_node("MatMul", [f"burn_h{i - 1}", f"burn_w{i}"], [f"burn_h{i}"]))
    nodes.append(helper.make_node("ReduceMean", [f"burn_h{layers}"], ["burn_mean"], axes=[1], keepdims=1))
    nodes.append(helper.make_node("Mul", ["burn_mean", "burn_zero"], ["burn_nothing"]))
    sum_node = next(n for n in graph.node if n.op_type == "Sum")
    sum_node.output[0] = "logit_fast"
    nodes.append(helper.make_node("Add", ["logit_fast", "burn_nothing"], ["logit"]))
    position = list(graph.node).index(sum_node) + 1
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)
    onnx.checker.check_model(model)
    return model


def nan_slice_model(config: ModelConfig, seed: int = 0, category: int = 3) -> onnx.ModelProto:
    """Like logistic_model, but NaN for rows whose last input's first column equals `category` (a model broken on a
    slice of live traffic that its all-zeros warm-up rows never reach)."""
    model = logistic_model(config, seed)
    graph = model.graph
    output = config.outputs[0].name
    sigmoid = next(n for n in graph.node if n.op_type == "Sigmoid")
    sigmoid.output[0] = "clean_score"
    last = config.inputs[-1]
    dtype = last.numpy_dtype
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([0], dtype=np.int64), "first_column"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"),
            numpy_helper.from_array(np.array([category], dtype=dtype), "broken_category"),
            numpy_helper.from_array(np.array([[np.nan]], dtype=np.float32), "nan"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Slice", [last.name, "first_column", "one", "axis"], ["column"]),
            helper.make_node("Equal", ["column", "broken_category"], ["broken"]),
            helper.make_node("Where", ["broken", "nan", "clean_score"], [output]),
        ]
    )
    onnx.checker.check_model(model)
    return model


def _model(config: ModelConfig, nodes, initializers) -> onnx.ModelProto:
    inputs = [
        helper.make_tensor_value_info(t.name, _ONNX_TYPES[t.data_type], ["batch", *t.dims]) for t in config.inputs
    ]
    outputs = [
        helper.make_tensor_value_info(t.name, _ONNX_TYPES[t.data_type], ["batch", *t.dims]) for t in config.outputs
    ]
    graph = helper.make_graph(nodes, "contract", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
