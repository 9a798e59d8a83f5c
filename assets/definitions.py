"""The Dagster code location: every asset, check, sensor, schedule and resource of Flywheel.

`dagster dev -m assets.definitions` (or `tools/flywheel dagster`) opens it. Loading
has no side effects: resources are configured here (locations and endpoints from
assets/stack_environment.py, i.e. the FLYWHEEL_* variables) but connect only when used.
"""

import dagster as dg

from assets.build_info import build_info
from assets.closed_loop import LOOP_ASSETS, LOOP_SCHEDULES, LOOP_SENSORS, loop_resources, with_redeploy_automation
from assets.data_assets import DATA_ASSETS, DATA_SENSORS, data_resources
from assets.model_gate import MODEL_ASSETS, model_resources
from assets.serving_engine import SERVING_ASSETS
from assets.stack_environment import STACK


@dg.definitions
def defs() -> dg.Definitions:
    """Flywheel's definitions, loaded lazily by Dagster when the code location starts."""
    return dg.Definitions(
        assets=with_redeploy_automation([build_info, *DATA_ASSETS, *MODEL_ASSETS, *SERVING_ASSETS, *LOOP_ASSETS]),
        sensors=[*DATA_SENSORS, *LOOP_SENSORS],
        schedules=LOOP_SCHEDULES,
        executor=dg.in_process_executor if STACK.executor == "in_process" else dg.multiprocess_executor,
        resources={
            **data_resources(STACK.path("lake"), STACK.kafka_bootstrap_servers),
            **model_resources(STACK.mlflow_tracking_uri),
            **loop_resources(STACK.state_dir),
        },
    )
