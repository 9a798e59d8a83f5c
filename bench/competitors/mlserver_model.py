"""MLServer peer for the serving benchmark: a custom MLModel running an ONNX model through ONNX Runtime.

MLServer 1.7.1 ships no ONNX runtime, so this is the documented way to serve ONNX with it. Runs in the MLServer
virtualenv (bench/competitors/setup_envs.sh) with PYTHONPATH at the repository root; `mlserver_settings` in
bench/competitors/peer_servers.py writes the settings.json and model-settings.json that point here
(`implementation: bench.competitors.mlserver_model.OnnxRuntimeModel`, `parameters.uri`: the ONNX file, adaptive
batching through `max_batch_size` / `max_batch_time`). MLServer's adaptive batcher concatenates queued requests
along the batch dimension before `predict` and splits the response afterwards.
"""

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse

from serving.ort_session import session


class OnnxRuntimeModel(MLModel):
    """One ONNX Runtime session (one intra-op thread, as in our server) per MLServer worker."""

    async def load(self) -> bool:
        """Open the session named by the model settings' `parameters.uri`."""
        uri = self.settings.parameters.uri if self.settings.parameters else None
        if not uri:
            raise MLServerError(f"model '{self.name}' needs parameters.uri pointing at an ONNX file")
        self._engine = session(uri)
        self._input_names = [node.name for node in self._engine.get_inputs()]
        self._output_names = [node.name for node in self._engine.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Run the graph on the request's tensors (decoded by datatype and shape) and encode every output."""
        given = {tensor.name: NumpyCodec.decode_input(tensor) for tensor in payload.inputs}
        if sorted(given) != sorted(self._input_names):
            raise MLServerError(f"inputs are {sorted(given)}; model '{self.name}' expects {sorted(self._input_names)}")
        results: list[np.ndarray] = self._engine.run(self._output_names, given)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[
                NumpyCodec.encode_output(name, value) for name, value in zip(self._output_names, results, strict=True)
            ],
        )
