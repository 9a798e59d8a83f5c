"""The closed loop, per declared model: feedback from late labels, drift and performance sensors that retrain it,
automatic redeploys.

`loop_stages(declaration)` builds each model's `<model>_drift_reference` and `<model>_labeled_predictions` assets,
its `<model>_drift_sensor`, `<model>_performance_sensor` and fallback schedule; window, exempt features,
false-alarm rate, label maturity, cooldown and daily budget come from the declaration, the stack-wide settings
(ticks, settle, the cap on concurrent retraining runs) from `LoopResource`. Sensors are thin: they read the model's
recent traffic or labeled quality, call monitoring/ (evaluate_drift, evaluate_labeled_quality, decide_retrain) and
turn a `retrain` decision into one run request per episode. Every decision, with its statistics and thresholds, is
the tick's skip reason or the run's tags, and the model's retraining state lives in its sensor's cursor.
"""

import dataclasses
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field

from assets.data_assets import KafkaResource, LakeResource
from assets.deployment import deployment_key, engine_key
from assets.mlflow_tracking import MlflowTracking
from assets.model_gate import evaluation_key
from assets.model_training import image_markdown, model_key, training_set_key
from assets.runs_in_flight import in_flight_count, in_flight_run
from assets.stack_environment import STACK
from dataplane.ingestion.kafka_sink import IngestSettings, ParquetOffsetSink, ingest
from dataplane.ingestion.recent_records import KafkaUnavailableError, check_reachable, read_recent_by
from features.model_declaration import ModelDeclaration
from monitoring.drift_plot import plot_drift_report
from monitoring.drift_report import DriftThresholds, evaluate_drift
from monitoring.feedback_join import join_labels, quality_by_version
from monitoring.labeled_quality import QualityReference, evaluate_labeled_quality, quality_reference
from monitoring.performance_estimation import ESTIMABLE, estimate_metric
from monitoring.pipeline_metrics import write_drift_snapshot, write_quality_snapshot, write_retraining_snapshot
from monitoring.quality_plot import estimated_quality_timeline, plot_quality_timeline, quality_timeline
from monitoring.reference_profile import ReferenceProfile, build_reference_profile
from monitoring.retrain_decision import RETRAIN, RetrainPolicy, RetrainState, decide_retrain
from monitoring.threshold_calibration import MIN_CALIBRATION_WINDOWS, calibrate_thresholds, consecutive_windows

RETRAINING_TAG = "flywheel/retraining"
"""Tag of every retraining run, whoever requested it: the in-flight checks, the cap and the cooldown look for it."""
MODEL_TAG = "flywheel/model"
"""Tag naming the declared model a retraining run is for."""
CHARGEBACK_LABELS = dg.AssetKey("chargeback_labels")
SHARED_RETRAINING_ASSETS = [
    dg.AssetKey("streamed_transactions"),
    CHARGEBACK_LABELS,
    dg.AssetKey("validated_transactions"),
    dg.AssetKey("transaction_features"),
]
"""What every retraining run first refreshes: the traffic and labels that arrived since the last run, validated,
and the shared features."""


def drift_reference_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_drift_reference")


def labeled_predictions_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_labeled_predictions")


def retraining_assets(model: ModelDeclaration) -> list[dg.AssetKey]:
    """A retraining run of one model: the shared ingest and features, then its training set, training, gate and
    the new version's drift reference (the engine and deployment follow by automation on a new champion)."""
    return [
        *SHARED_RETRAINING_ASSETS,
        training_set_key(model),
        model_key(model),
        evaluation_key(model),
        drift_reference_key(model),
    ]


PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("transaction_id", pa.string()),
        pa.field("model", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("score", pa.float64()),
        pa.field("time", pa.float64()),
    ]
)


class LoopResource(dg.ConfigurableResource):
    """Stack-wide settings of the closed loop; each model's own window, thresholds and budget are declared."""

    predictions_topic: str = Field(default="predictions", description="Kafka topic of the server's prediction log.")
    clear_ticks: int = Field(default=3, description="Quiet ticks in a row that close a drift episode.")
    confirm_ticks: int = Field(
        default=2, description="Alarming ticks in a row that open a drift episode (debounces false alarms)."
    )
    settle_seconds: float = Field(
        default=0.0,
        description="How long an episode must be open before its retraining is requested, so that the new regime "
        "reaches the training split and not only the holdout.",
    )
    max_concurrent_retraining: int = Field(
        default=1,
        description="Retraining runs in flight at once across all models; a model whose episode finds the cap "
        "reached waits (its episode stays open, the skip reason says so) and is requested on a later tick. Runs "
        "refresh the shared ingest and features, so the default keeps them one at a time.",
    )
    snapshot_dir: str = Field(
        default=".flywheel/monitoring/snapshots", description="Folder the pipeline exporter serves to Prometheus."
    )
    reference_dir: str = Field(
        default=".flywheel/monitoring/references", description="Reference profiles and thresholds per model version."
    )

    def policy(self, model: ModelDeclaration) -> RetrainPolicy:
        return RetrainPolicy(
            cooldown=timedelta(minutes=model.budget.cooldown_minutes),
            daily_budget=model.budget.daily_runs,
            clear_ticks=self.clear_ticks,
            confirm_ticks=self.confirm_ticks,
            settle=timedelta(seconds=self.settle_seconds),
        )

    def reference_path(self, model: ModelDeclaration, version: int | str, name: str) -> Path:
        return Path(self.reference_dir, model.registered_model, f"v{version}", name)


# ---------------------------------------------------------------- assets


def _versions_needing_reference(
    instance: dg.DagsterInstance, model: ModelDeclaration, loop: LoopResource, client
) -> tuple[str | None, list[str]]:
    """(newest trained version, versions to profile): the version the model's training asset last registered, plus
    the serving champion when it has no readable reference (registered outside Dagster, or an older format)."""
    from training.registry import CHAMPION, alias_version

    trained = instance.get_latest_materialization_event(model_key(model))
    newest = None
    metadata = trained.asset_materialization.metadata if trained is not None else {}
    if "model_version" in metadata and metadata["registered_model"].value == model.registered_model:
        newest = str(metadata["model_version"].value)
    champion = alias_version(client, model.registered_model, CHAMPION)
    versions = [newest] if newest else []
    if (
        champion is not None
        and champion.version not in versions
        and not _readable_profile(loop, model, champion.version)
    ):
        versions.append(champion.version)
    return newest, versions


def _readable_profile(loop: LoopResource, model: ModelDeclaration, version: str) -> bool:
    """Whether the version's saved reference profile exists in the current format."""
    try:
        ReferenceProfile.from_json(loop.reference_path(model, version, "reference_profile.json").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return True


_MIN_WINDOW_ROWS = 10
"""Smallest calibration window (a small segment's): its thresholds are loose, so only a strong drift alarms."""
_GOOD_WINDOW_ROWS = 50
"""Calibration windows smaller than this make a small training set use more of its history for calibration."""


def _reference_files(registered, frame: pd.DataFrame, model: ModelDeclaration) -> tuple[dict[str, str], dict]:
    """The reference profile, calibrated drift thresholds and quality reference of one version on its training data."""
    from training.scoring import score_frame  # torch: only when drift_reference runs

    spec = registered.spec
    frame = frame.sort_values(spec.timestamp, kind="stable").reset_index(drop=True)
    frame["score"] = score_frame(registered.net, spec, frame)
    # Normal is what the model will see next: the recent half of its training data (the start of a short history
    # is full of entities with no past, which live traffic no longer has). Its first half is the profile, the
    # second half gives the calibration windows, so the thresholds also absorb the data's own slow movement in time.
    recent = frame.iloc[len(frame) // 2 :]
    if len(recent) // 2 < MIN_CALIBRATION_WINDOWS * _GOOD_WINDOW_ROWS:
        # A small training set (a segment's): the newest three quarters, leaving out only its cold start (the first
        # days, when every entity is new), so that the windows are not too small to see anything.
        recent = frame.iloc[len(frame) // 4 :]
    half = len(recent) // 2
    profile = build_reference_profile(recent.iloc[:half], spec, exempt=frozenset(model.drift.exempt))
    window_rows = min(model.drift.window_rows, max((len(recent) - half) // MIN_CALIBRATION_WINDOWS, _MIN_WINDOW_ROWS))
    if (len(recent) - half) // window_rows < MIN_CALIBRATION_WINDOWS:
        raise dg.Failure(
            f"{model.name}'s training set has {len(frame)} rows: too few to calibrate drift thresholds "
            f"({MIN_CALIBRATION_WINDOWS} windows of at least {_MIN_WINDOW_ROWS} rows); a segment that small should "
            "raise its Segment.min_rows so that its parent keeps serving it"
        )
    thresholds = calibrate_thresholds(
        profile, consecutive_windows(recent.iloc[half:], window_rows), spec, model.drift.false_alarm_rate
    )
    labels = frame[spec.label].to_numpy()
    # Flag about twice the positive rate: a review-queue-sized threshold, whatever the score calibration.
    threshold = float(np.quantile(frame["score"], 1 - min(0.5, 2 * labels.mean())))
    days = pd.to_datetime(frame[spec.timestamp]).dt.date.to_numpy()
    quality = quality_reference(frame["score"].to_numpy(), labels, threshold=threshold, windows=days)
    files = {
        "reference_profile.json": profile.to_json(),
        "drift_thresholds.json": thresholds.to_json(),
        "quality_reference.json": json.dumps(dataclasses.asdict(quality)),
    }
    return files, {"profile_rows": half, "calibration_window_rows": window_rows}


def save_drift_references(
    context: dg.AssetExecutionContext, model: ModelDeclaration, loop: LoopResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Profiles every version that needs it on the model's training set; saves locally and with the MLflow run."""
    from training.registry import load_registered_model  # torch: only when this asset runs
    from training.training_data import read_training_set

    client = mlflow_tracking.client()
    newest, versions = _versions_needing_reference(context.instance, model, loop, client)
    if not versions:
        raise dg.Failure(
            f"no version of {model.registered_model} to profile: materialize {model_key(model).to_user_string()} first"
        )
    source = context.instance.get_latest_materialization_event(training_set_key(model))
    if source is None or "path" not in source.asset_materialization.metadata:
        raise dg.Failure(
            f"{training_set_key(model).to_user_string()} has no materialization with a path: materialize it"
        )
    path = str(source.asset_materialization.metadata["path"].value)
    saved = {}
    for version in versions:
        registered = load_registered_model(model.registered_model, version, mlflow_tracking.tracking_uri)
        files, sizes = _reference_files(registered, read_training_set(path, registered.spec), model)
        for name, text in files.items():
            target = loop.reference_path(model, registered.version, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            client.log_text(registered.run_id, text, f"monitoring/{name}")
        saved[registered.version] = sizes
        context.log.info(f"saved the drift reference of {model.registered_model} v{registered.version} ({sizes})")
    first = saved[versions[0]]
    return dg.MaterializeResult(
        metadata={
            "model_version": versions[0],
            "versions_profiled": ", ".join(versions),
            **first,
            "path": str(loop.reference_path(model, versions[0], "")),
        },
        data_version=dg.DataVersion(f"{model.registered_model}-v{newest or versions[0]}"),
    )


def join_feedback(
    context: dg.AssetExecutionContext,
    model: ModelDeclaration,
    kafka: KafkaResource,
    lake: LakeResource,
    loop: LoopResource,
) -> dg.MaterializeResult:
    """The model's predictions from the log joined with the labels that arrived, and quality per version."""
    sink = lake.path("stream", "predictions")
    settings = IngestSettings(topic=loop.predictions_topic, group_id=f"{kafka.group_id}-predictions")
    report = ingest(kafka.bootstrap_servers, settings, ParquetOffsetSink(sink), PREDICTION_SCHEMA)
    table = ParquetOffsetSink(sink).read() if sink.exists() else PREDICTION_SCHEMA.empty_table()
    predictions = table.to_pandas()
    if "_error" in predictions:
        predictions = predictions[predictions["_error"].isna()]
    predictions = predictions[predictions["model"] == model.served_name]
    labels_file = lake.path("labels", "chargebacks", "labels.parquet")
    labels = (
        pd.read_parquet(labels_file)
        if labels_file.exists()
        else pd.DataFrame(columns=[model.spec.entity_id, "label_time", model.spec.label])
    )
    now = pd.Timestamp(datetime.now(UTC))
    joined = join_labels(
        predictions,
        labels,
        now,
        pd.Timedelta(model.label_maturity),
        model.spec.entity_id,
        label_column=model.spec.label,
    )
    quality = quality_by_version(joined.frame)
    out = lake.path("feedback", model.name, "labeled_predictions.parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    joined.frame.to_parquet(out, index=False)
    context.log.info(f"feedback join of {model.name}: {joined.counts()}")
    metric = model.gate.primary_metric
    timeline = quality_timeline(joined.frame, metric=metric)
    # the metric estimated from the scores of every served row, labeled or not (what the labels are expected to say)
    estimated = estimated_quality_timeline(joined.frame, metric=metric) if metric in ESTIMABLE else None
    shown = {}
    if timeline[metric].notna().any():
        with tempfile.TemporaryDirectory() as folder:
            picture = plot_quality_timeline(timeline, Path(folder) / "quality.png", estimated)
            shown["quality_over_time"] = image_markdown(picture, "quality over time")
    if estimated is not None and len(joined.frame):
        by_version = joined.frame.groupby("model_version")["score"]
        table = pd.DataFrame(
            [(int(v), len(s), estimate_metric(metric, s.to_numpy())) for v, s in by_version],
            columns=["model_version", "rows", f"estimated_{metric}"],
        )
        shown["estimated_quality_by_version"] = dg.MetadataValue.md(table.to_markdown(index=False))
    return dg.MaterializeResult(
        metadata={
            **shown,
            **joined.counts(),
            "ingested_predictions": report.rows,
            "malformed_predictions": report.malformed,
            "quality_by_version": dg.MetadataValue.md(
                quality.to_markdown(index=False) if len(quality) else "no labels yet"
            ),
            "path": str(out),
        },
        data_version=dg.DataVersion(f"{len(joined.frame)}-{joined.counts()['positive']}-{joined.counts()['pending']}"),
    )


# ---------------------------------------------------------------- sensors


def _tick_now() -> datetime:
    return datetime.now(UTC)


def _frame_of(records: list[dict], spec) -> pd.DataFrame:
    rows = [
        {**r.get("features", {}), "score": r.get("score"), "model_version": r.get("model_version")} for r in records
    ]
    frame = pd.DataFrame(rows)
    for name in spec.features:
        if name not in frame:
            frame[name] = None
    return frame


def retraining_blocked(
    instance: dg.DagsterInstance, model: ModelDeclaration, cooldown: timedelta, now: datetime, cap: int
) -> str | None:
    """Why no retraining of `model` may start now, whoever asks (drift, performance or schedule): one of its own in
    flight, the stack-wide cap of concurrent retraining runs reached (the episode waits its turn), or its last
    retraining started within the cooldown. None when one may start."""
    own = {RETRAINING_TAG: "true", MODEL_TAG: model.name}
    running = in_flight_run(instance, own)
    if running is not None:
        trigger = running.dagster_run.tags.get("flywheel/trigger", "?")
        return f"retraining run {running.dagster_run.run_id[:8]} ({trigger}) is {running.dagster_run.status.value}"
    busy = in_flight_count(instance, {RETRAINING_TAG: "true"})
    if busy >= cap:
        return f"queued: {busy} retraining run(s) of other models in flight (stack-wide cap {cap})"
    records = instance.get_run_records(filters=dg.RunsFilter(tags=own), limit=1)
    if records and now - records[0].create_timestamp < cooldown:
        age = (now - records[0].create_timestamp).total_seconds() / 60
        return (
            f"the last retraining run {records[0].dagster_run.run_id[:8]} started {age:.0f} min ago "
            f"(cooldown {cooldown.total_seconds() / 60:.0f} min)"
        )
    return None


def drift_observation(
    model: ModelDeclaration, report, decision, version: int, previous: RetrainState
) -> dg.AssetObservation | None:
    """The evaluation as an observation of the model's drift reference (per-feature picture and the explanation), on
    the ticks worth a look: the first alarming tick, a retraining request, and the tick that closes an episode.
    Quiet ticks stay out of the event log (the Prometheus snapshot has every tick)."""
    first_alarm = report.alarm and previous.alarm_ticks == 0
    closed = previous.episode_start is not None and decision.state.episode_start is None
    if not (first_alarm or decision.action == RETRAIN or closed) or not report.features:
        return None
    with tempfile.TemporaryDirectory() as folder:
        picture = plot_drift_report(report, Path(folder) / "drift.png", f"{model.name} v{version}")
        image = image_markdown(picture, "drift per feature")
    return dg.AssetObservation(
        asset_key=drift_reference_key(model),
        metadata={
            "model_version": version,
            "status": report.status,
            "decision": f"{decision.action}: {decision.reason}",
            "drift_per_feature": image,
            "explanation": dg.MetadataValue.md(report.explain()),
        },
    )


@dataclasses.dataclass(frozen=True)
class ModelTick:
    """What one model's evaluation in a drift tick decided: a run to request or why not, its new cursor state
    (None: unchanged, the episode stays open), and an observation worth keeping."""

    request: dg.RunRequest | None
    reason: str
    state: str | None
    event: dg.AssetObservation | None = None


def _retrain_tick(
    instance, model: ModelDeclaration, decision, loop: LoopResource, trigger: str, detail: str, previous: str | None
) -> ModelTick:
    """A retraining decision as a ModelTick: a blocked request keeps the previous state, so the episode stays open."""
    now = _tick_now()
    policy = loop.policy(model)
    if decision.action == RETRAIN and instance is not None:
        blocked = retraining_blocked(instance, model, policy.cooldown, now, loop.max_concurrent_retraining)
        if blocked:
            reason = f"retraining of {model.name} wanted ({decision.reason}) but {blocked}. {detail}"
            return ModelTick(None, reason, previous)
    write_retraining_snapshot(loop.snapshot_dir, model.registered_model, decision.state, policy, now)
    if decision.action != RETRAIN:
        return ModelTick(None, f"{decision.action}: {decision.reason}. {detail}", decision.state.to_json())
    request = dg.RunRequest(
        run_key=f"{trigger}-{decision.run_key}",
        asset_selection=retraining_assets(model),
        tags={
            RETRAINING_TAG: "true",
            MODEL_TAG: model.name,
            "flywheel/trigger": trigger,
            "flywheel/episode": decision.run_key or "",
            "flywheel/why": detail[:200],
        },
    )
    return ModelTick(request, f"retraining {model.name}: {detail}", decision.state.to_json())


def evaluate_model_drift(
    instance, model: ModelDeclaration, records: list[dict], previous: str | None, loop: LoopResource, log=None
) -> ModelTick:
    """One model's part of a drift tick: its newest served records against its serving version's reference."""
    if not records:
        return ModelTick(None, f"no predictions of '{model.served_name}' on '{loop.predictions_topic}' yet", previous)
    spec = model.spec
    frame = _frame_of(records, spec)
    version = int(frame["model_version"].mode().iloc[0])
    reference = drift_reference_key(model).to_user_string()
    try:
        profile = ReferenceProfile.from_json(loop.reference_path(model, version, "reference_profile.json").read_text())
        thresholds = DriftThresholds.from_json(loop.reference_path(model, version, "drift_thresholds.json").read_text())
    except FileNotFoundError:
        reason = f"{model.name} version {version} has no drift reference yet (materialize {reference})"
        return ModelTick(None, reason, previous)
    except ValueError as error:  # written by an older Flywheel: drift_reference rebuilds it for the champion
        reason = f"{model.name} version {version}'s drift reference is unreadable ({error}): materialize {reference}"
        return ModelTick(None, reason, previous)
    window = frame[frame["model_version"] == version]
    report = evaluate_drift(profile, window, spec, thresholds, frozenset(model.drift.exempt))
    now = _tick_now()
    write_drift_snapshot(loop.snapshot_dir, model.registered_model, report, now)
    state = RetrainState.from_json(previous)
    decision = decide_retrain(report, state, now, loop.policy(model), model.registered_model)
    if log is not None:
        log.info(f"drift {model.name} v{version}: {report.explain()}")
    tick = _retrain_tick(instance, model, decision, loop, "drift", f"v{version} " + report.explain(), previous)
    return dataclasses.replace(tick, event=drift_observation(model, report, decision, version, state))


def _model_cursors(cursor: str | None, models: list[ModelDeclaration]) -> dict[str, str]:
    """The drift sensor's cursor: each model's retraining state by model name (an older single-model cursor, or
    one naming no declared model, starts every model afresh)."""
    try:
        data = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    names = {m.name for m in models}
    return {k: v for k, v in data.items() if k in names and isinstance(v, str)}


def drift_tick(
    context: dg.SensorEvaluationContext, models: list[ModelDeclaration], kafka: KafkaResource, loop: LoopResource
):
    """One tick of the drift sensor: the prediction log's tail read once, every model evaluated on its own records."""
    try:
        records = read_recent_by(
            kafka.bootstrap_servers,
            loop.predictions_topic,
            {m.served_name: m.drift.window_rows for m in models},
            # a shadow version's scores of mirrored requests are rollout evidence, not the model's served traffic
            key=lambda record: None if record.get("shadow") else record.get("model"),
        )
    except KafkaUnavailableError as error:
        return dg.SkipReason(f"cannot read recent traffic: {error}; no run requested")
    cursors = _model_cursors(context.cursor, models)
    ticks = {
        m.name: evaluate_model_drift(
            context.instance, m, records[m.served_name], cursors.get(m.name), loop, context.log
        )
        for m in models
    }
    cursor = json.dumps({name: t.state for name, t in ticks.items() if t.state is not None}, sort_keys=True)
    requests = [t.request for t in ticks.values() if t.request is not None]
    events = [t.event for t in ticks.values() if t.event is not None]
    reason = "\n".join(t.reason if len(models) == 1 else f"{name}: {t.reason}" for name, t in ticks.items())
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor, asset_events=events)
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor, asset_events=events)


def drift_sensor_for(models: list[ModelDeclaration]) -> dg.SensorDefinition:
    """The drift sensor of every declared model: one read of the prediction log per tick, a verdict per model, one
    retraining run per model's episode (each model's state, cooldown and budget its own)."""
    targets = list(dict.fromkeys(key for model in models for key in retraining_assets(model)))

    @dg.sensor(
        name="drift_sensor",
        target=targets,
        minimum_interval_seconds=STACK.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def drift_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource, loop: LoopResource):
        """Drift of every model's recent served features and scores against its serving version's reference."""
        return drift_tick(context, models, kafka, loop)

    return drift_sensor


def evaluate_model_quality(
    context: dg.SensorEvaluationContext, model: ModelDeclaration, lake: LakeResource, loop: LoopResource
):
    """One quality tick of one model: labeled quality of its serving version against its reference."""
    path = lake.path("feedback", model.name, "labeled_predictions.parquet")
    if not path.exists():
        return dg.SkipReason(
            f"no labeled predictions yet ({labeled_predictions_key(model).to_user_string()} not materialized)"
        )
    joined = pd.read_parquet(path)
    labeled = joined[joined["status"] != "pending"]
    if labeled.empty:
        return dg.SkipReason("no matured labels yet")
    version = int(labeled["model_version"].mode().iloc[0])
    try:
        reference = QualityReference(
            **json.loads(loop.reference_path(model, version, "quality_reference.json").read_text())
        )
    except FileNotFoundError:
        return dg.SkipReason(f"{model.name} version {version} has no quality reference yet")
    mine = labeled[labeled["model_version"] == version]
    report = evaluate_labeled_quality(reference, mine["score"].to_numpy(), mine["label"].to_numpy())
    now = _tick_now()
    write_quality_snapshot(loop.snapshot_dir, model.registered_model, report, now)
    state = RetrainState.from_json(context.cursor)
    decision = decide_retrain(report, state, now, loop.policy(model), model.registered_model)
    tick = _retrain_tick(
        context.instance, model, decision, loop, "performance", f"v{version} " + report.explain(), context.cursor
    )
    if tick.request is not None:
        return dg.SensorResult(run_requests=[tick.request], cursor=tick.state)
    return dg.SensorResult(skip_reason=dg.SkipReason(tick.reason), cursor=tick.state)


@dataclasses.dataclass(frozen=True)
class LoopStages:
    """One model's part of the closed loop."""

    drift_reference: dg.AssetsDefinition
    labeled_predictions: dg.AssetsDefinition
    performance_sensor: dg.SensorDefinition
    fallback_schedule: dg.ScheduleDefinition


def loop_stages(model: ModelDeclaration) -> LoopStages:
    """The model's drift reference and labeled predictions, its performance sensor and its fallback schedule (its
    drift is watched by the one drift sensor of all models, `drift_sensor_for`)."""
    group = model.name
    targets = retraining_assets(model)

    @dg.asset(
        name=drift_reference_key(model).path[-1],
        group_name=group,
        deps=[model_key(model), evaluation_key(model)],
        code_version="2",
        kinds={"mlflow"},
    )
    def drift_reference(
        context: dg.AssetExecutionContext, loop: LoopResource, mlflow_tracking: MlflowTracking
    ) -> dg.MaterializeResult:
        """Every trained version's reference profile, calibrated drift thresholds and quality reference."""
        return save_drift_references(context, model, loop, mlflow_tracking)

    @dg.asset(
        name=labeled_predictions_key(model).path[-1],
        group_name=group,
        deps=[CHARGEBACK_LABELS],
        code_version="1",
        kinds={"kafka"},
    )
    def labeled_predictions(
        context: dg.AssetExecutionContext, kafka: KafkaResource, lake: LakeResource, loop: LoopResource
    ) -> dg.MaterializeResult:
        """The model's prediction log (Kafka) joined with late labels, and quality per model version."""
        return join_feedback(context, model, kafka, lake, loop)

    @dg.sensor(
        name=f"{model.name}_performance_sensor",
        target=targets,
        minimum_interval_seconds=2 * STACK.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def performance_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, loop: LoopResource):
        """Labeled quality of the model's serving version against its reference; retrains when it drops."""
        return evaluate_model_quality(context, model, lake, loop)

    @dg.schedule(
        name=f"{model.name}_retraining_fallback_schedule",
        cron_schedule="0 3 * * *",
        target=targets,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def retraining_fallback_schedule(context: dg.ScheduleEvaluationContext, loop: LoopResource):
        """Retrains the model when nothing else has for 7 days: the fallback of its sensors."""
        event = context.instance.get_latest_materialization_event(model_key(model))
        max_age = timedelta(days=7)
        when = context.scheduled_execution_time
        if event is not None and datetime.fromtimestamp(event.timestamp, UTC) > when - max_age:
            return dg.SkipReason(f"{model_key(model).to_user_string()} is younger than {max_age.days} days")
        blocked = retraining_blocked(context.instance, model, timedelta(0), when, loop.max_concurrent_retraining)
        if blocked:
            return dg.SkipReason(f"fallback retraining due, but {blocked}")
        return dg.RunRequest(
            run_key=f"fallback-{model.name}-{when:%Y%m%d}",
            tags={RETRAINING_TAG: "true", MODEL_TAG: model.name, "flywheel/trigger": "schedule"},
        )

    return LoopStages(drift_reference, labeled_predictions, performance_sensor, retraining_fallback_schedule)


def label_feedback_sensor_for(models: list[ModelDeclaration]) -> dg.SensorDefinition:
    """New labels on the labels topic -> re-join them with the prediction log, for every model at once."""
    targets = [CHARGEBACK_LABELS, *(labeled_predictions_key(m) for m in models)]

    @dg.sensor(
        name="label_feedback_sensor",
        target=targets,
        minimum_interval_seconds=STACK.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def label_feedback_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource):
        """New chargebacks on the labels topic -> re-join them with every model's prediction log."""
        from kafka import KafkaConsumer, TopicPartition

        try:
            check_reachable(kafka.bootstrap_servers)
        except KafkaUnavailableError as error:
            return dg.SkipReason(f"cannot read the labels topic: {error}; no run requested")
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
        try:
            partitions = consumer.partitions_for_topic(kafka.labels_topic) or set()
            topic_partitions = [TopicPartition(kafka.labels_topic, p) for p in partitions]
            ends = consumer.end_offsets(topic_partitions) if partitions else {}
        finally:
            consumer.close(autocommit=False)
        total = sum(ends.values())
        seen = int(context.cursor or 0)
        if total <= seen:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"no new labels (offset total {total})"), cursor=str(seen))
        running = in_flight_run(context.instance, {"flywheel/trigger": "labels"})
        if running is not None:  # it will pick the new labels up, or the next tick after it will
            message = f"{total - seen} new labels; feedback run {running.dagster_run.run_id[:8]} is still in flight"
            return dg.SensorResult(skip_reason=dg.SkipReason(message), cursor=str(seen))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"labels-{total}", asset_selection=targets, tags={"flywheel/trigger": "labels"})
            ],
            cursor=str(total),
        )

    return label_feedback_sensor


# ---------------------------------------------------------------- automation

# A new champion (the model evaluation's data version changes only when the champion does) rebuilds the engine,
# and a new engine redeploys: declarative automation, evaluated by the automation sensor below.
REDEPLOY_ON_NEW_CHAMPION = (
    dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated() & dg.AutomationCondition.data_version_changed()
    )
    & ~dg.AutomationCondition.newly_updated()  # a run that already rebuilt it along with its dep
    & ~dg.AutomationCondition.in_progress()
)


def with_redeploy_automation(assets_defs: list, models: list[ModelDeclaration]) -> list:
    """The models' engine and deployment assets with REDEPLOY_ON_NEW_CHAMPION attached (their modules stay free of
    loop policy)."""
    keys = {key for model in models for key in (engine_key(model), deployment_key(model))}
    return [
        a.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=REDEPLOY_ON_NEW_CHAMPION))
        if isinstance(a, dg.AssetsDefinition) and set(a.keys) & keys
        else a
        for a in assets_defs
    ]


automation_sensor = dg.AutomationConditionSensorDefinition(
    "redeploy_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=STACK.sensor_interval_seconds,
)


def loop_resources(state_dir: str = ".flywheel") -> dict:
    return {
        "loop": LoopResource(
            snapshot_dir=f"{state_dir}/monitoring/snapshots",
            reference_dir=f"{state_dir}/monitoring/references",
            settle_seconds=STACK.retrain_settle_seconds,
        )
    }
