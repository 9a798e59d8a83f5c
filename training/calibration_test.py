"""Platt scaling recovers the true (scale, offset), keeps the ranking, and leaves too little data alone."""

import numpy as np
import torch

from training.calibration import MIN_CLASS_ROWS, Calibration, fit_platt
from training.config import ModelConfig
from training.metrics import expected_calibration_error
from training.model import build_model, load_model, save_model
from training.scoring import calibrate
from training.synthetic import synthetic_spec

IDENTITY = Calibration(scale=1.0, offset=0.0)


def test_the_fit_recovers_a_known_scale_and_offset():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20_000)
    labels = rng.random(len(logits)) < 1 / (1 + np.exp(-(0.4 * logits - 1.5)))
    fitted = fit_platt(logits, labels, IDENTITY)
    assert abs(fitted.scale - 0.4) < 0.05 and abs(fitted.offset + 1.5) < 0.1, fitted


def test_separable_rows_give_a_finite_positive_scale_and_too_few_positives_none():
    logits = np.concatenate([np.full(200, -3.0), np.full(40, 3.0)])
    labels = np.concatenate([np.zeros(200), np.ones(40)])
    fitted = fit_platt(logits, labels, IDENTITY)
    assert np.isfinite([fitted.scale, fitted.offset]).all() and fitted.scale > 0
    assert fit_platt(logits[: 200 + MIN_CLASS_ROWS - 1], labels[: 200 + MIN_CLASS_ROWS - 1], IDENTITY) is None


def test_a_calibrated_net_is_calibrated_ranks_as_before_and_survives_save_and_load(tmp_path):
    spec = synthetic_spec(n_numeric=3, vocabularies={})
    torch.manual_seed(0)
    net = build_model(spec, ModelConfig(hidden_sizes=(8,), embedding_dim=2, dropout=0.0)).eval()
    rng = np.random.default_rng(1)
    numeric = rng.normal(0, 1, (5000, 3)).astype(np.float32)
    categorical = np.zeros((5000, 0), dtype=np.int64)
    with torch.no_grad():
        logits = net.logits(torch.from_numpy(numeric), torch.from_numpy(categorical)).reshape(-1).numpy()
    # labels follow a sharper, shifted version of the net's own logits: the raw scores are miscalibrated
    labels = (rng.random(5000) < 1 / (1 + np.exp(-(3.0 * (logits - logits.mean()) - 1.0)))).astype(np.float32)

    def scores(model):
        with torch.no_grad():
            return model(torch.from_numpy(numeric), torch.from_numpy(categorical)).reshape(-1).numpy()

    before = scores(net)
    assert calibrate(net, numeric, categorical, labels) is not None
    after = scores(net)
    assert expected_calibration_error(labels, after) < expected_calibration_error(labels, before) / 3
    assert (np.diff(after[np.argsort(before)]) >= -1e-6).all(), "the ranking is unchanged (up to float32 rounding)"
    save_model(net, tmp_path / "model.pt")
    np.testing.assert_allclose(scores(load_model(tmp_path / "model.pt")), after)
