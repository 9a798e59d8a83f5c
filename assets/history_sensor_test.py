"""history_days_sensor: new date=... folders in the lake become raw_transactions runs, one per range of new days."""

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from assets.data_assets import PARTITION_RANGE_TAGS, LakeResource, history_days_sensor
from dataplane.lake_stages import missing_day_ranges

RAW = dg.AssetKey("raw_transactions")


def _land(lake: LakeResource, *days: str) -> None:
    for day in days:
        folder = lake.history("transactions") / f"date={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"transaction_id": [day]}), folder / "part-0.parquet")


def _materialized(instance: dg.DagsterInstance, *days: str) -> None:
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(RAW, partition=day))


def test_missing_day_ranges_joins_consecutive_days_only():
    days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05", "2025-01-31", "2025-02-01"]
    assert missing_day_ranges(days, {"2025-01-01"}) == [
        ("2025-01-02", "2025-01-03"),
        ("2025-01-05", "2025-01-05"),
        ("2025-01-31", "2025-02-01"),
    ]
    assert missing_day_ranges(days, set(days)) == []


def test_new_days_are_requested_as_ranges_and_a_fully_materialized_lake_skips(tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    _land(lake, "2024-12-31", "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05")
    instance = dg.DagsterInstance.ephemeral()
    _materialized(instance, "2025-01-01")
    context = dg.build_sensor_context(instance=instance, resources={"lake": lake})

    requests = history_days_sensor(context)
    ranges = [(r.tags[PARTITION_RANGE_TAGS[0]], r.tags[PARTITION_RANGE_TAGS[1]]) for r in requests]
    assert ranges == [("2025-01-02", "2025-01-03"), ("2025-01-05", "2025-01-05")]
    assert all(r.asset_selection == [RAW] for r in requests)
    assert len({r.run_key for r in requests}) == 2, "one run key per range: a later tick cannot request it twice"

    _materialized(instance, "2025-01-02", "2025-01-03", "2025-01-05")
    skipped = history_days_sensor(context)
    assert "every partition materialized" in skipped.skip_message
    assert "2024-12-31" in skipped.skip_message, "a day before FLYWHEEL_HISTORY_START is named, not dropped silently"
