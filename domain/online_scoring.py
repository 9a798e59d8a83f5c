"""The fraud example's online feature function for the server's raw-transaction endpoint.

It implements serving's `FeatureFunction` interface (`transaction -> {feature name: value}`) with the same
feature declarations Spark uses for training (domain/features.py), reading each entity's state from the
online store that the `online_features` asset writes. It reads the store and never writes it: the state
moves forward when `online_features` is rematerialised, so several server workers can share one file.

Start the server with `--feature-function domain.online_scoring:OnlineTransactionFeatures`; the store path
comes from FLYWHEEL_ONLINE_FEATURES (default: the local lake's online/features.sqlite).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS
from domain.online_features import OnlineFeatureEngine
from domain.online_store import SqliteStateStore

DEFAULT_STORE = ".flywheel/lake/online/features.sqlite"


class OnlineTransactionFeatures:
    """Raw transaction + online state -> the model's features, by FeatureSpec name."""

    def __init__(self, store_path: str | None = None) -> None:
        self.store = SqliteStateStore(store_path or os.environ.get("FLYWHEEL_ONLINE_FEATURES", DEFAULT_STORE))
        self.engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)

    def __call__(self, transaction: Mapping[str, Any]) -> dict[str, float | str | None]:
        required = ("event_time", *self.engine.entities)
        missing = [name for name in required if transaction.get(name) in (None, "")]
        if missing:
            raise ValueError(f"transaction lacks {missing}; the fraud features need {list(required)}")
        event = dict(transaction)
        if isinstance(event["event_time"], str):
            try:
                event["event_time"] = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"event_time {transaction['event_time']!r} is not an ISO 8601 time") from None
        states = {
            entity: self.store.get_many(entity, [str(event[entity])]).get(str(event[entity]))
            for entity in self.engine.entities
        }
        return self.engine.compute(states, event)
