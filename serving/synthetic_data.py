"""Generic FeatureSpec and seeded synthetic labelled rows for serving tests and benchmarks (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.spec import FeatureSpec


def reference_spec(n_numeric: int = 8, n_categorical: int = 3, vocabulary_size: int = 6) -> FeatureSpec:
    """A FeatureSpec with generic feature names (serving never names a domain column)."""
    return FeatureSpec(
        entity_id="event_id",
        timestamp="event_time",
        label="label",
        numeric=tuple(f"x{i}" for i in range(n_numeric)),
        categorical={f"c{i}": tuple(f"v{j}" for j in range(vocabulary_size)) for i in range(n_categorical)},
    )


@dataclass(frozen=True)
class LabelledBatch:
    """Model inputs with labels: a holdout for parity and quality checks, or a fine-tuning set."""

    numeric: np.ndarray
    """float32 [B, N]."""
    categorical: np.ndarray
    """int64 [B, C]."""
    labels: np.ndarray
    """float32 [B], 0 or 1."""

    def __len__(self) -> int:
        return len(self.labels)


def synthetic_batch(spec: FeatureSpec, rows: int, seed: int) -> LabelledBatch:
    """Rows whose label depends on a few features, so a trained model has a measurable AUC."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, len(spec.numeric))).astype(np.float32) * 3 + 1
    categorical = rng.integers(
        0, len(next(iter(spec.categorical.values()), ())) + 1, size=(rows, len(spec.categorical))
    )
    logit = (
        numeric[:, 0] - 0.7 * numeric[:, 1] + (categorical[:, 0] == 2) * 2.0 - 1.5
        if spec.categorical
        else numeric[:, 0]
    )
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return LabelledBatch(numeric, categorical.astype(np.int64), labels)
