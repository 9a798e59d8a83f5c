"""TabularNet: the exported network (normalisation buffers, categorical embeddings, MLP, calibrated probability)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from features.spec import FeatureSpec
from training.calibration import Calibration
from training.config import ModelConfig


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a TabularNet before loading its weights."""

    n_numeric: int
    cardinalities: tuple[int, ...]
    """Embedding rows per categorical feature: vocabulary size + 1 (index 0 is the unknown bucket)."""
    hidden_sizes: tuple[int, ...]
    embedding_dim: int
    dropout: float

    @classmethod
    def for_spec(cls, spec: FeatureSpec, model: ModelConfig) -> Architecture:
        return cls(
            n_numeric=len(spec.numeric),
            cardinalities=tuple(len(vocab) + 1 for vocab in spec.categorical.values()),
            hidden_sizes=tuple(model.hidden_sizes),
            embedding_dim=model.embedding_dim,
            dropout=model.dropout,
        )

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class TabularNet(nn.Module):
    """forward(numeric float32 [B, n_numeric], categorical int64 [B, n_cat]) -> score float32 [B, 1] in [0, 1].

    The model contract (`features/model_contract.py`): without categorical features there is no categorical input.

    Raw numeric inputs are standardised by buffers fitted on training data; `logit_offset`
    (-log pos_weight) undoes the class weighting of the loss so that scores are probabilities, and training refits it
    with `logit_scale` on held-out rows (`set_calibration`; Platt scaling, training/calibration.py).
    """

    def __init__(self, architecture: Architecture) -> None:
        super().__init__()
        self.architecture = architecture
        self.register_buffer("numeric_mean", torch.zeros(architecture.n_numeric))
        self.register_buffer("numeric_std", torch.ones(architecture.n_numeric))
        self.register_buffer("logit_offset", torch.zeros(1))
        self.register_buffer("logit_scale", torch.ones(1))
        self.embeddings = nn.ModuleList(
            nn.Embedding(cardinality, min(architecture.embedding_dim, cardinality))
            for cardinality in architecture.cardinalities
        )
        width = architecture.n_numeric + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for hidden in architecture.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if architecture.dropout:
                layers.append(nn.Dropout(architecture.dropout))
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Stores the training split's per-feature mean and std (they travel with the weights and the ONNX file)."""
        self.numeric_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.numeric_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def set_positive_weight(self, pos_weight: float) -> None:
        """Prior correction for a loss that weighted positives by pos_weight: logit -= log(pos_weight)."""
        self.logit_offset.fill_(-math.log(pos_weight))

    def logits(self, numeric: torch.Tensor, categorical: torch.Tensor | None = None) -> torch.Tensor:
        """Training-time logits [B, 1] (no prior correction; the weighted loss expects them)."""
        parts = [(numeric - self.numeric_mean) / self.numeric_std]
        for i, embedding in enumerate(self.embeddings):
            index = categorical[:, i]
            # An index outside the vocabulary (a newer encoder) falls into the unknown bucket 0, never out of range.
            index = torch.where((index >= 0) & (index < embedding.num_embeddings), index, torch.zeros_like(index))
            parts.append(embedding(index))
        return self.mlp(torch.cat(parts, dim=1))

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor | None = None) -> torch.Tensor:
        return tail_exact_sigmoid(self.logit_scale * self.logits(numeric, categorical).float() + self.logit_offset)

    @property
    def calibration(self) -> Calibration:
        """score = sigmoid(scale * logit + offset): the numbers the forward pass applies to the raw logit."""
        return Calibration(scale=float(self.logit_scale), offset=float(self.logit_offset))

    @torch.no_grad()
    def set_calibration(self, calibration: Calibration) -> None:
        self.logit_scale.fill_(calibration.scale)
        self.logit_offset.fill_(calibration.offset)


def tail_exact_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-z)): the sigmoid written so that every runtime keeps float32's relative precision near 0.

    ONNX Runtime's CPU `Sigmoid` kernel is accurate to ~3e-8 in absolute terms only: it returns 0 below about
    sigmoid(-17) and doubles scores near 1e-7. A confident model's legitimate traffic scores far below that, so the
    engine's score distribution (which drift monitoring compares with the reference torch measured) lost its low
    tail: training-serving skew that raised score-drift alarms on traffic that had not changed. Exp, Add and
    Reciprocal are exact to float32 rounding in every runtime (exp overflows to inf, giving 0, never NaN).
    """
    return torch.reciprocal(1.0 + torch.exp(-logits))


def build_model(spec: FeatureSpec, model: ModelConfig) -> TabularNet:
    """A freshly initialised TabularNet for this feature definition (seed torch first for reproducible weights)."""
    return TabularNet(Architecture.for_spec(spec, model))


def save_model(net: TabularNet, path) -> None:
    """Architecture plus state dict: loadable without pickling code objects."""
    torch.save({"architecture": net.architecture.to_dict(), "state_dict": net.state_dict()}, path)


def load_model(path) -> TabularNet:
    """The TabularNet save_model wrote, in eval mode on CPU."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = TabularNet(Architecture.from_dict(saved["architecture"]))
    state = dict(saved["state_dict"])
    state.setdefault("logit_scale", torch.ones(1))  # saved before Platt scaling: the identity
    net.load_state_dict(state)
    return net.eval()
