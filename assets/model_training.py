"""`<model>_model` assets: a declared model trained on its latest training set, registered in MLflow with lineage.

`model_asset(declaration)` builds one per declared model (assets/model_stages.py); its key, registered name,
spec and training config come from the declaration.
"""

import base64
import dataclasses
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.mlflow_tracking import MlflowTracking
from assets.stack_environment import STACK
from features.model_declaration import ModelDeclaration
from features.spec import FeatureSpec
from training.config import TrainingConfig, load_config
from training.launch import run_training
from training.registry import Lineage, log_training_run, register_version
from training.spec_files import resolve_spec
from training.training_data import TrainingDataError, read_training_set

# Bad data fails at once (dg.Failure, no retry); an unreachable MLflow or a crashed process is retried.
TRAINING_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


def training_set_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_training_set")


def model_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_model")


class ModelTrainingConfig(dg.Config):
    """Overrides of what the declaration says (None: the declared value); for one-off runs and tests."""

    training_config: str | None = Field(
        default=None,
        description="Training YAML path or built-in name (tiny, full, large); default: declared, else "
        "FLYWHEEL_TRAINING_CONFIG",
    )
    feature_spec: str | None = Field(
        default=None, description="Override of the declared FeatureSpec: module:ATTRIBUTE or a JSON file path"
    )
    registered_model_name: str | None = Field(default=None, description="MLflow registered model name")
    devices: int | None = Field(default=None, description="Override trainer.devices (processes/GPUs; >1 = DDP)")
    training_set_path: str | None = Field(
        default=None, description="Override: Parquet path; default is the latest training set materialization's path"
    )


@dataclass(frozen=True)
class TrainingSetLocation:
    """Where the training set is and which version of it (for lineage tags)."""

    path: str
    data_version: str
    partition: str


def locate_training_set(
    instance: dg.DagsterInstance, model: ModelDeclaration, override: str | None
) -> TrainingSetLocation:
    """The model's training set path (metadata 'path' of its latest materialization), data version and partition."""
    key = training_set_key(model)
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    if override:
        path = override
    elif materialization is None or "path" not in materialization.metadata:
        name = key.to_user_string()
        raise dg.Failure(
            description=f"{name} has no materialization with 'path' metadata: materialize {name} first "
            f"or set training_set_path in the {model_key(model).to_user_string()} config"
        )
    else:
        path = str(materialization.metadata["path"].value)
    data_version = (materialization.tags or {}).get("dagster/data_version") if materialization else None
    return TrainingSetLocation(
        path=path,
        data_version=data_version or (f"run:{event.run_id}" if event else f"file:{path}"),
        partition=(materialization.partition if materialization and materialization.partition else "unpartitioned"),
    )


def code_commit() -> str:
    """The commit of the training code: $FLYWHEEL_GIT_COMMIT (set in images), else `git rev-parse`, else 'unknown'."""
    if os.environ.get("FLYWHEEL_GIT_COMMIT"):
        return os.environ["FLYWHEEL_GIT_COMMIT"]
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def spec_of(model: ModelDeclaration, override: str | None) -> FeatureSpec:
    """The declared spec, or the override (module:ATTRIBUTE or a JSON file)."""
    return resolve_spec(override) if override else model.spec


def training_inputs(model: ModelDeclaration, config: ModelTrainingConfig) -> tuple[TrainingConfig, FeatureSpec]:
    name = config.training_config or model.training_config or STACK.training_config
    training_config = load_config(name).with_trainer(enable_progress_bar=False)
    if config.devices:
        training_config = training_config.with_trainer(devices=config.devices)
    # The gate's direction expectations are trained for, not only checked (a model retrained on drifted labels
    # otherwise may bend a risk signal the wrong way on some rows and be refused, keeping a stale champion).
    monotone = {name: 1 for name in model.gate.increasing} | {name: -1 for name in model.gate.decreasing}
    training_config = dataclasses.replace(training_config, monotone={**monotone, **training_config.monotone})
    return training_config, spec_of(model, config.feature_spec)


def image_markdown(png: Path, title: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown metadata, so the Dagster UI shows the picture itself."""
    encoded = base64.b64encode(png.read_bytes()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def model_asset(model: ModelDeclaration) -> dg.AssetsDefinition:
    """`<model>_model`: trains the declared model on its latest training set and registers the new challenger."""

    @dg.asset(
        name=model_key(model).path[-1],
        group_name=model.name,
        deps=[training_set_key(model)],
        retry_policy=TRAINING_RETRY_POLICY,
        code_version="1",
        kinds={"pytorch", "mlflow"},
    )
    def trained_model(
        context: dg.AssetExecutionContext, config: ModelTrainingConfig, mlflow_tracking: MlflowTracking
    ) -> dg.MaterializeResult:
        """The model trained on its latest training set, registered in MLflow as the new challenger version."""
        return train_and_register(context, model, config, mlflow_tracking)

    return trained_model


def train_and_register(
    context: dg.AssetExecutionContext, model: ModelDeclaration, config: ModelTrainingConfig, mlflow_tracking
) -> dg.MaterializeResult:
    """Checks the training set, trains (one process or DDP), logs the run and registers the challenger version."""
    registered = config.registered_model_name or model.registered_model
    source = locate_training_set(context.instance, model, config.training_set_path)
    training_config, spec = training_inputs(model, config)
    try:
        read_training_set(source.path, spec)  # bad input fails here, before MLflow or training
    except TrainingDataError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    lineage = Lineage(
        data_version=source.data_version,
        data_partition=source.partition,
        git_commit=code_commit(),
        dagster_run_id=context.run.run_id,
        feature_definition_hash=spec.definition_hash(),
    )
    client = mlflow_tracking.client()
    with (
        tempfile.TemporaryDirectory(prefix=f"{model.name}_model-") as workdir,
        mlflow_tracking.start_run(
            context, f"{model.name} {training_config.name}", f"{registered}-training", lineage.tags()
        ) as tracker,
    ):
        result = run_training(training_config, spec, source.path, workdir, log=context.log.info)
        logged = log_training_run(result, training_config, spec)
        run_id = tracker.active_run().info.run_id
        version = register_version(client, registered, logged, run_id, lineage)
        curve = image_markdown(result.curve_path, "learning curve")
    context.log.info(f"registered {registered} version {version.version} (alias challenger)")
    return dg.MaterializeResult(
        metadata={
            "registered_model": registered,
            "model_version": version.version,
            "mlflow_run": dg.MetadataValue.url(
                f"{mlflow_tracking.tracking_uri}/#/experiments/{tracker.experiment.experiment_id}/runs/{run_id}"
            ),
            "learning_curve": curve,
            **{f"test_{k}": dg.MetadataValue.float(v) for k, v in result.test.items()},
            "best_epoch": result.best_epoch,
            "world_size": result.world_size,
            "precision": result.precision,
            "train_samples_per_second": dg.MetadataValue.float(result.train_samples_per_second),
            **lineage.tags(),
        },
        data_version=dg.DataVersion(f"{registered}-v{version.version}"),
    )
