"""The code location loads, and holds exactly the assets, checks, sensors and schedules we expect.

A renamed or dropped asset fails here: update EXPECTED_* on purpose, never by accident.
"""

import dagster as dg

from assets.build_info import build_info
from assets.definitions import defs

EXPECTED_ASSETS = {
    "build_info",
    "raw_transactions",
    "streamed_transactions",
    "validated_transactions",
    "chargeback_labels",
    "transaction_features",
    "training_set",
    "online_features",
    "fraud_model",
    "model_evaluation",
    "serving_engine",
    "deployment",
    "drift_reference",
    "labeled_predictions",
}
EXPECTED_CHECKS: set[str] = {"transaction_rules_within_threshold"}
EXPECTED_SENSORS = {
    "history_days_sensor",
    "drift_sensor",
    "performance_sensor",
    "label_feedback_sensor",
    "redeploy_automation_sensor",
}
EXPECTED_SCHEDULES = {"retraining_fallback_schedule"}


def _loaded() -> dg.Definitions:
    return defs()


def test_definitions_load_and_validate():
    loaded = _loaded()
    dg.Definitions.validate_loadable(loaded)


def test_asset_graph_matches_expectation():
    graph = _loaded().resolve_asset_graph()
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    checks = {key.name for key in graph.asset_check_keys}
    assert assets == EXPECTED_ASSETS
    assert checks == EXPECTED_CHECKS


def test_sensors_and_schedules_match_expectation():
    loaded = _loaded()
    assert {s.name for s in loaded.sensors or []} == EXPECTED_SENSORS
    assert {s.name for s in loaded.schedules or []} == EXPECTED_SCHEDULES


def test_every_asset_has_a_docstring_description():
    graph = _loaded().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, f"asset {key.to_user_string()} has no description"


def test_build_info_materializes_with_lineage_metadata():
    result = dg.materialize([build_info])
    assert result.success
    materialization = result.asset_materializations_for_node("build_info")[0]
    assert set(materialization.metadata) >= {"git_commit", "lock_hash", "python", "packages"}
