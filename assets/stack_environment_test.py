"""The FLYWHEEL_* variables point the code location at a stack; bad values are named."""

import pytest

from assets.stack_environment import StackEnvironment


def test_defaults_are_the_embedded_stack_and_variables_override_them():
    assert StackEnvironment.from_environ({}) == StackEnvironment()
    env = StackEnvironment.from_environ(
        {
            "FLYWHEEL_STATE_DIR": "/s",
            "FLYWHEEL_KAFKA_BOOTSTRAP_SERVERS": "k:1",
            "FLYWHEEL_SENSOR_INTERVAL_S": "10",
            "FLYWHEEL_HISTORY_START": "2024-06-01",
        }
    )
    assert (env.state_dir, env.kafka_bootstrap_servers, env.sensor_interval_seconds) == ("/s", "k:1", 10)
    assert env.history_start == "2024-06-01"
    assert env.path("lake") == "/s/lake"
    assert StackEnvironment.from_environ(env.as_environ()) == env, "as_environ round-trips"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FLYWHEEL_SENSOR_INTERVAL_S", "soon", "whole number of seconds"),
        ("FLYWHEEL_RETRAIN_SETTLE_S", "1.5", "FLYWHEEL_RETRAIN_SETTLE_S must be a whole number of seconds"),
        ("FLYWHEEL_EXECUTOR", "gpu", "must be one of"),
        ("FLYWHEEL_HISTORY_START", "1/1/2025", "must be a date"),
    ],
)
def test_bad_values_are_named(name, value, message):
    with pytest.raises(ValueError, match=message):
        StackEnvironment.from_environ({name: value})
