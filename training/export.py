"""ONNX export of a FraudNet in the model signature contract, checked against torch before it is handed over.

Contract (COMMON.md): inputs `numeric` float32 [batch, n_numeric] and `categorical` int64 [batch, n_categorical],
output `score` float32 [batch, 1]; the batch dimension is dynamic. Serving calls export_onnx.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from domain.spec import FeatureSpec
from training.signature import INPUT_CATEGORICAL, INPUT_NUMERIC, OUTPUT_SCORE, contract_inputs

EXPORTERS = ("dynamo", "torchscript")


class ExportParityError(RuntimeError):
    """ONNX Runtime's scores differ from torch's by more than the tolerance: the file is not trustworthy."""


@dataclass(frozen=True)
class ExportReport:
    """Where the ONNX file is and how closely ONNX Runtime matched torch on random contract inputs."""

    path: Path
    max_abs_diff: float
    batch_sizes_checked: tuple[int, ...]
    exporter: str


def export_onnx(
    model: torch.nn.Module,
    spec: FeatureSpec,
    path: str | Path,
    exporter: str = "dynamo",
    atol: float = 1e-5,
    check_batches: tuple[int, ...] = (1, 7, 64),
) -> ExportReport:
    """Writes `model` as one self-contained ONNX file at `path` and checks parity with torch at several batch sizes.

    exporter: 'dynamo' (torch.export based, the default in torch) or 'torchscript' (legacy, much faster to run).
    Raises ExportParityError when ONNX Runtime and torch disagree by more than atol.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().float().eval()
    numeric, categorical = (torch.from_numpy(a) for a in contract_inputs(spec, 4))
    names = {"input_names": [INPUT_NUMERIC, INPUT_CATEGORICAL], "output_names": [OUTPUT_SCORE]}
    with torch.no_grad():
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(
                model,
                (numeric, categorical),
                str(path),
                dynamic_shapes={"numeric": {0: batch}, "categorical": {0: batch}},
                external_data=False,
                dynamo=True,
                **names,
            )
        else:
            axes = {name: {0: "batch"} for name in (INPUT_NUMERIC, INPUT_CATEGORICAL, OUTPUT_SCORE)}
            torch.onnx.export(model, (numeric, categorical), str(path), dynamic_axes=axes, dynamo=False, **names)
    max_diff = check_parity(model, spec, path, atol, check_batches)
    return ExportReport(path=path, max_abs_diff=max_diff, batch_sizes_checked=tuple(check_batches), exporter=exporter)


def check_parity(
    model: torch.nn.Module, spec: FeatureSpec, path: str | Path, atol: float = 1e-5, batches=(1, 7, 64)
) -> float:
    """The largest |onnx - torch| score difference over random contract inputs; raises above atol."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check_onnx_signature(session, spec)
    worst = 0.0
    for seed, batch in enumerate(batches):
        numeric, categorical = contract_inputs(spec, batch, seed=seed + 1)
        (onnx_scores,) = session.run([OUTPUT_SCORE], {INPUT_NUMERIC: numeric, INPUT_CATEGORICAL: categorical})
        with torch.no_grad():
            torch_scores = model(torch.from_numpy(numeric), torch.from_numpy(categorical)).numpy()
        if onnx_scores.shape != (batch, 1):
            raise ExportParityError(
                f"{path}: output '{OUTPUT_SCORE}' has shape {onnx_scores.shape}, expected ({batch}, 1)"
            )
        worst = max(worst, float(np.abs(onnx_scores - torch_scores).max()))
    if worst > atol:
        raise ExportParityError(f"{path}: ONNX Runtime differs from torch by {worst:.3g} (> {atol}) on contract inputs")
    return worst


def check_onnx_signature(session, spec: FeatureSpec) -> None:
    """Raises ValueError unless the session's inputs/outputs are exactly the contract's names, dtypes and widths."""
    expected_inputs = {
        INPUT_NUMERIC: ("tensor(float)", len(spec.numeric)),
        INPUT_CATEGORICAL: ("tensor(int64)", len(spec.categorical)),
    }
    inputs = {i.name: (i.type, i.shape[1] if len(i.shape) == 2 else None) for i in session.get_inputs()}
    if inputs != expected_inputs:
        raise ValueError(f"ONNX inputs {inputs} do not match the contract {expected_inputs}")
    outputs = {o.name: (o.type, o.shape[1] if len(o.shape) == 2 else None) for o in session.get_outputs()}
    if outputs != {OUTPUT_SCORE: ("tensor(float)", 1)}:
        raise ValueError(f"ONNX outputs {outputs} do not match the contract {{'score': ('tensor(float)', 1)}}")
