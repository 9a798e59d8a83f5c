"""Training's network goes through the one ONNX exporter in the model contract, with and without categoricals."""

import numpy as np
import onnxruntime
import pytest
import torch

from features.model_contract import example_inputs, input_tensors
from serving.model_config import contract_config
from serving.onnx_export import ExportParityError, check_parity, export_onnx
from training.config import ModelConfig
from training.model import build_model
from training.synthetic import synthetic_spec

WITH_CATEGORICALS = synthetic_spec()
NUMERIC_ONLY = synthetic_spec(n_numeric=3, vocabularies={})


def _net(spec):
    torch.manual_seed(0)
    net = build_model(spec, ModelConfig(hidden_sizes=(16, 8), embedding_dim=4, dropout=0.1))
    n = len(spec.numeric)
    net.set_normalisation(np.arange(n, dtype=np.float32), np.full(n, 2.0, dtype=np.float32))
    net.set_positive_weight(9.0)
    return net.eval()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("spec", [WITH_CATEGORICALS, NUMERIC_ONLY], ids=["with-categoricals", "numeric-only"])
def test_export_follows_the_contract_and_matches_torch(tmp_path, exporter, spec):
    net = _net(spec)
    path = export_onnx(net, contract_config("scorer", spec), tmp_path / "model.onnx", exporter=exporter)
    assert check_parity(net, spec, path) < 1e-5
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"], "one self-contained file"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    declared = [
        (t.name, {np.float32: "tensor(float)", np.int64: "tensor(int64)"}[t.dtype.type]) for t in input_tensors(spec)
    ]
    assert [(i.name, i.type) for i in session.get_inputs()] == declared
    assert [i.name for i in session.get_inputs()] == (["numeric", "categorical"] if spec.categorical else ["numeric"])
    (scores,) = session.run(["score"], example_inputs(spec, 300, seed=9))
    assert scores.shape == (300, 1) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()


def test_parity_check_catches_a_model_that_differs_from_the_file(tmp_path):
    net = _net(WITH_CATEGORICALS)
    path = export_onnx(net, contract_config("scorer", WITH_CATEGORICALS), tmp_path / "model.onnx")
    with torch.no_grad():
        net.logit_offset.add_(1.0)
    with pytest.raises(ExportParityError, match="differs from torch"):
        check_parity(net, WITH_CATEGORICALS, path)


def test_parity_check_refuses_a_file_that_breaks_the_contract(tmp_path):
    net = _net(WITH_CATEGORICALS)
    path = export_onnx(net, contract_config("scorer", WITH_CATEGORICALS), tmp_path / "model.onnx")
    other = synthetic_spec(n_numeric=5)
    with pytest.raises(ExportParityError, match="does not honour the model contract"):
        check_parity(net, other, path)


def test_a_confident_model_keeps_its_low_scores_in_onnx_runtime(tmp_path):
    """Scores far below 1e-7 (a confident model on legitimate traffic) survive export to relative precision."""
    net = _net(WITH_CATEGORICALS)
    with torch.no_grad():
        net.logit_offset.fill_(-22.0)
    config = contract_config("scorer", WITH_CATEGORICALS)
    path = export_onnx(net, config, tmp_path / "model.onnx")
    inputs = example_inputs(WITH_CATEGORICALS, 500, seed=3)
    (engine,) = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["score"], inputs)
    with torch.no_grad():
        expected = net(*(torch.from_numpy(inputs[t.name]) for t in input_tensors(WITH_CATEGORICALS))).numpy()
    assert expected.max() < 1e-6, "the offset makes every score tiny"
    assert (engine > 0).all(), "no score collapses to 0"
    np.testing.assert_allclose(engine, expected, rtol=1e-4, atol=0)
