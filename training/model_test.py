"""TabularNet's own invariants: unknown categories, and prior correction and normalisation saved with the weights."""

import numpy as np
import pytest
import torch

from features.model_contract import example_inputs
from training.config import ModelConfig
from training.model import build_model, load_model, save_model
from training.synthetic import synthetic_spec

SPEC = synthetic_spec()


def _net():
    torch.manual_seed(0)
    net = build_model(SPEC, ModelConfig(hidden_sizes=(16, 8), embedding_dim=4, dropout=0.1))
    net.set_normalisation(np.arange(4, dtype=np.float32), np.full(4, 2.0, dtype=np.float32))
    net.set_positive_weight(9.0)
    return net.eval()


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
    numeric, categorical = (torch.from_numpy(a) for a in example_inputs(SPEC, 5).values())
    with torch.no_grad():
        torch.testing.assert_close(loaded(numeric, categorical), net(numeric, categorical))
