"""The fraud example's event schemas: Arrow types for storage and a pandera schema for validation.

A transaction is one card payment; a label is one chargeback that arrives days after the payment: a fraud
(is_fraud=1) or a customer's dispute of a legitimate payment (is_dispute=1). Validation rules are data: the
pandera schema is the single place that says which values are acceptable.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa

from dataplane.validation_frame import VALIDATION_STRING, validation_frame  # noqa: F401  (the schema's frame)
from domain.vocabulary import CATEGORIES, CHANNELS, COUNTRIES

TRANSACTION_ARROW_SCHEMA = pa.schema(
    [
        pa.field("transaction_id", pa.string()),
        pa.field("event_time", pa.timestamp("us", tz="UTC")),
        pa.field("card_id", pa.string()),
        pa.field("merchant_id", pa.string()),
        pa.field("merchant_category", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("country", pa.string()),
        pa.field("device_id", pa.string()),
        pa.field("channel", pa.string()),
    ]
)
"""Columns of a transaction as stored in Parquet and sent to Kafka (as JSON, event_time in ISO 8601)."""

LABEL_ARROW_SCHEMA = pa.schema(
    [
        pa.field("transaction_id", pa.string()),
        pa.field("label_time", pa.timestamp("us", tz="UTC")),
        pa.field("is_fraud", pa.int8()),
        pa.field("is_dispute", pa.int8()),
    ]
)
"""Columns of a chargeback label: which transaction, when the label arrived, and what it says (fraud or dispute)."""

TRANSACTION_KEY = "card_id"
"""Kafka message key of transactions: one card's events stay in order within a partition."""

MAX_AMOUNT = 20_000.0
"""Largest plausible single payment; anything above is a unit or parsing error."""

MEDIAN_AMOUNT_RANGE = (3.0, 500.0)
"""A batch whose median amount leaves this range has switched units (e.g. cents)."""


def transaction_schema() -> pa_schema.DataFrameSchema:
    """The pandera rules every transaction must pass before it may reach features (frames from `validation_frame`)."""
    text = {"dtype": VALIDATION_STRING, "nullable": False}
    return pa_schema.DataFrameSchema(
        {
            "transaction_id": pa_schema.Column(unique=True, report_duplicates="exclude_first", **text),
            "event_time": pa_schema.Column(
                pd.DatetimeTZDtype("us", "UTC"),
                nullable=False,
                checks=pa_schema.Check.in_range(
                    pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC")
                ),
            ),
            "card_id": pa_schema.Column(**text),
            "merchant_id": pa_schema.Column(**text),
            "merchant_category": pa_schema.Column(checks=pa_schema.Check.isin(CATEGORIES), **text),
            "amount": pa_schema.Column(
                float,
                nullable=False,
                checks=[pa_schema.Check.gt(0.0), pa_schema.Check.le(MAX_AMOUNT)],
            ),
            "country": pa_schema.Column(checks=pa_schema.Check.isin(COUNTRIES), **text),
            "device_id": pa_schema.Column(**text),
            "channel": pa_schema.Column(checks=pa_schema.Check.isin(CHANNELS), **text),
        },
        checks=[
            pa_schema.Check(
                lambda df: MEDIAN_AMOUNT_RANGE[0] <= df["amount"].median() <= MEDIAN_AMOUNT_RANGE[1],
                name="median_amount_in_range",
                error=f"median_amount_in_range: the batch's median amount left {MEDIAN_AMOUNT_RANGE} (units changed?)",
            )
        ],
        strict=True,
        name="transactions",
    )
