"""The GPU path checked on whatever this machine has, as one prepared run: `tools/gpu/check.sh OUT_DIR`.

It runs the model asset's own training code (`training.train.train`: the same Lightning module, data module and
trainer settings, bf16 on a GPU that has it) on generated data of the real feature layout, with no MLflow and no
Dagster, so it runs on a bare CUDA image. Per training config it measures samples/s on the GPU and on this
machine's CPU cores in the same run; it runs the DDP path with NCCL at world size 1 and tries what one GPU allows
beyond that; it exports the GPU-trained network through the one ONNX exporter and checks parity; and it says
whether TensorRT is importable. Without CUDA every GPU step is reported as skipped with its reason: that CPU form
is what `//tools/gpu:check_test` runs in CI. The table goes to OUT_DIR/gpu_check.md (and .json) and to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from features.model_contract import example_inputs
from features.references import load_reference
from serving.model_config import contract_config
from serving.onnx_export import check_parity, export_onnx, session
from serving.tensorrt_engine import tensorrt_unavailable_reason
from training.config import TrainingConfig, load_config
from training.spec_files import resolve_spec
from training.synthetic import write_synthetic_training_set
from training.train import TrainingResult, train

NO_CUDA = "CUDA is not available here (torch.cuda.is_available() is False)"
OUTCOMES = ("ok", "skipped", "failed")


@dataclass
class Row:
    """One line of the table: what was checked, where, how it went, its figure and the detail behind it."""

    check: str
    device: str
    outcome: str
    figure: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")


def environment() -> dict[str, str]:
    """What this run ran on: interpreter, torch, CUDA, the GPU and the CPU threads torch uses."""
    import lightning

    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cpu threads (torch)": str(torch.get_num_threads()),
        "load average at the start": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "cuda": str(torch.version.cuda) if torch.cuda.is_available() else "not available",
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["bf16"] = str(torch.cuda.is_bf16_supported())
    return info


def _configured(name: str, accelerator: str, epochs: int, batch_size: int | None, strategy: str) -> TrainingConfig:
    config = load_config(name).with_trainer(
        accelerator=accelerator, enable_progress_bar=False, strategy=strategy, devices=1, num_nodes=1
    )
    optim = dataclasses.replace(config.optim, epochs=epochs, batch_size=batch_size or config.optim.batch_size)
    return dataclasses.replace(config, optim=optim)


def _train(config: TrainingConfig, spec, data: Path, work: Path) -> TrainingResult:
    result = train(config, spec, data, work / f"{config.name}-{config.trainer.accelerator}-{config.trainer.strategy}")
    if result is None:  # only non-zero DDP ranks return None, and this run has one rank
        raise RuntimeError("train() returned no result on rank 0")
    return result


def _failed(check: str, device: str, exc: BaseException) -> Row:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Row(check, device, "failed", detail=last[:300])


def training_rows(args, spec, data: Path, work: Path) -> tuple[list[Row], dict[str, TrainingResult]]:
    """Samples/s of each config on CPU and on the GPU, and the GPU's speed-up over the CPU."""
    rows, results = [], {}
    for name in args.configs:
        speeds = {}
        for device in ("cpu", "gpu"):
            label = f"train `{name}`"
            if device == "gpu" and not torch.cuda.is_available():
                rows.append(Row(label, "gpu", "skipped", detail=NO_CUDA))
                continue
            try:
                config = _configured(name, device, args.epochs, args.batch_size, "auto")
                result = _train(config, spec, data, work)
            except Exception as exc:  # noqa: BLE001  (one failed step must not cost the whole device run)
                rows.append(_failed(label, device, exc))
                continue
            results[f"{name}/{device}"] = result
            speeds[device] = result.train_samples_per_second
            rows.append(
                Row(
                    label,
                    device,
                    "ok",
                    f"{result.train_samples_per_second:,.0f} samples/s",
                    f"precision {result.precision}, batch {config.optim.batch_size}, {args.epochs} epochs, "
                    f"fit {result.fit_seconds:.1f} s, test PR-AUC {result.test['pr_auc']:.3f}",
                )
            )
        if len(speeds) == 2:
            rows.append(Row(f"`{name}` GPU / CPU", "both", "ok", f"{speeds['gpu'] / speeds['cpu']:.1f}x"))
    return rows, results


def ddp_rows(args, spec, data: Path, work: Path) -> list[Row]:
    """The DDP code path at world size 1 (NCCL on the GPU, gloo on CPU), and two NCCL ranks on one GPU."""
    rows = []
    for device, backend in (("cpu", "gloo"), ("gpu", "nccl")):
        label = f"DDP, {backend}, world size 1"
        if device == "gpu" and not torch.cuda.is_available():
            rows.append(Row(label, device, "skipped", detail=NO_CUDA))
            continue
        try:
            config = _configured(args.configs[0], device, 2, args.batch_size, "ddp")
            result = _train(config, spec, data, work)
            rows.append(
                Row(
                    label,
                    device,
                    "ok",
                    f"{result.train_samples_per_second:,.0f} samples/s",
                    f"Lightning strategy ddp, world size {result.world_size}, precision {result.precision}",
                )
            )
        except Exception as exc:  # noqa: BLE001
            rows.append(_failed(label, device, exc))
    label = "2 NCCL ranks on one GPU"
    if not torch.cuda.is_available():
        rows.append(Row(label, "gpu", "skipped", detail=NO_CUDA))
    else:
        rows.append(two_ranks_on_one_gpu(label))
    return rows


def _all_reduce_rank(rank: int, port: int, queue) -> None:
    import torch.distributed as dist

    try:
        torch.cuda.set_device(0)
        dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
        value = torch.full((4,), float(rank + 1), device="cuda")
        dist.all_reduce(value)
        torch.cuda.synchronize()
        queue.put((rank, "ok", float(value[0].item())))
        dist.destroy_process_group()
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which writes it in the table)
        queue.put((rank, "failed", traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]))


def two_ranks_on_one_gpu(label: str, timeout_s: float = 90.0) -> Row:
    """Two processes, one NCCL communicator, both on GPU 0: NCCL is expected to refuse a duplicate device."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_all_reduce_rank, args=(rank, port, queue)) for rank in range(2)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    hung = [p for p in processes if p.is_alive()]
    for process in hung:
        process.kill()
    answers = []
    while not queue.empty():
        answers.append(queue.get())
    if hung:
        return Row(
            label, "gpu", "failed", detail=f"{len(hung)} rank(s) still running after {timeout_s:.0f} s: {answers}"
        )
    if len(answers) == 2 and all(outcome == "ok" and value == 3.0 for _, outcome, value in answers):
        return Row(label, "gpu", "ok", "all_reduce = 3.0 on both ranks", "NCCL accepted two ranks on one device")
    return Row(label, "gpu", "failed", detail=f"as expected of NCCL, which needs one device per rank: {answers}")


def export_rows(spec, results: dict[str, TrainingResult], work: Path, configs: list[str]) -> list[Row]:
    """The GPU-trained network (or the CPU one, without a GPU) through the one ONNX exporter, with parity."""
    name = configs[0]
    result = results.get(f"{name}/gpu") or results.get(f"{name}/cpu")
    if result is None:
        return [Row("ONNX export + parity", "-", "skipped", detail=f"no trained `{name}` network to export")]
    trained_on = "gpu" if f"{name}/gpu" in results else "cpu"
    rows = []
    try:
        net = result.load_model()
        path = export_onnx(net, contract_config(name, spec), work / "export" / "model.onnx")
        worst = check_parity(net, spec, path)
        rows.append(
            Row(
                "ONNX export + parity (ORT CPU vs torch CPU)",
                f"trained on {trained_on}",
                "ok",
                f"max abs diff {worst:.1e}",
                f"{path.stat().st_size / 1e6:.1f} MB, batches 1/7/64",
            )
        )
    except Exception as exc:  # noqa: BLE001
        return [_failed("ONNX export + parity", f"trained on {trained_on}", exc)]
    if not torch.cuda.is_available():
        rows.append(Row("ORT vs torch on CUDA (fp32)", "gpu", "skipped", detail=NO_CUDA))
        return rows
    try:
        inputs = example_inputs(spec, 4096, seed=11)
        (ort_scores,) = session(path).run(["score"], inputs)
        with torch.no_grad():
            cuda = net.cuda().eval()(*(torch.from_numpy(a).cuda() for a in inputs.values())).float().cpu().numpy()
        rows.append(
            Row(
                "ORT vs torch on CUDA (fp32)",
                "gpu",
                "ok",
                f"max abs diff {np.abs(cuda - ort_scores).max():.1e}",
                "4,096 rows",
            )
        )
    except Exception as exc:  # noqa: BLE001
        rows.append(_failed("ORT vs torch on CUDA (fp32)", "gpu", exc))
    return rows


def tensorrt_rows() -> list[Row]:
    """Whether TensorRT and torch-TensorRT are importable here (they are not expected to be on a bare image)."""
    rows = []
    reason = tensorrt_unavailable_reason()

    found = importlib.util.find_spec("tensorrt") is not None
    rows.append(
        Row(
            "TensorRT importable",
            "gpu",
            "ok" if found else "skipped",
            "yes" if found else "no",
            reason or "engines can be built",
        )
    )
    torch_trt = importlib.util.find_spec("torch_tensorrt") is not None
    rows.append(Row("torch-TensorRT importable", "gpu", "ok" if torch_trt else "skipped", "yes" if torch_trt else "no"))
    return rows


def spec_of(reference: str):
    """The FeatureSpec at `reference`, or the spec of the first model declaration in the list there."""
    if ":" in reference and not Path(reference).exists():
        target = load_reference(reference)
        if isinstance(target, list | tuple) and target:
            return target[0].spec
    return resolve_spec(reference)


def markdown(info: dict[str, str], rows: list[Row], args) -> str:
    lines = ["| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in info.items())]
    lines += ["", f"Data: {args.rows:,} generated rows of `{args.spec}` (70% train), seed 1.", ""]
    lines += ["| check | device | outcome | figure | detail |", "|---|---|---|---|---|"]
    lines += [f"| {r.check} | {r.device} | {r.outcome} | {r.figure} | {r.detail.replace('|', '/')} |" for r in rows]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/gpu/check.sh",
        description="Check the GPU path (training on CUDA with bf16, DDP with NCCL, ONNX export, TensorRT) "
        "against this machine's CPU in one run, and write a Markdown table. Without CUDA the GPU steps are "
        "reported as skipped with their reason.",
    )
    parser.add_argument("out", type=Path, help="folder for gpu_check.md and gpu_check.json")
    parser.add_argument(
        "--spec",
        default="domain.models:MODELS",
        help="module:ATTRIBUTE of a FeatureSpec, or of a list of model declarations (the first one's spec is used)",
    )
    parser.add_argument("--rows", type=int, default=400_000, help="generated training-set rows (default 400,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; samples/s is the median after the first")
    parser.add_argument("--configs", default="full,large", help="comma-separated training configs (default full,large)")
    parser.add_argument("--batch-size", type=int, help="override every config's batch size (the CPU form in CI)")
    args = parser.parse_args(argv)
    args.configs = [c for c in args.configs.split(",") if c]
    if args.rows < 1000 or args.epochs < 2:
        parser.error("--rows must be at least 1000 and --epochs at least 2 (samples/s skips the first epoch)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = spec_of(args.spec)
    info = environment()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        data = write_synthetic_training_set(spec, work / "train.parquet", rows=args.rows, seed=1)
        rows, results = training_rows(args, spec, data, work)
        rows += ddp_rows(args, spec, data, work)
        rows += export_rows(spec, results, work, args.configs)
        rows += tensorrt_rows()
    info["wall time"] = f"{time.monotonic() - started:.0f} s"
    table = markdown(info, rows, args)
    (args.out / "gpu_check.md").write_text(table)
    (args.out / "gpu_check.json").write_text(
        json.dumps({"environment": info, "rows": [dataclasses.asdict(r) for r in rows]}, indent=2)
    )
    print(table, flush=True)
    return 1 if any(r.outcome == "failed" and "as expected" not in r.detail for r in rows) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
