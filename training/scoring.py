"""Scores with a TabularNet: from encoded splits or straight from a DataFrame laid out by a FeatureSpec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from features.spec import FeatureSpec
from training.calibration import Calibration, fit_platt
from training.model import TabularNet
from training.training_data import EncodedSplit, encode_frame


@torch.no_grad()
def score_arrays(net: torch.nn.Module, numeric: np.ndarray, categorical: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Probabilities of the positive label [rows] from contract-shaped inputs, computed on CPU in eval mode."""
    return _batched(net, net, numeric, categorical, batch)


@torch.no_grad()
def logit_arrays(net: TabularNet, numeric: np.ndarray, categorical: np.ndarray, batch: int = 8192) -> np.ndarray:
    """The network's raw logits [rows] (before calibration), in the same batches and mode as score_arrays."""
    return _batched(net, net.logits, numeric, categorical, batch)


def calibrate(net: TabularNet, numeric: np.ndarray, categorical: np.ndarray, labels: np.ndarray) -> Calibration | None:
    """Platt-scales `net` on held-out rows (training/calibration.py); None, and `net` unchanged, when either class
    has too few rows there."""
    fitted = fit_platt(logit_arrays(net, numeric, categorical), labels, net.calibration)
    if fitted is not None:
        net.set_calibration(fitted)
    return fitted


def _batched(net: torch.nn.Module, output, numeric: np.ndarray, categorical: np.ndarray, batch: int) -> np.ndarray:
    was_training = net.training
    net.eval()
    values = []
    for start in range(0, len(numeric), batch):
        numeric_batch = torch.from_numpy(np.ascontiguousarray(numeric[start : start + batch], dtype=np.float32))
        categorical_batch = torch.from_numpy(np.ascontiguousarray(categorical[start : start + batch], dtype=np.int64))
        values.append(output(numeric_batch, categorical_batch).float().reshape(-1).cpu().numpy())
    net.train(was_training)
    return np.concatenate(values) if values else np.zeros(0, dtype=np.float32)


def score_split(net: TabularNet, split: EncodedSplit) -> np.ndarray:
    return score_arrays(net, split.numeric, split.categorical)


def score_frame(net: torch.nn.Module, spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Positive-label probabilities for the rows of a DataFrame; columns other than the spec's features are ignored."""
    missing = [c for c in spec.features if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot score: feature column(s) {missing} are missing; expected {list(spec.features)}")
    encoded = encode_frame(frame, spec)
    return score_arrays(net, encoded.numeric, encoded.categorical)
