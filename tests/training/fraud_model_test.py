"""A declared model's `<model>_model`, `_model_evaluation` and `_drift_reference` end to end through Dagster, with a
real MLflow server.

The test declares its own model (a neutral FeatureSpec) and a stand-in `<model>_training_set` asset (synthetic
data) feeds the stages the factories build from that declaration, so the machinery is exercised without the Spark
data plane.
"""

import json

import dagster as dg
import pytest
import yaml
from mlflow.tracking import MlflowClient

from assets.closed_loop import LoopResource, loop_stages
from assets.mlflow_tracking import MlflowTracking
from assets.model_gate import ModelEvaluationConfig, evaluation_asset
from assets.model_training import ModelTrainingConfig, model_asset
from features.model_declaration import GateDeclaration, ModelDeclaration
from monitoring.reference_profile import ReferenceProfile
from training.config import CONFIG_DIR
from training.registry import CHALLENGER, CHAMPION, LINEAGE_TAGS, promotion_history
from training.synthetic import synthetic_spec, write_synthetic_training_set

SPEC = synthetic_spec()
DECLARED = ModelDeclaration(
    name="e2e",
    spec=SPEC,
    numeric_features=(),  # the stand-in training set carries the features; no data-plane definitions needed
    gate=GateDeclaration(increasing=("x0",), decreasing=("x1",)),
)
MODEL = DECLARED.registered_model
trained_model = model_asset(DECLARED)
model_evaluation = evaluation_asset(DECLARED)
drift_reference = loop_stages(DECLARED).drift_reference


@pytest.fixture(scope="module")
def world(tmp_path_factory, mlflow_service):
    root = tmp_path_factory.mktemp("e2e")
    data = write_synthetic_training_set(SPEC, root / "training_set.parquet", rows=8000)
    worse = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    worse["name"] = "tiny-worse"
    worse["optim"].update(learning_rate=1e-7, epochs=1)  # barely moves from random weights: a worse challenger
    (root / "worse.yaml").write_text(yaml.safe_dump(worse))

    @dg.asset(name="e2e_training_set")
    def stand_in_training_set() -> dg.MaterializeResult:
        """Synthetic training set for a neutral FeatureSpec."""
        return dg.MaterializeResult(metadata={"path": str(data)}, data_version=dg.DataVersion("synthetic-v1"))

    return {
        "root": root,
        "training_set": stand_in_training_set,
        "instance": dg.DagsterInstance.ephemeral(),
        "resources": {
            "mlflow_tracking": MlflowTracking(tracking_uri=mlflow_service.tracking_uri),
            "loop": LoopResource(reference_dir=str(root / "references"), snapshot_dir=str(root / "snapshots")),
        },
        "client": MlflowClient(tracking_uri=mlflow_service.tracking_uri),
    }


def _run_config(world, training_config: str) -> dg.RunConfig:
    return dg.RunConfig(
        {
            "e2e_model": ModelTrainingConfig(training_config=training_config),
            "e2e_model_evaluation": ModelEvaluationConfig(),
        }
    )


def _metadata(result, asset):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


REFERENCE_FILES = ("reference_profile.json", "drift_thresholds.json", "quality_reference.json")


def _assert_reference_saved_with(world, version: str) -> None:
    """The version's drift reference is on disk where the sensors read it and among its MLflow run's artifacts."""
    loop, client = world["resources"]["loop"], world["client"]
    profile = ReferenceProfile.from_json(loop.reference_path(DECLARED, version, "reference_profile.json").read_text())
    assert list(profile.numeric) == list(SPEC.numeric) and list(profile.categorical) == list(SPEC.categorical)
    assert profile.spec_hash == SPEC.definition_hash() and profile.score is not None and profile.rows > 0
    assert json.loads(loop.reference_path(DECLARED, version, "drift_thresholds.json").read_text())
    assert json.loads(loop.reference_path(DECLARED, version, "quality_reference.json").read_text())
    run_id = client.get_model_version(MODEL, version).run_id
    assert {f"monitoring/{n}" for n in REFERENCE_FILES} <= {a.path for a in client.list_artifacts(run_id, "monitoring")}


def test_first_model_trains_registers_with_lineage_and_becomes_champion(world):
    result = dg.materialize(
        [world["training_set"], trained_model, model_evaluation, drift_reference],
        instance=world["instance"],
        resources=world["resources"],
        run_config=_run_config(world, "tiny"),
    )
    assert result.success
    trained, gate = _metadata(result, "e2e_model"), _metadata(result, "e2e_model_evaluation")
    assert trained["model_version"] == "1" and trained["test_roc_auc"] > 0.75
    assert "data:image/png;base64," in trained["learning_curve"]
    assert gate["decision"] == "first_champion" and gate["champion_version"] == "1"
    assert "| pr_auc |" in gate["comparison"]

    client = world["client"]
    version = client.get_model_version(MODEL, "1")
    assert set(LINEAGE_TAGS) <= set(version.tags)
    assert version.tags["data_version"] == "synthetic-v1"
    assert version.tags["dagster_run_id"] == result.run_id
    assert version.tags["feature_definition_hash"] == SPEC.definition_hash()
    assert version.tags["gate_decision"] == "first_champion"
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.epochs"] == "2" and run.data.tags["dagster_run_id"] == result.run_id
    assert [m.step for m in client.get_metric_history(version.run_id, "val_pr_auc")] == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"learning_curve.png", "training_config.json", "training_result.json"} <= artifacts
    assert client.get_model_version_by_alias(MODEL, CHAMPION).version == "1"
    assert [e.action for e in promotion_history(client, MODEL)] == ["first"]
    assert _metadata(result, "e2e_drift_reference")["versions_profiled"] == "1"
    _assert_reference_saved_with(world, "1")


def test_a_worse_challenger_is_refused_and_the_champion_stays(world):
    result = dg.materialize(
        [trained_model, model_evaluation, drift_reference],
        instance=world["instance"],
        resources=world["resources"],
        run_config=_run_config(world, str(world["root"] / "worse.yaml")),
    )
    assert result.success
    gate = _metadata(result, "e2e_model_evaluation")
    assert gate["decision"] == "reject" and gate["challenger_version"] == "2"
    assert "does not beat the champion" in gate["reasons"]
    client = world["client"]
    assert client.get_model_version_by_alias(MODEL, CHAMPION).version == "1"
    assert client.get_model_version_by_alias(MODEL, CHALLENGER).version == "2"
    assert client.get_model_version(MODEL, "2").tags["gate_decision"] == "reject"
    assert len(promotion_history(client, MODEL)) == 1
    # A refused version still carries its own reference (a later rollback to it can be watched); the champion keeps
    # the one it had.
    assert _metadata(result, "e2e_drift_reference")["versions_profiled"] == "2"
    _assert_reference_saved_with(world, "2")
    _assert_reference_saved_with(world, "1")
    running = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], filter_string="attributes.status = 'RUNNING'"
    )
    assert running == []
