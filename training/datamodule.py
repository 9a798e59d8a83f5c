"""TrainingDataModule: the time-split training set as batches; training batches are sharded across DDP processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from features.spec import FeatureSpec
from training.config import TrainingConfig
from training.training_data import (
    EncodedSplit,
    TrainingDataError,
    encode_frame,
    normalisation_stats,
    positive_weight,
    read_training_set,
    split_by_time,
)


@dataclass(frozen=True)
class PreparedData:
    """The encoded splits plus what was fitted on the training split (normalisation, positive weight)."""

    train: EncodedSplit
    validation: EncodedSplit
    test: EncodedSplit
    numeric_mean: np.ndarray
    numeric_std: np.ndarray
    pos_weight: float

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {"pos_weight": self.pos_weight}
        for name in ("train", "validation", "test"):
            part = getattr(self, name)
            out[f"rows_{name}"] = len(part)
            out[f"positives_{name}"] = part.positives
        return out


def prepare_data(path: str | Path, spec: FeatureSpec, config: TrainingConfig) -> PreparedData:
    """Reads, checks, time-splits and encodes the training set; fails before training with a clear message."""
    frame = read_training_set(path, spec)
    frames = split_by_time(frame, spec, config.split)
    train = encode_frame(frames.train, spec)
    if len(train) < config.optim.batch_size:
        raise TrainingDataError(
            f"the training split has {len(train)} rows, fewer than one global batch of {config.optim.batch_size}: "
            "lower optim.batch_size or supply more data"
        )
    mean, std = normalisation_stats(train)
    return PreparedData(
        train=train,
        validation=encode_frame(frames.validation, spec),
        test=encode_frame(frames.test, spec),
        numeric_mean=mean,
        numeric_std=std,
        pos_weight=positive_weight(train, config.optim.pos_weight, config.optim.max_pos_weight),
    )


class SplitTensors(Dataset):
    """A split as tensors; indexed by a LIST of row indices it returns a whole batch (no per-row collation)."""

    def __init__(self, split: EncodedSplit) -> None:
        self.numeric = torch.from_numpy(split.numeric)
        self.categorical = torch.from_numpy(split.categorical)
        self.labels = torch.from_numpy(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(rows)
        return self.numeric[index], self.categorical[index], self.labels[index]


class ShardedBatches(Sampler[list[int]]):
    """Shuffles rows with (seed, epoch), cuts them into GLOBAL batches and gives each rank its equal share.

    N processes together take exactly the rows one process would take at the same step,
    so DDP follows the single-process optimisation path (gradients are averaged).
    The last incomplete global batch is dropped, which keeps every rank in step.
    """

    def __init__(self, rows: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} does not divide over {world_size} processes")
        self.rows, self.global_batch, self.rank, self.world_size, self.seed = rows, global_batch, rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.rows // self.global_batch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.rows, generator=generator)
        share = self.global_batch // self.world_size
        for step in range(len(self)):
            start = step * self.global_batch + self.rank * share
            yield order[start : start + share].tolist()


class SequentialBatches(Sampler[list[int]]):
    """All rows in order, in batches: every rank evaluates the whole validation/test split."""

    def __init__(self, rows: int, batch: int) -> None:
        self.rows, self.batch = rows, batch

    def __len__(self) -> int:
        return (self.rows + self.batch - 1) // self.batch

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, self.rows, self.batch):
            yield list(range(start, min(start + self.batch, self.rows)))


def train_loader(split: EncodedSplit, global_batch: int, rank: int, world_size: int, seed: int) -> DataLoader:
    sampler = ShardedBatches(len(split), global_batch, rank, world_size, seed)
    return DataLoader(SplitTensors(split), sampler=sampler, batch_size=None)


def evaluation_loader(split: EncodedSplit, batch: int) -> DataLoader:
    return DataLoader(SplitTensors(split), sampler=SequentialBatches(len(split), batch), batch_size=None)


class TrainingDataModule(L.LightningDataModule):
    """Thin Lightning adapter over PreparedData; needs Trainer(use_distributed_sampler=False)."""

    def __init__(self, data: PreparedData, global_batch: int, seed: int) -> None:
        super().__init__()
        self.data, self.global_batch, self.seed = data, global_batch, seed

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        return train_loader(self.data.train, self.global_batch, rank, world, self.seed)

    def val_dataloader(self) -> DataLoader:
        return evaluation_loader(self.data.validation, max(self.global_batch, 1024))

    def test_dataloader(self) -> DataLoader:
        return evaluation_loader(self.data.test, max(self.global_batch, 1024))
