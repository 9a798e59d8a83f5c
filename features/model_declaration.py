"""A model declared once, as data: what it predicts, how it is trained, gated, watched, retrained and served.

The machinery reads everything model-specific from a `ModelDeclaration`; a worked example (domain/) declares its
models and `assets/` wires the list in. `check_declarations` refuses a bad list at definitions load, before anything
is built, with one message that names the model and the field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from features.definitions import (
    Categorical,
    IsNew,
    LabelRate,
    NumericFeature,
    Passthrough,
    PriorStat,
    SecondsSinceLast,
    TimePart,
    WindowAggregate,
    spec_of,
)
from features.spec import FeatureSpec

GATE_METRICS = ("pr_auc", "roc_auc", "recall_at_fpr")
"""Metrics a gate may compare on (higher is better); training.metrics.binary_metrics computes each of them."""
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DeclarationError(ValueError):
    """A model declaration that cannot be built; the message names the model and the field."""

    def __init__(self, model: str, field_name: str, problem: str) -> None:
        super().__init__(f"model '{model}', field '{field_name}': {problem}")
        self.model, self.field_name = model, field_name


@dataclass(frozen=True)
class GateDeclaration:
    """What a challenger must show to replace the champion: a margin on one metric, floors and behaviour."""

    primary_metric: str = "pr_auc"
    """The metric the challenger must improve, one of GATE_METRICS (higher is better)."""
    min_improvement: float = 0.005
    """Absolute margin over the champion's primary metric."""
    increasing: tuple[str, ...] = ()
    """Features that must not lower the score when they rise (the model's known risk signals)."""
    decreasing: tuple[str, ...] = ()
    """Features that must not raise the score when they rise."""
    min_quality: dict[str, float] = field(default_factory=lambda: {"pr_auc": 0.05, "roc_auc": 0.6})
    """Floors on holdout metrics (names from GATE_METRICS)."""
    max_ece: float = 0.2
    """Largest expected calibration error on the holdout."""


@dataclass(frozen=True)
class DriftDeclaration:
    """How the model's served traffic is compared with its training data."""

    exempt: tuple[str, ...] = ()
    """Features left out of drift statistics (ones that move with time by construction, such as lifetime counts)."""
    window_rows: int = 2000
    """Rows per drift window and per calibration window."""
    false_alarm_rate: float = 0.01
    """Share of no-drift windows allowed to alarm (the calibration target)."""


@dataclass(frozen=True)
class RetrainBudget:
    """How often the automation may retrain this model."""

    daily_runs: int = 2
    """Retraining requests allowed per UTC day."""
    cooldown_minutes: float = 360.0
    """Minimum time between two retraining requests."""


@dataclass(frozen=True)
class RolloutDeclaration:
    """How a new champion reaches all of the model's traffic: shadow, then canary stages, each held until its
    evidence is in, and rolled back as soon as the evidence says it is worse (serving/rollout_policy.py)."""

    stages: tuple[int, ...] = (0, 5, 25, 100)
    """Percent of traffic the new version answers at each stage; 0 is the shadow stage (it scores a mirror of the
    traffic, nobody sees its answers); the last stage must be 100. (100,) switches at once."""
    shadow_percent: int = 25
    """Share of the requests mirrored to the new version in the shadow stage: its evidence at a quarter of the
    traffic comes in seconds, and the served traffic pays a quarter of the mirroring's CPU (docs/bench/rollout.md)."""
    sticky_key: str | None = None
    """Request field that keeps one entity on one version during a canary (for example a card id); None: the
    transaction id, so each request is drawn on its own."""
    min_requests: int = 200
    """Requests the new version must have scored in a stage before the stage can end."""
    min_stage_seconds: float = 30.0
    """Shortest time a stage is held."""
    max_stage_seconds: float = 3600.0
    """A stage that has not seen `min_requests` by then holds with that reason in the sensor (never promotes)."""
    max_error_rate_increase: float = 0.002
    """Rollback when the new version's error rate (failed runs and NaN or out-of-range scores) exceeds the serving
    version's by more than this."""
    max_latency_ratio: float = 2.0
    """Rollback when the new version's median or p99 model run time is over this many times the serving version's,
    and over it by more than the slack below (so microsecond noise on a fast model is no reason)."""
    median_slack_seconds: float = 0.0005
    """Slack on the median: a canary's few runs on a busy machine move it by a fraction of a millisecond."""
    p99_slack_seconds: float = 0.025
    """Slack on the p99: a runtime call descheduled on a busy machine takes tens of milliseconds, and a small
    canary's p99 rests on few runs; a slower model shows in the median first."""
    divergence_false_alarm: float = 0.001
    """False-rollback rate the score-divergence limit is calibrated for, on the gate's holdout pairs."""
    divergence_tolerance: float = 1.5
    """Factor on the calibrated limit: the live engines may be optimised variants of the nets the gate compared,
    and live traffic is not exactly the holdout. A challenger "far" from the champion is many times over it."""
    divergence_window: int = 200
    """Paired shadow rows the divergence statistic needs (the limit is calibrated for windows of this size)."""
    min_labeled_rows: int = 500
    """Labeled predictions each version needs before labeled quality is compared."""
    max_quality_drop: float = 0.02
    """Rollback when the new version's labeled quality (the gate's metric) is lower by more than this."""


@dataclass(frozen=True)
class Segment:
    """A slice of another model's traffic that has a model of its own (Uber Michelangelo's partitioned models).

    The segment's model trains on the parent's events whose `column` holds one of `values`; the server sends those
    requests for the parent to it while it has a version loaded, and to the parent otherwise (no champion yet, or
    a training set too small to train one).
    """

    parent: str
    """Name of the declared model whose requests this segment takes (the fallback); it must not be a segment."""
    column: str
    """Event column that decides the segment (present in the raw event the server scores)."""
    values: tuple[str, ...]
    """Values of `column` that belong to this segment; segments of one parent must not share a value."""
    min_rows: int = 1200
    """A training set with fewer rows is refused: the parent keeps serving the segment (below ~1,200 rows the drift
    reference cannot calibrate its thresholds on 30 windows of 10 rows from the newest quarter)."""
    min_positives: int = 20
    """A training set with fewer positive labels is refused likewise."""

    def route(self, parent_served_name: str) -> dict:
        """What the server needs to route: the parent's serving name, the column and the values."""
        return {"parent": parent_served_name, "column": self.column, "values": list(self.values)}


@dataclass(frozen=True)
class ModelDeclaration:
    """One model, declared once; every stage of the machinery reads it instead of naming columns or models."""

    name: str
    """Identifier: lower-case letters, digits and '_', starting with a letter (asset groups and paths use it)."""
    spec: FeatureSpec
    """Entity id, timestamp, label and the model's inputs."""
    numeric_features: tuple[NumericFeature, ...]
    """How each numeric input is computed (Spark for training, the online engine for serving), in spec order."""
    categorical_features: tuple[Categorical, ...] = ()
    """How each categorical input is read, in spec order."""
    label_maturity: timedelta = timedelta(days=7)
    """Age after which a prediction without a label counts as a negative (labels arrive late)."""
    registered_model: str = ""
    """MLflow registered model name; default '<name>-model'."""
    served_name: str = ""
    """Model name on the inference server (/v2/models/<served_name>); default the declaration's name."""
    training_config: str | None = None
    """Training YAML path or built-in name; None means the stack's (FLYWHEEL_TRAINING_CONFIG)."""
    gate: GateDeclaration = field(default_factory=GateDeclaration)
    drift: DriftDeclaration = field(default_factory=DriftDeclaration)
    budget: RetrainBudget = field(default_factory=RetrainBudget)
    rollout: RolloutDeclaration = field(default_factory=RolloutDeclaration)
    segment: Segment | None = None
    """Set for a partitioned model: the slice of the parent's traffic it serves."""

    def __post_init__(self) -> None:
        if not self.registered_model:
            object.__setattr__(self, "registered_model", f"{self.name.replace('_', '-')}-model")
        if not self.served_name:
            object.__setattr__(self, "served_name", self.name)

    def source_columns(self) -> dict[str, str]:
        """Event columns the feature definitions read, each with the field that reads it ('feature x: entity')."""
        columns = {self.spec.entity_id: "spec.entity_id", self.spec.timestamp: "spec.timestamp"}
        for feature in self.numeric_features:
            for role in ("column", "entity"):
                value = getattr(feature, role, None)
                if value:
                    columns.setdefault(value, f"numeric_features '{feature.name}'.{role}")
        for feature in self.categorical_features:
            columns.setdefault(feature.column, f"categorical_features '{feature.name}'.column")
        if self.segment is not None:
            columns.setdefault(self.segment.column, "segment.column")
        return columns


_NUMERIC_KINDS = (Passthrough, TimePart, WindowAggregate, PriorStat, SecondsSinceLast, IsNew, LabelRate)


def check_declaration(model: ModelDeclaration, event_columns: Collection[str], label_columns: Collection[str]) -> None:
    """Raises DeclarationError for the first thing in `model` that cannot be built on data with these columns."""
    name = model.name
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(str(name), "name", "must be lower-case letters, digits and '_', starting with a letter")
    spec = model.spec
    numeric = tuple(f.name for f in model.numeric_features)
    if numeric != spec.numeric:
        unknown = sorted(set(spec.numeric) - set(numeric)) or sorted(set(numeric) - set(spec.numeric))
        raise DeclarationError(
            name, "numeric_features", f"does not match spec.numeric in names or order (unknown or missing: {unknown})"
        )
    categorical = tuple(f.name for f in model.categorical_features)
    if categorical != tuple(spec.categorical):
        raise DeclarationError(
            name, "categorical_features", f"{list(categorical)} do not match spec.categorical {list(spec.categorical)}"
        )
    for field_name, features, kinds in (
        ("numeric_features", model.numeric_features, _NUMERIC_KINDS),
        ("categorical_features", model.categorical_features, (Categorical,)),
    ):
        for feature in features:
            if not isinstance(feature, kinds):
                raise DeclarationError(name, field_name, f"{feature!r} is not one of {[k.__name__ for k in kinds]}")
    for column, where in model.source_columns().items():
        if column not in event_columns:
            raise DeclarationError(
                name, where, f"reads column '{column}', which the events do not have {sorted(event_columns)}"
            )
    if spec.label not in label_columns:
        raise DeclarationError(
            name, "spec.label", f"'{spec.label}' is not a column of the labels {sorted(label_columns)}"
        )
    features = set(spec.features)
    for field_name, names in (
        ("gate.increasing", model.gate.increasing),
        ("gate.decreasing", model.gate.decreasing),
        ("drift.exempt", model.drift.exempt),
    ):
        unknown = sorted(set(names) - features)
        if unknown:
            raise DeclarationError(
                name, field_name, f"unknown features {unknown}; the model's features are {sorted(features)}"
            )
    if model.gate.primary_metric not in GATE_METRICS:
        raise DeclarationError(
            name, "gate.primary_metric", f"'{model.gate.primary_metric}' is not one of {GATE_METRICS}"
        )
    unknown_floors = sorted(set(model.gate.min_quality) - set(GATE_METRICS))
    if unknown_floors:
        raise DeclarationError(name, "gate.min_quality", f"unknown metrics {unknown_floors}; known: {GATE_METRICS}")
    if model.label_maturity <= timedelta(0):
        raise DeclarationError(name, "label_maturity", "must be positive")
    if model.drift.window_rows < 50 or not 0 < model.drift.false_alarm_rate < 0.5:
        raise DeclarationError(name, "drift", "window_rows must be >= 50 and false_alarm_rate in (0, 0.5)")
    if model.budget.daily_runs < 0 or model.budget.cooldown_minutes < 0:
        raise DeclarationError(name, "budget", "daily_runs and cooldown_minutes must not be negative")
    rollout = model.rollout
    stages = rollout.stages
    if not stages or stages[-1] != 100 or any(not 0 <= p <= 100 for p in stages) or list(stages) != sorted(set(stages)):
        raise DeclarationError(name, "rollout.stages", f"must rise strictly from 0-100 and end at 100, got {stages}")
    if rollout.min_requests < 1 or rollout.divergence_window < 10 or not 0 < rollout.divergence_false_alarm < 0.5:
        raise DeclarationError(
            name, "rollout", "min_requests >= 1, divergence_window >= 10 and divergence_false_alarm in (0, 0.5)"
        )
    if not 1 <= rollout.shadow_percent <= 100:
        raise DeclarationError(name, "rollout.shadow_percent", "must be a whole percentage in [1, 100]")
    if rollout.divergence_tolerance < 1:
        raise DeclarationError(name, "rollout.divergence_tolerance", "must be >= 1 (it widens the calibrated limit)")
    if rollout.min_stage_seconds < 0 or rollout.max_stage_seconds < rollout.min_stage_seconds:
        raise DeclarationError(name, "rollout", "need 0 <= min_stage_seconds <= max_stage_seconds")
    segment = model.segment
    if segment is not None:
        if not segment.values or not all(isinstance(v, str) and v for v in segment.values):
            raise DeclarationError(name, "segment.values", "must be a non-empty tuple of non-empty strings")
        if segment.min_rows < 1 or segment.min_positives < 1:
            raise DeclarationError(name, "segment", "min_rows and min_positives must be at least 1")


def _check_segments(models: Sequence[ModelDeclaration]) -> None:
    """Each segment's parent is a declared, unsegmented model with the same label; a segment can have data (its
    values are in the vocabulary of a categorical feature reading its column); siblings do not overlap."""
    by_name = {m.name: m for m in models}
    vocabularies = {
        feature.column: (feature.vocabulary, f"{m.name}.{feature.name}")
        for m in models
        for feature in m.categorical_features
    }
    claimed: dict[tuple[str, str, str], str] = {}
    for model in models:
        segment = model.segment
        if segment is None:
            continue
        parent = by_name.get(segment.parent)
        if parent is None or parent is model:
            known = sorted(n for n in by_name if n != model.name)
            raise DeclarationError(
                model.name, "segment.parent", f"'{segment.parent}' is not another declared model {known}"
            )
        if parent.segment is not None:
            raise DeclarationError(
                model.name, "segment.parent", f"'{parent.name}' is itself a segment; a parent must be a whole model"
            )
        if parent.spec.label != model.spec.label:
            raise DeclarationError(
                model.name,
                "spec.label",
                f"'{model.spec.label}' differs from its parent '{parent.name}''s '{parent.spec.label}': a segment "
                "predicts the parent's target on a slice of its traffic",
            )
        if segment.column in vocabularies:
            vocabulary, where = vocabularies[segment.column]
            never = sorted(set(segment.values) - set(vocabulary))
            if never:
                raise DeclarationError(
                    model.name,
                    "segment.values",
                    f"{never} never occur in column '{segment.column}' (vocabulary of {where}: {list(vocabulary)}): "
                    "the segment would have no data",
                )
        for value in segment.values:
            other = claimed.setdefault((segment.parent, segment.column, value), model.name)
            if other != model.name:
                raise DeclarationError(
                    model.name,
                    "segment.values",
                    f"'{value}' of '{segment.column}' is also claimed by segment '{other}' of '{segment.parent}'",
                )
        columns = {m.segment.column for m in models if m.segment is not None and m.segment.parent == segment.parent}
        if len(columns) > 1:
            raise DeclarationError(
                model.name,
                "segment.column",
                f"segments of '{segment.parent}' split on different columns {sorted(columns)}",
            )


def check_declarations(
    models: Sequence[ModelDeclaration], event_columns: Collection[str], label_columns: Collection[str]
) -> tuple[ModelDeclaration, ...]:
    """Every declaration checked, and no two claiming one name, registered model or serving name; returns them."""
    if not models:
        raise DeclarationError("-", "models", "no model is declared")
    for model in models:
        if not isinstance(model, ModelDeclaration):
            raise DeclarationError(str(model)[:40], "models", "is not a ModelDeclaration")
        check_declaration(model, event_columns, label_columns)
    for field_name in ("name", "registered_model", "served_name"):
        counts = Counter(getattr(m, field_name) for m in models)
        for value, count in counts.items():
            if count > 1:
                claimants = [m.name for m in models if getattr(m, field_name) == value]
                raise DeclarationError(
                    claimants[-1], field_name, f"'{value}' is claimed by {count} models: {claimants}"
                )
    _check_segments(models)
    return tuple(models)


def too_little_data(segment: Segment, rows: int, positives: int) -> str | None:
    """Why a segment's training set is too small to train on (None when it is big enough)."""
    if rows < segment.min_rows:
        return f"{rows} rows, fewer than min_rows={segment.min_rows}"
    if positives < segment.min_positives:
        return f"{positives} positive labels, fewer than min_positives={segment.min_positives}"
    return None


def segment_route(model: ModelDeclaration, models: Sequence[ModelDeclaration]) -> dict | None:
    """The server's routing rule for a segment model (None for a whole model), with its parent's serving name."""
    if model.segment is None:
        return None
    parent = next(m for m in models if m.name == model.segment.parent)
    return model.segment.route(parent.served_name)


@dataclass(frozen=True)
class FeatureTable:
    """The features every declared model reads, computed once per event (the shared feature table)."""

    numeric_features: tuple[NumericFeature, ...]
    categorical_features: tuple[Categorical, ...]
    spec: FeatureSpec
    """All the columns, framed by the models' shared entity id and timestamp; label-rate features count the first
    model's label."""


def feature_table(models: Sequence[ModelDeclaration]) -> FeatureTable:
    """The union of the models' feature definitions; one name must mean one definition across models."""
    if not models:
        raise DeclarationError("-", "models", "no model is declared")
    first = models[0]
    numeric: dict[str, NumericFeature] = {}
    categorical: dict[str, Categorical] = {}
    for model in models:
        for field_name in ("entity_id", "timestamp"):
            if getattr(model.spec, field_name) != getattr(first.spec, field_name):
                raise DeclarationError(
                    model.name,
                    f"spec.{field_name}",
                    f"'{getattr(model.spec, field_name)}' differs from model '{first.name}''s "
                    f"'{getattr(first.spec, field_name)}'; models share one feature table per event",
                )
        for table, features, field_name in (
            (numeric, model.numeric_features, "numeric_features"),
            (categorical, model.categorical_features, "categorical_features"),
        ):
            for feature in features:
                known = table.setdefault(feature.name, feature)
                if known != feature:
                    raise DeclarationError(
                        model.name, field_name, f"'{feature.name}' is defined differently by another model: {known}"
                    )
    spec = spec_of(
        first.spec.entity_id,
        first.spec.timestamp,
        first.spec.label,
        tuple(numeric.values()),
        tuple(categorical.values()),
    )
    return FeatureTable(tuple(numeric.values()), tuple(categorical.values()), spec)
