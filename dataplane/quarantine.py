"""Row-level validation with pandera: valid rows pass, invalid rows go to quarantine with the rules they broke.

A batch fails only when the invalid share passes a threshold; a batch-level rule
(for example a median that says the units changed) marks every row invalid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
import pandera.errors
import pandera.pandas as pa_schema

RULE_COLUMN = "_rule"
REASON_COLUMN = "_reason"


@dataclass(frozen=True)
class ValidationOutcome:
    """Valid rows, quarantined rows (with `_rule` and `_reason`), and how often each rule failed."""

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    failures_by_rule: dict[str, int]
    rows: int

    @property
    def invalid_share(self) -> float:
        return len(self.quarantined) / self.rows if self.rows else 0.0

    def passes(self, max_invalid_share: float) -> bool:
        """True when the invalid share is within the threshold."""
        return self.invalid_share <= max_invalid_share

    def summary(self) -> str:
        """One line: rows, invalid share and the failing rules by count."""
        rules = ", ".join(
            f"{rule} x{count}" for rule, count in sorted(self.failures_by_rule.items(), key=lambda x: -x[1])
        )
        head = f"{len(self.quarantined)}/{self.rows} rows invalid ({self.invalid_share:.2%})"
        return head + (f": {rules}" if rules else "")


def _rule_name(context, column, check) -> str:
    name = str(check).split("(")[0].split(":")[0].strip()
    return f"batch.{name}" if context == "DataFrameSchema" or not isinstance(column, str) else f"{column}.{name}"


def validate_rows(frame: pd.DataFrame, schema: pa_schema.DataFrameSchema) -> ValidationOutcome:
    """Validates every rule lazily and splits `frame` (any index) into valid and quarantined rows."""
    frame = frame.reset_index(drop=True)
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return ValidationOutcome(frame, frame.iloc[:0].assign(**{RULE_COLUMN: "", REASON_COLUMN: ""}), {}, len(frame))
    reasons: dict[int, list[str]] = {}
    rules: dict[int, list[str]] = {}
    everything = range(len(frame))
    for context, column, check, failure, index in zip(
        cases["schema_context"], cases["column"], cases["check"], cases["failure_case"], cases["index"], strict=True
    ):
        rule = _rule_name(context, column, check)
        rows = everything if index is None or pd.isna(index) else (int(index),)
        text = f"{rule}: {check}" if index is None or pd.isna(index) else f"{rule}: value {failure!r}"
        for row in rows:
            if rule not in rules.setdefault(row, []):
                rules[row].append(rule)
                reasons.setdefault(row, []).append(text)
    bad = sorted(rules)
    quarantined = frame.iloc[bad].copy()
    quarantined[RULE_COLUMN] = ["; ".join(rules[row]) for row in bad]
    quarantined[REASON_COLUMN] = ["; ".join(reasons[row]) for row in bad]
    counts = Counter(rule for row in bad for rule in rules[row])
    valid = frame.drop(index=bad)
    return ValidationOutcome(valid, quarantined, dict(counts), len(frame))
