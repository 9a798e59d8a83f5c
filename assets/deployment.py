"""`<model>_deployment` assets: the blessed engine published to the served repository and its rollout started.

A new champion first shadows the serving version, then takes the declared canary stages; the `rollout_sensor`
(assets/rollout.py) moves it on from live evidence. A first deployment, an older version (a rollback) or a model
declared with `RolloutDeclaration(stages=(100,))` switches at once. The asset is materialized once the server has
loaded the version. `deployment_asset(declaration)` builds one per declared model (no torch or training imports).
"""

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.stack_environment import STACK
from features.model_declaration import ModelDeclaration
from serving import model_repository
from serving.deployment_plan import read_deployment, served_deployment
from serving.rollout_controller import RolloutStep, RolloutTarget, start_rollout, write

DEFAULT_SERVED_REPOSITORY = STACK.path("serving", "models")


def engine_key(model: ModelDeclaration) -> dg.AssetKey:
    """The model's engine build asset (assets/serving_engine.py), named by key so this module imports no torch."""
    return dg.AssetKey(f"{model.name}_serving_engine")


def deployment_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_deployment")


class DeploymentConfig(dg.Config):
    """Where the server reads its models, where it answers, and how long to wait for it to switch."""

    served_repository: str = Field(default=DEFAULT_SERVED_REPOSITORY, description="Repository the server watches")
    server_url: str = Field(default=STACK.server_url, description="Base URL of the inference server")
    ready_timeout_seconds: float = Field(default=120.0, description="How long to wait for the new version")
    consecutive_ready: int = Field(
        default=8, description="Ready answers in a row on fresh connections (each may reach another worker)"
    )


@dataclass(frozen=True)
class LiveModel:
    """What the server reports after the switch."""

    name: str
    version: int
    waited_seconds: float


def _get(url: str, timeout: float = 2.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def wait_until_live(server_url: str, name: str, version: int, timeout_s: float, consecutive: int) -> LiveModel:
    """Polls /v2/models/{name}/versions/{version}/ready until `consecutive` answers in a row say ready."""
    started = time.monotonic()
    streak = 0
    while time.monotonic() - started < timeout_s:
        status, _ = _get(f"{server_url}/v2/models/{name}/versions/{version}/ready")
        streak = streak + 1 if status == 200 else 0
        if streak >= consecutive:
            return LiveModel(name, version, time.monotonic() - started)
        time.sleep(0.1 if status == 200 else 0.5)
    _, metadata = _get(f"{server_url}/v2/models/{name}")
    live = metadata.get("versions", ["none (server unreachable or model not loaded)"])
    raise TimeoutError(
        f"{server_url} did not report version {version} of model '{name}' ready within {timeout_s:.0f} s; it serves "
        f"{live}. A refused version is logged by the server with the reason (look for 'refused')."
    )


def deploy(
    model: ModelDeclaration,
    build_repository: Path,
    served_repository: Path,
    version: int,
    config: DeploymentConfig,
    divergence_limit: float | None = None,
) -> tuple[LiveModel, RolloutStep]:
    """Publishes the version atomically (renamed into place), starts its rollout (or switches at once), and waits
    until the server has loaded it. A version the server refuses leaves the deployment as it was before."""
    name = model.served_name
    target = RolloutTarget(served_repository, build_repository, config.server_url)
    before = served_deployment(served_repository, name)
    if before is not None and read_deployment(served_repository, name) is None:
        # a repository without a deployment file serves its newest folder: freeze what serves before one appears
        write(target, name, before)
    model_repository.publish_version(build_repository, served_repository, name, version)
    step = start_rollout(model, target, version, divergence_limit, time.time())
    try:
        live = wait_until_live(config.server_url, name, version, config.ready_timeout_seconds, config.consecutive_ready)
    except TimeoutError:
        if step.changed and before is not None:
            write(target, name, before.next())
        raise
    return live, step


def deployment_asset(model: ModelDeclaration) -> dg.AssetsDefinition:
    """`<model>_deployment`: the model's newest engine pinned in the served repository, once the server serves it."""

    @dg.asset(name=deployment_key(model).path[-1], group_name=model.name, deps=[engine_key(model)], code_version="1")
    def deployment(context: dg.AssetExecutionContext, config: DeploymentConfig) -> dg.MaterializeResult:
        """The blessed engine moved into the served repository with an atomic switch; materialized once it is live."""
        return deploy_latest_engine(context, model, config)

    return deployment


def deploy_latest_engine(
    context: dg.AssetExecutionContext, model: ModelDeclaration, config: DeploymentConfig
) -> dg.MaterializeResult:
    """Deploys the engine the latest materialization of the model's engine asset built, and reports the rollout."""
    engine = engine_key(model)
    event = context.instance.get_latest_materialization_event(engine)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(description=f"{engine.to_user_string()} has never been materialized: build the engine first")
    metadata = event.asset_materialization.metadata
    name = str(metadata["model"].value)
    version = int(metadata["version"].value)
    if "repository" not in metadata:
        raise dg.Failure(
            description=f"the latest {engine.to_user_string()} materialization has no 'repository' metadata"
        )
    build_repository = Path(str(metadata["repository"].value))
    served = Path(config.served_repository)
    limit = metadata["divergence_limit"].value if "divergence_limit" in metadata else None
    try:
        live, step = deploy(model, build_repository, served, version, config, limit)
    except TimeoutError as error:
        raise dg.Failure(description=str(error)) from error
    context.log.info(f"model {name!r} v{version} loaded at {config.server_url} after {live.waited_seconds:.1f} s")
    context.log.info(step.describe())
    deployment = step.deployment
    return dg.MaterializeResult(
        metadata={
            "live_model": name,
            "live_version": version,
            "rollout": step.action,
            "rollout_reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in step.reasons) or "-"),
            "weights": dg.MetadataValue.json({str(v): w for v, w in deployment.weights.items() if w > 0})
            if deployment is not None
            else dg.MetadataValue.json({}),
            "server_url": dg.MetadataValue.url(config.server_url),
            "served_repository": dg.MetadataValue.path(str(served.resolve())),
            "switch_seconds": live.waited_seconds,
            "variant": str(metadata["variant"].value) if "variant" in metadata else "unknown",
        },
        data_version=dg.DataVersion(f"{name}-{version}"),
    )
