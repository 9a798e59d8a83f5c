"""Scores with a TabularNet: from encoded splits or straight from a DataFrame laid out by a FeatureSpec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from features.spec import FeatureSpec
from training.model import TabularNet
from training.training_data import EncodedSplit, encode_frame


@torch.no_grad()
def score_arrays(net: torch.nn.Module, numeric: np.ndarray, categorical: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Probabilities of the positive label [rows] from contract-shaped inputs, computed on CPU in eval mode."""
    was_training = net.training
    net.eval()
    scores = []
    for start in range(0, len(numeric), batch):
        numeric_batch = torch.from_numpy(np.ascontiguousarray(numeric[start : start + batch], dtype=np.float32))
        categorical_batch = torch.from_numpy(np.ascontiguousarray(categorical[start : start + batch], dtype=np.int64))
        scores.append(net(numeric_batch, categorical_batch).float().reshape(-1).cpu().numpy())
    net.train(was_training)
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def score_split(net: TabularNet, split: EncodedSplit) -> np.ndarray:
    return score_arrays(net, split.numeric, split.categorical)


def score_frame(net: torch.nn.Module, spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Positive-label probabilities for the rows of a DataFrame; columns other than the spec's features are ignored."""
    missing = [c for c in spec.features if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot score: feature column(s) {missing} are missing; expected {list(spec.features)}")
    encoded = encode_frame(frame, spec)
    return score_arrays(net, encoded.numeric, encoded.categorical)
