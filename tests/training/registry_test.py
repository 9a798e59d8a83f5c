"""Registry against a real MLflow server: lineage, promotion history, one-command rollback, loading for serving,
nothing half-registered, and MLflow runs that always end (FINISHED/FAILED) even when MLflow or the body fails."""

import subprocess
import sys

import dagster as dg
import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from assets.mlflow_tracking import MlflowTracking, MlflowUnavailableError
from assets.model_training import TRAINING_RETRY_POLICY, ModelTrainingConfig, model_asset
from features.model_declaration import ModelDeclaration
from serving.model_config import contract_config
from serving.onnx_export import check_parity, export_onnx
from training.config import load_config
from training.learning_curve import plot_learning_curve
from training.model import build_model, save_model
from training.registry import (
    CHALLENGER,
    CHAMPION,
    Lineage,
    RegistryError,
    load_registered_model,
    log_training_run,
    promotion_history,
    register_version,
    rollback,
    set_champion,
)
from training.spec_files import write_spec
from training.synthetic import synthetic_spec, write_synthetic_training_set
from training.train import TrainingResult

SPEC = synthetic_spec()
CONFIG = load_config("tiny")

DECLARED = ModelDeclaration(name="declared", spec=SPEC, numeric_features=())
trained_model = model_asset(DECLARED)


def _result(directory, seed) -> TrainingResult:
    """A TrainingResult with real files for an untrained TabularNet (the registry does not care how it was trained)."""
    directory.mkdir(parents=True)
    torch.manual_seed(seed)
    save_model(build_model(SPEC, CONFIG.model), directory / "model.pt")
    write_spec(SPEC, directory / "feature_spec.json")
    history = [{"epoch": 0, "train_loss": 1.0, "val_loss": 0.9, "val_pr_auc": 0.3}]
    plot_learning_curve(history, directory / "learning_curve.png")
    metrics = {"pr_auc": 0.3, "roc_auc": 0.8}
    return TrainingResult(
        str(directory), "tiny", SPEC.definition_hash(), history, metrics, metrics, {"rows_train": 10}, 0, "cpu",
        "32-true", 1, 1.0, 10.0, CONFIG.to_dict(),
    )  # fmt: skip


def _register(client, name, tmp_path, seed):
    with mlflow.start_run() as run:
        logged = log_training_run(_result(tmp_path / f"r{seed}", seed), CONFIG, SPEC)
    lineage = Lineage(f"data-{seed}", "unpartitioned", "abc123", f"dagster-{seed}", SPEC.definition_hash())
    return register_version(client, name, logged, run.info.run_id, lineage)


@pytest.fixture
def client(mlflow_service):
    mlflow.set_tracking_uri(mlflow_service.tracking_uri)
    mlflow.set_experiment("registry-test")
    return MlflowClient(tracking_uri=mlflow_service.tracking_uri)


def _cli(mlflow_service, *args):
    return subprocess.run(
        [sys.executable, "-m", "training.registry", "--tracking-uri", mlflow_service.tracking_uri, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_promotions_are_recorded_and_rollback_is_one_command(client, mlflow_service, tmp_path):
    name = "rollback-model"
    versions = [_register(client, name, tmp_path, seed).version for seed in (1, 2, 3)]
    assert versions == ["1", "2", "3"]
    assert client.get_model_version_by_alias(name, CHALLENGER).version == "3"
    assert client.get_model_version(name, "2").tags["data_version"] == "data-2"
    set_champion(client, name, "1", "first", "first model")
    set_champion(client, name, "2", "promote", "beat v1")
    set_champion(client, name, "3", "promote", "beat v2")

    completed = _cli(mlflow_service, "rollback", "--model", name, "--reason", "v3 misbehaves in production")
    assert completed.returncode == 0, completed.stderr
    assert "champion is version 2 again (was 3)" in completed.stdout
    assert client.get_model_version_by_alias(name, CHAMPION).version == "2"
    assert "rolled_back_at" in client.get_model_version(name, "3").tags

    rollback(client, name)  # a second rollback steps one further back
    assert client.get_model_version_by_alias(name, CHAMPION).version == "1"
    with pytest.raises(RegistryError, match="first recorded champion"):
        rollback(client, name)

    events = promotion_history(client, name)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("first", None, "1"),
        ("promote", "1", "2"),
        ("promote", "2", "3"),
        ("rollback", "3", "2"),
        ("rollback", "2", "1"),
    ]
    assert "v3 misbehaves in production" in events[3].reason
    shown = _cli(mlflow_service, "history", "--model", name)
    assert shown.returncode == 0 and len(shown.stdout.strip().splitlines()) == 5


def test_cli_help_is_readable_and_errors_are_clear(mlflow_service):
    helped = subprocess.run([sys.executable, "-m", "training.registry", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "rollback" in helped.stdout and "champion" in helped.stdout
    missing = _cli(mlflow_service, "rollback", "--model", "no-such-model")
    assert missing.returncode == 2 and "error:" in missing.stderr


def test_champion_loads_back_as_a_network_that_exports_to_onnx(client, tmp_path):
    name = "serving-model"
    version = _register(client, name, tmp_path, 7)
    set_champion(client, name, version.version, "first", "test")
    loaded = load_registered_model(name)  # alias champion by default
    assert loaded.version == version.version and loaded.spec == SPEC
    assert loaded.tags["feature_definition_hash"] == SPEC.definition_hash()
    path = export_onnx(loaded.net, contract_config(name, loaded.spec), tmp_path / "model.onnx")
    assert check_parity(loaded.net, loaded.spec, path) < 1e-5


def test_a_version_whose_alias_cannot_be_set_is_deleted_again(client, tmp_path, monkeypatch):
    name = "half-registered-model"
    _register(client, name, tmp_path, 1)

    def broken_alias(*args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(client, "set_registered_model_alias", broken_alias)
    with pytest.raises(RuntimeError, match="went away"):
        _register(client, name, tmp_path, 2)
    assert [v.version for v in client.search_model_versions(f"name='{name}'")] == ["1"]


def test_tracking_resource_always_ends_its_runs(mlflow_service):
    runs = {}

    @dg.asset
    def tracked(mlflow_tracking: MlflowTracking) -> None:
        """Logs to one run that succeeds and one whose body raises."""
        with mlflow_tracking.start_run(dg.AssetExecutionContext.get(), "ok") as tracker:
            runs["ok"] = tracker.active_run().info.run_id
            tracker.log_params({f"p{i}": i for i in range(150)})  # dagster-mlflow chunks > 100 params
        with (
            pytest.raises(ValueError, match="boom"),
            mlflow_tracking.start_run(dg.AssetExecutionContext.get(), "x") as t,
        ):
            runs["broken"] = t.active_run().info.run_id
            raise ValueError("boom")

    tracking = MlflowTracking(tracking_uri=mlflow_service.tracking_uri, experiment_name="resource-test")
    result = dg.materialize([tracked], resources={"mlflow_tracking": tracking})
    assert result.success
    client = MlflowClient(tracking_uri=mlflow_service.tracking_uri)
    assert client.get_run(runs["ok"]).info.status == "FINISHED"
    assert len(client.get_run(runs["ok"]).data.params) == 150
    assert client.get_run(runs["ok"]).data.tags["dagster_run_id"] == result.run_id
    assert client.get_run(runs["broken"]).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_unreachable_mlflow_fails_clearly_and_is_retried_by_policy(tmp_path):
    from tools.services.process import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    data = write_synthetic_training_set(SPEC, tmp_path / "train.parquet", rows=600)
    with pytest.raises(MlflowUnavailableError, match=f"{dead} is unreachable"):
        MlflowTracking(tracking_uri=dead).check_reachable()
    result = dg.materialize(
        [trained_model],
        resources={"mlflow_tracking": MlflowTracking(tracking_uri=dead)},
        run_config=dg.RunConfig(
            {
                "declared_model": ModelTrainingConfig(
                    training_config="tiny",
                    training_set_path=str(data),
                )
            }
        ),
        raise_on_error=False,
    )
    assert not result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == TRAINING_RETRY_POLICY.max_retries
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{dead} is unreachable" in str(failure.event_specific_data.error)


def test_bad_training_data_fails_at_once_without_retry(tmp_path, mlflow_service):
    bad = write_synthetic_training_set(SPEC, tmp_path / "train.parquet", rows=600)
    import pandas as pd

    pd.read_parquet(bad).assign(is_positive=0).to_parquet(bad)
    result = dg.materialize(
        [trained_model],
        resources={"mlflow_tracking": MlflowTracking(tracking_uri=mlflow_service.tracking_uri)},
        run_config=dg.RunConfig(
            {
                "declared_model": ModelTrainingConfig(
                    training_config="tiny",
                    training_set_path=str(bad),
                )
            }
        ),
        raise_on_error=False,
    )
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "single class" in str(failure.event_specific_data)
