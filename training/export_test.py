"""export_onnx writes the signature contract, with a dynamic batch, matching torch; FraudNet's own invariants."""

import numpy as np
import onnxruntime
import pytest
import torch

from training.config import ModelConfig
from training.export import ExportParityError, check_parity, export_onnx
from training.model import build_model, load_model, save_model
from training.signature import contract_inputs
from training.synthetic import synthetic_spec

SPEC = synthetic_spec()


def _net():
    torch.manual_seed(0)
    net = build_model(SPEC, ModelConfig(hidden_sizes=(16, 8), embedding_dim=4, dropout=0.1))
    net.set_normalisation(np.arange(4, dtype=np.float32), np.full(4, 2.0, dtype=np.float32))
    net.set_positive_weight(9.0)
    return net.eval()


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_export_follows_the_contract_and_matches_torch(tmp_path, exporter):
    net = _net()
    report = export_onnx(net, SPEC, tmp_path / "model.onnx", exporter=exporter)
    assert report.max_abs_diff < 1e-5
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # one self-contained file
    session = onnxruntime.InferenceSession(str(report.path))
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("numeric", "tensor(float)"),
        ("categorical", "tensor(int64)"),
    ]
    numeric, categorical = contract_inputs(SPEC, 300, seed=9)
    (scores,) = session.run(["score"], {"numeric": numeric, "categorical": categorical})
    assert scores.shape == (300, 1) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()


def test_parity_check_catches_a_model_that_differs_from_the_file(tmp_path):
    net = _net()
    export_onnx(net, SPEC, tmp_path / "model.onnx", exporter="torchscript")
    with torch.no_grad():
        net.logit_offset.add_(1.0)
    with pytest.raises(ExportParityError, match="differs from torch"):
        check_parity(net, SPEC, tmp_path / "model.onnx")


def test_out_of_vocabulary_indices_fall_into_the_unknown_bucket():
    net = _net()
    numeric = torch.zeros(2, 4)
    with torch.no_grad():
        unknown = net(numeric, torch.tensor([[0, 0], [0, 0]]))
        beyond = net(numeric, torch.tensor([[99, -5], [4, 3]]))
    torch.testing.assert_close(unknown, beyond)


def test_prior_correction_and_normalisation_travel_with_saved_weights(tmp_path):
    net = _net()
    save_model(net, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.logit_offset.item() == pytest.approx(-np.log(9.0))
    numeric, categorical = (torch.from_numpy(a) for a in contract_inputs(SPEC, 5))
    with torch.no_grad():
        torch.testing.assert_close(loaded(numeric, categorical), net(numeric, categorical))
