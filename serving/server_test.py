"""The server's CLI maps onto ServerConfig, and batching settings fall back to the model's config.pbtxt."""

import pytest

from serving.model_config import contract_config
from serving.server import ServerConfig, parse_args
from serving.synthetic_data import reference_spec


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--repository", "--workers", "--max-queue-rows", "--kafka-bootstrap-servers", "--feature-function"):
        assert flag in text


def test_flags_become_a_typed_config(tmp_path):
    config, worker = parse_args(
        ["--repository", str(tmp_path), "--workers", "3", "--model", "a", "--model", "b", "--no-dynamic-batching"]
    )
    assert not worker
    assert config == ServerConfig(repository=tmp_path, workers=3, models=("a", "b"), dynamic_batching=False)


def test_batching_defaults_come_from_config_pbtxt_and_flags_override_them(tmp_path):
    model = contract_config(
        "m", reference_spec(), max_batch_size=32, max_queue_delay_microseconds=300, max_queue_size=99
    )
    from_file = ServerConfig(repository=tmp_path).batcher_config(model)
    assert (from_file.max_batch_size, from_file.max_queue_delay_s, from_file.max_queue_rows) == (32, 0.0003, 99)
    overridden = ServerConfig(repository=tmp_path, max_batch_size=8, max_queue_delay_us=0, max_queue_rows=16)
    batcher = overridden.batcher_config(model)
    assert (batcher.max_batch_size, batcher.max_queue_delay_s, batcher.max_queue_rows) == (8, 0.0, 16)


def test_inconsistent_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        ServerConfig(repository=tmp_path, workers=0)
    # a feature function alone is fine: each model brings its FeatureSpec in serving.json
    assert ServerConfig(repository=tmp_path, feature_function="m:f").feature_spec is None
