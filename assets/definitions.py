"""The Dagster code location: every asset, check, sensor, schedule and resource of Flywheel.

`dagster dev -m assets.definitions` (or `tools/flywheel dagster`) opens it. Loading
has no side effects: resources are configured here (locations and endpoints from
assets/stack_environment.py, i.e. the FLYWHEEL_* variables) but connect only when used.
The declared models (FLYWHEEL_MODELS, assets/model_catalog.py) are checked first; each
then gets its own stages (assets/model_stages.py), grouped under its name.
"""

import dagster as dg

from assets.build_info import build_info
from assets.closed_loop import (
    automation_sensor,
    drift_sensor_for,
    label_feedback_sensor_for,
    loop_resources,
    with_redeploy_automation,
)
from assets.data_assets import DATA_ASSETS, DATA_SENSORS, data_resources
from assets.model_catalog import declared_models
from assets.model_gate import model_resources
from assets.model_stages import model_stages
from assets.rollout import rollout_resources, rollout_sensor_for
from assets.stack_environment import STACK
from features.model_declaration import ModelDeclaration


@dg.definitions
def defs() -> dg.Definitions:
    """Flywheel's definitions, loaded lazily by Dagster when the code location starts."""
    return build_definitions(list(declared_models()))


def build_definitions(models: list[ModelDeclaration]) -> dg.Definitions:
    """The shared data plane plus every per-model stage of `models` (already checked declarations)."""
    stages = [model_stages(model, models) for model in models]
    per_model = [asset for stage in stages for asset in stage.assets]
    return dg.Definitions(
        assets=with_redeploy_automation([build_info, *DATA_ASSETS, *per_model], models),
        sensors=[
            *DATA_SENSORS,
            drift_sensor_for(models),
            *(sensor for stage in stages for sensor in stage.sensors),
            label_feedback_sensor_for(models),
            rollout_sensor_for(models),
            automation_sensor,
        ],
        schedules=[stage.loop.fallback_schedule for stage in stages],
        executor=dg.in_process_executor if STACK.executor == "in_process" else dg.multiprocess_executor,
        resources={
            **data_resources(STACK.path("lake"), STACK.kafka_bootstrap_servers),
            **model_resources(STACK.mlflow_tracking_uri),
            **loop_resources(STACK.state_dir),
            **rollout_resources(STACK.server_url),
        },
    )
