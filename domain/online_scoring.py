"""The example's online feature function for the server's raw-transaction endpoint.

It implements serving's `FeatureFunction` interface (`transaction -> {feature name: value}`) with the same
feature declarations Spark uses for training: the shared feature table of the declared models (FLYWHEEL_MODELS,
default domain/models.py), so one call computes every model's features and the server picks each model's own from
its FeatureSpec. It reads each entity's state from the
online store that the `online_features` asset publishes, plus the transactions this worker scored since
(see `OnlineTransactionFeatures`). It never writes the store, so several server workers can share one file.

Start the server with `--feature-function domain.online_scoring:OnlineTransactionFeatures`; the store path
comes from FLYWHEEL_ONLINE_FEATURES (default: the local lake's online/features.sqlite).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from features.model_declaration import feature_table
from features.online_engine import EntityState, OnlineFeatureEngine, to_micros
from features.online_store import SqliteStateStore
from features.references import load_reference

DEFAULT_STORE = ".flywheel/lake/online/features.sqlite"
DEFAULT_MODELS = "domain.models:MODELS"
RECENT_EVENTS = 10_000
"""Events whose features are kept for the other models that score the same event."""


class OnlineTransactionFeatures:
    """Raw transaction + online state -> the model's features, by FeatureSpec name.

    The store is opened read-only and reopened whenever `online_features` publishes a new file (it is renamed
    into place), so a long-running server follows the state forward. Between two publications, every scored
    transaction is folded into an in-memory overlay of its entities' states (read before the store), so velocity
    features see the traffic this worker scored since the store was built; a republished store replaces the
    overlay. Entities with label-rate features (merchant and category fraud rates) are not folded: the server
    never sees the labels, and counting payments without their chargebacks would bias those rates low (a
    training/serving skew the drift sensor duly reports); they move when the store is republished. With several
    workers each sees its own traffic: a shared store (Redis behind the same `StateStore` interface, written by a
    stream consumer) is the production answer. A missing store raises FileNotFoundError,
    which the server answers with 503: the features cannot be computed yet, the request itself is fine.
    """

    def __init__(self, store_path: str | None = None) -> None:
        self.path = Path(store_path or os.environ.get("FLYWHEEL_ONLINE_FEATURES", DEFAULT_STORE))
        table = feature_table(load_reference(os.environ.get("FLYWHEEL_MODELS", DEFAULT_MODELS)))
        self.engine = OnlineFeatureEngine(table.numeric_features, table.categorical_features)
        self._recent: OrderedDict[tuple, dict] = OrderedDict()
        """Features of the latest scored events (by their whole content): every model scoring one event (the fraud
        and the dispute model both score each payment) gets the same features, and the event is folded once."""
        self._store: SqliteStateStore | None = None
        self._identity: tuple[int, int] | None = None
        self._overlay: dict[tuple[str, str], EntityState] = {}
        self.late_events = 0
        """Scored events older than their entity's latest (scored, but not folded into the overlay)."""

    def store(self) -> SqliteStateStore:
        """The current published store (reopened when the file was replaced)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"online feature state {self.path} does not exist yet: materialize the online_features asset"
            ) from None
        identity = (stat.st_ino, stat.st_mtime_ns)
        if self._store is None or identity != self._identity:
            if self._store is not None:
                self._store.close()
            self._store, self._identity = SqliteStateStore(self.path, read_only=True), identity
            self._overlay.clear()
            self._recent.clear()
        return self._store

    def __call__(self, transaction: Mapping[str, Any]) -> dict[str, float | str | None]:
        required = ("event_time", *self.engine.entities)
        missing = [name for name in required if transaction.get(name) in (None, "")]
        if missing:
            raise ValueError(f"transaction lacks {missing}; the features need {list(required)}")
        event = dict(transaction)
        if isinstance(event["event_time"], str):
            try:
                event["event_time"] = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"event_time {transaction['event_time']!r} is not an ISO 8601 time") from None
        store = self.store()  # before the cache: a republished store also empties it
        cached = tuple(sorted((name, str(value)) for name, value in transaction.items()))
        if cached in self._recent:
            self._recent.move_to_end(cached)
            return dict(self._recent[cached])
        keys = {entity: str(event[entity]) for entity in self.engine.entities}
        states = {
            entity: self._overlay.get((entity, key)) or store.get_many(entity, [key]).get(key)
            for entity, key in keys.items()
        }
        features = self.engine.compute(states, event)
        self._fold(states, keys, event)
        self._recent[cached] = dict(features)
        if len(self._recent) > RECENT_EVENTS:
            self._recent.popitem(last=False)
        return features

    def _fold(self, states: dict[str, EntityState | None], keys: dict[str, str], event: dict) -> None:
        """Applies the scored event to its entities' states in the overlay (time order only; late events skip)."""
        micros = to_micros(event["event_time"])
        if any(state is not None and state.latest is not None and micros < state.latest for state in states.values()):
            self.late_events += 1
            return
        # In place: a state is either the overlay's own or freshly decoded from the store for this request, and
        # the server calls this from its one event-loop thread, so nothing else sees it half-updated.
        updated = {entity: state for entity, state in states.items() if state is not None}
        self.engine.apply_event(updated, event)
        for entity, key in keys.items():
            if not self.engine.needs[entity].label_counter:
                self._overlay[(entity, key)] = updated[entity]
