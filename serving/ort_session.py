"""ONNX Runtime sessions for serving and the check that a graph matches its config.pbtxt (no torch import here)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from serving.model_config import ModelConfig, config_type_for_ort


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with a fixed thread count (one by default: the server batches instead)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def signature_mismatches(onnx_session: ort.InferenceSession, config: ModelConfig) -> list[str]:
    """Every way the graph's inputs/outputs differ from the config (names, dtypes, per-row dims); empty if none."""
    problems = []
    for kind, graph, declared in (
        ("input", onnx_session.get_inputs(), config.inputs),
        ("output", onnx_session.get_outputs(), config.outputs),
    ):
        actual = {node.name: node for node in graph}
        expected = {t.name: t for t in declared}
        if set(actual) != set(expected):
            problems.append(f"{kind} names are {sorted(actual)}, config declares {sorted(expected)}")
            continue
        for name, tensor in expected.items():
            node = actual[name]
            try:
                data_type = config_type_for_ort(node.type)
            except ValueError as exc:
                problems.append(f"{kind} '{name}': {exc}")
                continue
            if data_type != tensor.data_type:
                problems.append(f"{kind} '{name}' is {data_type} in the graph, config declares {tensor.data_type}")
            shape = list(node.shape)
            row = [d if isinstance(d, int) else -1 for d in shape[1:]]
            if len(shape) != len(tensor.dims) + 1 or isinstance(shape[0], int) and shape[0] != -1:
                problems.append(f"{kind} '{name}' has shape {shape}; config expects [batch, {list(tensor.dims)}]")
            elif any(a != e and e != -1 for a, e in zip(row, tensor.dims, strict=True)):
                problems.append(f"{kind} '{name}' rows are {row}, config declares {list(tensor.dims)}")
    return problems
