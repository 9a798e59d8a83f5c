"""A small torch MLP with the model signature contract, for serving tests and benchmarks.

The real champion comes from training/; this stands in for it wherever serving machinery must be exercised on its own.
"""

from __future__ import annotations

import torch
from torch import nn

from features.spec import FeatureSpec
from serving.synthetic_data import LabelledBatch, synthetic_batch


class ReferenceMLP(nn.Module):
    """numeric float32 [B, N] + categorical int64 [B, C] -> score float32 [B, 1] in [0, 1]; normalisation inside."""

    def __init__(self, spec: FeatureSpec, hidden: tuple[int, ...] = (64, 32), embedding_dim: int = 4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(len(spec.numeric)))
        self.register_buffer("std", torch.ones(len(spec.numeric)))
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(vocab) + 1, embedding_dim) for vocab in spec.categorical.values()
        )
        layers: list[nn.Module] = []
        width = len(spec.numeric) + embedding_dim * len(spec.categorical)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [(numeric - self.mean) / self.std]
        parts += [embedding(categorical[:, i]) for i, embedding in enumerate(self.embeddings)]
        return torch.sigmoid(self.mlp(torch.cat(parts, dim=1)))


def fit(model: nn.Module, data: LabelledBatch, steps: int = 200, lr: float = 0.01, seed: int = 0) -> nn.Module:
    """A few full-batch Adam steps of binary cross-entropy; also fits the normalisation buffers if it has them."""
    torch.manual_seed(seed)
    numeric, categorical = torch.from_numpy(data.numeric), torch.from_numpy(data.categorical)
    labels = torch.from_numpy(data.labels).unsqueeze(1)
    if isinstance(getattr(model, "mean", None), torch.Tensor):
        model.mean.copy_(numeric.mean(0))
        model.std.copy_(numeric.std(0).clamp_min(1e-6))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy(model(numeric, categorical), labels)
        loss.backward()
        optimiser.step()
    return model.eval()


def trained_reference_model(spec: FeatureSpec, hidden: tuple[int, ...] = (64, 32), seed: int = 0) -> ReferenceMLP:
    """A ReferenceMLP fitted briefly on synthetic rows (deterministic for a seed)."""
    torch.manual_seed(seed)
    return fit(ReferenceMLP(spec, hidden), synthetic_batch(spec, 2048, seed=seed + 1), steps=150, seed=seed)
