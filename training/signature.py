"""The model signature contract's names and shapes, importable without torch (numpy only)."""

from __future__ import annotations

import numpy as np

from domain.spec import FeatureSpec

INPUT_NUMERIC = "numeric"
"""float32 [batch, n_numeric]: raw numeric feature values in FeatureSpec.numeric order."""
INPUT_CATEGORICAL = "categorical"
"""int64 [batch, n_categorical]: encode_categorical indices in FeatureSpec.categorical order."""
OUTPUT_SCORE = "score"
"""float32 [batch, 1]: fraud probability in [0, 1]."""


def contract_inputs(spec: FeatureSpec, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs in the contract's dtypes and shapes (categorical indices include the unknown bucket 0)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(0, 3, (batch, len(spec.numeric))).astype(np.float32)
    if not spec.categorical:
        return numeric, np.zeros((batch, 0), dtype=np.int64)
    categorical = np.stack([rng.integers(0, len(vocab) + 1, batch) for vocab in spec.categorical.values()], axis=1)
    return numeric, categorical.astype(np.int64)
