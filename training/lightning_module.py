"""ScoringModule: the LightningModule that trains a TabularNet with a positive-weighted loss and logs its metrics."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn

from training.config import OptimConfig
from training.metrics import binary_metrics
from training.model import TabularNet


class ScoringModule(L.LightningModule):
    """Thin adapter: the loss, the optimiser and per-epoch validation metrics around a TabularNet."""

    def __init__(
        self,
        net: TabularNet,
        optim: OptimConfig,
        pos_weight: float,
        max_fpr: float,
        monotone: dict[int, int] | None = None,
    ) -> None:
        """`monotone`: numeric column index -> +1 / -1, the direction the logit must not move against."""
        super().__init__()
        self.net = net
        self.optim = optim
        self.max_fpr = max_fpr
        self.loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight]))
        monotone = monotone if optim.monotone_weight > 0 else None
        self._monotone_columns = list(monotone) if monotone else []
        self.register_buffer("monotone_signs", torch.tensor(list((monotone or {}).values()), dtype=torch.float32))
        self._scores: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        numeric, categorical, labels = batch
        if not self._monotone_columns:
            loss = self.loss(self.net.logits(numeric, categorical).float().squeeze(1), labels)
        else:
            numeric = numeric.detach().requires_grad_(True)
            logits = self.net.logits(numeric, categorical).float().squeeze(1)
            loss = self.loss(logits, labels)
            penalty = self.monotone_penalty(numeric, logits)
            self.log("train_monotone_penalty", penalty, on_step=False, on_epoch=True, batch_size=len(labels))
            loss = loss + self.optim.monotone_weight * penalty
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(labels))
        return loss

    def monotone_penalty(self, numeric: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Mean over rows and constrained features of the logit's slope against its declared direction, per
        training standard deviation of the feature (so one weight fits features of any unit); 0 when every row
        moves the declared way."""
        (slopes,) = torch.autograd.grad(logits.sum(), numeric, create_graph=True)
        columns = self._monotone_columns
        per_std = slopes[:, columns] * self.net.numeric_std[columns] * self.monotone_signs
        return torch.relu(-per_std).mean()

    def validation_step(self, batch, batch_idx):
        numeric, categorical, labels = batch
        logits = self.net.logits(numeric, categorical).float().squeeze(1)
        # Every rank sees the whole validation split, so no cross-process reduction is needed here.
        self.log("val_loss", self.loss(logits, labels), on_epoch=True, batch_size=len(labels))
        self._scores.append(torch.sigmoid(logits + self.net.logit_offset).detach().cpu())
        self._labels.append(labels.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._scores:
            return
        scores = torch.cat(self._scores).numpy().astype(np.float64)
        labels = torch.cat(self._labels).numpy()
        self._scores.clear()
        self._labels.clear()
        for name, value in binary_metrics(labels, scores, self.max_fpr).items():
            self.log(f"val_{name}", value)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.optim.learning_rate, weight_decay=self.optim.weight_decay)
