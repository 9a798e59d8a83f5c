"""Reads and checks the training set against a FeatureSpec, splits it by time and encodes it as model tensors.

Every check runs before any training starts and names the problem: an empty set,
a single class, missing or mistyped columns, missing values, labels other than 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.spec import FeatureSpec
from training.config import SplitConfig


class TrainingDataError(ValueError):
    """The training set cannot be trained on; the message says what is wrong and where."""


@dataclass(frozen=True)
class EncodedSplit:
    """One split as model inputs: raw numeric values, categorical indices, labels and the framing columns."""

    numeric: np.ndarray
    """float32 [rows, n_numeric], raw values in FeatureSpec.numeric order (normalisation is inside the model)."""
    categorical: np.ndarray
    """int64 [rows, n_categorical], encode_categorical indices in FeatureSpec.categorical order."""
    labels: np.ndarray
    """float32 [rows], 0 or 1."""
    entity_ids: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return int(self.labels.sum())


@dataclass(frozen=True)
class SplitFrames:
    """The training set split by event time: train (oldest), validation, test (most recent)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def read_training_set(path: str | Path, spec: FeatureSpec) -> pd.DataFrame:
    """Reads a Parquet file or a directory of part files and checks it against the spec (see check_training_frame)."""
    path = Path(path)
    if not path.exists():
        raise TrainingDataError(f"training set {path} does not exist")
    if path.is_dir() and not any(path.rglob("*.parquet")):
        raise TrainingDataError(f"training set {path} is a directory without any .parquet part files")
    columns = [spec.entity_id, spec.timestamp, spec.label, *spec.numeric, *spec.categorical]
    schema_names = set(pq.read_schema(next(path.rglob("*.parquet")) if path.is_dir() else path).names)
    _check_columns(schema_names, spec, str(path))
    frame = pd.read_parquet(path, columns=columns)
    check_training_frame(frame, spec, source=str(path))
    return frame


def check_training_frame(frame: pd.DataFrame, spec: FeatureSpec, source: str = "training set") -> None:
    """Raises TrainingDataError naming the first problem that would make training meaningless or wrong."""
    _check_columns(set(frame.columns), spec, source)
    if frame.empty:
        raise TrainingDataError(f"{source} is empty: there is nothing to train on")
    for name in spec.numeric:
        if not pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]):
            raise TrainingDataError(f"{source}: numeric feature '{name}' has dtype {frame[name].dtype}, expected float")
        missing = int(frame[name].isna().sum())
        if missing:
            raise TrainingDataError(f"{source}: numeric feature '{name}' has {missing} missing values")
        if not np.isfinite(frame[name].to_numpy(dtype=np.float64)).all():
            raise TrainingDataError(f"{source}: numeric feature '{name}' has infinite values")
    for name in spec.categorical:
        values = frame[name].dropna()
        if not (pd.api.types.is_string_dtype(frame[name]) or pd.api.types.is_object_dtype(frame[name])) or not all(
            isinstance(v, str) for v in values.head(1000)
        ):
            raise TrainingDataError(
                f"{source}: categorical feature '{name}' has dtype {frame[name].dtype}, expected str"
            )
    if not pd.api.types.is_datetime64_any_dtype(frame[spec.timestamp]):
        raise TrainingDataError(
            f"{source}: timestamp column '{spec.timestamp}' has dtype {frame[spec.timestamp].dtype}, "
            "expected a timestamp"
        )
    labels = frame[spec.label]
    if labels.isna().any():
        raise TrainingDataError(f"{source}: label '{spec.label}' has {int(labels.isna().sum())} missing values")
    values = set(pd.unique(labels).tolist())
    if not values <= {0, 1}:
        raise TrainingDataError(f"{source}: label '{spec.label}' must be 0 or 1, found {sorted(values)[:5]}")
    if len(values) < 2:
        only = values.pop()
        raise TrainingDataError(
            f"{source}: label '{spec.label}' is {only} in all {len(frame)} rows (a single class): "
            "a classifier needs both positives and negatives"
        )


def _check_columns(columns: set[str], spec: FeatureSpec, source: str) -> None:
    expected = [spec.entity_id, spec.timestamp, spec.label, *spec.numeric, *spec.categorical]
    missing = [c for c in expected if c not in columns]
    if missing:
        raise TrainingDataError(
            f"{source} does not match feature definition {spec.definition_hash()}: missing column(s) {missing}; "
            f"expected {expected}"
        )


def split_by_time(frame: pd.DataFrame, spec: FeatureSpec, split: SplitConfig) -> SplitFrames:
    """Orders rows by (timestamp, entity id) and cuts them into train, validation and test; each needs both classes."""
    ordered = frame.sort_values([spec.timestamp, spec.entity_id], kind="stable").reset_index(drop=True)
    n = len(ordered)
    train_end = int(round(n * split.train_fraction))
    validation_end = int(round(n * (split.train_fraction + split.validation_fraction)))
    parts = SplitFrames(ordered.iloc[:train_end], ordered.iloc[train_end:validation_end], ordered.iloc[validation_end:])
    for name in ("train", "validation", "test"):
        part = getattr(parts, name)
        positives = int(part[spec.label].sum())
        if positives == 0 or positives == len(part):
            raise TrainingDataError(
                f"the {name} split ({len(part)} of {n} rows by time) has {positives} positives: each split needs both "
                "classes; supply more data or change the split fractions"
            )
    return parts


def encode_categories(vocabulary: tuple[str, ...], values: pd.Series) -> np.ndarray:
    """Vectorised features.spec.encode_categorical: 1..n for vocabulary values, 0 for anything else (None included)."""
    codes = pd.Categorical(values, categories=list(vocabulary)).codes.astype(np.int64)
    return codes + 1


def encode_frame(frame: pd.DataFrame, spec: FeatureSpec) -> EncodedSplit:
    """Model inputs in the signature contract's layout (numeric float32, categorical int64) plus labels."""
    numeric = frame[list(spec.numeric)].to_numpy(dtype=np.float32).reshape(len(frame), len(spec.numeric))
    categorical = (
        np.stack([encode_categories(vocab, frame[name]) for name, vocab in spec.categorical.items()], axis=1)
        if spec.categorical
        else np.zeros((len(frame), 0), dtype=np.int64)
    )
    labels = frame[spec.label].to_numpy(dtype=np.float32) if spec.label in frame else np.zeros(len(frame), np.float32)
    return EncodedSplit(
        numeric=np.ascontiguousarray(numeric),
        categorical=np.ascontiguousarray(categorical, dtype=np.int64),
        labels=labels,
        entity_ids=frame[spec.entity_id].to_numpy() if spec.entity_id in frame else np.array([]),
        timestamps=frame[spec.timestamp].to_numpy() if spec.timestamp in frame else np.array([]),
    )


def normalisation_stats(train: EncodedSplit) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each numeric feature on the TRAINING split only (std floored at 1e-6)."""
    values = train.numeric.astype(np.float64)
    mean = values.mean(axis=0) if len(values) else np.zeros(values.shape[1])
    std = values.std(axis=0) if len(values) else np.ones(values.shape[1])
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def positive_weight(train: EncodedSplit, configured: float | None, cap: float) -> float:
    """The loss weight of positives: the configured one, or negatives/positives of the training split capped at cap."""
    if configured is not None:
        return float(configured)
    positives = max(train.positives, 1)
    return float(min((len(train) - positives) / positives, cap))
