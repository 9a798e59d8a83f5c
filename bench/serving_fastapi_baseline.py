"""The benchmark's baseline: plain FastAPI + uvicorn running the same ONNX Runtime session inline per request.

FLYWHEEL_BENCH_MODEL=model.onnx uvicorn --factory bench.serving_fastapi_baseline:create_app --port 8001
"""

import os

import numpy as np
from fastapi import Body, FastAPI

from serving.ort_session import session

DTYPES = {"FP32": np.float32, "INT64": np.int64}


def create_app() -> FastAPI:
    """One app, one session (one intra-op thread, like our server), run inline in the handler, no batching."""
    engine = session(os.environ["FLYWHEEL_BENCH_MODEL"])
    output = engine.get_outputs()[0].name
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: dict = Body(...)) -> dict:  # noqa: B008 - FastAPI's documented idiom
        inputs = {
            t["name"]: np.asarray(t["data"], dtype=DTYPES[t["datatype"]]).reshape(t["shape"]) for t in request["inputs"]
        }
        (scores,) = engine.run([output], inputs)
        return {
            "model_name": name,
            "model_version": "1",
            "outputs": [
                {"name": output, "datatype": "FP32", "shape": list(scores.shape), "data": scores.ravel().tolist()}
            ],
        }

    return app
