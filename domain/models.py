"""The worked example's models, declared as data: the list `assets/` builds every per-model stage from.

Two tasks from the same payments and chargebacks:
- **fraud** (label `is_fraud`, PR-AUC), partitioned the way Uber's Michelangelo partitions models: one model per
  merchant segment (everyday spend, digital goods, high-risk goods and cash) and a global parent, `fraud`, that
  serves any segment without a champion of its own. Clients send every transaction to `fraud`; the server routes.
- **dispute** (label `is_dispute`, ROC-AUC): will the customer dispute this legitimate payment? Other label, other
  features, other metric.

Add a model by adding a declaration here (and, if it needs new features, their definitions in domain/features.py);
nothing in the machinery names a model. `FLYWHEEL_MODELS` (module:ATTRIBUTE) points the definitions at another list.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.features import (
    DISPUTE_CATEGORICAL_DEFINITIONS,
    DISPUTE_FEATURE_DEFINITIONS,
    DISPUTE_FEATURES,
    FRAUD_CATEGORICAL_DEFINITIONS,
    FRAUD_DRIFT_EXEMPT,
    FRAUD_FEATURE_DEFINITIONS,
    FRAUD_FEATURES,
)
from features.model_declaration import (
    DriftDeclaration,
    GateDeclaration,
    ModelDeclaration,
    RetrainBudget,
    RolloutDeclaration,
    Segment,
)

FRAUD_RISK_SIGNALS = ("merchant_fraud_rate", "card_txn_count_1h")
"""Known risk signals: the model must not lower the score when they rise. A new device is deliberately not on the
list: the example's concept drift is fraud on the card's own device, and a model that adapts to it may rightly lean
less on device novelty; a gate that forbade that would keep the stale champion serving."""

CARD_ROLLOUT = RolloutDeclaration(
    stages=(0, 10, 50, 100),
    sticky_key="card_id",
    min_requests=150,
    min_stage_seconds=20.0,
    # The shadow's batcher gathers up to 2 ms of mirrored requests, so on this model its batches, and their run
    # times, are several times the served ones' (a CI main job: p99 3.7 ms against 1.2 ms); a 5 ms slack on the
    # median still rolls back a version 20x slower than the ~0.3 ms this model takes per batch.
    median_slack_seconds=0.005,
)
"""A retrained model shadows the serving one, then answers 10% and 50% of the cards before all of them; a card
stays on one version while the canary grows. Short holds: the example's traffic reaches 150 requests per stage in
seconds, so the loop closes within minutes."""

FRAUD = ModelDeclaration(
    name="fraud",
    spec=FRAUD_FEATURES,
    numeric_features=FRAUD_FEATURE_DEFINITIONS,
    categorical_features=FRAUD_CATEGORICAL_DEFINITIONS,
    label_maturity=timedelta(days=7),  # chargebacks arrive within days; a week without one counts as legitimate
    registered_model="fraud-model",
    served_name="fraud",
    gate=GateDeclaration(primary_metric="pr_auc", min_improvement=0.005, increasing=FRAUD_RISK_SIGNALS),
    drift=DriftDeclaration(exempt=FRAUD_DRIFT_EXEMPT, window_rows=2000, false_alarm_rate=0.01),
    budget=RetrainBudget(daily_runs=2, cooldown_minutes=360.0),
    rollout=CARD_ROLLOUT,
)
"""Card-payment fraud on all traffic: the global parent, serving every segment that has no champion of its own."""

MERCHANT_SEGMENTS = {
    "everyday": ("grocery", "restaurant", "fuel", "fashion", "pharmacy"),
    "digital": ("digital_goods", "electronics"),
    "high_risk": ("travel", "cash_withdrawal", "gambling"),
}
"""The fraud model's segments by merchant category: each has fraud patterns of its own (compromised merchants;
card testing and takeovers buying electronics; takeovers cashing out)."""


def fraud_segment(segment: str, categories: tuple[str, ...]) -> ModelDeclaration:
    """The fraud model of one merchant segment: the parent's features and gate, its own data, drift and budget."""
    return replace(
        FRAUD,
        name=f"fraud_{segment}",
        registered_model="",
        served_name="",
        segment=Segment(parent=FRAUD.name, column="merchant_category", values=categories),
        # Each segment sees a share of the traffic: a shorter window keeps its drift verdict as timely.
        drift=replace(FRAUD.drift, window_rows=500),
    )


FRAUD_SEGMENTS = tuple(fraud_segment(name, categories) for name, categories in MERCHANT_SEGMENTS.items())

DISPUTE = ModelDeclaration(
    name="dispute",
    spec=DISPUTE_FEATURES,
    numeric_features=DISPUTE_FEATURE_DEFINITIONS,
    categorical_features=DISPUTE_CATEGORICAL_DEFINITIONS,
    label_maturity=timedelta(days=21),  # disputes come later than fraud chargebacks
    gate=GateDeclaration(primary_metric="roc_auc", min_improvement=0.005, min_quality={"roc_auc": 0.55}),
    drift=DriftDeclaration(window_rows=2000, false_alarm_rate=0.01),
    budget=RetrainBudget(daily_runs=1, cooldown_minutes=720.0),
    rollout=CARD_ROLLOUT,
)
"""Customer disputes of legitimate payments: a second task on the same events, judged on ROC-AUC."""

MODELS = (FRAUD, *FRAUD_SEGMENTS, DISPUTE)
"""Every model of the worked example: the fraud parent, its three segments, and the dispute model."""
