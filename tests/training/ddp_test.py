"""DDP for real on CPU: 2 gloo processes started by Lightning train a model of the same quality as 1 process."""

import dataclasses

import pytest

from training.config import load_config
from training.launch import run_training
from training.synthetic import synthetic_spec, write_synthetic_training_set
from training.train import train

SPEC = synthetic_spec()


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return write_synthetic_training_set(SPEC, tmp_path_factory.mktemp("data") / "train.parquet", rows=3000)


def test_two_processes_match_one(data_path, tmp_path):
    config = load_config("tiny").with_trainer(enable_progress_bar=False)
    single = train(config, SPEC, data_path, tmp_path / "one")
    lines = []
    ddp = run_training(config.with_trainer(devices=2), SPEC, data_path, tmp_path / "two", log=lines.append)
    assert ddp.world_size == 2 and single.world_size == 1
    assert any("distributed_backend=gloo" in line for line in lines)
    assert any("GLOBAL_RANK: 1" in line for line in lines)
    # The global batch is split across ranks, so both follow the same optimisation path.
    for metric in ("pr_auc", "roc_auc"):
        assert ddp.test[metric] == pytest.approx(single.test[metric], abs=0.02), metric
    assert len(ddp.history) == len(single.history) == config.optim.epochs


def test_the_monotone_penalty_trains_under_ddp(data_path, tmp_path):
    # The penalty differentiates the logit by the inputs inside training_step (a double backward): DDP must
    # still reduce the parameters' gradients once per step.
    config = load_config("tiny").with_trainer(enable_progress_bar=False)
    config = dataclasses.replace(config, monotone={"x0": 1})
    ddp = run_training(config.with_trainer(devices=2), SPEC, data_path, tmp_path / "two", log=lambda line: None)
    assert ddp.world_size == 2
    assert "train_monotone_penalty" in ddp.history[-1] and ddp.test["roc_auc"] > 0.8
