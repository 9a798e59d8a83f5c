"""Benchmark: training throughput of the Lightning module against a raw PyTorch loop, and DDP 2 vs 1 CPU process.

Same TabularNet, same data, same batches (training.datamodule's sampler), same optimiser and loss, in one run:
the raw loop is the baseline, so the ratio holds on a busy machine where absolute numbers do not. Each side runs
`--repeats` times alternately and the best steady-state epoch (after one warm-up epoch) counts. DDP throughput
comes from `python -m training.train` (gloo on CPU) with the same config, 1 process vs 2, validation excluded.
The feature layout is the fraud FeatureSpec (domain.features.FRAUD_FEATURES) with synthetic values.

Run: PYTHONPATH=. .venv/bin/python bench/training_throughput.py [--rows 200000] [--out docs/bench/training.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from domain.features import FRAUD_FEATURES
from training.config import TrainingConfig, load_config
from training.datamodule import TrainingDataModule, prepare_data, train_loader
from training.launch import run_training
from training.lightning_module import ScoringModule
from training.model import build_model
from training.synthetic import write_synthetic_training_set


def bench_config(batch: int, epochs: int) -> TrainingConfig:
    config = load_config("full").with_trainer(accelerator="cpu", enable_progress_bar=False, select_best_epoch=False)
    return dataclasses.replace(config, optim=dataclasses.replace(config.optim, batch_size=batch, epochs=epochs))


def raw_loop(data, config: TrainingConfig) -> float:
    """Samples/s of the best epoch after the first: a plain PyTorch loop over the same batches."""
    torch.manual_seed(config.seed)
    net = build_model(FRAUD_FEATURES, config.model)
    net.set_normalisation(data.numeric_mean, data.numeric_std)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([data.pos_weight]))
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=config.optim.learning_rate, weight_decay=config.optim.weight_decay
    )
    loader = train_loader(data.train, config.optim.batch_size, 0, 1, config.seed)
    net.train()
    times = []
    for epoch in range(config.optim.epochs):
        loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        for numeric, categorical, labels in loader:
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(net.logits(numeric, categorical).squeeze(1), labels)
            loss.backward()
            optimiser.step()
        times.append(time.perf_counter() - started)
    return len(loader) * config.optim.batch_size / min(times[1:])


class EpochTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.times.append(time.perf_counter() - self.started)


def lightning_loop(data, config: TrainingConfig) -> float:
    """Samples/s of the best epoch after the first: ScoringModule under L.Trainer (no validation, no logger)."""
    torch.manual_seed(config.seed)
    net = build_model(FRAUD_FEATURES, config.model)
    net.set_normalisation(data.numeric_mean, data.numeric_std)
    module = ScoringModule(net, config.optim, data.pos_weight, config.recall_at_fpr)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=config.optim.epochs,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        use_distributed_sampler=False,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=TrainingDataModule(data, config.optim.batch_size, config.seed))
    steps = len(data.train) // config.optim.batch_size
    return steps * config.optim.batch_size / min(timer.times[1:])


def ddp_throughput(config: TrainingConfig, data_path: Path, devices: int, workdir: Path) -> float:
    result = run_training(
        config.with_trainer(devices=devices), FRAUD_FEATURES, data_path, workdir / f"ddp{devices}", log=lambda _: None
    )
    return result.train_samples_per_second


GPU_SECTION = """
## On a GPU

Not yet run on a GPU. `tools/gpu/check.sh OUT_DIR` is the prepared check (the model asset's own training code on
CUDA with bf16 against the same machine's CPU cores, for the `full` and `large` configs; DDP with NCCL; ONNX export
with parity; TensorRT importable or not); its table goes to [training_gpu.md](training_gpu.md), with the date and
the machine, when a session that is lent a GPU runs it. Until then no GPU figure in these docs is measured.
"""
"""Kept in the page this benchmark rewrites: the GPU figures come from tools/gpu/check.sh, not from here."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=4096, help="global batch (the full config uses 4096)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/training.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core per process, so 1 vs 2 DDP processes is a fair comparison
    load = os.getloadavg()
    config = bench_config(args.batch, args.epochs)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        data_path = write_synthetic_training_set(FRAUD_FEATURES, workdir / "train.parquet", rows=args.rows)
        data = prepare_data(data_path, FRAUD_FEATURES, config)
        raw, lit = [], []
        for _ in range(args.repeats):
            raw.append(raw_loop(data, config))
            lit.append(lightning_loop(data, config))
        raw_best, lit_best = max(raw), max(lit)
        overhead = 1 - lit_best / raw_best
        print(f"raw {raw_best:,.0f}/s lightning {lit_best:,.0f}/s overhead {overhead:.1%}")
        os.environ["OMP_NUM_THREADS"] = "1"
        one = ddp_throughput(config, data_path, 1, workdir)
        two = ddp_throughput(config, data_path, 2, workdir)
        efficiency = two / (2 * one)
        print(f"ddp 1: {one:,.0f}/s 2: {two:,.0f}/s efficiency {efficiency:.0%}")
    load_text = " / ".join(f"{x:.1f}" for x in load)
    table = f"""# Training benchmarks

Written by `bench/training_throughput.py` ({time.strftime("%Y-%m-%d %H:%M %Z")}, {platform.node()},
{os.cpu_count()} CPUs, torch {torch.__version__}, load average {load_text} at the start;
the machine is shared, so compare the ratios, which are measured against a baseline in the same run).

Data: {args.rows:,} synthetic rows in the fraud FeatureSpec layout ({len(FRAUD_FEATURES.numeric)} numeric,
{len(FRAUD_FEATURES.categorical)} categorical); model: `full` config MLP {list(config.model.hidden_sizes)},
embeddings {config.model.embedding_dim}; global batch {args.batch}; {args.epochs} epochs, the first is warm-up;
one torch thread per process.

## Lightning module vs raw PyTorch loop (1 process, best of {args.repeats})

| loop | samples/s | vs raw loop |
|---|---:|---:|
| raw PyTorch (baseline) | {raw_best:,.0f} | 1.00 |
| Lightning `ScoringModule` + `Trainer` | {lit_best:,.0f} | {lit_best / raw_best:.3f} |

Lightning overhead: **{overhead:.1%}** (goal <= 5%). Lightning's cost is per step (hooks, optimiser closure,
metric logging), so the ratio depends on the batch: run with `--batch 1024` to see it at a smaller batch.
All runs, samples/s: raw {", ".join(f"{x:,.0f}" for x in raw)};
Lightning {", ".join(f"{x:,.0f}" for x in lit)}.

## DDP on CPU (gloo): 2 processes vs 1

| processes | samples/s (all processes) | scaling efficiency |
|---:|---:|---:|
| 1 | {one:,.0f} | 1.00 |
| 2 | {two:,.0f} | {efficiency:.2f} |

Efficiency = throughput(2) / (2 x throughput(1)). Each DDP step all-reduces the gradients over gloo; with a
model this small and {os.cpu_count()} shared cores the communication and the other engineers' load dominate, so
expect far better efficiency on GPUs (NCCL) with the production batch size.
"""
    table += GPU_SECTION
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
