"""Each data-quality break is caught: rows quarantined with a reason, the check fails over threshold, nothing leaks."""

import pyarrow.parquet as pq
import pytest

from dataplane.lake_stages import validate_to_lake
from domain.generator import QUALITY_BREAKS, GeneratorConfig, Scenario, write_history
from domain.schema import TRANSACTION_ARROW_SCHEMA, transaction_schema

EXPECTED_RULE = {
    "null_field": "country.not_nullable",
    "amount_cents": "batch.median_amount_in_range",
    "renamed_category": "merchant_category.isin",
}


def _validate(tmp_path, scenario):
    config = GeneratorConfig(n_cards=800, n_merchants=200, days=2, seed=5, scenario=scenario)
    write_history(config, tmp_path / "history")
    return validate_to_lake(
        tmp_path / "history" / "transactions",
        tmp_path / "stream",
        tmp_path / "valid",
        tmp_path / "quarantine",
        transaction_schema(),
        TRANSACTION_ARROW_SCHEMA,
        max_invalid_share=0.05,
    )


def test_clean_data_passes_whole(tmp_path):
    report = _validate(tmp_path, Scenario())
    assert report.rows > 1000 and report.quarantined == 0 and not report.failed_chunks


@pytest.mark.parametrize("kind", QUALITY_BREAKS)
def test_each_break_is_quarantined_with_its_rule_and_fails_the_batch(tmp_path, kind):
    report = _validate(tmp_path, Scenario(start_day=1, quality_break=kind))
    assert report.failures_by_rule[EXPECTED_RULE[kind]] > 0, report.summary()
    assert len(report.failed_chunks) == 1 and "date=2025-01-02" in report.failed_chunks[0], "only the broken day fails"
    valid = pq.read_table(tmp_path / "valid").to_pandas()
    quarantined = pq.read_table(tmp_path / "quarantine").to_pandas()
    assert valid["event_time"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2025-01-01"], "broken day never passes"
    assert (quarantined["_reason"].str.len() > 0).all() and EXPECTED_RULE[kind] in " ".join(quarantined["_rule"])
    assert len(valid) + len(quarantined) == report.rows


def test_a_small_break_quarantines_only_its_rows(tmp_path):
    report = _validate(tmp_path, Scenario(quality_break="renamed_category", quality_break_share=0.05))
    assert not report.failed_chunks, report.summary()
    quarantined = pq.read_table(tmp_path / "quarantine").to_pandas()
    assert set(quarantined["merchant_category"]) == {"groceries"}
    assert "groceries" not in set(pq.read_table(tmp_path / "valid").to_pandas()["merchant_category"])
