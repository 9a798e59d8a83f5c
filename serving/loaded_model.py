"""Loading one model version for serving: open it, check its signature against its config, warm it up and check
its outputs before anyone is allowed to call it."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving import model_repository
from serving.model_config import PLATFORM_ONNX, ModelConfig
from serving.ort_session import session, signature_mismatches


class ModelLoadError(RuntimeError):
    """A version was refused: the message says which version and why; the old version keeps serving."""


@dataclass(frozen=True)
class LoadCheck:
    """What a version must pass before it serves."""

    warmup_batch_sizes: tuple[int, ...] = (1, 7, 64)
    """Batch sizes run once each on synthetic rows (capped at max_batch_size), warming ORT's allocations."""
    output_range: tuple[float, float] | None = (0.0, 1.0)
    """Every output value must lie in this range (the contract's score is a probability); None skips it."""


@dataclass
class LoadedModel:
    """A checked, warmed-up version with its ONNX Runtime session."""

    config: ModelConfig
    """The config.pbtxt it was loaded with."""
    version: int
    """Version number (its folder name)."""
    session: ort.InferenceSession
    """The session that runs it."""
    files_stamp: tuple = field(default=())
    """(path, size, mtime) of its model file, to notice a version folder rewritten in place."""
    memory_bytes: int = 0
    """Resident memory the worker gained while loading and warming it up (RSS after minus RSS before)."""

    def run(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """One batch through the model: outputs by name, and this version (the batcher's RunBatch)."""
        names = [t.name for t in self.config.outputs]
        return dict(zip(names, self.session.run(names, inputs), strict=True)), self.version


def synthetic_inputs(config: ModelConfig, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Valid-looking inputs for warm-up: normal floats, zeros for integer tensors (index 0 = unknown category)."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for tensor in config.inputs:
        shape = (rows, *(d if d > 0 else 1 for d in tensor.dims))
        if tensor.numpy_dtype.kind == "f":
            inputs[tensor.name] = rng.normal(size=shape).astype(tensor.numpy_dtype)
        else:
            inputs[tensor.name] = np.zeros(shape, dtype=tensor.numpy_dtype)
    return inputs


def file_stamp(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def load_version(
    root: Path,
    name: str,
    version: int,
    expected: ModelConfig | None = None,
    check: LoadCheck = LoadCheck(),
    threads: int = 1,
) -> LoadedModel:
    """Loads, checks and warms up one version; raises ModelLoadError (never anything else) if it must not serve."""
    where = f"model '{name}' version {version}"
    try:
        config = model_repository.read_config(root, name)
    except Exception as exc:
        raise ModelLoadError(f"{where}: cannot read its config.pbtxt: {exc}") from exc
    if config.platform != PLATFORM_ONNX:
        raise ModelLoadError(f"{where}: platform {config.platform} is for Triton; this server runs {PLATFORM_ONNX}")
    if expected is not None and config.signature() != expected.signature():
        raise ModelLoadError(
            f"{where}: its signature {_describe(config)} differs from the served one {_describe(expected)}; "
            "a signature change needs a new model name or a restart"
        )
    path = model_repository.version_path(root, name, version) / config.model_file
    if not path.is_file():
        raise ModelLoadError(f"{where}: {path} does not exist")
    stamp = file_stamp(path)
    resident_before = resident_bytes()
    try:
        onnx_session = session(path, threads=threads)
    except Exception as exc:
        raise ModelLoadError(f"{where}: ONNX Runtime cannot load {path.name}: {str(exc)[:300]}") from exc
    problems = signature_mismatches(onnx_session, config)
    if problems:
        raise ModelLoadError(f"{where}: the graph does not match config.pbtxt: {'; '.join(problems)}")
    model = LoadedModel(config, version, onnx_session, stamp)
    for rows in sorted({min(b, config.max_batch_size) for b in check.warmup_batch_sizes}):
        _check_outputs(model, rows, check, where)
    return dataclasses.replace(model, memory_bytes=max(0, resident_bytes() - resident_before))


def resident_bytes() -> int:
    """This process's resident set size from /proc/self/statm (0 where /proc is absent)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _check_outputs(model: LoadedModel, rows: int, check: LoadCheck, where: str) -> None:
    try:
        outputs, _ = model.run(synthetic_inputs(model.config, rows, seed=rows))
    except Exception as exc:
        raise ModelLoadError(f"{where}: warm-up run of {rows} rows failed: {str(exc)[:300]}") from exc
    for tensor in model.config.outputs:
        value = outputs[tensor.name]
        expected_shape = (rows, *tensor.dims)
        if value.shape != expected_shape or value.dtype != tensor.numpy_dtype:
            raise ModelLoadError(
                f"{where}: output '{tensor.name}' is {value.dtype}{list(value.shape)} for {rows} rows, "
                f"config declares {tensor.numpy_dtype}{list(expected_shape)}"
            )
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelLoadError(f"{where}: output '{tensor.name}' has NaN or infinity on warm-up rows")
        if check.output_range is not None:
            low, high = check.output_range
            if value.min() < low or value.max() > high:
                raise ModelLoadError(
                    f"{where}: output '{tensor.name}' spans [{value.min():.4g}, {value.max():.4g}], "
                    f"outside the allowed [{low}, {high}]"
                )


def _describe(config: ModelConfig) -> str:
    return ", ".join(f"{t.name}:{t.datatype}{list(t.dims)}" for t in (*config.inputs, *config.outputs))
