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

    def __init__(self, net: TabularNet, optim: OptimConfig, pos_weight: float, max_fpr: float) -> None:
        super().__init__()
        self.net = net
        self.optim = optim
        self.max_fpr = max_fpr
        self.loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight]))
        self._scores: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        numeric, categorical, labels = batch
        loss = self.loss(self.net.logits(numeric, categorical).float().squeeze(1), labels)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(labels))
        return loss

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
