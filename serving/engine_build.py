"""Build the serving engine of a champion: ONNX export with a parity check, ONNX Runtime graph optimisation,
budgeted INT8 and pruning variants, an optional TensorRT engine, all written as one version of a Triton-layout
model repository with its provenance (engine.json). The serving_engine asset is a thin adapter over `build_engine`."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from serving import model_repository
from serving.engine_variants import (
    VariantDecision,
    decide_variant,
    fine_tune,
    median_latency_us,
    optimise_graph,
    prune_units,
    quantise_int8,
    roc_auc,
    session_latency_us,
)
from serving.model_config import PLATFORM_TENSORRT, ModelConfig
from serving.onnx_export import DEFAULT_PARITY_BUDGET, ParityReport, export_onnx, parity, session, torch_scores
from serving.tensorrt_engine import TensorRTRunner, build_tensorrt_engine, tensorrt_unavailable_reason

log = logging.getLogger(__name__)


class EngineBuildError(RuntimeError):
    """The engine must not be published (parity outside its budget, unusable export...)."""


@dataclass(frozen=True)
class EngineBuildConfig:
    """Budgets and switches of an engine build."""

    parity_budget: float = DEFAULT_PARITY_BUDGET
    """Largest |torch - ONNX Runtime| score difference on the holdout for the FP32 engine."""
    optimise_graph: bool = True
    """Write ONNX Runtime's extended graph optimisations into the served file."""
    int8: bool = True
    """Try dynamic INT8 quantisation."""
    int8_quality_budget: float = 0.005
    """Largest holdout ROC AUC drop tolerated for INT8; <= 0 rejects it."""
    pruning: bool = True
    """Try structured pruning of hidden units followed by a short fine-tune."""
    pruning_fraction: float = 0.5
    """Fraction of each prunable hidden layer's units removed."""
    pruning_quality_budget: float = 0.005
    """Largest holdout ROC AUC drop tolerated for the pruned network; <= 0 rejects it."""
    finetune_steps: int = 100
    """Adam steps of the post-pruning fine-tune."""
    finetune_lr: float = 1e-3
    """Learning rate of that fine-tune."""
    min_speedup: float = 0.05
    """A variant must be at least this much faster (fraction of FP32 latency) to be kept."""
    latency_batch_size: int = 64
    """Rows per timed run when comparing engines."""
    latency_repeats: int = 200
    """Timed runs per engine (median reported)."""
    tensorrt: bool = True
    """Build a TensorRT FP16 engine where TensorRT and a GPU are present."""
    tensorrt_int8: bool = False
    """Also enable INT8 (entropy calibration on the holdout) in the TensorRT engine."""
    tensorrt_parity_budget: float = 5e-3
    """Parity budget for the TensorRT engine (FP16 rounds more than FP32)."""

    def __post_init__(self) -> None:
        if self.parity_budget <= 0:
            raise ValueError("parity_budget must be > 0")
        if not 0 < self.pruning_fraction < 1:
            raise ValueError("pruning_fraction must be in (0, 1)")


@dataclass(frozen=True)
class Holdout:
    """Rows the build checks against: model inputs by tensor name and binary labels."""

    inputs: dict[str, np.ndarray]
    """Inputs in the config's dtypes, [rows, *dims]."""
    labels: np.ndarray
    """0/1 per row."""

    def head(self, rows: int) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(array[:rows]) for name, array in self.inputs.items()}


@dataclass
class EngineReport:
    """What was built and why: the Dagster metadata of serving_engine and the version's engine.json."""

    model: str
    version: int
    variant: str
    """The engine in model.onnx: fp32, int8 or pruned."""
    parity: dict
    """ParityReport fields of the FP32 ONNX export against torch."""
    quality: float
    """Holdout ROC AUC of the served engine."""
    fp32_quality: float
    latency_us: float
    """Median latency of the served engine at latency_batch_size rows."""
    fp32_latency_us: float
    torch_latency_us: float
    """Torch eager latency at the same batch size, for comparison."""
    decisions: list[dict] = field(default_factory=list)
    """One VariantDecision per variant tried."""
    tensorrt: dict = field(default_factory=dict)
    """{'built': bool, 'reason' or 'parity'...}."""
    path: str = ""
    """Version folder in the repository."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_parity(report: ParityReport, what: str) -> None:
    if not report.ok:
        raise EngineBuildError(
            f"{what}: max |torch - engine| = {report.max_abs_error:.3g} over {report.rows} holdout rows exceeds the "
            f"parity budget {report.budget:g}; the export is not faithful and will not be published"
        )


def _measure(path: Path, holdout: Holdout, config: ModelConfig, build: EngineBuildConfig) -> tuple[float, float]:
    """(holdout ROC AUC, median latency in us) of one ONNX file."""
    engine = session(path)
    scores = engine.run([config.outputs[0].name], holdout.inputs)[0]
    latency = session_latency_us(engine, holdout.head(build.latency_batch_size), repeats=build.latency_repeats)
    return roc_auc(scores, holdout.labels), latency


def build_engine(
    module: torch.nn.Module,
    config: ModelConfig,
    holdout: Holdout,
    repository: Path,
    version: int,
    build: EngineBuildConfig = EngineBuildConfig(),
    finetune: Holdout | None = None,
) -> EngineReport:
    """Exports, checks, optimises and publishes `module` as `version` of `config.name` in `repository`."""
    module = module.eval()
    with tempfile.TemporaryDirectory(prefix="engine-build-") as scratch:
        work = Path(scratch)
        exported = export_onnx(module, config, work / "fp32.onnx")
        fp32_parity = parity(module, session(exported), holdout.inputs, config, build.parity_budget)
        _check_parity(fp32_parity, "FP32 ONNX export")
        served = exported
        if build.optimise_graph:
            optimised = optimise_graph(exported, work / "fp32-optimised.onnx")
            _check_parity(
                parity(module, session(optimised), holdout.inputs, config, build.parity_budget), "optimised graph"
            )
            served = optimised
        fp32_quality, fp32_latency = _measure(served, holdout, config, build)
        batch = {name: torch.from_numpy(a) for name, a in holdout.head(build.latency_batch_size).items()}
        torch_latency = _torch_latency(module, [batch[t.name] for t in config.inputs], build.latency_repeats)

        candidates: list[tuple[VariantDecision, Path]] = []
        if build.int8:
            int8_path = quantise_int8(exported, work / "int8.onnx")
            quality, latency = _measure(int8_path, holdout, config, build)
            candidates.append(
                (
                    decide_variant(
                        "int8",
                        fp32_quality,
                        quality,
                        fp32_latency,
                        latency,
                        build.int8_quality_budget,
                        build.min_speedup,
                    ),
                    int8_path,
                )
            )
        if build.pruning:
            decision_and_path = _pruned_variant(
                module, config, holdout, finetune, work, build, fp32_quality, fp32_latency
            )
            if decision_and_path is not None:
                candidates.append(decision_and_path)
        kept = [(d, p) for d, p in candidates if d.kept]
        chosen_decision, chosen_path = min(kept, key=lambda dp: dp[0].latency_us) if kept else (None, served)
        report = EngineReport(
            model=config.name,
            version=version,
            variant=chosen_decision.name if chosen_decision else "fp32",
            parity=dataclasses.asdict(fp32_parity),
            quality=chosen_decision.quality if chosen_decision else fp32_quality,
            fp32_quality=fp32_quality,
            latency_us=chosen_decision.latency_us if chosen_decision else fp32_latency,
            fp32_latency_us=fp32_latency,
            torch_latency_us=torch_latency,
            decisions=[dataclasses.asdict(d) for d, _ in candidates],
        )
        report.tensorrt = _tensorrt(module, exported, config, holdout, repository, version, build)
        report.path = str(model_repository.write_version(repository, config, version, chosen_path, report.as_dict()))
    return report


def _torch_latency(module: torch.nn.Module, batch: list[torch.Tensor], repeats: int) -> float:
    """Torch eager on one thread, like the ONNX Runtime sessions it is compared with."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return median_latency_us(lambda: module(*batch), repeats=repeats)
    finally:
        torch.set_num_threads(threads)


def _pruned_variant(module, config, holdout, finetune, work, build, fp32_quality, fp32_latency):
    pruned, removed = prune_units(module, build.pruning_fraction)
    if removed == 0:
        log.info("pruning skipped: the model has no Linear -> Linear chain whose hidden units can be removed")
        return None
    if finetune is not None and build.finetune_steps > 0:
        fine_tune(pruned, finetune.inputs, finetune.labels, config, build.finetune_steps, build.finetune_lr)
    path = export_onnx(pruned, config, work / "pruned.onnx")
    _check_parity(parity(pruned, session(path), holdout.inputs, config, build.parity_budget), "pruned ONNX export")
    if build.optimise_graph:
        path = optimise_graph(path, work / "pruned-optimised.onnx")
    quality, latency = _measure(path, holdout, config, build)
    decision = decide_variant(
        "pruned", fp32_quality, quality, fp32_latency, latency, build.pruning_quality_budget, build.min_speedup
    )
    return decision, path


def _tensorrt(module, onnx_path, config, holdout, repository, version, build) -> dict:
    if not build.tensorrt:
        return {"built": False, "reason": "disabled in the build config"}
    reason = tensorrt_unavailable_reason()
    if reason is not None:
        return {"built": False, "reason": reason}
    trt_config = dataclasses.replace(config, name=f"{config.name}_trt", platform=PLATFORM_TENSORRT)
    plan = build_tensorrt_engine(
        onnx_path,
        onnx_path.with_suffix(".plan"),
        trt_config,
        fp16=True,
        int8_calibration=holdout.inputs if build.tensorrt_int8 else None,
    )
    rows = min(len(holdout.labels), config.max_batch_size)
    inputs = holdout.head(rows)
    actual = TensorRTRunner(plan, trt_config).run(inputs)[config.outputs[0].name]
    error = float(np.max(np.abs(torch_scores(module, inputs, config) - actual)))
    report = ParityReport(error, build.tensorrt_parity_budget, rows)
    _check_parity(report, "TensorRT engine")
    model_repository.write_version(repository, trt_config, version, plan, {"parity": dataclasses.asdict(report)})
    return {"built": True, "model": trt_config.name, "parity": dataclasses.asdict(report), "int8": build.tensorrt_int8}
