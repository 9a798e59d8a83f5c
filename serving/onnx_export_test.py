"""ONNX export: one self-contained file, dynamic batch, parity with torch within the stated budget."""

import numpy as np
import pytest
import torch

from serving.model_config import TensorSpec, contract_config
from serving.onnx_export import DEFAULT_PARITY_BUDGET, export_onnx, parity, session, signature_mismatches
from serving.reference_mlp import ReferenceMLP, fit
from serving.synthetic_data import reference_spec, synthetic_batch

SPEC = reference_spec()
CONFIG = contract_config("scorer", SPEC)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return fit(ReferenceMLP(SPEC, hidden=(16,)), synthetic_batch(SPEC, 256, seed=1), steps=20)


def holdout(rows=300, seed=5):
    batch = synthetic_batch(SPEC, rows, seed)
    return {"numeric": batch.numeric, "categorical": batch.categorical}


def test_export_is_one_file_with_the_contract_signature(model, tmp_path):
    path = export_onnx(model, CONFIG, tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"], "no side .onnx.data file"
    assert signature_mismatches(session(path), CONFIG) == []


def test_onnx_matches_torch_within_the_parity_budget(model, tmp_path):
    engine = session(export_onnx(model, CONFIG, tmp_path / "model.onnx"))
    report = parity(model, engine, holdout(), CONFIG)
    assert report.ok and report.rows == 300
    assert report.max_abs_error <= DEFAULT_PARITY_BUDGET


@pytest.mark.parametrize("rows", [1, 7, 256])
def test_batch_dimension_is_dynamic(model, tmp_path, rows):
    engine = session(export_onnx(model, CONFIG, tmp_path / "model.onnx"))
    assert engine.run(None, holdout(rows))[0].shape == (rows, 1)


def test_parity_detects_a_different_model(model, tmp_path):
    engine = session(export_onnx(model, CONFIG, tmp_path / "model.onnx"))
    with torch.no_grad():
        model.mlp[-1].bias.add_(0.5)
    try:
        assert not parity(model, engine, holdout(), CONFIG).ok
    finally:
        with torch.no_grad():
            model.mlp[-1].bias.sub_(0.5)


def test_signature_mismatches_name_each_difference(model, tmp_path):
    engine = session(export_onnx(model, CONFIG, tmp_path / "model.onnx"))
    wrong = contract_config("scorer", reference_spec(n_numeric=5))
    assert any("rows are [8]" in p for p in signature_mismatches(engine, wrong))
    retyped = CONFIG.__class__(
        **{**CONFIG.__dict__, "inputs": (CONFIG.inputs[0], TensorSpec("categorical", "TYPE_INT32", (3,)))}
    )
    assert any("TYPE_INT64 in the graph" in p for p in signature_mismatches(engine, retyped))
    np.testing.assert_equal(len(signature_mismatches(engine, CONFIG)), 0)
