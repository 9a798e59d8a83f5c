"""Trains a TabularNet with Lightning, on one process or with DDP: `python -m training.train --help`.

Multi-process runs re-execute this module (Lightning's subprocess launcher or torchrun),
hence the __main__ guard. Rank 0 writes model.pt, result.json and learning_curve.png to --output.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from features.spec import FeatureSpec
from training.config import TrainerConfig, TrainingConfig, load_config
from training.datamodule import PreparedData, TrainingDataModule, prepare_data
from training.learning_curve import plot_learning_curve
from training.lightning_module import ScoringModule
from training.metrics import binary_metrics
from training.model import TabularNet, build_model, load_model, save_model
from training.scoring import calibrate, score_split
from training.spec_files import SPEC_FILE_NAME, resolve_spec, write_spec

MODEL_FILE = "model.pt"
RESULT_FILE = "result.json"
CURVE_FILE = "learning_curve.png"
SPEC_FILE = SPEC_FILE_NAME

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What a training run produced: per-epoch history, final validation/test metrics and where the files are."""

    output_dir: str
    config_name: str
    feature_definition_hash: str
    history: list[dict[str, float]]
    validation: dict[str, float]
    test: dict[str, float]
    data: dict[str, float]
    best_epoch: int
    accelerator: str
    precision: str
    world_size: int
    fit_seconds: float
    train_samples_per_second: float
    config: dict = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        return Path(self.output_dir) / MODEL_FILE

    @property
    def curve_path(self) -> Path:
        return Path(self.output_dir) / CURVE_FILE

    @property
    def spec_path(self) -> Path:
        return Path(self.output_dir) / SPEC_FILE

    def load_model(self) -> TabularNet:
        return load_model(self.model_path)

    def save(self) -> Path:
        path = Path(self.output_dir) / RESULT_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, output_dir: str | Path) -> TrainingResult:
        path = Path(output_dir) / RESULT_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: the training run did not finish (see its log)")
        return cls(**json.loads(path.read_text()))


def resolve_accelerator(requested: str) -> str:
    """'gpu' when asked for (or 'auto') and CUDA is really available, else 'cpu'; never pretends."""
    if requested in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"accelerator '{requested}' requested but torch.cuda.is_available() is False")
        return "gpu"
    if requested == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def resolve_precision(requested: str, accelerator: str) -> str:
    """Mixed precision where the device supports it: bf16-mixed (GPU with bf16), 16-mixed (older GPU), 32 on CPU."""
    if requested != "auto":
        return requested
    if accelerator == "gpu":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def trainer_settings(trainer: TrainerConfig) -> dict:
    """Keyword arguments for L.Trainer: DDP (gloo on CPU, NCCL on GPU) whenever more than one process takes part."""
    accelerator = resolve_accelerator(trainer.accelerator)
    return {
        "accelerator": accelerator,
        "devices": trainer.devices,
        "num_nodes": trainer.num_nodes,
        "strategy": "ddp" if trainer.world_size > 1 or trainer.strategy == "ddp" else "auto",
        "precision": resolve_precision(trainer.precision, accelerator),
        "deterministic": trainer.deterministic,
        "enable_progress_bar": trainer.enable_progress_bar,
    }


class EpochHistory(Callback):
    """Records the epoch-level metrics after each epoch's validation; optionally keeps the best weights."""

    def __init__(self, select_best: bool) -> None:
        self.history: list[dict[str, float]] = []
        self.select_best = select_best
        self.best_score = float("-inf")
        self.best_epoch = -1
        self.best_state: dict | None = None
        self._started = 0.0
        self._train_seconds: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started, self._train_seconds = time.perf_counter(), None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._started

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = self._train_seconds if self._train_seconds is not None else time.perf_counter() - self._started
        row = {"epoch": trainer.current_epoch, "epoch_train_seconds": seconds}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train_", "val_"))})
        self.history.append(row)
        score = row.get("val_pr_auc", float("-inf"))
        if not self.select_best or score > self.best_score:
            self.best_score, self.best_epoch = score, trainer.current_epoch
            if self.select_best:
                self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.net.state_dict().items()})


def monotone_columns(config: TrainingConfig, spec: FeatureSpec) -> dict[int, int]:
    """config.monotone as numeric column index -> direction; a name that is not a numeric feature is an error."""
    numeric = list(spec.numeric)
    unknown = [name for name in config.monotone if name not in numeric]
    if unknown:
        raise ValueError(f"monotone names {unknown}, which are not numeric features of the spec ({numeric})")
    return {numeric.index(name): sign for name, sign in config.monotone.items()}


def train(
    config: TrainingConfig, spec: FeatureSpec, data_path: str | Path, output_dir: str | Path
) -> TrainingResult | None:
    """Checks the data, trains, evaluates on the most recent (test) split and writes the run's files.

    Global rank 0 writes the files and returns the result; other DDP ranks return None.
    """
    output_dir = Path(output_dir)
    data = prepare_data(data_path, spec, config)  # fails here, before any training, on bad input
    L.seed_everything(config.seed, workers=True, verbose=False)
    net = build_model(spec, config.model)
    net.set_normalisation(data.numeric_mean, data.numeric_std)
    net.set_positive_weight(data.pos_weight)
    module = ScoringModule(net, config.optim, data.pos_weight, config.recall_at_fpr, monotone_columns(config, spec))
    history = EpochHistory(select_best=config.trainer.select_best_epoch)
    settings = trainer_settings(config.trainer)
    trainer = L.Trainer(
        max_epochs=config.optim.epochs,
        callbacks=[history],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=1,
        **settings,
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=TrainingDataModule(data, config.optim.batch_size, config.seed))
    fit_seconds = time.perf_counter() - started
    if history.best_state is not None:
        net.load_state_dict(history.best_state)
    net = net.cpu().float().eval()
    calibration = calibrate(net, data.validation.numeric, data.validation.categorical, data.validation.labels)
    log.info("Platt scaling on the validation split: %s", calibration or "skipped (too few rows of a class)")
    result = TrainingResult(
        output_dir=str(output_dir),
        config_name=config.name,
        feature_definition_hash=spec.definition_hash(),
        history=history.history,
        validation=binary_metrics(data.validation.labels, score_split(net, data.validation), config.recall_at_fpr),
        test=binary_metrics(data.test.labels, score_split(net, data.test), config.recall_at_fpr),
        data=data.summary(),
        best_epoch=history.best_epoch,
        accelerator=settings["accelerator"],
        precision=settings["precision"],
        world_size=trainer.world_size,
        fit_seconds=fit_seconds,
        train_samples_per_second=steady_throughput(history.history, _samples(data, config)),
        config=config.to_dict(),
    )
    if not trainer.is_global_zero:
        return None
    output_dir.mkdir(parents=True, exist_ok=True)
    save_model(net, output_dir / MODEL_FILE)
    write_spec(spec, output_dir / SPEC_FILE)
    plot_learning_curve(history.history, output_dir / CURVE_FILE, title=f"{config.name}: {spec.definition_hash()}")
    result.save()
    return result


def steady_throughput(history: list[dict[str, float]], samples_per_epoch: int) -> float:
    """Training samples per second over all processes, from the median epoch after the first (warm-up) one."""
    seconds = sorted(row["epoch_train_seconds"] for row in history[1:] or history)
    return samples_per_epoch / seconds[len(seconds) // 2]


def _samples(data: PreparedData, config: TrainingConfig) -> int:
    return (len(data.train) // config.optim.batch_size) * config.optim.batch_size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train a model on a training-set Parquet. With --devices/--num-nodes > 1 it trains "
        "with DDP (Lightning starts the local processes; under torchrun, torchrun does). See docs/training.md.",
    )
    parser.add_argument("--config", required=True, help="YAML config path or built-in name (tiny, full)")
    parser.add_argument("--spec", required=True, help="FeatureSpec JSON file, or module:ATTRIBUTE of a FeatureSpec")
    parser.add_argument("--data", required=True, help="training set: a Parquet file or a directory of part files")
    parser.add_argument("--output", required=True, help="directory for model.pt, result.json, learning_curve.png")
    parser.add_argument("--devices", type=int, help="processes (GPUs) per node; overrides the config")
    parser.add_argument("--num-nodes", type=int, help="number of nodes; overrides the config")
    parser.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], help="overrides the config")
    parser.add_argument("--epochs", type=int, help="overrides optim.epochs")
    parser.add_argument("--no-progress-bar", action="store_true", help="hide Lightning's progress bar (for logs)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """The config file with the command line's overrides applied (validated again by the dataclasses)."""
    config = load_config(args.config)
    changes = {
        "devices": args.devices,
        "num_nodes": args.num_nodes,
        "accelerator": args.accelerator,
        "enable_progress_bar": False if args.no_progress_bar else None,
    }
    config = config.with_trainer(**{k: v for k, v in changes.items() if v is not None})
    if args.epochs:
        config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, epochs=args.epochs))
    return config


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = config_from_args(args)
    result = train(config, resolve_spec(args.spec), args.data, args.output)
    if result is not None:
        print(json.dumps({"output": args.output, "test": result.test, "world_size": result.world_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
