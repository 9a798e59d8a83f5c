"""`<model>_serving_engine` assets: the champion as a checked, optimised engine in a Triton-layout repository.

`engine_asset(declaration)` builds one per declared model; the registered and served names are declared.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.deployment import engine_key
from assets.mlflow_tracking import MlflowTracking
from assets.model_gate import evaluation_key
from assets.model_training import locate_training_set
from assets.stack_environment import STACK
from features.model_contract import INPUT_CATEGORICAL, INPUT_NUMERIC, input_tensors
from features.model_declaration import ModelDeclaration
from serving import model_repository
from serving.engine_build import EngineBuildConfig, EngineReport, Holdout, build_engine
from serving.model_config import contract_config
from training.config import config_from_dict
from training.registry import (
    CHAMPION,
    CONFIG_ARTIFACT,
    alias_version,
    load_registered_model,
    load_run_dict,
    promotion_history,
)
from training.training_data import encode_frame, read_training_set, split_by_time

DEFAULT_BUILD_REPOSITORY = STACK.path("serving", "build")


class ServingEngineConfig(dg.Config):
    """Which champion to build, where the repository lives, and the budgets each engine variant must meet."""

    registered_model_name: str | None = Field(default=None, description="MLflow registered model name (declared)")
    served_model_name: str | None = Field(default=None, description="Model name in the repository (declared)")
    build_repository: str = Field(default=DEFAULT_BUILD_REPOSITORY, description="Repository the engines are built into")
    training_set_path: str | None = Field(default=None, description="Override of the training set location")
    holdout_rows: int = Field(default=20_000, description="Most recent test rows used for parity and quality")
    finetune_rows: int = Field(default=50_000, description="Most recent train rows used by the pruning fine-tune")
    max_batch_size: int = Field(default=256, description="config.pbtxt max_batch_size")
    max_queue_delay_microseconds: int = Field(default=0, description="config.pbtxt dynamic batching delay")
    max_queue_size: int = Field(default=4096, description="config.pbtxt default_queue_policy.max_queue_size (rows)")
    parity_budget: float = Field(default=1e-4, description="Max |torch - ONNX Runtime| score difference")
    int8_quality_budget: float = Field(default=0.005, description="Max holdout ROC AUC drop for INT8 (0 = never)")
    pruning_quality_budget: float = Field(default=0.005, description="Max holdout ROC AUC drop for pruning (0 = never)")
    pruning_fraction: float = Field(default=0.5, description="Share of hidden units pruned")
    finetune_steps: int = Field(default=100, description="Fine-tune steps after pruning")
    tensorrt_int8: bool = Field(default=False, description="INT8 calibration in the TensorRT engine (GPU only)")

    def build_config(self) -> EngineBuildConfig:
        return EngineBuildConfig(
            parity_budget=self.parity_budget,
            int8_quality_budget=self.int8_quality_budget,
            pruning_quality_budget=self.pruning_quality_budget,
            pruning_fraction=self.pruning_fraction,
            finetune_steps=self.finetune_steps,
            tensorrt_int8=self.tensorrt_int8,
        )


def as_holdout(frame, spec, rows: int) -> Holdout:
    """The last `rows` rows of a split as contract inputs with labels."""
    encoded = encode_frame(frame.tail(rows), spec)
    arrays = {INPUT_NUMERIC: encoded.numeric, INPUT_CATEGORICAL: encoded.categorical}
    # the contract's inputs only: a spec without categorical features has no `categorical` tensor
    return Holdout({tensor.name: arrays[tensor.name] for tensor in input_tensors(spec)}, encoded.labels)


def engine_metadata(report: EngineReport) -> dict:
    """Quality, parity error, latency and the variant decisions as Dagster metadata."""
    decisions = "\n".join(
        f"| {d['name']} | {'kept' if d['kept'] else 'rejected'} | {d['quality']:.4f} | {d['latency_us']:.1f} | "
        f"{d['reason']} |"
        for d in report.decisions
    )
    return {
        "model": report.model,
        "version": report.version,
        "variant": report.variant,
        "path": dg.MetadataValue.path(report.path),
        "parity_max_abs_error": float(report.parity["max_abs_error"]),
        "parity_budget": float(report.parity["budget"]),
        "holdout_roc_auc": report.quality,
        "fp32_holdout_roc_auc": report.fp32_quality,
        "latency_us": report.latency_us,
        "fp32_latency_us": report.fp32_latency_us,
        "torch_eager_latency_us": report.torch_latency_us,
        "variants": dg.MetadataValue.md(
            "| variant | decision | ROC AUC | latency (us) | reason |\n|---|---|---|---|---|\n" + decisions
        ),
        "tensorrt": dg.MetadataValue.json(report.tensorrt),
    }


def engine_asset(model: ModelDeclaration, route: dict | None = None) -> dg.AssetsDefinition:
    """`<model>_serving_engine`: the declared model's champion built into an engine after each promotion; `route` is
    a partitioned model's segment (features/model_declaration.py: segment_route), written to its serving.json."""

    @dg.asset(
        name=engine_key(model).path[-1],
        group_name=model.name,
        deps=[evaluation_key(model)],
        code_version="1",
        kinds={"onnx"},
        output_required=False,
    )
    def serving_engine(context: dg.AssetExecutionContext, config: ServingEngineConfig, mlflow_tracking: MlflowTracking):
        """The champion exported to ONNX (parity-checked), optimised, and written as a Triton-layout version.

        A model without a champion (its gate refused every version so far) builds nothing and its deployment is
        skipped: a segment's traffic then stays with its parent, and any other model is simply not served yet."""
        registered = config.registered_model_name or model.registered_model
        mlflow_tracking.check_reachable()
        if alias_version(mlflow_tracking.client(), registered, CHAMPION) is None:
            context.log.warning(
                f"{registered} has no '{CHAMPION}' yet (the gate refused every version): no engine is built and "
                + (f"'{route['parent']}' keeps serving this segment" if route else "the model is not served")
            )
            return
        yield build_champion_engine(context, model, config, mlflow_tracking, route)

    return serving_engine


def build_champion_engine(
    context: dg.AssetExecutionContext,
    model: ModelDeclaration,
    config: ServingEngineConfig,
    mlflow_tracking,
    route: dict | None = None,
) -> dg.MaterializeResult:
    """Builds (or reuses) the champion's engine in the build repository, with its provenance as metadata, and writes
    the model's serving.json (its FeatureSpec, and its segment for a partitioned model) beside it."""
    mlflow_tracking.check_reachable()
    registered = config.registered_model_name or model.registered_model
    served_name = config.served_model_name or model.served_name
    champion = load_registered_model(registered, CHAMPION, mlflow_tracking.tracking_uri)
    repository = Path(config.build_repository)
    version = int(champion.version)
    if version in model_repository.versions(repository, served_name):
        context.log.info(f"version {version} is already built in {repository}; reusing it")
        report = EngineReport(**model_repository.read_provenance(repository, served_name, version))
    else:
        training = config_from_dict(load_run_dict(champion.run_id, CONFIG_ARTIFACT, mlflow_tracking.tracking_uri))
        source = locate_training_set(context.instance, model, config.training_set_path)
        splits = split_by_time(read_training_set(source.path, champion.spec), champion.spec, training.split)
        model_config = contract_config(
            served_name,
            champion.spec,
            max_batch_size=config.max_batch_size,
            max_queue_delay_microseconds=config.max_queue_delay_microseconds,
            max_queue_size=config.max_queue_size,
        )
        report = build_engine(
            champion.net,
            model_config,
            as_holdout(splits.test, champion.spec, config.holdout_rows),
            repository,
            version,
            config.build_config(),
            finetune=as_holdout(splits.train, champion.spec, config.finetune_rows),
        )
    serving = {"feature_spec": champion.spec.to_dict(), **({"segment": route} if route else {})}
    model_repository.write_serving_metadata(repository, served_name, serving)
    context.log.info(f"engine {report.variant} v{version}: parity {report.parity['max_abs_error']:.2g}")
    metadata = engine_metadata(report)
    metadata["repository"] = dg.MetadataValue.path(str(repository.resolve()))
    metadata["registry_version"] = champion.version
    arrivals = [e for e in promotion_history(mlflow_tracking.client(), registered) if e.to_version == champion.version]
    limit = (arrivals[-1].evidence or {}).get("divergence_limit") if arrivals else None
    if limit is not None:  # the gate's calibrated limit on live score divergence, for the rollout
        metadata["divergence_limit"] = float(limit)
    metadata["segment"] = f"{route['column']} in {route['values']} of '{route['parent']}'" if route else "all traffic"
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(f"{served_name}-{version}"))
