"""The Dagster code location: every asset, check, sensor, schedule and resource of Flywheel.

`dagster dev -m assets.definitions` (or `tools/flywheel dagster`) opens it. Loading
has no side effects: resources are configured here but connect only when used.
"""

import dagster as dg

from assets.build_info import build_info
from assets.data_assets import DATA_ASSETS, data_resources


@dg.definitions
def defs() -> dg.Definitions:
    """Flywheel's definitions, loaded lazily by Dagster when the code location starts."""
    return dg.Definitions(
        assets=[build_info, *DATA_ASSETS],
        resources={**data_resources()},
    )
