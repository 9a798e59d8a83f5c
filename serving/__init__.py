"""Serving: ONNX/TensorRT engines as a Triton-layout model repository, and an Open Inference Protocol v2 server."""
