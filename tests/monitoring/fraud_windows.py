"""Served-feature windows from the fraud generator for drift tests: per-row features and a stand-in score.

The machinery under test never sees these names; only this test helper (the domain side) does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domain.generator import GeneratorConfig, Population, generate_day
from domain.vocabulary import CATEGORIES, CHANNELS, COUNTRIES
from features.spec import FeatureSpec

WINDOW_SPEC = FeatureSpec(
    entity_id="transaction_id",
    timestamp="event_time",
    label="is_fraud",
    numeric=("amount", "hour_of_day", "merchant_is_new"),
    categorical={"merchant_category": CATEGORIES, "country": COUNTRIES, "channel": CHANNELS},
)
"""Features the stand-in model sees: every row's own fields, no history (so windows are cheap to make)."""

_RISKY_COUNTRIES = ("BR", "IN", "NG", "RU")
_RISKY_CATEGORIES = ("electronics", "travel", "cash_withdrawal", "gambling", "digital_goods")


def stand_in_score(frame: pd.DataFrame) -> np.ndarray:
    """A fixed logistic score standing in for a trained model (it never saw the concept-drift pattern)."""
    z = (
        -5.0
        + 0.6 * (np.log(frame["amount"].to_numpy()) - 3.5)
        + 2.5 * frame["country"].isin(_RISKY_COUNTRIES).to_numpy()
        + 1.0 * (frame["channel"] == "ecom").to_numpy()
        + 0.8 * frame["merchant_category"].isin(_RISKY_CATEGORIES).to_numpy()
        + 1.5 * frame["merchant_is_new"].to_numpy()
    )
    return 1.0 / (1.0 + np.exp(-z))


def served_days(config: GeneratorConfig, first_day: int, days: int, known_merchants: int | None = None) -> pd.DataFrame:
    """Rows of days [first_day, first_day + days) as the server saw them: features, score and true label."""
    population = Population(config)
    known_merchants = config.n_merchants if known_merchants is None else known_merchants
    parts = []
    for day_index in range(first_day, first_day + days):
        generated = generate_day(config, population, day_index)
        table = generated.transactions
        frame = pd.DataFrame(
            {
                "transaction_id": table["transaction_id"].to_numpy(),
                "event_time": table["event_time"].to_pandas(),
                "amount": table["amount"].to_numpy(zero_copy_only=False),
                "merchant_category": table["merchant_category"].to_pandas(),
                "country": table["country"].to_pandas(),
                "channel": table["channel"].to_pandas(),
                "is_fraud": generated.is_fraud.astype(np.int8),
            }
        )
        frame["hour_of_day"] = frame["event_time"].dt.hour.astype(np.float64)
        merchant_number = table["merchant_id"].to_pandas().str.slice(1).astype(np.int64)
        frame["merchant_is_new"] = (merchant_number >= known_merchants).astype(np.float64).to_numpy()
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    frame["score"] = stand_in_score(frame)
    return frame


# Shifts made on served rows (the generator's scenarios cover the rest): each keeps the rows' order and rescores them.


def rescored(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["score"] = stand_in_score(frame)
    return frame


def gradual_inflation(frame: pd.DataFrame, per_day: float = 0.01, from_day: int = 7) -> pd.DataFrame:
    """Amounts creep up by `per_day` of their value a day from the frame's first row (a slow drift); the rows from
    day `from_day` of the creep on (the drift a detector should have caught by then)."""
    days = (frame["event_time"] - frame["event_time"].iloc[0]).dt.total_seconds().to_numpy() / 86_400.0
    frame = frame.copy()
    frame["amount"] = frame["amount"].to_numpy() * (1.0 + per_day * days)
    return rescored(frame.loc[days >= from_day].reset_index(drop=True))


def amounts_follow_channel(frame: pd.DataFrame, share: float, channel: str = "ecom", seed: int = 0) -> pd.DataFrame:
    """A joint shift that leaves both marginals exactly as they were: within each day, `share` of the rows swap
    amounts among themselves so that those paid through `channel` get the largest ones."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    amounts = frame["amount"].to_numpy().copy()
    on_channel = (frame["channel"] == channel).to_numpy()
    for day in np.unique(frame["event_time"].dt.floor("D").to_numpy()):
        rows = np.flatnonzero((frame["event_time"].dt.floor("D") == day).to_numpy() & (rng.random(len(frame)) < share))
        ordered = np.sort(amounts[rows])[::-1]
        chosen_on, chosen_off = rows[on_channel[rows]], rows[~on_channel[rows]]
        amounts[rng.permutation(chosen_on)] = ordered[: len(chosen_on)]
        amounts[rng.permutation(chosen_off)] = ordered[len(chosen_on) :]
    frame["amount"] = amounts
    return rescored(frame)


def segment_inflation(frame: pd.DataFrame, category: str = "fuel", factor: float = 1.25) -> pd.DataFrame:
    """Amounts of one merchant category only inflate by `factor` (a shift confined to one segment)."""
    frame = frame.copy()
    hit = (frame["merchant_category"] == category).to_numpy()
    frame.loc[hit, "amount"] = frame.loc[hit, "amount"] * factor
    return rescored(frame)
