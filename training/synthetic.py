"""A labelled synthetic training set for ANY FeatureSpec, for tests and benchmarks of the machinery.

The domain generator produces the real worked example; this one only needs a spec, so
the machinery is tested without naming a domain column. The signal is known: the first
numeric feature raises the risk, the second lowers it, and the first categorical
feature's first vocabulary value is risky. Other features are noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.spec import FeatureSpec


def synthetic_spec(n_numeric: int = 4, vocabularies: dict[str, tuple[str, ...]] | None = None) -> FeatureSpec:
    """A neutral FeatureSpec (x0.., c0..) for machinery tests."""
    vocabularies = vocabularies if vocabularies is not None else {"c0": ("red", "green", "blue"), "c1": ("a", "b")}
    return FeatureSpec(
        entity_id="event_id",
        timestamp="event_time",
        label="is_positive",
        numeric=tuple(f"x{i}" for i in range(n_numeric)),
        categorical=vocabularies,
    )


def synthetic_frame(
    spec: FeatureSpec, rows: int = 4000, seed: int = 0, positive_rate: float = 0.05, signal: float = 2.0
) -> pd.DataFrame:
    """Rows in the training-set layout with a learnable, known signal and about `positive_rate` positives."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            spec.entity_id: [f"e{seed}-{i:07d}" for i in range(rows)],
            spec.timestamp: pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.uniform(0, 86400 * 30, rows)), unit="s"),
        }
    )
    logit = np.zeros(rows)
    for i, name in enumerate(spec.numeric):
        values = rng.normal(0, 1, rows)
        if i == 0:
            logit += signal * values
        elif i == 1:
            logit -= 0.5 * signal * values
        # Scale and shift so that normalisation inside the model matters.
        frame[name] = (values * (10.0**i) + 3.0 * i).astype(np.float64)
    for j, (name, vocab) in enumerate(spec.categorical.items()):
        values = rng.choice(list(vocab), rows)
        if j == 0:
            logit += signal * (values == vocab[0])
        frame[name] = values.astype(object)
    intercept = _intercept_for_rate(logit, positive_rate)
    probability = 1 / (1 + np.exp(-(logit + intercept)))
    frame[spec.label] = (rng.uniform(0, 1, rows) < probability).astype(np.int64)
    return frame


def _intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    low, high = -30.0, 30.0
    for _ in range(60):
        middle = (low + high) / 2
        if (1 / (1 + np.exp(-(logit + middle)))).mean() > rate:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def write_synthetic_training_set(spec: FeatureSpec, path: str | Path, **kwargs) -> Path:
    """Writes synthetic_frame(spec, **kwargs) as one Parquet file and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_frame(spec, **kwargs).to_parquet(path, index=False)
    return path
