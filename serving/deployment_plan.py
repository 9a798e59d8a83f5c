"""A model's deployment: which versions answer its traffic and with what weights, and which versions shadow it.

One file per model in the served repository, `<model>/deployment.json`, written atomically by the rollout controller
(`assets/rollout.py`) and applied by every server worker on its next reload poll, whole or not at all: each version
it names must load and pass its checks first, otherwise the worker keeps what it serves and logs the refusal. Without
the file a model serves its pinned version (config.pbtxt), else its newest one, as Triton does.

Weights are whole percentages that sum to 100. Routing is sticky: an entity's bucket (crc32 of model name and
entity, mod 100) picks the version, the newer versions take the top buckets, so as a canary's weight grows the
entities it already had stay with it. Shadow versions score a mirror of the traffic; their answers are logged and
measured, never returned.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from serving import model_repository

DEPLOYMENT_FILE = "deployment.json"


class DeploymentError(ValueError):
    """A deployment that must not be applied: the message names the field and the problem."""


@dataclass(frozen=True)
class Deployment:
    """What one model serves. `rollout` is the controller's own state; servers ignore it."""

    weights: dict[int, int]
    """Percent of the model's traffic per version; they sum to 100."""
    shadow: tuple[int, ...] = ()
    """Versions that score a mirror of the traffic without answering it."""
    shadow_percent: int = 100
    """Share of the requests mirrored to the shadow versions (each request drawn at random)."""
    sequence: int = 0
    """Increases with every change; metrics of a rollout stage carry it, so each stage's evidence is its own."""
    sticky_key: str | None = None
    """Request field whose value keeps one entity on one version (for example a card id); None: per request."""
    rollbacks: int = 0
    """Automatic rollbacks of this model so far (exported as a gauge; the rollback alert fires when it changes)."""
    rollout: dict = field(default_factory=dict)
    """The rollout controller's state (stage, versions, limits, when the stage started); opaque to servers."""

    def __post_init__(self) -> None:
        problems = _problems(self.weights, self.shadow)
        if not 1 <= self.shadow_percent <= 100:
            problems.append(f"shadow_percent must be a whole percentage in [1, 100], got {self.shadow_percent}")
        if problems:
            raise DeploymentError("; ".join(problems))

    @functools.cached_property
    def versions(self) -> tuple[int, ...]:
        """Every version a server must hold: those with traffic and those shadowing, ascending (computed once: every
        request asks)."""
        return tuple(sorted({v for v, w in self.weights.items() if w > 0} | set(self.shadow)))

    @property
    def primary(self) -> int:
        """The version with the most traffic (the older one on a tie): what metadata endpoints report."""
        return max(self.weights, key=lambda v: (self.weights[v], -v))

    def same_serving(self, other: Deployment | None) -> bool:
        """Whether `other` routes and shadows exactly like this one (controller state aside)."""
        return (
            other is not None
            and self._traffic() == other._traffic()
            and set(self.shadow) == set(other.shadow)
            and self.shadow_percent == other.shadow_percent
            and self.sequence == other.sequence
            and self.sticky_key == other.sticky_key
        )

    def _traffic(self) -> dict[int, int]:
        return {v: w for v, w in self.weights.items() if w > 0}

    def route(self, model: str, entity: str | None) -> int:
        """The version that answers `entity` (sticky); with one weighted version, that one."""
        traffic = self._traffic()
        if len(traffic) == 1:
            return next(iter(traffic))
        key = entity if entity is not None else uuid.uuid4().hex
        bucket = zlib.crc32(f"{model}\x00{key}".encode()) % 100
        # older versions take the low buckets: a growing canary keeps the entities it had
        low = 0
        for version in sorted(traffic):
            low += traffic[version]
            if bucket < low:
                return version
        return max(traffic)

    def to_dict(self) -> dict:
        document = asdict(self)
        document["weights"] = {str(v): w for v, w in sorted(self.weights.items())}
        document["shadow"] = list(self.shadow)
        return document

    @classmethod
    def from_dict(cls, document: dict) -> Deployment:
        """Parses a deployment; anything malformed raises DeploymentError naming it."""
        if not isinstance(document, dict):
            raise DeploymentError(f"a deployment is a JSON object, got {type(document).__name__}")
        unknown = set(document) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise DeploymentError(f"unknown fields {sorted(unknown)}")
        raw = document.get("weights")
        if not isinstance(raw, dict) or not raw:
            raise DeploymentError("'weights' must be a non-empty object of version -> percent")
        try:
            weights = {int(v): _whole(w, f"weight of version {v}") for v, w in raw.items()}
            shadow = tuple(int(v) for v in document.get("shadow", ()))
        except (TypeError, ValueError) as error:
            raise DeploymentError(f"versions and weights must be whole numbers: {error}") from None
        return cls(
            weights=weights,
            shadow=shadow,
            shadow_percent=_whole(document.get("shadow_percent", 100), "shadow_percent"),
            sequence=int(document.get("sequence", 0)),
            sticky_key=document.get("sticky_key"),
            rollbacks=int(document.get("rollbacks", 0)),
            rollout=dict(document.get("rollout") or {}),
        )

    def next(self, **changes) -> Deployment:
        """A copy with `changes` and the next sequence number."""
        return replace(self, sequence=self.sequence + 1, **changes)


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise DeploymentError(f"{what} must be a whole percentage, got {value!r}")
    return int(value)


def _problems(weights: dict[int, int], shadow: tuple[int, ...]) -> list[str]:
    problems = []
    if not weights:
        problems.append("no version has traffic")
    if any(v < 1 for v in [*weights, *shadow]):
        problems.append(f"versions are positive integers, got {sorted({*weights, *shadow})}")
    if any(w < 0 or w > 100 for w in weights.values()):
        problems.append(f"weights are percentages in [0, 100], got {weights}")
    total = sum(weights.values())
    if weights and total != 100:
        problems.append(f"weights must sum to 100, got {total} ({weights})")
    serving = {v for v, w in weights.items() if w > 0}
    if serving & set(shadow):
        problems.append(f"versions {sorted(serving & set(shadow))} cannot both answer traffic and shadow it")
    if len(set(shadow)) != len(shadow):
        problems.append(f"shadow versions repeat: {list(shadow)}")
    return problems


def deployment_path(root: Path, name: str) -> Path:
    return Path(root) / name / DEPLOYMENT_FILE


def read_deployment(root: Path, name: str) -> Deployment | None:
    """The model's deployment, or None when it has none (it then serves its pinned or newest version)."""
    path = deployment_path(root, name)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise DeploymentError(f"{path} is not JSON: {error}") from None
    try:
        return Deployment.from_dict(document)
    except DeploymentError as error:
        raise DeploymentError(f"{path}: {error}") from None


def served_deployment(root: Path, name: str) -> Deployment | None:
    """The model's deployment file, else what it serves without one: its pinned version, else its newest complete one,
    at 100% (None when it has no complete version)."""
    deployment = read_deployment(root, name)
    if deployment is not None:
        return deployment
    version = model_repository.serving_version(root, name)
    return Deployment({version: 100}) if version is not None else None


def write_deployment(root: Path, name: str, deployment: Deployment) -> Path:
    """Writes the deployment atomically (a polling server reads the old file or the new one, never half)."""
    path = deployment_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    staging.write_text(json.dumps(deployment.to_dict(), indent=2, sort_keys=True))
    os.replace(staging, path)
    return path
