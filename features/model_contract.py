"""The model contract, written once: the ONNX tensors a model takes and gives for a FeatureSpec.

Training (the network's inputs, MLflow's signature), export (names, parity inputs), the engine build and the
server (Triton-style `config.pbtxt`, request validation) all read these tensors from here. A spec without
categorical features has no `categorical` input at all: a zero-width tensor is not a shape Triton accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.spec import FeatureSpec

INPUT_NUMERIC = "numeric"
"""float32 [batch, n_numeric]: raw numeric feature values in FeatureSpec.numeric order."""
INPUT_CATEGORICAL = "categorical"
"""int64 [batch, n_categorical]: encode_categorical indices in FeatureSpec.categorical order (absent without any)."""
OUTPUT_SCORE = "score"
"""float32 [batch, 1]: the probability of the spec's positive label, in [0, 1]."""


@dataclass(frozen=True)
class ContractTensor:
    """One tensor of the contract: name, element type and width; the batch dimension is always first and dynamic."""

    name: str
    dtype: np.dtype
    width: int


def input_tensors(spec: FeatureSpec) -> tuple[ContractTensor, ...]:
    """The model's inputs, in call order: numeric, then categorical when the spec has categorical features."""
    tensors = [ContractTensor(INPUT_NUMERIC, np.dtype(np.float32), len(spec.numeric))]
    if spec.categorical:
        tensors.append(ContractTensor(INPUT_CATEGORICAL, np.dtype(np.int64), len(spec.categorical)))
    return tuple(tensors)


def output_tensors() -> tuple[ContractTensor, ...]:
    """The model's one output: the score."""
    return (ContractTensor(OUTPUT_SCORE, np.dtype(np.float32), 1),)


def example_inputs(spec: FeatureSpec, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs in the contract's dtypes and shapes (categorical indices include the unknown bucket 0)."""
    rng = np.random.default_rng(seed)
    inputs = {INPUT_NUMERIC: rng.normal(0, 3, (batch, len(spec.numeric))).astype(np.float32)}
    if spec.categorical:
        columns = [rng.integers(0, len(vocab) + 1, batch) for vocab in spec.categorical.values()]
        inputs[INPUT_CATEGORICAL] = np.stack(columns, axis=1).astype(np.int64)
    return inputs
