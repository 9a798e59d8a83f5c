"""Training on the tiny config: deterministic under a fixed seed, learns the known signal, fails early on bad data."""

import dataclasses
import json

import pandas as pd
import pytest

from training.config import load_config
from training.synthetic import synthetic_spec, write_synthetic_training_set
from training.train import TrainingResult, main, train, trainer_settings
from training.training_data import TrainingDataError

SPEC = synthetic_spec()


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return write_synthetic_training_set(SPEC, tmp_path_factory.mktemp("data") / "train.parquet", rows=3000)


def _metrics_only(history):
    return [{k: v for k, v in row.items() if k != "epoch_train_seconds"} for row in history]


def test_same_seed_same_metrics_and_the_signal_is_learned(data_path, tmp_path):
    config = load_config("tiny").with_trainer(enable_progress_bar=False)
    first = train(config, SPEC, data_path, tmp_path / "a")
    second = train(config, SPEC, data_path, tmp_path / "b")
    assert _metrics_only(first.history) == _metrics_only(second.history)
    assert first.test == second.test
    assert first.test["roc_auc"] > 0.8
    assert first.test["pr_auc"] > 2 * first.test["positive_rate"]
    assert len(first.history) == config.optim.epochs
    assert {
        "epoch_train_seconds",
        "train_loss",
        "val_loss",
        "val_pr_auc",
        "val_roc_auc",
        "val_recall_at_fpr",
        "val_ece",
    } <= set(first.history[0])
    loaded = TrainingResult.load(tmp_path / "a")
    assert loaded.test == first.test and loaded.curve_path.read_bytes()[:4] == b"\x89PNG"
    assert loaded.load_model().logit_offset.item() < 0  # positives were up-weighted and corrected for


def test_cli_trains_from_a_spec_file(data_path, tmp_path, capsys):
    from training.spec_files import write_spec

    spec_file = write_spec(SPEC, tmp_path / "spec.json")
    code = main(
        ["--config", "tiny", "--spec", str(spec_file), "--data", str(data_path)]
        + ["--output", str(tmp_path / "out"), "--epochs", "1", "--no-progress-bar"]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["world_size"] == 1 and printed["test"]["roc_auc"] > 0.7
    assert len(TrainingResult.load(tmp_path / "out").history) == 1


def test_bad_data_fails_before_any_trainer_exists(tmp_path, monkeypatch):
    import lightning

    def no_trainer(*args, **kwargs):
        raise AssertionError("a Trainer was built for bad data")

    monkeypatch.setattr(lightning, "Trainer", no_trainer)
    frame = pd.read_parquet(write_synthetic_training_set(SPEC, tmp_path / "d.parquet", rows=500))
    frame.drop(columns=["c1"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(TrainingDataError, match=r"missing column\(s\) \['c1'\]"):
        train(load_config("tiny"), SPEC, tmp_path / "bad.parquet", tmp_path / "out")
    with pytest.raises(TrainingDataError, match="fewer than one global batch"):
        big_batch = load_config("tiny")
        big_batch = dataclasses.replace(big_batch, optim=dataclasses.replace(big_batch.optim, batch_size=4096))
        train(big_batch, SPEC, tmp_path / "d.parquet", tmp_path / "out")


def test_cpu_never_pretends_to_mixed_precision_or_gpu():
    settings = trainer_settings(load_config("full").trainer)
    import torch

    if not torch.cuda.is_available():
        assert settings["accelerator"] == "cpu" and settings["precision"] == "32-true"
        with pytest.raises(RuntimeError, match="cuda.is_available"):
            trainer_settings(dataclasses.replace(load_config("full").trainer, accelerator="gpu"))
    else:
        expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        assert settings["precision"] == expected
    assert trainer_settings(load_config("tiny").with_trainer(devices=2).trainer)["strategy"] == "ddp"
    assert trainer_settings(load_config("tiny").trainer)["strategy"] == "auto"
    assert trainer_settings(load_config("tiny").with_trainer(strategy="ddp").trainer)["strategy"] == "ddp"
    with pytest.raises(ValueError, match="strategy must be auto or ddp"):
        load_config("tiny").with_trainer(strategy="fsdp")


def _direction_share(result: TrainingResult, data_path, feature: str) -> float:
    """Share of test rows whose score does not fall when `feature` rises by one standard deviation."""
    from training.behaviour import BehaviourExpectations, direction_test
    from training.training_data import read_training_set

    frame = read_training_set(data_path, SPEC)
    return direction_test(result.load_model(), SPEC, frame, feature, +1, BehaviourExpectations()).value


def test_a_declared_direction_is_trained_for_even_against_the_data(data_path, tmp_path):
    # The synthetic signal lowers the risk as x1 rises; declaring x1 as a risk signal must bend the model to it.
    config = load_config("tiny").with_trainer(enable_progress_bar=False)
    free = train(config, SPEC, data_path, tmp_path / "free")
    strong = dataclasses.replace(config.optim, monotone_weight=20.0)
    bent = dataclasses.replace(config, monotone={"x1": 1}, optim=strong)
    bound = train(bent, SPEC, data_path, tmp_path / "bound")
    assert _direction_share(free, data_path, "x1") < 0.5
    assert _direction_share(bound, data_path, "x1") > 0.9
    assert "train_monotone_penalty" in bound.history[-1] and "train_monotone_penalty" not in free.history[-1]
    assert bound.test["roc_auc"] > 0.7  # x0 and c0 still carry the signal


def test_monotone_declarations_are_checked():
    config = load_config("tiny")
    with pytest.raises(ValueError, match="must be \\+1 or -1"):
        dataclasses.replace(config, monotone={"x0": 2})
    with pytest.raises(ValueError, match="monotone_weight"):
        dataclasses.replace(config.optim, monotone_weight=-1.0)
    from training.train import monotone_columns

    assert monotone_columns(dataclasses.replace(config, monotone={"x2": -1, "x0": 1}), SPEC) == {2: -1, 0: 1}
    with pytest.raises(ValueError, match="not numeric features"):
        monotone_columns(dataclasses.replace(config, monotone={"c0": 1}), SPEC)
