"""TensorRT engines (FP16, optionally INT8 with entropy calibration) built from the same ONNX, with a parity runner.

Real code against TensorRT's Python API; it only runs where an NVIDIA GPU and the `tensorrt` package exist (the
production GPU image). Elsewhere `tensorrt_unavailable_reason()` says why it is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serving.model_config import ModelConfig


def tensorrt_unavailable_reason() -> str | None:
    """None if engines can be built here, else the reason they cannot."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return (
            "TensorRT is not installed: its PyPI wheels fetch the libraries from NVIDIA's own index at install time, "
            "which these machines cannot reach; the GPU image provides it"
        )
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch, and TensorRT engines are built and run on the GPU"
    return None


def _calibrator(inputs: dict[str, np.ndarray], batch_size: int, cache: Path):
    """An IInt8EntropyCalibrator2 feeding holdout rows from GPU memory (torch tensors hold the buffers)."""
    import tensorrt as trt
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.offset = 0
            self.rows = len(next(iter(inputs.values())))
            self.buffers: dict[str, torch.Tensor] = {}

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names):
            if self.offset + batch_size > self.rows:
                return None
            for name in names:
                chunk = inputs[name][self.offset : self.offset + batch_size]
                self.buffers[name] = torch.from_numpy(np.ascontiguousarray(chunk)).cuda()
            self.offset += batch_size
            return [int(self.buffers[name].data_ptr()) for name in names]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.exists() else None

        def write_calibration_cache(self, data) -> None:
            cache.write_bytes(bytes(data))

    return EntropyCalibrator()


def build_tensorrt_engine(
    onnx_path: Path,
    plan_path: Path,
    config: ModelConfig,
    fp16: bool = True,
    int8_calibration: dict[str, np.ndarray] | None = None,
    workspace_bytes: int = 1 << 30,
) -> Path:
    """Parses the ONNX file and builds a serialized engine with a dynamic batch profile [1, max_batch_size]."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    build_config = builder.create_builder_config()
    build_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if fp16:
        build_config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    optimum = max(1, min(64, config.max_batch_size))
    for tensor in config.inputs:
        dims = tuple(tensor.dims)
        profile.set_shape(tensor.name, (1, *dims), (optimum, *dims), (config.max_batch_size, *dims))
    build_config.add_optimization_profile(profile)
    if int8_calibration is not None:
        build_config.set_flag(trt.BuilderFlag.INT8)
        build_config.int8_calibrator = _calibrator(int8_calibration, optimum, plan_path.with_suffix(".calibration"))
        build_config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, build_config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log above)")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_bytes(bytes(serialized))
    return plan_path


class TensorRTRunner:
    """Runs a serialized engine on numpy inputs (for parity checks and latency), buffers as CUDA torch tensors."""

    def __init__(self, plan_path: Path, config: ModelConfig) -> None:
        import tensorrt as trt

        self.config = config
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
        if self._engine is None:
            raise RuntimeError(f"{plan_path} is not a TensorRT engine for this GPU and TensorRT version")
        self._context = self._engine.create_execution_context()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        keep = []
        for tensor in self.config.inputs:
            device = torch.from_numpy(np.ascontiguousarray(inputs[tensor.name])).cuda()
            keep.append(device)
            self._context.set_input_shape(tensor.name, tuple(device.shape))
            self._context.set_tensor_address(tensor.name, int(device.data_ptr()))
        outputs = {}
        for tensor in self.config.outputs:
            shape = tuple(self._context.get_tensor_shape(tensor.name))
            device = torch.empty(shape, dtype=getattr(torch, tensor.numpy_dtype.name), device="cuda")
            outputs[tensor.name] = device
            self._context.set_tensor_address(tensor.name, int(device.data_ptr()))
        stream = torch.cuda.current_stream()
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: value.cpu().numpy() for name, value in outputs.items()}
