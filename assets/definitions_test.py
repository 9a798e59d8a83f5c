"""The code location loads, and holds exactly the assets, checks, sensors and schedules we expect.

A renamed or dropped asset fails here: update EXPECTED_* on purpose, never by accident.
"""

import dataclasses

import dagster as dg

from assets.build_info import build_info
from assets.definitions import build_definitions, defs
from assets.model_catalog import shared_features
from domain.models import MODELS
from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from features.model_declaration import DriftDeclaration, GateDeclaration, check_declarations

EXAMPLE = MODELS[0]
EXAMPLE_MODELS = tuple(model.name for model in MODELS)
"""domain/models.py: the worked example's models (a parent, its three segments and a second task)."""
EXPECTED_ASSETS = {
    "build_info",
    "raw_transactions",
    "streamed_transactions",
    "validated_transactions",
    "chargeback_labels",
    "transaction_features",
    "online_features",
    *(
        f"{model}_{stage}"
        for model in EXAMPLE_MODELS
        for stage in (
            "training_set",
            "model",
            "model_evaluation",
            "serving_engine",
            "deployment",
            "drift_reference",
            "labeled_predictions",
        )
    ),
}
EXPECTED_CHECKS: set[str] = {"transaction_rules_within_threshold"}
EXPECTED_SENSORS = {
    "history_days_sensor",
    "drift_sensor",
    *(f"{m}_performance_sensor" for m in EXAMPLE_MODELS),
    "label_feedback_sensor",
    "rollout_sensor",
    "redeploy_automation_sensor",
}
EXPECTED_SCHEDULES = {f"{m}_retraining_fallback_schedule" for m in EXAMPLE_MODELS}


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


LIGHT = "light"


def test_a_model_added_by_declaration_alone_gets_every_stage_in_its_own_group():
    light = dataclasses.replace(
        EXAMPLE,
        name=LIGHT,
        registered_model="",
        served_name="",
        spec=dataclasses.replace(EXAMPLE.spec, numeric=EXAMPLE.spec.numeric[:9], categorical={}),
        numeric_features=EXAMPLE.numeric_features[:9],
        categorical_features=(),
        gate=GateDeclaration(primary_metric="roc_auc", increasing=(EXAMPLE.spec.numeric[0],)),
        drift=DriftDeclaration(),
    )
    models = list(check_declarations([EXAMPLE, light], TRANSACTION_ARROW_SCHEMA.names, LABEL_ARROW_SCHEMA.names))
    loaded = build_definitions(models)
    dg.Definitions.validate_loadable(loaded)
    graph = loaded.resolve_asset_graph()
    stages = ("training_set", "model", "model_evaluation", "serving_engine", "deployment", "drift_reference")
    for model in models:
        for stage in (*stages, "labeled_predictions"):
            key = dg.AssetKey(f"{model.name}_{stage}")
            assert graph.get(key).group_name == model.name, f"{key.to_user_string()} is not in group {model.name}"
    assert graph.get(dg.AssetKey(f"{LIGHT}_model")).parent_keys == {dg.AssetKey(f"{LIGHT}_training_set")}
    assert f"{LIGHT}_performance_sensor" in {s.name for s in loaded.sensors}
    repository = loaded.get_repository_def()
    (drift_target,) = repository.get_sensor_def("drift_sensor").targets
    drift_assets = {
        k.to_user_string() for k in repository.get_job(drift_target.job_name).asset_layer.executable_asset_keys
    }
    assert {f"{EXAMPLE.name}_model", f"{LIGHT}_model", f"{LIGHT}_drift_reference"} <= drift_assets, (
        "one drift sensor, all models"
    )
    (target,) = repository.get_sensor_def("label_feedback_sensor").targets
    job = repository.get_job(target.job_name)
    targets = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {f"{EXAMPLE.name}_labeled_predictions", f"{LIGHT}_labeled_predictions"} <= targets
    assert shared_features().spec.numeric == EXAMPLE.spec.numeric, "the example's one model defines the feature table"
