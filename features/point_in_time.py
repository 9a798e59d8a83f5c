"""Point-in-time features and training sets with Spark, compiled from the declarative feature definitions.

Every window ends one microsecond before the event (`rangeBetween(..., -1)` on
event time in microseconds), so a feature at t sees only events strictly before t;
label rates count a label only from its arrival time on; the training set keeps a
label only if it arrived by the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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
)
from features.spec import FeatureSpec

_US = "_event_us"


def _before(*partition: str, lower=Window.unboundedPreceding):
    return Window.partitionBy(*partition).orderBy(_US).rangeBetween(lower, -1)


def _numeric(feature: NumericFeature) -> Column | None:
    """The Spark expression of one feature computed on the transactions themselves (None for label rates)."""
    if isinstance(feature, Passthrough):
        return F.col(feature.column).cast("double")
    if isinstance(feature, TimePart):
        if feature.part == "hour":
            return F.hour("_event_time").cast("double")
        return ((F.dayofweek("_event_time") + 5) % 7).cast("double")
    if isinstance(feature, WindowAggregate):
        window = _before(feature.entity, lower=-feature.window_seconds * 1_000_000)
        if feature.agg == "count":
            return F.count(F.lit(1)).over(window).cast("double")
        return F.coalesce(F.sum(F.col(feature.column).cast("double")).over(window), F.lit(0.0))
    if isinstance(feature, PriorStat):
        window = _before(feature.entity)
        count = F.count(F.lit(1)).over(window).cast("double")
        if feature.stat == "count":
            return count
        value = F.col(feature.column).cast("double")
        total = F.coalesce(F.sum(value).over(window), F.lit(0.0))
        mean = F.when(count > 0, total / count).otherwise(F.lit(0.0))
        if feature.stat == "mean":
            return mean
        squares = F.coalesce(F.sum(value * value).over(window), F.lit(0.0))
        variance = F.greatest(F.lit(0.0), (squares - total * total / count) / (count - 1))
        return F.when(count >= 2, (value - mean) / (F.sqrt(variance) + 1.0)).otherwise(F.lit(0.0))
    if isinstance(feature, SecondsSinceLast):
        last = F.max(_US).over(_before(feature.entity))
        seconds = F.least((F.col(_US) - last) / 1e6, F.lit(float(feature.cap_seconds)))
        return F.coalesce(seconds, F.lit(float(feature.cap_seconds)))
    if isinstance(feature, IsNew):
        seen = F.count(F.lit(1)).over(_before(feature.entity, feature.column))
        return F.when(seen == 0, F.lit(1.0)).otherwise(F.lit(0.0))
    if isinstance(feature, LabelRate):
        return None
    raise TypeError(f"unknown feature kind {type(feature).__name__}")


def _label_rate(
    feature: LabelRate, events: DataFrame, labels: DataFrame, id_column: str, label_column: str
) -> DataFrame:
    """id -> smoothed rate from a merged stream of transactions (+1 event) and label arrivals (+value positive)."""
    stream = events.select(
        F.col(id_column).alias("_id"),
        F.col(feature.entity).alias("_entity"),
        F.col(_US),
        F.lit(1.0).alias("_events"),
        F.lit(0.0).alias("_positives"),
        F.lit(True).alias("_query"),
    )
    arrivals = labels.join(events.select(id_column, feature.entity), on=id_column, how="inner").select(
        F.col(id_column).alias("_id"),
        F.col(feature.entity).alias("_entity"),
        F.unix_micros("label_time").alias(_US),
        F.lit(0.0).alias("_events"),
        F.col(label_column).cast("double").alias("_positives"),
        F.lit(False).alias("_query"),
    )
    window = Window.partitionBy("_entity").orderBy(_US).rangeBetween(Window.unboundedPreceding, -1)
    merged = stream.unionByName(arrivals)
    counted = merged.select(
        "_id",
        "_query",
        F.coalesce(F.sum("_events").over(window), F.lit(0.0)).alias("_n"),
        F.coalesce(F.sum("_positives").over(window), F.lit(0.0)).alias("_p"),
    )
    rate = (F.col("_p") + feature.prior_rate * feature.prior_weight) / (F.col("_n") + feature.prior_weight)
    return counted.where("_query").select(F.col("_id").alias(id_column), rate.alias(feature.name))


def compute_features(
    transactions: DataFrame,
    labels: DataFrame,
    numeric: tuple[NumericFeature, ...],
    categorical: tuple[Categorical, ...],
    spec: FeatureSpec,
) -> DataFrame:
    """One row per transaction: id, event time, every numeric feature (double) and categorical (string), point-in-time.

    `labels` has (id, label_time, the spec's label), one row per id (de-duplicated upstream).
    """
    missing = [f.name for f in numeric if f.name not in spec.numeric] + [
        f.name for f in categorical if f.name not in spec.categorical
    ]
    if missing:
        raise ValueError(f"features {missing} are not in the FeatureSpec; definitions and spec disagree")
    events = transactions.withColumn("_event_time", F.col(spec.timestamp)).withColumn(
        _US, F.unix_micros(spec.timestamp)
    )
    columns = [F.col(spec.entity_id), F.col(spec.timestamp)]
    for feature in numeric:
        expression = _numeric(feature)
        if expression is not None:
            columns.append(expression.alias(feature.name))
    columns += [F.col(f.column).cast("string").alias(f.name) for f in categorical]
    features = events.select(*columns)
    for feature in numeric:
        if isinstance(feature, LabelRate):
            features = features.join(
                _label_rate(feature, events, labels, spec.entity_id, spec.label), spec.entity_id, "left"
            )
    return features.select(spec.entity_id, spec.timestamp, *spec.numeric, *spec.categorical)


@dataclass(frozen=True)
class TrainingWindow:
    """Which transactions a training set may use and which labels it may know."""

    cutoff: datetime
    """Training time: only labels that arrived by now are known, only transactions before now are used."""
    label_maturity: timedelta
    """Transactions younger than this at the cutoff are left out (their chargebacks may still come)."""


def training_set(features: DataFrame, labels: DataFrame, spec: FeatureSpec, window: TrainingWindow) -> DataFrame:
    """Features with the label known at the cutoff (1 if a positive arrived by then, else 0); young rows dropped."""
    known = labels.where(F.col("label_time") <= F.lit(window.cutoff)).select(
        F.col(spec.entity_id), F.col(spec.label).cast("int").alias("_known")
    )
    newest = window.cutoff - window.label_maturity
    return (
        features.where(F.col(spec.timestamp) <= F.lit(newest))
        .join(known, spec.entity_id, "left")
        .withColumn(spec.label, F.coalesce(F.col("_known"), F.lit(0)).cast("int"))
        .select(spec.entity_id, spec.timestamp, spec.label, *spec.numeric, *spec.categorical)
    )


def deduplicate_labels(labels: DataFrame, id_column: str) -> DataFrame:
    """One label per id: the earliest arrival (a re-delivered chargeback changes nothing)."""
    first = Window.partitionBy(id_column).orderBy("label_time")
    return labels.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
