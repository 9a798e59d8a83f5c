"""Export a torch model with the signature contract to one self-contained ONNX file, and check parity against torch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from serving.model_config import ModelConfig
from serving.ort_session import session, signature_mismatches  # noqa: F401  (re-exported for callers)

DEFAULT_PARITY_BUDGET = 1e-4
"""Largest tolerated |torch - ONNX Runtime| on any score: float32 reassociation gives ~1e-6 on an MLP."""


def export_onnx(module: torch.nn.Module, config: ModelConfig, path: Path, opset: int = 17) -> Path:
    """Writes `module` as ONNX with the config's tensor names and a dynamic batch dimension, in one file.

    The TorchScript exporter (dynamo=False) is used on purpose: the dynamo exporter writes weights to a side
    .onnx.data file, and a Triton version folder holds exactly one model.onnx.
    """
    module = module.eval()
    example = tuple(torch.zeros((2, *t.dims), dtype=getattr(torch, t.numpy_dtype.name)) for t in config.inputs)
    names = [t.name for t in (*config.inputs, *config.outputs)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=[t.name for t in config.inputs],
            output_names=[t.name for t in config.outputs],
            dynamic_axes={name: {0: "batch"} for name in names},
            opset_version=opset,
            dynamo=False,
        )
    return path


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
