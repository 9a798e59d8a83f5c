"""PyTriton peer for the serving benchmark: NVIDIA Triton (Python backend) running an ONNX model through ONNX Runtime.

    PYTHONPATH=. .flywheel/bench-venvs/pytriton/bin/python -m bench.competitors.pytriton_server \
        --model model.onnx --http-port 8010

Runs in the PyTriton virtualenv (bench/competitors/setup_envs.sh), not the project's: besides pytriton it imports
only serving.ort_session (onnxruntime, numpy), so the ONNX Runtime session (one intra-op thread) is configured
exactly as our server's. Tensor names, dtypes and per-row shapes are read from the ONNX graph, so Triton accepts the
same OIP v2 JSON body as our server at /v2/models/<name>/infer. Triton's dynamic batcher groups requests (up to
--max-batch-size rows, waiting at most --max-queue-delay-us) into one ONNX Runtime run.
"""

import argparse
import logging
import signal
import tempfile
from pathlib import Path

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from serving.ort_session import session

ORT_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def triton_tensors(nodes: list) -> list[Tensor]:
    """Triton tensor declarations (per-row shape, batch dimension left to Triton) for ONNX graph inputs/outputs."""
    tensors = []
    for node in nodes:
        if node.type not in ORT_DTYPES:
            raise ValueError(f"tensor '{node.name}' has ONNX type {node.type}; supported: {sorted(ORT_DTYPES)}")
        row = tuple(d if isinstance(d, int) else -1 for d in node.shape[1:])
        tensors.append(Tensor(name=node.name, dtype=ORT_DTYPES[node.type], shape=row))
    return tensors


def main() -> None:
    """Bind the model and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="ONNX file (batch dimension dynamic)")
    parser.add_argument("--name", default="fraud", help="model name in /v2/models/<name>/infer")
    parser.add_argument("--http-port", type=int, default=8010, help="Triton's HTTP port")
    parser.add_argument("--grpc-port", type=int, default=8011, help="Triton's gRPC port (unused by the benchmark)")
    parser.add_argument("--metrics-port", type=int, default=8012, help="Triton's metrics port")
    parser.add_argument("--max-batch-size", type=int, default=256, help="rows per model run")
    parser.add_argument("--max-queue-delay-us", type=int, default=100, help="how long a partial batch may wait")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = session(args.model)
    input_names = [node.name for node in engine.get_inputs()]
    output_names = [node.name for node in engine.get_outputs()]

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        results = engine.run(output_names, {name: inputs[name] for name in input_names})
        return dict(zip(output_names, results, strict=True))

    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=args.http_port,
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        allow_sagemaker=False,
        allow_vertex_ai=False,
    )
    # Triton creates the workspace itself (it must not exist yet); the temporary parent removes it afterwards.
    with (
        tempfile.TemporaryDirectory(prefix="pytriton-bench-") as parent,
        Triton(config=config, workspace=Path(parent) / "workspace") as triton,
    ):
        triton.bind(
            model_name=args.name,
            infer_func=infer,
            inputs=triton_tensors(engine.get_inputs()),
            outputs=triton_tensors(engine.get_outputs()),
            config=ModelConfig(
                max_batch_size=args.max_batch_size,
                batcher=DynamicBatcher(max_queue_delay_microseconds=args.max_queue_delay_us),
            ),
            strict=True,
        )
        # PyTriton stops cleanly only on SIGINT (KeyboardInterrupt); treat SIGTERM the same so tritonserver and the
        # temporary workspace go away with us.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        triton.serve()


if __name__ == "__main__":
    main()
