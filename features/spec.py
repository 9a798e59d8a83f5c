"""FeatureSpec: the contract between data, training, serving and monitoring.

The machinery reads column roles from a FeatureSpec instead of naming columns:
the training set has `entity_id`, `timestamp`, `label`, every numeric feature
(float32) and every categorical feature (string, from its vocabulary).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FeatureSpec:
    """Names and types of the model's inputs and of the columns that frame them."""

    entity_id: str
    """Unique id of one scored event (never a model input)."""
    timestamp: str
    """Event time; splits and point-in-time joins use it."""
    label: str
    """Binary target, 1 for the positive (rare) class."""
    numeric: tuple[str, ...]
    """Numeric model inputs, fed as float32."""
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical model inputs and their vocabularies; unknown values map to an out-of-vocabulary bucket."""
    version: str = "1"
    """Bumped by hand when a feature's meaning changes without its name changing."""

    def __post_init__(self) -> None:
        names = [*self.numeric, *self.categorical]
        if len(set(names)) != len(names):
            raise ValueError(f"feature names repeat: {sorted(n for n in names if names.count(n) > 1)}")
        reserved = {self.entity_id, self.timestamp, self.label} & set(names)
        if reserved:
            raise ValueError(f"{sorted(reserved)} are framing columns and cannot also be features")
        for name, vocab in self.categorical.items():
            if not vocab:
                raise ValueError(f"categorical feature '{name}' has an empty vocabulary")

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def to_dict(self) -> dict:
        """The spec as JSON-ready data (what a model repository keeps beside a served model). Categorical features
        are a list of [name, vocabulary] pairs: their order is the model input's column order, which a JSON object
        does not promise to keep (sort_keys would silently reorder the columns)."""
        return {
            "entity_id": self.entity_id,
            "timestamp": self.timestamp,
            "label": self.label,
            "numeric": list(self.numeric),
            "categorical": [[name, list(vocabulary)] for name, vocabulary in self.categorical.items()],
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        """The spec `to_dict` wrote; raises ValueError naming what is missing."""
        try:
            categorical = data.get("categorical", [])
            if isinstance(categorical, dict):
                raise TypeError("categorical must be a list of [name, vocabulary] pairs (an object loses the order)")
            return cls(
                entity_id=data["entity_id"],
                timestamp=data["timestamp"],
                label=data["label"],
                numeric=tuple(data["numeric"]),
                categorical={name: tuple(vocabulary) for name, vocabulary in categorical},
                version=str(data.get("version", "1")),
            )
        except (KeyError, TypeError, ValueError) as error:
            keys = sorted(data) if isinstance(data, dict) else data
            raise ValueError(f"not a FeatureSpec: {error!r} in {keys}") from None

    def definition_hash(self) -> str:
        """A short hash of the whole definition, tagged on every model version trained with it."""
        payload = json.dumps(asdict(self), sort_keys=True, default=list).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


def encode_categorical(vocabulary: tuple[str, ...], values) -> list[int]:
    """Vocabulary indices for model input: 1..len(vocabulary) for known values, 0 for anything else.

    Training and serving both encode through this function, so they agree by construction.
    """
    index = {value: i + 1 for i, value in enumerate(vocabulary)}
    return [index.get(value, 0) for value in values]
