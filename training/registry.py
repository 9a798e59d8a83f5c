"""MLflow model registry: log a training run, register a version with lineage, promote, roll back, load.

Conventions (serving relies on them): one registered model per use case (the asset config names it,
e.g. a model's declared name); alias `champion` = the version to serve, alias `challenger` = the latest registered
candidate. Each version carries lineage tags (LINEAGE_TAGS) and the run holds the model (pickled TabularNet),
`extra_files/feature_spec.json`, the learning curve and the training config. Promotion history is kept as
registered-model tags `promotion.NNNN` (JSON: when, from, to, action, reason), so it lives and is backed up
with the registry itself. Command line: `python -m training.registry --help`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec

from features.model_contract import example_inputs, input_tensors, output_tensors
from features.spec import FeatureSpec
from training.config import TrainingConfig
from training.spec_files import SPEC_FILE_NAME, read_spec

if TYPE_CHECKING:  # torch and Lightning stay out of the registry CLI's start-up
    from training.model import TabularNet
    from training.train import TrainingResult

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model"
CONFIG_ARTIFACT = "training_config.json"
RESULT_ARTIFACT = "training_result.json"
HISTORY_PREFIX = "promotion."
REJECTED_TAG = "rollout_rejected"
"""Version tag set when a version was rolled back live (the reason); the gate refuses a challenger carrying it."""
MAX_EVENT_CHARS = 5000
"""Longest promotion event stored as one tag (MLflow limits tag values)."""
LINEAGE_TAGS = ("data_version", "data_partition", "git_commit", "dagster_run_id", "feature_definition_hash")


class RegistryError(RuntimeError):
    """A registry operation cannot proceed; the message says which model/version and why."""


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from; every field becomes a model version tag of the same name."""

    data_version: str
    """Data version of the training set the model was fitted on."""
    data_partition: str
    """Partition key of the training set, or 'unpartitioned'."""
    git_commit: str
    """Commit of the code that trained it."""
    dagster_run_id: str
    """Dagster run that trained it (or 'cli' outside Dagster)."""
    feature_definition_hash: str
    """FeatureSpec.definition_hash() of the features it expects."""

    def tags(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PromotionEvent:
    """One change of the champion alias."""

    sequence: int
    at: str
    action: str
    """'first' (first champion), 'promote' (gate passed), 'rollback', 'manual'; rollout stages (alias unchanged):
    'canary' (the new champion moved to a larger stage) and 'rollout' (it serves all traffic)."""
    to_version: str
    from_version: str | None
    reason: str
    evidence: dict = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A registered TabularNet with the FeatureSpec it was trained on."""

    net: TabularNet
    spec: FeatureSpec
    name: str
    version: str
    run_id: str
    tags: dict[str, str]


def model_signature(spec: FeatureSpec) -> ModelSignature:
    """The model contract as an MLflow tensor signature."""
    return ModelSignature(
        inputs=Schema([TensorSpec(t.dtype, (-1, t.width), t.name) for t in input_tensors(spec)]),
        outputs=Schema([TensorSpec(t.dtype, (-1, t.width), t.name) for t in output_tensors()]),
    )


def log_training_run(result: TrainingResult, config: TrainingConfig, spec: FeatureSpec) -> ModelInfo:
    """Logs params, per-epoch metrics, final metrics, learning curve, config and the model to the ACTIVE run.

    Returns the logged model's ModelInfo (model_uri and model_id, to register). The model is pickled
    (serialization_format='pickle') so that loading gives back a TabularNet that export_onnx accepts.
    """
    mlflow.log_params({**config.flat_params(), "feature_definition_hash": spec.definition_hash()})
    mlflow.log_params({f"data.{k}": v for k, v in result.data.items()})
    mlflow.log_params(
        {"accelerator": result.accelerator, "precision": result.precision, "world_size": result.world_size}
    )
    for row in result.history:
        mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
    mlflow.log_metrics({f"final_val_{k}": v for k, v in result.validation.items()})
    mlflow.log_metrics({f"test_{k}": v for k, v in result.test.items()})
    mlflow.log_metrics({"best_epoch": result.best_epoch, "train_samples_per_second": result.train_samples_per_second})
    mlflow.log_artifact(str(result.curve_path))
    mlflow.log_dict(config.to_dict(), CONFIG_ARTIFACT)
    mlflow.log_dict(asdict(result), RESULT_ARTIFACT)
    info = mlflow.pytorch.log_model(
        result.load_model(),
        name=MODEL_ARTIFACT,
        signature=model_signature(spec),
        input_example=example_inputs(spec, 2),
        serialization_format="pickle",
        extra_files=[str(result.spec_path)],
        # Explicit requirements: MLflow's inference re-imports the model in a subprocess (~40 s on 2 cores).
        # Loading needs torch and an importable `training` package (serving and assets have it).
        pip_requirements=[f"torch=={metadata.version('torch').split('+')[0]}", f"numpy=={metadata.version('numpy')}"],
    )
    return info


def register_version(
    client: MlflowClient, name: str, model: ModelInfo, run_id: str, lineage: Lineage, extra_tags=None
) -> ModelVersion:
    """Registers the logged model as a new version tagged with its lineage and points `challenger` at it.

    Tags go in with the create call; if pointing the alias fails, the version is deleted again, so nothing
    is left half-registered.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Registered by training.registry; aliases: champion, challenger"
        )
    tags = {**lineage.tags(), **(extra_tags or {})}
    version = client.create_model_version(
        name, source=model.model_uri, run_id=run_id, tags=tags, model_id=model.model_id
    )
    try:
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    except Exception:
        client.delete_model_version(name, version.version)
        raise
    return client.get_model_version(name, version.version)


def alias_version(client: MlflowClient, name: str, alias: str):
    """The model version an alias points at, or None when the alias (or the model) does not exist."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error.error_code) or "not found" in str(error).lower():
            return None
        raise


def promotion_history(client: MlflowClient, name: str) -> list[PromotionEvent]:
    """Every champion change of the model, oldest first."""
    tags = client.get_registered_model(name).tags
    events = [PromotionEvent(**json.loads(v)) for k, v in tags.items() if k.startswith(HISTORY_PREFIX)]
    return sorted(events, key=lambda e: e.sequence)


def record_event(
    client: MlflowClient,
    name: str,
    action: str,
    to_version: str,
    from_version: str | None,
    reason: str,
    evidence: dict | None = None,
) -> PromotionEvent:
    """Appends one event to the model's promotion history (the alias is not touched); rollout stages use it."""
    history = promotion_history(client, name)
    event = PromotionEvent(
        sequence=(history[-1].sequence + 1) if history else 1,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        action=action,
        to_version=str(to_version),
        from_version=from_version,
        reason=reason,
        evidence=evidence or {},
    )
    text = json.dumps(asdict(event))
    if len(text) > MAX_EVENT_CHARS:  # a registry tag value has a size limit: keep the event, shorten its evidence
        event = dataclasses.replace(event, reason=reason[:2000], evidence={"omitted": f"{len(text)} characters"})
        text = json.dumps(asdict(event))
    client.set_registered_model_tag(name, f"{HISTORY_PREFIX}{event.sequence:04d}", text)
    return event


def set_champion(
    client: MlflowClient, name: str, version: str, action: str, reason: str, evidence: dict | None = None
) -> PromotionEvent:
    """Moves the champion alias to `version` and appends the change to the promotion history."""
    version = str(version)
    client.get_model_version(name, version)  # fails clearly for an unknown version
    current = alias_version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    event = record_event(client, name, action, version, current.version if current else None, reason, evidence)
    client.set_model_version_tag(name, version, "champion_since", event.at)
    client.set_model_version_tag(name, version, "champion_reason", reason[:4000])
    return event


def rollback(client: MlflowClient, name: str, reason: str = "manual rollback") -> PromotionEvent:
    """Makes the champion before the current one champion again (repeatable: each call steps one further back)."""
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model '{name}' has no '{CHAMPION}' alias: there is nothing to roll back")
    promotions = [e for e in promotion_history(client, name) if e.action not in ("rollback", "canary", "rollout")]
    arrivals = [e for e in promotions if e.to_version == current.version]
    previous = arrivals[-1].from_version if arrivals else None
    if previous is None:
        raise RegistryError(
            f"model '{name}': version {current.version} is the first recorded champion; there is no earlier one"
        )
    event = set_champion(client, name, previous, "rollback", f"{reason} (was version {current.version})")
    client.set_model_version_tag(name, current.version, "rolled_back_at", event.at)
    return event


def load_registered_model(name: str, alias_or_version: str = CHAMPION, tracking_uri: str | None = None) -> LoadedModel:
    """Downloads a registered version (by alias such as 'champion', or by number) as a TabularNet plus its spec.

    Serving: `load_registered_model(name).net`, then `serving.onnx_export.export_onnx` with `contract_config`.
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    if str(alias_or_version).isdigit():
        version = client.get_model_version(name, str(alias_or_version))
    else:
        version = alias_version(client, name, alias_or_version)
        if version is None:
            raise RegistryError(f"model '{name}' has no alias '{alias_or_version}'")
    with tempfile.TemporaryDirectory() as scratch:
        # The version's own artifact URI, not models:/ (which resolves against the default registry, not ours).
        source = client.get_model_version_download_uri(name, version.version)
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=scratch, tracking_uri=tracking_uri)
        net = mlflow.pytorch.load_model(local, map_location="cpu").eval()
        spec = read_spec(Path(local) / "extra_files" / SPEC_FILE_NAME)
    return LoadedModel(net=net, spec=spec, name=name, version=version.version, run_id=version.run_id, tags=version.tags)


def load_run_dict(run_id: str, artifact: str, tracking_uri: str | None = None) -> dict:
    """A JSON artifact of a run, e.g. CONFIG_ARTIFACT (the training config it was trained with)."""
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=scratch, tracking_uri=tracking_uri
        )
        return json.loads(Path(local).read_text())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.registry",
        description="Inspect and change which registered model version is the champion (MLflow alias "
        f"'{CHAMPION}'). The tracking server comes from --tracking-uri or MLFLOW_TRACKING_URI.",
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    commands = parser.add_subparsers(dest="command", required=True)
    back = commands.add_parser("rollback", help="make the previous champion the champion again")
    back.add_argument("--model", required=True, help="registered model name")
    back.add_argument("--reason", default="manual rollback", help="recorded in the promotion history")
    show = commands.add_parser("history", help="print the promotion history, oldest first")
    show.add_argument("--model", required=True, help="registered model name")
    champion = commands.add_parser("champion", help="print the current champion version and its lineage tags")
    champion.add_argument("--model", required=True, help="registered model name")
    promote = commands.add_parser("promote", help="make a version champion by hand (bypasses the gate)")
    promote.add_argument("--model", required=True, help="registered model name")
    promote.add_argument("--version", required=True, help="model version number")
    promote.add_argument("--reason", required=True, help="why; recorded in the promotion history")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    client = MlflowClient(tracking_uri=args.tracking_uri)
    try:
        if args.command == "rollback":
            event = rollback(client, args.model, args.reason)
            print(f"{args.model}: champion is version {event.to_version} again (was {event.from_version})")
        elif args.command == "history":
            for e in promotion_history(client, args.model):
                print(
                    f"{e.sequence:4d} {e.at} {e.action:8s} {e.from_version or '-':>4} -> {e.to_version:<4} {e.reason}"
                )
        elif args.command == "champion":
            version = alias_version(client, args.model, CHAMPION)
            if version is None:
                print(f"{args.model}: no champion", file=sys.stderr)
                return 1
            print(json.dumps({"version": version.version, "run_id": version.run_id, "tags": version.tags}, indent=2))
        elif args.command == "promote":
            event = set_champion(client, args.model, args.version, "manual", args.reason)
            print(f"{args.model}: champion is version {event.to_version} (was {event.from_version})")
    except (RegistryError, MlflowException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
