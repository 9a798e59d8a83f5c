"""Synthetic card transactions with fraud patterns and late chargebacks, deterministic by seed and vectorised.

Cards have a home country, devices and a typical spend; merchants have a category
(MCC) and a country; amounts are log-normal per category; volume follows daily and
weekly seasonality. Fraud comes as card-testing bursts, account takeover (new
device and country, high amounts) and compromised merchants; chargebacks arrive
days later. Scenario knobs add covariate drift, concept drift (a fraud pattern
older models never saw) and data-quality breaks. Each day is generated from its
own seed, so any day can be generated alone and memory stays bounded.

A second kind of late label feeds the example's second task: merchant disputes (a legitimate payment the customer
contests, e.g. goods not received), driven by the merchant's hidden dispute propensity, the category, the channel
and the amount. A chargeback row says which: is_fraud=1 or is_dispute=1, never both. Disputes come from their own
random streams, so adding them left every transaction and fraud label of a seed unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (registers pa.compute)
import pyarrow.parquet as pq

from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from domain.vocabulary import CHANNELS, COUNTRIES, HOME_COUNTRIES, MERCHANT_CATEGORIES

QUALITY_BREAKS = ("null_field", "amount_cents", "renamed_category")
"""The data-quality breaks a scenario can switch on (validation must catch each)."""

_HOURLY = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 4.5, 5, 5.5, 6.5, 6, 5.5, 5.5, 6, 7, 7.5, 7, 6, 4.5, 3, 1.8]
)
_HOURLY = _HOURLY / _HOURLY.sum()
_WEEKDAY = np.array([0.95, 0.93, 0.97, 1.0, 1.12, 1.2, 0.9])  # Monday..Sunday
_CATEGORY_NAMES = tuple(MERCHANT_CATEGORIES)
_CATEGORY_MU = np.array([v[1] for v in MERCHANT_CATEGORIES.values()])
_CATEGORY_SIGMA = np.array([v[2] for v in MERCHANT_CATEGORIES.values()])
_CATEGORY_SHARE = np.array([v[3] for v in MERCHANT_CATEGORIES.values()])
_CATEGORY_SHARE = _CATEGORY_SHARE / _CATEGORY_SHARE.sum()
_RISKY_COUNTRIES = [COUNTRIES.index(c) for c in ("BR", "IN", "NG", "RU", "US")]


@dataclass(frozen=True)
class Scenario:
    """What changes from `start_day` on: drift in the data, a new fraud pattern, or a data-quality break."""

    start_day: int = 0
    """First generated day (0-based) the scenario applies to."""
    amount_inflation: float = 1.0
    """Covariate drift: every amount is multiplied by this."""
    new_merchant_share: float = 0.0
    """Covariate drift: share of legitimate spend moved to merchants that did not exist before."""
    new_fraud_pattern_rate: float = 0.0
    """Concept drift: per-card daily rate of 'quiet' fraud (usual device and country, night-time digital goods)."""
    friendly_fraud_share: float = 0.0
    """Concept drift in the labels alone: this share of the legitimate digital-goods payments under
    `friendly_fraud_max_amount` is charged back as fraud by the cardholder ('friendly fraud': small in-app and
    subscription purchases later claimed as unauthorised). The payments are the card's own, so no transaction and no
    feature changes; only the fraud labels of one merchant category do. Drawn from its own random stream among the
    payments nobody disputes, so every other transaction, chargeback and dispute of a seed stays as it was."""
    friendly_fraud_max_amount: float = 20.0
    """Largest amount a friendly-fraud chargeback claims."""
    quality_break: str | None = None
    """One of QUALITY_BREAKS, or None."""
    quality_break_share: float = 1.0
    """Share of rows the quality break hits."""

    def __post_init__(self) -> None:
        if self.quality_break is not None and self.quality_break not in QUALITY_BREAKS:
            raise ValueError(f"quality_break must be one of {QUALITY_BREAKS} or None, not {self.quality_break!r}")
        if self.amount_inflation <= 0:
            raise ValueError(f"amount_inflation must be positive, got {self.amount_inflation}")
        if not 0.0 <= self.friendly_fraud_share <= 1.0:
            raise ValueError(f"friendly_fraud_share must be within [0, 1], got {self.friendly_fraud_share}")


@dataclass(frozen=True)
class GeneratorConfig:
    """Size, time span, fraud rates and label delays of a generated data set."""

    seed: int = 7
    """Everything generated is a function of this seed (and the other fields)."""
    n_cards: int = 20_000
    """Number of cards."""
    n_merchants: int = 2_000
    """Number of merchants (at least one per category and home country)."""
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    """UTC midnight of the first day."""
    days: int = 30
    """Number of days."""
    transactions_per_card_day: float = 1.2
    """Mean legitimate transactions per card per day (before seasonality)."""
    card_testing_bursts_per_day: float = 2.0
    """Card-testing bursts (many small ecom payments within minutes) per 10k cards per day."""
    takeovers_per_day: float = 3.0
    """Account takeovers (new device, foreign country, high amounts) per 10k cards per day."""
    compromised_merchant_share: float = 0.01
    """Share of merchants that are compromised."""
    compromised_fraud_probability: float = 0.25
    """Probability that a payment at a compromised merchant is fraudulent."""
    report_rate: float = 0.95
    """Share of frauds whose chargeback ever arrives."""
    label_delay_days: float = 14.0
    """Mean chargeback delay in days (gamma distributed, shape 2)."""
    label_delay_compression: float = 1.0
    """Delays are divided by this (e.g. 24*60 turns days into minutes for demos)."""
    duplicate_label_rate: float = 0.02
    """Share of chargebacks delivered twice (the consumer must de-duplicate)."""
    dispute_rate: float = 0.01
    """Mean share of legitimate payments later disputed by the customer (before merchant, category and amount)."""
    dispute_delay_factor: float = 1.5
    """Disputes arrive this many times later than fraud chargebacks on average."""
    scenario: Scenario = field(default_factory=Scenario)
    """Drift and data-quality knobs."""

    def __post_init__(self) -> None:
        minimum = len(MERCHANT_CATEGORIES) * len(HOME_COUNTRIES)
        if self.n_merchants < minimum:
            raise ValueError(f"n_merchants must be at least {minimum} (one per category and home country)")
        if self.n_cards < 1 or self.days < 1:
            raise ValueError("n_cards and days must be positive")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if self.label_delay_compression <= 0:
            raise ValueError("label_delay_compression must be positive")


@dataclass(frozen=True)
class GeneratedDay:
    """One day of transactions (sorted by event time), their chargebacks, and the ground truth."""

    day: datetime
    transactions: pa.Table
    labels: pa.Table
    is_fraud: np.ndarray
    pattern: np.ndarray


def fixed_width_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded decimal numbers as an Arrow string array, built without a Python loop."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids for {prefix!r} do not fit in {width} digits")
    digits = (numbers[:, None] // (10 ** np.arange(width - 1, -1, -1))) % 10 + ord("0")
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    raw = np.concatenate([np.broadcast_to(head, (len(numbers), len(head))), digits.astype(np.uint8)], axis=1)
    size = raw.shape[1]
    offsets = pa.array(np.arange(0, (len(numbers) + 1) * size, size, dtype=np.int32))
    return pa.StringArray.from_buffers(len(numbers), offsets.buffers()[1], pa.py_buffer(raw.tobytes()))


class Population:
    """Cards and merchants: the fixed world every day of a data set is drawn from."""

    def __init__(self, config: GeneratorConfig) -> None:
        rng = np.random.default_rng([config.seed, 0])
        n_cat, n_home = len(MERCHANT_CATEGORIES), len(HOME_COUNTRIES)
        self.card_home = rng.integers(0, n_home, config.n_cards)
        self.card_spend = rng.normal(0.0, 0.35, config.n_cards)
        self.card_activity = rng.gamma(2.0, 0.5, config.n_cards)
        self.card_devices = rng.integers(1, 4, config.n_cards)
        self.card_ids = fixed_width_ids("c", np.arange(config.n_cards), 8)
        # Every (category, home country) has merchants; the rest are spread by category share.
        base = np.arange(n_cat * n_home)
        extra = rng.choice(n_cat, config.n_merchants - len(base), p=_CATEGORY_SHARE)
        extra_country = rng.integers(0, n_home, len(extra))
        self.merchant_category = np.concatenate([base // n_home, extra])
        self.merchant_country = np.concatenate([base % n_home, extra_country])
        order = np.lexsort((self.merchant_country, self.merchant_category))
        self.merchant_category = self.merchant_category[order]
        self.merchant_country = self.merchant_country[order]
        key = self.merchant_category * n_home + self.merchant_country
        self.group_count = np.bincount(key, minlength=n_cat * n_home)
        self.group_offset = np.concatenate([[0], np.cumsum(self.group_count)[:-1]])
        self.compromised = rng.random(config.n_merchants) < config.compromised_merchant_share
        self.n_home = n_home
        # A separate stream: the world above is the same whether disputes exist or not.
        dispute_rng = np.random.default_rng([config.seed, 3])
        self.merchant_dispute = dispute_rng.lognormal(-0.5, 1.0, config.n_merchants)

    def pick_merchants(self, rng: np.random.Generator, category: np.ndarray, country: np.ndarray) -> np.ndarray:
        """A uniformly chosen merchant of each (category, home-country index) pair."""
        key = category * self.n_home + country
        return self.group_offset[key] + (rng.random(len(key)) * self.group_count[key]).astype(np.int64)


def _seconds_in_day(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = rng.choice(24, n, p=_HOURLY)
    return hours * 3600 + rng.random(n) * 3600


def generate_day(config: GeneratorConfig, population: Population, day_index: int) -> GeneratedDay:
    """Transactions and chargebacks of day `day_index`, deterministic for (seed, day_index)."""
    rng = np.random.default_rng([config.seed, 1, day_index])
    day = config.start + timedelta(days=day_index)
    scenario = config.scenario if day_index >= config.scenario.start_day else Scenario()
    n_cards = config.n_cards
    scale = n_cards / 10_000

    # Legitimate spend: card chosen by activity, category by share, merchant in the home country (or abroad).
    expected = n_cards * config.transactions_per_card_day * _WEEKDAY[day.weekday()]
    n_legit = rng.poisson(expected)
    card = rng.choice(n_cards, n_legit, p=population.card_activity / population.card_activity.sum())
    category = rng.choice(len(_CATEGORY_NAMES), n_legit, p=_CATEGORY_SHARE)
    country = population.card_home[card].copy()
    travel = rng.random(n_legit) < 0.03
    country[travel] = rng.integers(0, len(HOME_COUNTRIES), travel.sum())
    merchant = population.pick_merchants(rng, category, country)
    log_amount = rng.normal(_CATEGORY_MU[category] + population.card_spend[card], _CATEGORY_SIGMA[category])
    device = rng.integers(0, population.card_devices[card])
    new_device = rng.random(n_legit) < 0.002
    device[new_device] = 100 + rng.integers(0, 1000, new_device.sum())
    channel = np.where(rng.random(n_legit) < 0.45, 1, 0)
    channel[(category == _CATEGORY_NAMES.index("digital_goods")) | (rng.random(n_legit) < 0.15)] = 2
    seconds = _seconds_in_day(rng, n_legit)
    pattern = np.zeros(n_legit, dtype=np.int8)
    is_fraud = np.zeros(n_legit, dtype=bool)
    at_compromised = population.compromised[merchant]
    hit = at_compromised & (rng.random(n_legit) < config.compromised_fraud_probability)
    is_fraud[hit], pattern[hit] = True, 3
    log_amount[hit] += 0.7
    if scenario.new_merchant_share > 0:
        moved = rng.random(n_legit) < scenario.new_merchant_share
        merchant[moved] = config.n_merchants + rng.integers(0, max(1, config.n_merchants // 10), moved.sum())

    parts = [(card, merchant, category, country, log_amount, device, channel, seconds, is_fraud, pattern)]
    parts.append(_card_testing(rng, config, population, rng.poisson(config.card_testing_bursts_per_day * scale)))
    parts.append(_takeovers(rng, config, population, rng.poisson(config.takeovers_per_day * scale)))
    if scenario.new_fraud_pattern_rate > 0:
        parts.append(_quiet_fraud(rng, population, rng.poisson(scenario.new_fraud_pattern_rate * n_cards)))
    card, merchant, category, country, log_amount, device, channel, seconds, is_fraud, pattern = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    order = np.argsort(seconds, kind="stable")
    card, merchant, category, country = card[order], merchant[order], category[order], country[order]
    log_amount, device, channel, seconds = log_amount[order], device[order], channel[order], seconds[order]
    is_fraud, pattern = is_fraud[order], pattern[order]

    n = len(card)
    micros = np.int64(int(day.timestamp()) * 1_000_000) + (seconds * 1e6).astype(np.int64)
    amount = np.round(np.exp(log_amount) * scenario.amount_inflation, 2)
    amount = np.maximum(amount, 0.01)
    merchant_ids = fixed_width_ids("m", merchant, 6)
    device_ids = pa.compute.binary_join_element_wise(
        pa.compute.take(population.card_ids, pa.array(card)), fixed_width_ids("-d", device, 4), ""
    )
    transactions = pa.table(
        {
            "transaction_id": fixed_width_ids("t", day_index * 10**9 + np.arange(n), 14),
            "event_time": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
            "card_id": pa.compute.take(population.card_ids, pa.array(card)),
            "merchant_id": merchant_ids,
            "merchant_category": pa.array(np.array(_CATEGORY_NAMES, dtype=object)[category], type=pa.string()),
            "amount": pa.array(amount, type=pa.float64()),
            "country": pa.array(np.array(COUNTRIES, dtype=object)[country], type=pa.string()),
            "device_id": device_ids,
            "channel": pa.array(np.array(CHANNELS, dtype=object)[channel], type=pa.string()),
        },
        schema=TRANSACTION_ARROW_SCHEMA,
    )
    if scenario.quality_break is not None:
        transactions = apply_quality_break(transactions, scenario.quality_break, scenario.quality_break_share, rng)
    labels = _chargebacks(rng, config, transactions, is_fraud)
    disputes = _disputes(config, population, day_index, transactions, merchant, category, channel, is_fraud)
    extra = [disputes] if disputes.num_rows else []
    if scenario.friendly_fraud_share > 0:
        friendly = _friendly_fraud(config, scenario, day_index, transactions, category, is_fraud, disputes)
        is_fraud, pattern = is_fraud | friendly, np.where(friendly, np.int8(5), pattern)
        extra.append(_chargebacks(np.random.default_rng([config.seed, 4, day_index]), config, transactions, friendly))
    if extra:
        labels = pa.concat_tables([labels, *extra])
        labels = labels.take(pa.compute.sort_indices(labels, [("label_time", "ascending")]))
    return GeneratedDay(day=day, transactions=transactions, labels=labels, is_fraud=is_fraud, pattern=pattern)


def _card_testing(rng, config: GeneratorConfig, population: Population, bursts: int):
    size = rng.integers(5, 25, bursts)
    n = int(size.sum())
    card = np.repeat(rng.integers(0, config.n_cards, bursts), size)
    start = np.repeat(_seconds_in_day(rng, bursts), size)
    step = rng.uniform(5, 90, n)
    first = np.cumsum(size) - size
    total = np.cumsum(step)
    within = total - np.repeat(total[first] - step[first], size)
    seconds = np.minimum(start + within, 86_399.999)
    category = np.full(n, _CATEGORY_NAMES.index("digital_goods"))
    country = np.repeat(rng.integers(0, len(HOME_COUNTRIES), bursts), size)
    merchant = population.pick_merchants(rng, category, country)
    country = np.repeat(rng.choice(_RISKY_COUNTRIES, bursts), size)
    log_amount = np.log(rng.uniform(0.5, 4.0, n))
    device = np.repeat(2000 + rng.integers(0, 8000, bursts), size)
    channel = np.full(n, 2)
    return (
        card,
        merchant,
        category,
        country,
        log_amount,
        device,
        channel,
        seconds,
        np.ones(n, bool),
        np.ones(n, np.int8),
    )


def _takeovers(rng, config: GeneratorConfig, population: Population, takeovers: int):
    size = rng.integers(1, 5, takeovers)
    n = int(size.sum())
    card = np.repeat(rng.integers(0, config.n_cards, takeovers), size)
    seconds = np.minimum(np.repeat(_seconds_in_day(rng, takeovers), size) + rng.uniform(0, 3600, n), 86_399.999)
    risky = [_CATEGORY_NAMES.index(c) for c in ("electronics", "travel", "cash_withdrawal", "gambling")]
    category = rng.choice(risky, n)
    merchant = population.pick_merchants(rng, category, rng.integers(0, len(HOME_COUNTRIES), n))
    country = np.repeat(rng.choice(_RISKY_COUNTRIES, takeovers), size)
    log_amount = rng.normal(_CATEGORY_MU[category] + 1.2, 0.5)
    device = np.repeat(2000 + rng.integers(0, 8000, takeovers), size)
    channel = np.full(n, 2)
    return (
        card,
        merchant,
        category,
        country,
        log_amount,
        device,
        channel,
        seconds,
        np.ones(n, bool),
        np.full(n, 2, np.int8),
    )


def _quiet_fraud(rng, population: Population, count: int):
    """Concept drift: small night-time digital-goods payments on the card's own device in its home country."""
    size = rng.integers(2, 4, count)
    n = int(size.sum())
    card = np.repeat(rng.integers(0, len(population.card_home), count), size)
    seconds = np.minimum(np.repeat(rng.uniform(0, 4 * 3600, count), size) + rng.uniform(0, 1800, n), 86_399.999)
    category = np.full(n, _CATEGORY_NAMES.index("digital_goods"))
    country = population.card_home[card]
    merchant = population.pick_merchants(rng, category, country)
    log_amount = rng.normal(3.0, 0.3, n)
    device = np.zeros(n, dtype=np.int64)
    channel = np.full(n, 2)
    return (
        card,
        merchant,
        category,
        country,
        log_amount,
        device,
        channel,
        seconds,
        np.ones(n, bool),
        np.full(n, 4, np.int8),
    )


def _friendly_fraud(config, scenario, day_index, transactions, category, is_fraud, disputes) -> np.ndarray:
    """Which legitimate, undisputed small digital-goods payments their cardholder charges back as fraud."""
    rng = np.random.default_rng([config.seed, 5, day_index])
    amount = transactions.column("amount").to_numpy()
    disputed = pa.compute.is_in(transactions["transaction_id"], value_set=disputes["transaction_id"]).to_numpy(
        zero_copy_only=False
    )
    eligible = (
        (category == _CATEGORY_NAMES.index("digital_goods"))
        & (amount <= scenario.friendly_fraud_max_amount)
        & ~is_fraud
        & ~disputed
    )
    return eligible & (rng.random(len(amount)) < scenario.friendly_fraud_share)


def _chargebacks(rng, config: GeneratorConfig, transactions: pa.Table, is_fraud: np.ndarray) -> pa.Table:
    reported = np.flatnonzero(is_fraud & (rng.random(len(is_fraud)) < config.report_rate))
    duplicate = reported[rng.random(len(reported)) < config.duplicate_label_rate]
    rows = np.concatenate([reported, duplicate])
    delay_days = rng.gamma(2.0, config.label_delay_days / 2.0, len(rows)) / config.label_delay_compression
    delay_days[len(reported) :] += rng.uniform(0, 1, len(duplicate)) / config.label_delay_compression
    event = transactions.column("event_time").combine_chunks().cast(pa.int64()).to_numpy()[rows]
    label_time = event + (np.maximum(delay_days, 1e-6) * 86_400e6).astype(np.int64)
    order = np.argsort(label_time, kind="stable")
    return pa.table(
        {
            "transaction_id": pa.compute.take(transactions.column("transaction_id"), pa.array(rows[order])),
            "label_time": pa.array(label_time[order], type=pa.timestamp("us", tz="UTC")),
            "is_fraud": pa.array(np.ones(len(rows), dtype=np.int8), type=pa.int8()),
            "is_dispute": pa.array(np.zeros(len(rows), dtype=np.int8), type=pa.int8()),
        },
        schema=LABEL_ARROW_SCHEMA,
    )


_DISPUTE_WEIGHTS = {"travel": 3.0, "electronics": 2.5, "fashion": 2.0, "digital_goods": 1.5}
_DISPUTE_CATEGORY = np.array([_DISPUTE_WEIGHTS.get(name, 0.5) for name in _CATEGORY_NAMES])
"""Relative dispute propensity by category: goods not received and services not rendered cluster here."""


def _disputes(config, population, day_index, transactions, merchant, category, channel, is_fraud) -> pa.Table:
    """Customer disputes of legitimate payments (own random stream per day), arriving later than fraud chargebacks."""
    rng = np.random.default_rng([config.seed, 2, day_index])
    amount = transactions.column("amount").to_numpy()
    merchants = len(population.merchant_dispute)
    # Merchants that did not exist when the world was made (covariate drift) are new and dispute-prone.
    propensity = np.where(merchant < merchants, population.merchant_dispute[np.minimum(merchant, merchants - 1)], 3.0)
    probability = (
        config.dispute_rate
        * _DISPUTE_CATEGORY[category]
        * np.where(channel == 2, 1.8, 0.6)
        * propensity
        * np.clip(amount / 60.0, 0.2, 5.0) ** 0.5
    )
    rows = np.flatnonzero(~is_fraud & (rng.random(len(amount)) < np.minimum(probability, 0.5)))
    delay_days = rng.gamma(2.0, config.label_delay_days * config.dispute_delay_factor / 2.0, len(rows))
    delay_days /= config.label_delay_compression
    event = transactions.column("event_time").combine_chunks().cast(pa.int64()).to_numpy()[rows]
    label_time = event + (np.maximum(delay_days, 1e-6) * 86_400e6).astype(np.int64)
    return pa.table(
        {
            "transaction_id": pa.compute.take(transactions.column("transaction_id"), pa.array(rows)),
            "label_time": pa.array(label_time, type=pa.timestamp("us", tz="UTC")),
            "is_fraud": pa.array(np.zeros(len(rows), dtype=np.int8), type=pa.int8()),
            "is_dispute": pa.array(np.ones(len(rows), dtype=np.int8), type=pa.int8()),
        },
        schema=LABEL_ARROW_SCHEMA,
    )


def apply_quality_break(transactions: pa.Table, kind: str, share: float, rng: np.random.Generator) -> pa.Table:
    """Breaks `share` of the rows: country goes null, amount switches to cents, or 'grocery' becomes 'groceries'."""
    hit = pa.array(rng.random(len(transactions)) < share)
    if kind == "null_field":
        column, value = "country", pa.compute.if_else(hit, pa.scalar(None, pa.string()), transactions["country"])
    elif kind == "amount_cents":
        column, value = (
            "amount",
            pa.compute.if_else(hit, pa.compute.multiply(transactions["amount"], 100.0), transactions["amount"]),
        )
    elif kind == "renamed_category":
        renamed = pa.compute.replace_substring(transactions["merchant_category"], "grocery", "groceries")
        column, value = "merchant_category", pa.compute.if_else(hit, renamed, transactions["merchant_category"])
    else:
        raise ValueError(f"unknown quality break {kind!r}; expected one of {QUALITY_BREAKS}")
    return transactions.set_column(transactions.schema.get_field_index(column), column, value)


DEMO_WORLD = {"card_testing_bursts_per_day": 10.0, "takeovers_per_day": 10.0, "compromised_merchant_share": 0.03}
"""GeneratorConfig overrides of the demo and CI world (`tools/flywheel run`): five times the card-testing and
takeover rates and three times the compromised merchants, so that each merchant segment of a small history (2,000
cards, a few days) has enough labeled fraud to train a model of its own."""

DEMO_KNOBS = {
    "friendly_fraud": {"friendly_fraud_share": 0.5},
    "concept_drift": {"new_fraud_pattern_rate": 0.03},
    "covariate_drift": {"amount_inflation": 2.0, "new_merchant_share": 0.3},
}
"""Scenario knobs of the demo's drifts, strong enough to see within minutes (the presets are realistic, i.e. slow).
Friendly fraud (the main job's default) turns half of the small digital-goods payments into fraud and changes
nothing else: one merchant segment's concept drifts, every other model's inputs and labels stay exactly as they were.
The concept drift adds a new fraud pattern in digital goods: about a quarter of the digital segment's traffic, a
few percent of all traffic, which also moves what every model scoring all traffic sees (the hour and category mix)."""

SCENARIO_PRESETS: dict[str, Scenario] = {
    "normal": Scenario(),
    "covariate_drift": Scenario(amount_inflation=1.3, new_merchant_share=0.1),
    "concept_drift": Scenario(new_fraud_pattern_rate=0.005),
    "friendly_fraud": Scenario(friendly_fraud_share=0.05),
    **{kind: Scenario(quality_break=kind) for kind in QUALITY_BREAKS},
}
"""Named scenarios for demos, the live stream and end-to-end tests: no change, drift in the inputs, a new fraud
pattern, friendly fraud (labels only), or one data-quality break on every row (each applies from day 0; set
`start_day` to delay it)."""


def scenario_preset(name: str, **overrides) -> Scenario:
    """The named preset from SCENARIO_PRESETS, with any knob overridden; unknown names raise listing the choices."""
    if name not in SCENARIO_PRESETS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {sorted(SCENARIO_PRESETS)}")
    knobs = {f.name for f in fields(Scenario)}
    unknown = sorted(set(overrides) - knobs)
    if unknown:
        raise ValueError(f"unknown scenario knob(s) {unknown}; expected some of {sorted(knobs)}")
    return replace(SCENARIO_PRESETS[name], **overrides)


def generate(config: GeneratorConfig) -> Iterator[GeneratedDay]:
    """Every day of the data set in order, one at a time (memory holds one day)."""
    population = Population(config)
    for day_index in range(config.days):
        yield generate_day(config, population, day_index)


def with_scenario(config: GeneratorConfig, **knobs) -> GeneratorConfig:
    """A copy of `config` with scenario knobs changed."""
    return replace(config, scenario=replace(config.scenario, **knobs))


@dataclass(frozen=True)
class HistoryWritten:
    """What `write_history` wrote: row counts and the date partitions."""

    transactions: int
    labels: int
    frauds: int
    dates: tuple[str, ...]


def write_history(config: GeneratorConfig, root, chunk_rows: int = 1_000_000) -> HistoryWritten:
    """Writes transactions and chargebacks as Parquet partitioned by date under root/{transactions,chargebacks}/.

    One day is in memory at a time; each day's file is written in row groups of at most `chunk_rows`.
    Chargebacks are partitioned by the date of their *arrival*.
    """
    root = Path(root)
    transactions = labels = frauds = 0
    dates = []
    label_parts: dict[str, list[pa.Table]] = {}
    for generated in generate(config):
        date = generated.day.strftime("%Y-%m-%d")
        target = root / "transactions" / f"date={date}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(generated.transactions, target / "part-0.parquet", row_group_size=chunk_rows)
        transactions += generated.transactions.num_rows
        frauds += int(generated.is_fraud.sum())
        dates.append(date)
        arrival = pa.compute.strftime(generated.labels["label_time"], format="%Y-%m-%d")
        for label_date in pa.compute.unique(arrival).to_pylist():
            part = generated.labels.filter(pa.compute.equal(arrival, label_date))
            label_parts.setdefault(label_date, []).append(part)
        labels += generated.labels.num_rows
    for label_date, parts in sorted(label_parts.items()):
        target = root / "chargebacks" / f"date={label_date}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(parts), target / "part-0.parquet")
    return HistoryWritten(transactions=transactions, labels=labels, frauds=frauds, dates=tuple(dates))
