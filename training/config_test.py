"""The CI and production config files load, validate, and unknown or inconsistent fields are named."""

import pytest

from training.config import builtin_configs, config_from_dict, load_config, save_config


@pytest.mark.parametrize("name", ["tiny", "full", "large"])
def test_builtin_configs_load(name):
    config = load_config(name)
    assert config.name == name
    assert config.split.test_fraction > 0


def test_tiny_is_small_and_cpu_only_full_uses_auto_accelerator():
    tiny, full = load_config("tiny"), load_config("full")
    assert tiny.trainer.accelerator == "cpu" and tiny.optim.epochs <= 3
    assert full.trainer.accelerator == "auto" and full.trainer.precision == "auto"
    assert sum(full.model.hidden_sizes) > sum(tiny.model.hidden_sizes)
    assert set(builtin_configs()) >= {"tiny", "full", "large"}
    large = load_config("large")
    assert (
        sum(large.model.hidden_sizes) > sum(full.model.hidden_sizes) and large.optim.batch_size > full.optim.batch_size
    )


def test_save_then_load_round_trips(tmp_path):
    config = load_config("tiny").with_trainer(devices=2)
    assert load_config(save_config(config, tmp_path / "c.yaml")) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "optimizer": {}}, "unknown top-level field"),
        ({"name": "x", "optim": {"lr": 1}}, "unknown field(s) ['lr'] in 'optim'"),
        ({"optim": {}}, "needs a 'name'"),
        ({"name": "x", "split": {"train_fraction": 0.9, "validation_fraction": 0.2}}, "must leave a test share"),
        ({"name": "x", "optim": {"batch_size": 3}, "trainer": {"devices": 2}}, "divide evenly over 2"),
        ({"name": "x", "trainer": {"accelerator": "tpu"}}, "accelerator must be"),
    ],
)
def test_bad_configs_name_the_problem(data, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(data)


def test_flat_params_cover_every_section():
    params = load_config("tiny").flat_params()
    assert {"name", "seed", "optim.batch_size", "model.hidden_sizes", "trainer.devices", "split.train_fraction"} <= set(
        params
    )
