"""Which runs of the Dagster instance are still queued or running: the one-at-a-time guard of every sensor."""

import dagster as dg

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
"""Run statuses that count as in flight."""


def in_flight_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.RunRecord | None:
    """The newest run with `tags` that is queued or running, if any."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags=tags, statuses=IN_FLIGHT), limit=1)
    return records[0] if records else None


def in_flight_count(instance: dg.DagsterInstance, tags: dict[str, str]) -> int:
    """How many runs with `tags` are queued or running."""
    return instance.get_runs_count(filters=dg.RunsFilter(tags=tags, statuses=IN_FLIGHT))
