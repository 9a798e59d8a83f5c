"""Engine build: parity gate, INT8 and pruning budgets (a budget of 0 rejects them), Triton layout and provenance."""

import pytest
import torch

from serving import model_repository
from serving.engine_build import EngineBuildConfig, EngineBuildError, Holdout, build_engine
from serving.engine_variants import decide_variant, prune_units
from serving.model_config import ModelConfig, contract_config
from serving.reference_mlp import ReferenceMLP, fit
from serving.synthetic_data import reference_spec, synthetic_batch
from serving.tensorrt_engine import tensorrt_unavailable_reason

SPEC = reference_spec()
CONFIG = contract_config("scorer", SPEC, max_batch_size=64)
FAST = {"latency_repeats": 20, "finetune_steps": 10, "latency_batch_size": 32}


def holdout(rows, seed):
    batch = synthetic_batch(SPEC, rows, seed)
    return Holdout({"numeric": batch.numeric, "categorical": batch.categorical}, batch.labels)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return fit(ReferenceMLP(SPEC, hidden=(32, 16)), synthetic_batch(SPEC, 512, seed=1), steps=40)


@pytest.mark.parametrize(
    ("budget", "drop", "speed", "kept", "fragment"),
    [
        (0.0, 0.0, 0.5, False, "disabled"),
        (0.0, -0.01, 0.5, False, "disabled"),
        (0.01, 0.02, 0.5, False, "exceeds the budget"),
        (0.01, 0.005, 0.99, False, "not at least 5% faster"),
        (0.01, 0.005, 0.5, True, "50% faster"),
    ],
)
def test_variant_decision(budget, drop, speed, kept, fragment):
    decision = decide_variant("int8", 0.9, 0.9 - drop, 100.0, 100.0 * speed, budget)
    assert decision.kept is kept and fragment in decision.reason


def test_pruning_removes_units_and_keeps_the_signature(model):
    pruned, removed = prune_units(model, 0.5)
    assert removed == 16 + 8
    assert [m.out_features for m in pruned.mlp if isinstance(m, torch.nn.Linear)] == [16, 8, 1]
    assert [m.out_features for m in model.mlp if isinstance(m, torch.nn.Linear)] == [32, 16, 1], "original untouched"
    out = pruned(torch.zeros(3, 8), torch.zeros(3, 3, dtype=torch.int64))
    assert out.shape == (3, 1)


def test_zero_budgets_reject_int8_and_pruning_and_publish_fp32(model, tmp_path):
    build = EngineBuildConfig(int8_quality_budget=0.0, pruning_quality_budget=0.0, **FAST)
    report = build_engine(model, CONFIG, holdout(400, 7), tmp_path, 1, build, finetune=holdout(400, 8))
    assert report.variant == "fp32"
    assert {d["name"]: d["kept"] for d in report.decisions} == {"int8": False, "pruned": False}
    assert all("disabled" in d["reason"] for d in report.decisions)
    assert report.parity["max_abs_error"] <= report.parity["budget"]
    assert 0.5 < report.quality <= 1.0 and report.latency_us > 0 and report.torch_latency_us > 0
    assert (tmp_path / "scorer" / "1" / "model.onnx").is_file()
    assert ModelConfig.from_pbtxt((tmp_path / "scorer" / "config.pbtxt").read_text()) == CONFIG
    assert model_repository.read_provenance(tmp_path, "scorer", 1)["variant"] == "fp32"


def test_generous_budgets_judge_variants_on_speed_and_quality(model, tmp_path):
    build = EngineBuildConfig(int8_quality_budget=1.0, pruning_quality_budget=1.0, **FAST)
    report = build_engine(model, CONFIG, holdout(400, 7), tmp_path, 2, build, finetune=holdout(400, 8))
    for decision in report.decisions:
        assert "exceeds" not in decision["reason"] and "disabled" not in decision["reason"]
        assert decision["kept"] == ("faster" in decision["reason"] and "not at least" not in decision["reason"])
    kept = [d for d in report.decisions if d["kept"]]
    expected = min(kept, key=lambda d: d["latency_us"])["name"] if kept else "fp32"
    assert report.variant == expected


def test_parity_outside_budget_is_not_published(model, tmp_path):
    with pytest.raises(EngineBuildError, match="parity budget"):
        build_engine(
            model,
            CONFIG,
            holdout(100, 7),
            tmp_path,
            1,
            EngineBuildConfig(parity_budget=1e-12, int8=False, pruning=False, **FAST),
        )
    assert model_repository.versions(tmp_path, "scorer") == []


TENSORRT_MISSING = tensorrt_unavailable_reason()


@pytest.mark.skipif(TENSORRT_MISSING is not None, reason=f"TensorRT engine not built: {TENSORRT_MISSING}")
def test_tensorrt_engine_matches_torch_and_is_written_as_a_plan(model, tmp_path):
    build = EngineBuildConfig(int8=False, pruning=False, **FAST)
    report = build_engine(model, CONFIG, holdout(100, 7), tmp_path, 1, build)
    assert report.tensorrt["built"] and report.tensorrt["parity"]["max_abs_error"] <= build.tensorrt_parity_budget
    assert (tmp_path / "scorer_trt" / "1" / "model.plan").is_file()
    assert model_repository.read_config(tmp_path, "scorer_trt").platform == "tensorrt_plan"


@pytest.mark.skipif(TENSORRT_MISSING is None, reason="TensorRT is available: the engine is built instead")
def test_missing_tensorrt_is_reported_with_its_reason(model, tmp_path):
    build = EngineBuildConfig(int8=False, pruning=False, **FAST)
    report = build_engine(model, CONFIG, holdout(100, 7), tmp_path, 1, build)
    assert report.tensorrt == {"built": False, "reason": TENSORRT_MISSING}
    assert model_repository.model_names(tmp_path) == ["scorer"]
