"""The one ONNX exporter: a torch model in the model contract to one self-contained file, checked against torch.

Training hands its network over in the contract (`features/model_contract.py`); the engine build, the registry
tests and the GPU check all export through `export_onnx` and check through `check_parity` or `parity`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from features.model_contract import OUTPUT_SCORE, example_inputs
from features.spec import FeatureSpec
from serving.model_config import ModelConfig, contract_config
from serving.ort_session import session, signature_mismatches  # noqa: F401  (re-exported for callers)

DEFAULT_PARITY_BUDGET = 1e-4
"""Largest tolerated |torch - ONNX Runtime| on any score: float32 reassociation gives ~1e-6 on an MLP."""


EXPORTERS = ("torchscript", "dynamo")


class ExportParityError(RuntimeError):
    """ONNX Runtime's scores differ from torch's by more than the tolerance: the file is not trustworthy."""


def export_onnx(
    module: torch.nn.Module, config: ModelConfig, path: Path, opset: int = 17, exporter: str = "torchscript"
) -> Path:
    """Writes `module` as ONNX with the config's tensor names and a dynamic batch dimension, in one file.

    'torchscript' (dynamo=False) is the default on purpose: it is fast, and the dynamo exporter (torch.export
    based) must be told to embed its weights, since a Triton version folder holds exactly one model.onnx.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    path = Path(path)
    module = module.cpu().float().eval()
    example = tuple(torch.zeros((2, *t.dims), dtype=getattr(torch, t.numpy_dtype.name)) for t in config.inputs)
    inputs = [t.name for t in config.inputs]
    names = {"input_names": inputs, "output_names": [t.name for t in config.outputs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1)
            shapes = {name: {0: batch} for name in _forward_argument_names(module, len(inputs))}
            torch.onnx.export(
                module, example, str(path), dynamic_shapes=shapes, external_data=False, dynamo=True, **names
            )
        else:
            axes = {name: {0: "batch"} for name in (*names["input_names"], *names["output_names"])}
            torch.onnx.export(module, example, str(path), dynamic_axes=axes, opset_version=opset, dynamo=False, **names)
    return path


def _forward_argument_names(module: torch.nn.Module, count: int) -> list[str]:
    """The first `count` parameter names of module.forward (torch.export keys dynamic shapes by them)."""
    import inspect

    return list(inspect.signature(module.forward).parameters)[:count]


def check_parity(
    module: torch.nn.Module,
    spec: FeatureSpec,
    path: str | Path,
    atol: float = 1e-5,
    batches: tuple[int, ...] = (1, 7, 64),
) -> float:
    """The largest |onnx - torch| score over random contract inputs at several batch sizes; raises above atol.

    Also raises when the file's tensors differ from the contract for `spec` (names, dtypes, widths).
    """
    config = contract_config("parity", spec)
    engine = session(Path(path))
    problems = signature_mismatches(engine, config)
    if problems:
        raise ExportParityError(f"{path} does not honour the model contract: {'; '.join(problems)}")
    worst = 0.0
    for seed, batch in enumerate(batches):
        inputs = example_inputs(spec, batch, seed=seed + 1)
        (onnx_scores,) = engine.run([OUTPUT_SCORE], inputs)
        if onnx_scores.shape != (batch, 1):
            raise ExportParityError(
                f"{path}: output '{OUTPUT_SCORE}' has shape {onnx_scores.shape}, expected ({batch}, 1)"
            )
        worst = max(worst, float(np.abs(onnx_scores - torch_scores(module, inputs, config)).max()))
    if worst > atol:
        raise ExportParityError(f"{path}: ONNX Runtime differs from torch by {worst:.3g} (> {atol}) on contract inputs")
    return worst


@dataclass(frozen=True)
class ParityReport:
    """How far an engine's scores are from torch's on the same rows."""

    max_abs_error: float
    """Largest |torch - engine| over all rows."""
    budget: float
    """The tolerated maximum."""
    rows: int
    """Rows compared."""

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.budget


def torch_scores(module: torch.nn.Module, inputs: dict[str, np.ndarray], config: ModelConfig) -> np.ndarray:
    """The torch model's first output on numpy inputs, in config input order."""
    with torch.no_grad():
        return module.eval()(*(torch.from_numpy(inputs[t.name]) for t in config.inputs)).numpy()


def parity(
    module: torch.nn.Module,
    onnx_session: ort.InferenceSession,
    inputs: dict[str, np.ndarray],
    config: ModelConfig,
    budget: float = DEFAULT_PARITY_BUDGET,
) -> ParityReport:
    """Runs the same held-out rows through torch and ONNX Runtime and reports the worst difference."""
    expected = torch_scores(module, inputs, config)
    actual = onnx_session.run([config.outputs[0].name], inputs)[0]
    error = float(np.max(np.abs(expected.astype(np.float64) - actual))) if len(actual) else 0.0
    return ParityReport(max_abs_error=error, budget=budget, rows=len(actual))
