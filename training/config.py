"""Typed training configuration, loaded from YAML files (`training/configs/tiny.yaml` for CI, `full.yaml` for real)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class SplitConfig:
    """Time-based split of the training set: oldest rows train, then validation, the most recent rows test."""

    train_fraction: float = 0.7
    """Share of rows (ordered by event time) used for fitting, normalisation statistics included."""
    validation_fraction: float = 0.15
    """Share of rows after the training rows, used for per-epoch metrics and best-epoch selection."""

    def __post_init__(self) -> None:
        if not 0 < self.train_fraction < 1 or not 0 < self.validation_fraction < 1:
            raise ValueError("split fractions must lie strictly between 0 and 1")
        if self.train_fraction + self.validation_fraction >= 1:
            raise ValueError(
                f"train_fraction {self.train_fraction} + validation_fraction {self.validation_fraction} "
                "must leave a test share (sum below 1)"
            )

    @property
    def test_fraction(self) -> float:
        return 1.0 - self.train_fraction - self.validation_fraction


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the MLP: embeddings for categorical features, then fully connected layers."""

    hidden_sizes: tuple[int, ...] = (64, 32)
    """Width of each hidden layer, input side first."""
    embedding_dim: int = 8
    """Embedding width of each categorical feature (capped at the vocabulary size + 1)."""
    dropout: float = 0.1
    """Dropout after each hidden layer (0 disables it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive layer widths, got {self.hidden_sizes}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be at least 1, got {self.embedding_dim}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and loss settings."""

    learning_rate: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    batch_size: int = 512
    """GLOBAL batch size: each of N processes takes batch_size / N rows per step, so DDP follows the same steps."""
    epochs: int = 10
    """Passes over the training split."""
    pos_weight: float | None = None
    """Weight of positive rows in the loss; None = negatives/positives of the training split (rare-positive
    handling). The model subtracts log(pos_weight) from its logit at inference so scores stay calibrated."""
    max_pos_weight: float = 100.0
    """Upper bound on the automatic pos_weight (a handful of positives must not dominate the loss)."""
    monotone_weight: float = 1.0
    """Weight of the penalty on slopes against TrainingConfig.monotone (0 turns it off)."""

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("learning_rate, batch_size and epochs must be positive")
        if self.monotone_weight < 0:
            raise ValueError(f"monotone_weight must be >= 0, got {self.monotone_weight}")
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise ValueError(f"pos_weight must be positive or null, got {self.pos_weight}")


@dataclass(frozen=True)
class TrainerConfig:
    """Where and how Lightning runs: devices, nodes, precision, logging."""

    accelerator: str = "auto"
    """'auto' (GPU when torch.cuda.is_available(), else CPU), 'cpu' or 'gpu'."""
    devices: int = 1
    """Processes per node (GPUs on a GPU node); more than one (or num_nodes > 1) means DDP."""
    num_nodes: int = 1
    """Machines taking part; each runs `devices` processes (torchrun or a Kubernetes job starts them)."""
    precision: str = "auto"
    """'auto' = bf16-mixed on GPUs that support bf16, 16-mixed on other GPUs, 32-true on CPU; or a Lightning value."""
    deterministic: bool = True
    """Ask torch for deterministic kernels (a fixed seed then gives the same metrics run after run)."""
    enable_progress_bar: bool = True
    """Lightning's progress bar on the command line (turned off when Dagster captures the output)."""
    select_best_epoch: bool = True
    """Keep the weights of the epoch with the best validation PR-AUC rather than those of the last epoch."""
    strategy: str = "auto"
    """'auto' = DDP whenever more than one process takes part, else one plain process; 'ddp' = DDP even for one
    process (NCCL on a GPU, gloo on CPU), which runs the multi-GPU code path on a single device."""

    def __post_init__(self) -> None:
        if self.accelerator not in ("auto", "cpu", "gpu", "cuda"):
            raise ValueError(f"accelerator must be auto, cpu or gpu, got {self.accelerator!r}")
        if self.strategy not in ("auto", "ddp"):
            raise ValueError(f"strategy must be auto or ddp, got {self.strategy!r}")
        if self.devices < 1 or self.num_nodes < 1:
            raise ValueError("devices and num_nodes must be at least 1")

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a training run, apart from the data and the feature definition."""

    name: str
    """Name of this configuration (logged as a parameter and tag)."""
    seed: int = 7
    """Seeds Python, NumPy and torch; the same seed, data and config give the same metrics."""
    recall_at_fpr: float = 0.01
    """False-positive rate at which recall is reported (alerts an analyst team can afford)."""
    split: SplitConfig = field(default_factory=SplitConfig)
    """Time-based train/validation/test split."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network shape."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser, batch and loss settings."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Devices, precision and logging."""
    monotone: dict[str, int] = field(default_factory=dict)
    """Numeric feature -> +1 (the score must not fall as it rises) or -1 (must not rise): the slope of the logit
    along the feature is penalised on every training row where it points the other way (Gupta et al.'s pointwise
    monotonicity loss). The model declaration's gate expectations fill it, so what the gate's direction tests check
    is also what training aims for."""

    def __post_init__(self) -> None:
        if bad := {name: sign for name, sign in self.monotone.items() if sign not in (1, -1)}:
            raise ValueError(f"monotone directions must be +1 or -1, got {bad}")
        if not 0 < self.recall_at_fpr < 1:
            raise ValueError(f"recall_at_fpr must lie in (0, 1), got {self.recall_at_fpr}")
        if self.optim.batch_size % self.trainer.world_size:
            raise ValueError(
                f"batch_size {self.optim.batch_size} is the global batch and must divide evenly over "
                f"{self.trainer.world_size} processes (devices x num_nodes)"
            )

    def with_trainer(self, **changes: Any) -> TrainingConfig:
        """A copy with trainer fields replaced (e.g. devices=2 for a DDP run of the same config)."""
        return dataclasses.replace(self, trainer=dataclasses.replace(self.trainer, **changes))

    def flat_params(self) -> dict[str, Any]:
        """Every field as `section.field` -> value, for MLflow parameters."""
        flat: dict[str, Any] = {}
        for key, value in dataclasses.asdict(self).items():
            if isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        return flat

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


_SECTIONS = {"split": SplitConfig, "model": ModelConfig, "optim": OptimConfig, "trainer": TrainerConfig}


def config_from_dict(data: dict[str, Any], source: str = "config") -> TrainingConfig:
    """Builds a TrainingConfig, naming any unknown section or field instead of ignoring it."""
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{source}: unknown top-level field(s) {sorted(unknown)}; expected some of {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        section = _SECTIONS.get(key)
        if section is None:
            kwargs[key] = value
            continue
        fields = {f.name for f in dataclasses.fields(section)}
        bad = set(value or {}) - fields
        if bad:
            raise ValueError(f"{source}: unknown field(s) {sorted(bad)} in '{key}'; expected some of {sorted(fields)}")
        kwargs[key] = section(**(value or {}))
    if "name" not in kwargs:
        raise ValueError(f"{source}: the config needs a 'name'")
    return TrainingConfig(**kwargs)


def load_config(path: str | Path) -> TrainingConfig:
    """Reads a YAML training config; a bare name such as 'tiny' means training/configs/tiny.yaml."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = CONFIG_DIR / f"{path}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"training config {path} does not exist (built-in: {builtin_configs()})")
    data = yaml.safe_load(path.read_text()) or {}
    return config_from_dict(data, source=str(path))


def save_config(config: TrainingConfig, path: Path) -> Path:
    """Writes a config as YAML that load_config reads back to an equal config."""
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path


def builtin_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
