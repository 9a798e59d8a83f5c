"""validate_rows splits a frame by pandera rules and names the rule each quarantined row broke."""

import pandas as pd
import pandera.pandas as pa_schema

from dataplane.quarantine import validate_rows

SCHEMA = pa_schema.DataFrameSchema(
    {
        "id": pa_schema.Column(str, unique=True, report_duplicates="exclude_first"),
        "x": pa_schema.Column(float, checks=pa_schema.Check.ge(0), nullable=False),
    },
    checks=[pa_schema.Check(lambda df: df["x"].median() < 100, error="median_small: too large")],
)


def test_invalid_rows_are_quarantined_with_rules():
    frame = pd.DataFrame({"id": ["a", "b", "b", "c"], "x": [1.0, -1.0, 2.0, None]})
    outcome = validate_rows(frame, SCHEMA)
    assert outcome.valid["id"].tolist() == ["a"], "the second b is a duplicate even though the first is invalid"
    assert outcome.quarantined["_rule"].tolist() == [
        "x.greater_than_or_equal_to",
        "id.field_uniqueness",
        "x.not_nullable",
    ]
    assert outcome.failures_by_rule == {"x.greater_than_or_equal_to": 1, "id.field_uniqueness": 1, "x.not_nullable": 1}
    assert outcome.invalid_share == 0.75 and not outcome.passes(0.5)


def test_a_batch_rule_quarantines_every_row():
    outcome = validate_rows(pd.DataFrame({"id": ["a", "b"], "x": [500.0, 700.0]}), SCHEMA)
    assert outcome.valid.empty and outcome.failures_by_rule == {"batch.median_small": 2}


def test_clean_frame_passes_whole():
    outcome = validate_rows(pd.DataFrame({"id": ["a"], "x": [1.0]}), SCHEMA)
    assert len(outcome.valid) == 1 and outcome.quarantined.empty and outcome.passes(0.0)
