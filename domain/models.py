"""The worked example's models, declared as data: the list `assets/` builds every per-model stage from.

Add a model by adding a declaration here (and, if it needs new features, their definitions in domain/features.py);
nothing in the machinery names a model. `FLYWHEEL_MODELS` (module:ATTRIBUTE) points the definitions at another list.
"""

from __future__ import annotations

from datetime import timedelta

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_DRIFT_EXEMPT, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
from features.model_declaration import DriftDeclaration, GateDeclaration, ModelDeclaration, RetrainBudget

FRAUD_RISK_SIGNALS = ("merchant_fraud_rate", "card_txn_count_1h")
"""Known risk signals: the model must not lower the score when they rise. A new device is deliberately not on the
list: the example's concept drift is fraud on the card's own device, and a model that adapts to it may rightly lean
less on device novelty; a gate that forbade that would keep the stale champion serving."""

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
)
"""Card-payment fraud: one score per transaction, labelled by late chargebacks, judged on PR-AUC."""

MODELS = (FRAUD,)
"""Every model of the worked example."""
