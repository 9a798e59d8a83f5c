"""The `<model>_model` asset: the declared model trained on the latest training set, registered with lineage.

Its key and everything it trains with come from the declaration (assets/model_catalog.py): `fraud_model` for the
worked example.
"""

import base64
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.mlflow_tracking import MlflowTracking
from assets.model_catalog import MODEL
from assets.stack_environment import STACK
from features.spec import FeatureSpec
from training.config import TrainingConfig, load_config
from training.launch import run_training
from training.registry import Lineage, log_training_run, register_version
from training.spec_files import resolve_spec
from training.training_data import TrainingDataError, read_training_set

TRAINING_SET = dg.AssetKey("training_set")
DEFAULT_MODEL_NAME = MODEL.registered_model
TRAINING_EXPERIMENT = f"{MODEL.registered_model}-training"
# Bad data fails at once (dg.Failure, no retry); an unreachable MLflow or a crashed process is retried.
TRAINED_MODEL_NAME = f"{MODEL.name}_model"
"""The trained model's asset key: the declaration's name and `_model`."""
TRAINING_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class ModelTrainingConfig(dg.Config):
    """Which training config, feature definition and registered model the model asset uses (defaults: declared)."""

    training_config: str = Field(
        default=MODEL.training_config or STACK.training_config,
        description="Training YAML path or built-in name (tiny, full, large)",
    )
    feature_spec: str | None = Field(
        default=None, description="Override of the declared FeatureSpec: module:ATTRIBUTE or a JSON file path"
    )
    registered_model_name: str = Field(default=DEFAULT_MODEL_NAME, description="MLflow registered model name")
    devices: int | None = Field(default=None, description="Override trainer.devices (processes/GPUs; >1 = DDP)")
    training_set_path: str | None = Field(
        default=None, description="Override: Parquet path; default is the latest training_set materialization's path"
    )


@dataclass(frozen=True)
class TrainingSetLocation:
    """Where the training set is and which version of it (for lineage tags)."""

    path: str
    data_version: str
    partition: str


def locate_training_set(instance: dg.DagsterInstance, override: str | None) -> TrainingSetLocation:
    """The training set's path (metadata 'path' of its latest materialization) with its data version and partition."""
    event = instance.get_latest_materialization_event(TRAINING_SET)
    materialization = event.asset_materialization if event else None
    if override:
        path = override
    elif materialization is None or "path" not in materialization.metadata:
        raise dg.Failure(
            description="training_set has no materialization with 'path' metadata: materialize training_set first "
            f"or set training_set_path in the {TRAINED_MODEL_NAME} config"
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


def training_inputs(config: ModelTrainingConfig) -> tuple[TrainingConfig, FeatureSpec]:
    training_config = load_config(config.training_config).with_trainer(enable_progress_bar=False)
    if config.devices:
        training_config = training_config.with_trainer(devices=config.devices)
    return training_config, resolve_spec(config.feature_spec) if config.feature_spec else MODEL.spec


def image_markdown(png: Path, title: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown metadata, so the Dagster UI shows the picture itself."""
    encoded = base64.b64encode(png.read_bytes()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


@dg.asset(
    name=TRAINED_MODEL_NAME,
    group_name="training",
    deps=[TRAINING_SET],
    retry_policy=TRAINING_RETRY_POLICY,
    code_version="1",
    kinds={"pytorch", "mlflow"},
)
def trained_model(
    context: dg.AssetExecutionContext, config: ModelTrainingConfig, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """The declared model trained on the latest training set, registered in MLflow as the new challenger version."""
    source = locate_training_set(context.instance, config.training_set_path)
    training_config, spec = training_inputs(config)
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
        tempfile.TemporaryDirectory(prefix=f"{MODEL.name}_model-") as workdir,
        mlflow_tracking.start_run(
            context, f"{MODEL.name} {training_config.name}", TRAINING_EXPERIMENT, lineage.tags()
        ) as tracker,
    ):
        result = run_training(training_config, spec, source.path, workdir, log=context.log.info)
        logged = log_training_run(result, training_config, spec)
        run_id = tracker.active_run().info.run_id
        version = register_version(client, config.registered_model_name, logged, run_id, lineage)
        curve = image_markdown(result.curve_path, "learning curve")
    context.log.info(f"registered {config.registered_model_name} version {version.version} (alias challenger)")
    return dg.MaterializeResult(
        metadata={
            "registered_model": config.registered_model_name,
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
        data_version=dg.DataVersion(f"{config.registered_model_name}-v{version.version}"),
    )
