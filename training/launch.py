"""Runs training as a separate process tree: Lightning's own DDP launcher locally, or torchrun per node.

DDP re-executes the training module in every process, so callers that are not a script of their
own (a Dagster asset, a test) launch `python -m training.train` through here and read its result.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from features.spec import FeatureSpec
from training.config import TrainingConfig, save_config
from training.spec_files import write_spec
from training.train import TrainingResult


class TrainingProcessError(RuntimeError):
    """The training process exited non-zero; the message carries the end of its output."""


@dataclass(frozen=True)
class TorchrunNode:
    """One node of a torchrun launch (static rendezvous at master_addr:master_port)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500


def training_command(
    config_path: str | Path,
    spec_path: str | Path,
    data_path: str | Path,
    output_dir: str | Path,
    progress_bar: bool = False,
    torchrun: TorchrunNode | None = None,
    nproc_per_node: int = 1,
    python: str = sys.executable,
) -> list[str]:
    """The argv that trains: `python -m training.train ...`, or the same under `torch.distributed.run` (torchrun).

    Under torchrun the config's trainer.devices must equal nproc_per_node and trainer.num_nodes the node count.
    """
    train_args = ["-m", "training.train", "--config", str(config_path), "--spec", str(spec_path)]
    train_args += ["--data", str(data_path), "--output", str(output_dir)]
    if not progress_bar:
        train_args.append("--no-progress-bar")
    if torchrun is None:
        return [python, *train_args]
    return [
        python,
        "-m",
        "torch.distributed.run",
        f"--nnodes={torchrun.nnodes}",
        f"--nproc-per-node={nproc_per_node}",
        f"--node-rank={torchrun.node_rank}",
        f"--master-addr={torchrun.master_addr}",
        f"--master-port={torchrun.master_port}",
        *train_args,
    ]


def run_training(
    config: TrainingConfig,
    spec: FeatureSpec,
    data_path: str | Path,
    output_dir: str | Path,
    log: Callable[[str], None] = print,
    env: dict[str, str] | None = None,
) -> TrainingResult:
    """Trains in a child process (DDP when the config asks for several devices) and returns its result.

    The config and spec are written next to the outputs (inputs/), so the run can be repeated by hand.
    """
    output_dir = Path(output_dir)
    inputs = output_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    command = training_command(
        save_config(config, inputs / "training_config.yaml"),
        write_spec(spec, inputs / "feature_spec.json"),
        data_path,
        output_dir,
    )
    log(f"launching: {' '.join(command)}")
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            log(line)
        code = process.wait()
    if code != 0:
        raise TrainingProcessError(f"training exited with code {code}; last output:\n" + "\n".join(tail))
    return TrainingResult.load(output_dir)
