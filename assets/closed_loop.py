"""The closed loop: feedback from late labels, drift and performance sensors that retrain, automatic redeploys.

Sensors are thin: they read recent traffic or labeled quality, call monitoring/ (evaluate_drift,
evaluate_labeled_quality, decide_retrain) and turn a `retrain` decision into one run request per drift
episode. Every decision, with its statistics and thresholds, is the tick's skip reason or the run's tags,
and the retraining state lives in the sensor cursor.
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
from assets.mlflow_tracking import MlflowTracking
from assets.model_catalog import MODEL
from assets.model_training import DEFAULT_MODEL_NAME, image_markdown
from assets.runs_in_flight import in_flight_run
from assets.stack_environment import STACK
from dataplane.ingestion.kafka_sink import IngestSettings, ParquetOffsetSink, ingest
from dataplane.ingestion.recent_records import KafkaUnavailableError, check_reachable, read_recent
from monitoring.drift_plot import plot_drift_report
from monitoring.drift_report import DriftThresholds, evaluate_drift
from monitoring.feedback_join import join_labels, quality_by_version
from monitoring.labeled_quality import QualityReference, evaluate_labeled_quality, quality_reference
from monitoring.pipeline_metrics import write_drift_snapshot, write_quality_snapshot, write_retraining_snapshot
from monitoring.quality_plot import plot_quality_timeline, quality_timeline
from monitoring.reference_profile import ReferenceProfile, build_reference_profile
from monitoring.retrain_decision import RETRAIN, RetrainPolicy, RetrainState, decide_retrain
from monitoring.threshold_calibration import calibrate_thresholds, consecutive_windows

GROUP = "monitoring"
RETRAINING_TAG = "flywheel/retraining"
"""Tag of every retraining run, whoever requested it: the shared in-flight check and cooldown look for it."""
TRAINING_SET = dg.AssetKey("training_set")
TRAINED_MODEL = dg.AssetKey(f"{MODEL.name}_model")
MODEL_EVALUATION = dg.AssetKey("model_evaluation")
SERVING_ENGINE = dg.AssetKey("serving_engine")
DEPLOYMENT = dg.AssetKey("deployment")
CHARGEBACK_LABELS = dg.AssetKey("chargeback_labels")
DRIFT_REFERENCE = dg.AssetKey("drift_reference")
# A retraining run first ingests what arrived since the last run (the drifted traffic and its labels), then
# rebuilds features, trains, gates and saves the new version's drift reference.
RETRAINING_ASSETS = [
    dg.AssetKey("streamed_transactions"),
    CHARGEBACK_LABELS,
    dg.AssetKey("validated_transactions"),
    dg.AssetKey("transaction_features"),
    TRAINING_SET,
    TRAINED_MODEL,
    MODEL_EVALUATION,
    dg.AssetKey("drift_reference"),
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
    """Settings of the closed loop: windows, thresholds, cooldown and the retraining budget."""

    model_name: str = Field(default=DEFAULT_MODEL_NAME, description="Registered model the loop watches.")
    predictions_topic: str = Field(default="predictions", description="Kafka topic of the server's prediction log.")
    window_rows: int = Field(
        default=MODEL.drift.window_rows, description="Rows per drift window (and per calibration window)."
    )
    drift_exempt: list[str] = Field(
        default=list(MODEL.drift.exempt), description="Features left out of drift statistics (time-cumulative ones)."
    )
    false_alarm_rate: float = Field(
        default=MODEL.drift.false_alarm_rate, description="Share of no-drift windows allowed to alarm."
    )
    label_maturity_hours: float = Field(
        default=MODEL.label_maturity.total_seconds() / 3600,
        description="Age after which an unlabeled prediction counts as a negative.",
    )
    cooldown_minutes: float = Field(
        default=MODEL.budget.cooldown_minutes, description="Minimum time between two retraining requests."
    )
    daily_budget: int = Field(
        default=MODEL.budget.daily_runs, description="Retraining requests allowed per UTC day (the cost guard)."
    )
    clear_ticks: int = Field(default=3, description="Quiet ticks in a row that close a drift episode.")
    confirm_ticks: int = Field(
        default=2, description="Alarming ticks in a row that open a drift episode (debounces false alarms)."
    )
    settle_seconds: float = Field(
        default=0.0,
        description="How long an episode must be open before its retraining is requested, so that the new regime "
        "reaches the training split and not only the holdout.",
    )
    snapshot_dir: str = Field(
        default=".flywheel/monitoring/snapshots", description="Folder the pipeline exporter serves to Prometheus."
    )
    reference_dir: str = Field(
        default=".flywheel/monitoring/references", description="Reference profiles and thresholds per model version."
    )

    def policy(self) -> RetrainPolicy:
        return RetrainPolicy(
            cooldown=timedelta(minutes=self.cooldown_minutes),
            daily_budget=self.daily_budget,
            clear_ticks=self.clear_ticks,
            confirm_ticks=self.confirm_ticks,
            settle=timedelta(seconds=self.settle_seconds),
        )

    def reference_path(self, version: int | str, name: str) -> Path:
        return Path(self.reference_dir, self.model_name, f"v{version}", name)


# ---------------------------------------------------------------- assets


def _versions_needing_reference(
    instance: dg.DagsterInstance, loop: LoopResource, client
) -> tuple[str | None, list[str]]:
    """(newest trained version, versions to profile): the version the trained model asset last registered, plus the
    serving champion when it has no readable reference (registered outside Dagster, or profiled by an older format)."""
    from training.registry import CHAMPION, alias_version

    trained = instance.get_latest_materialization_event(TRAINED_MODEL)
    newest = None
    metadata = trained.asset_materialization.metadata if trained is not None else {}
    if "model_version" in metadata and metadata["registered_model"].value == loop.model_name:
        newest = str(metadata["model_version"].value)
    champion = alias_version(client, loop.model_name, CHAMPION)
    versions = [newest] if newest else []
    if champion is not None and champion.version not in versions and not _readable_profile(loop, champion.version):
        versions.append(champion.version)
    return newest, versions


def _readable_profile(loop: LoopResource, version: str) -> bool:
    """Whether the version's saved reference profile exists in the current format."""
    try:
        ReferenceProfile.from_json(loop.reference_path(version, "reference_profile.json").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return True


def _reference_files(model, frame: pd.DataFrame, loop: LoopResource) -> tuple[dict[str, str], dict]:
    """The reference profile, calibrated drift thresholds and quality reference of one model on its training data."""
    from training.scoring import score_frame  # torch: only when drift_reference runs

    spec = model.spec
    frame = frame.sort_values(spec.timestamp, kind="stable").reset_index(drop=True)
    frame["score"] = score_frame(model.net, spec, frame)
    # Normal is what the model will see next: the recent half of its training data (the start of a short history
    # is full of cards with no past, which live traffic no longer has). Its first half is the profile, the second
    # half gives the calibration windows, so the thresholds also absorb the data's own slow movement in time.
    recent = frame.iloc[len(frame) // 2 :]
    half = len(recent) // 2
    profile = build_reference_profile(recent.iloc[:half], spec)
    window_rows = min(loop.window_rows, max((len(recent) - half) // 30, 50))
    thresholds = calibrate_thresholds(
        profile, consecutive_windows(recent.iloc[half:], window_rows), spec, loop.false_alarm_rate
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


@dg.asset(group_name=GROUP, deps=[TRAINED_MODEL, MODEL_EVALUATION], code_version="2", kinds={"mlflow"})
def drift_reference(
    context: dg.AssetExecutionContext, loop: LoopResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Every trained version's reference profile, calibrated drift thresholds and quality reference, saved with it."""
    from training.registry import load_registered_model  # torch: only when this asset runs
    from training.training_data import read_training_set

    client = mlflow_tracking.client()
    newest, versions = _versions_needing_reference(context.instance, loop, client)
    if not versions:
        raise dg.Failure(
            f"no version of {loop.model_name} to profile: materialize {TRAINED_MODEL.to_user_string()} first"
        )
    source = context.instance.get_latest_materialization_event(TRAINING_SET)
    if source is None or "path" not in source.asset_materialization.metadata:
        raise dg.Failure("training_set has no materialization with a path: materialize it first")
    path = str(source.asset_materialization.metadata["path"].value)
    saved = {}
    for version in versions:
        model = load_registered_model(loop.model_name, version, mlflow_tracking.tracking_uri)
        files, sizes = _reference_files(model, read_training_set(path, model.spec), loop)
        for name, text in files.items():
            target = loop.reference_path(model.version, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            client.log_text(model.run_id, text, f"monitoring/{name}")
        saved[model.version] = sizes
        context.log.info(f"saved the drift reference of {loop.model_name} v{model.version} ({sizes})")
    first = saved[versions[0]]
    return dg.MaterializeResult(
        metadata={
            "model_version": versions[0],
            "versions_profiled": ", ".join(versions),
            **first,
            "path": str(loop.reference_path(versions[0], "")),
        },
        data_version=dg.DataVersion(f"{loop.model_name}-v{newest or versions[0]}"),
    )


@dg.asset(group_name=GROUP, deps=[CHARGEBACK_LABELS], code_version="1", kinds={"kafka"})
def labeled_predictions(
    context: dg.AssetExecutionContext, kafka: KafkaResource, lake: LakeResource, loop: LoopResource
) -> dg.MaterializeResult:
    """The prediction log (Kafka) joined with late chargeback labels, and quality per model version."""
    sink = lake.path("stream", "predictions")
    settings = IngestSettings(topic=loop.predictions_topic, group_id=f"{kafka.group_id}-predictions")
    report = ingest(kafka.bootstrap_servers, settings, ParquetOffsetSink(sink), PREDICTION_SCHEMA)
    table = ParquetOffsetSink(sink).read() if sink.exists() else PREDICTION_SCHEMA.empty_table()
    predictions = table.to_pandas()
    if "_error" in predictions:
        predictions = predictions[predictions["_error"].isna()]
    labels_file = lake.path("labels", "chargebacks", "labels.parquet")
    labels = (
        pd.read_parquet(labels_file) if labels_file.exists() else pd.DataFrame(columns=["transaction_id", "label_time"])
    )
    now = pd.Timestamp(datetime.now(UTC))
    joined = join_labels(predictions, labels, now, pd.Timedelta(hours=loop.label_maturity_hours))
    quality = quality_by_version(joined.frame)
    out = lake.path("feedback", "labeled_predictions.parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    joined.frame.to_parquet(out, index=False)
    context.log.info(f"feedback join: {joined.counts()}")
    timeline = quality_timeline(joined.frame)
    pictures = {}
    if timeline["pr_auc"].notna().any():
        with tempfile.TemporaryDirectory() as folder:
            picture = plot_quality_timeline(timeline, Path(folder) / "quality.png")
            pictures["quality_over_time"] = image_markdown(picture, "quality over time")
    return dg.MaterializeResult(
        metadata={
            **pictures,
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


def retraining_blocked(instance: dg.DagsterInstance, cooldown: timedelta, now: datetime) -> str | None:
    """Why no retraining may start now, whoever asks (drift, performance or schedule): one in flight, or the last
    one started within the cooldown. None when a retraining run may start."""
    running = in_flight_run(instance, {RETRAINING_TAG: "true"})
    if running is not None:
        trigger = running.dagster_run.tags.get("flywheel/trigger", "?")
        return f"retraining run {running.dagster_run.run_id[:8]} ({trigger}) is {running.dagster_run.status.value}"
    records = instance.get_run_records(filters=dg.RunsFilter(tags={RETRAINING_TAG: "true"}), limit=1)
    if records and now - records[0].create_timestamp < cooldown:
        age = (now - records[0].create_timestamp).total_seconds() / 60
        return (
            f"the last retraining run {records[0].dagster_run.run_id[:8]} started {age:.0f} min ago "
            f"(cooldown {cooldown.total_seconds() / 60:.0f} min)"
        )
    return None


def drift_observation(report, decision, version: int, previous: RetrainState) -> dg.AssetObservation | None:
    """The evaluation as an observation of `drift_reference` (per-feature picture and the explanation), on the
    ticks worth a look: the first alarming tick, a retraining request, and the tick that closes an episode. Quiet
    ticks stay out of the event log (the Prometheus snapshot has every tick)."""
    first_alarm = report.alarm and previous.alarm_ticks == 0
    closed = previous.episode_start is not None and decision.state.episode_start is None
    if not (first_alarm or decision.action == RETRAIN or closed) or not report.features:
        return None
    with tempfile.TemporaryDirectory() as folder:
        picture = plot_drift_report(report, Path(folder) / "drift.png", f"model v{version}")
        image = image_markdown(picture, "drift per feature")
    return dg.AssetObservation(
        asset_key=DRIFT_REFERENCE,
        metadata={
            "model_version": version,
            "status": report.status,
            "decision": f"{decision.action}: {decision.reason}",
            "drift_per_feature": image,
            "explanation": dg.MetadataValue.md(report.explain()),
        },
    )


def _retrain_result(
    context, decision, loop: LoopResource, trigger: str, detail: str, events: list | None = None
) -> dg.SensorResult:
    now = _tick_now()
    events = [e for e in (events or []) if e is not None]
    if decision.action == RETRAIN and context.instance is not None:
        blocked = retraining_blocked(context.instance, loop.policy().cooldown, now)
        if blocked:  # the cursor stays as it was: the episode is still open, its run not spent
            reason = f"retraining wanted ({decision.reason}) but {blocked}. {detail}"
            return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=context.cursor, asset_events=events)
    write_retraining_snapshot(loop.snapshot_dir, loop.model_name, decision.state, loop.policy(), now)
    cursor = decision.state.to_json()
    if decision.action == RETRAIN:
        request = dg.RunRequest(
            run_key=f"{trigger}-{decision.run_key}",
            asset_selection=RETRAINING_ASSETS,
            tags={
                RETRAINING_TAG: "true",
                "flywheel/trigger": trigger,
                "flywheel/episode": decision.run_key or "",
                "flywheel/why": detail[:200],
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor, asset_events=events)
    return dg.SensorResult(
        skip_reason=dg.SkipReason(f"{decision.action}: {decision.reason}. {detail}"), cursor=cursor, asset_events=events
    )


@dg.sensor(
    name="drift_sensor",
    target=RETRAINING_ASSETS,
    minimum_interval_seconds=STACK.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def drift_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource, loop: LoopResource):
    """Drift of recent served features and scores against the serving version's reference; retrains per episode."""
    spec = MODEL.spec
    try:
        records = read_recent(kafka.bootstrap_servers, loop.predictions_topic, loop.window_rows)
    except KafkaUnavailableError as error:
        return dg.SkipReason(f"cannot read recent traffic: {error}; no run requested")
    if not records:
        return dg.SkipReason(f"no predictions on '{loop.predictions_topic}' yet")
    frame = _frame_of(records, spec)
    version = int(frame["model_version"].mode().iloc[0])
    try:
        profile = ReferenceProfile.from_json(loop.reference_path(version, "reference_profile.json").read_text())
        thresholds = DriftThresholds.from_json(loop.reference_path(version, "drift_thresholds.json").read_text())
    except FileNotFoundError:
        return dg.SkipReason(f"model version {version} has no drift reference yet (materialize drift_reference)")
    except ValueError as error:  # written by an older Flywheel: drift_reference rebuilds it for the champion
        return dg.SkipReason(
            f"model version {version}'s drift reference is unreadable ({error}): materialize drift_reference"
        )
    window = frame[frame["model_version"] == version]
    report = evaluate_drift(profile, window, spec, thresholds, frozenset(loop.drift_exempt))
    now = _tick_now()
    write_drift_snapshot(loop.snapshot_dir, loop.model_name, report, now)
    state = RetrainState.from_json(context.cursor)
    decision = decide_retrain(report, state, now, loop.policy(), loop.model_name)
    context.log.info(f"drift v{version}: {report.explain()}")
    observation = drift_observation(report, decision, version, state)
    return _retrain_result(context, decision, loop, "drift", f"v{version} " + report.explain(), [observation])


@dg.sensor(
    name="performance_sensor",
    target=RETRAINING_ASSETS,
    minimum_interval_seconds=2 * STACK.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def performance_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, loop: LoopResource):
    """Labeled quality of the serving version against its reference; retrains when it drops (same guards)."""
    path = lake.path("feedback", "labeled_predictions.parquet")
    if not path.exists():
        return dg.SkipReason("no labeled predictions yet (labeled_predictions not materialized)")
    joined = pd.read_parquet(path)
    labeled = joined[joined["status"] != "pending"]
    if labeled.empty:
        return dg.SkipReason("no matured labels yet")
    version = int(labeled["model_version"].mode().iloc[0])
    try:
        reference = QualityReference(**json.loads(loop.reference_path(version, "quality_reference.json").read_text()))
    except FileNotFoundError:
        return dg.SkipReason(f"model version {version} has no quality reference yet")
    mine = labeled[labeled["model_version"] == version]
    report = evaluate_labeled_quality(reference, mine["score"].to_numpy(), mine["label"].to_numpy())
    now = _tick_now()
    write_quality_snapshot(loop.snapshot_dir, loop.model_name, report, now)
    decision = decide_retrain(report, RetrainState.from_json(context.cursor), now, loop.policy(), loop.model_name)
    return _retrain_result(context, decision, loop, "performance", f"v{version} " + report.explain())


@dg.sensor(
    name="label_feedback_sensor",
    target=[CHARGEBACK_LABELS, dg.AssetKey("labeled_predictions")],
    minimum_interval_seconds=STACK.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def label_feedback_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    """New chargebacks on the labels topic -> re-join them with the prediction log."""
    from kafka import KafkaConsumer, TopicPartition

    try:
        check_reachable(kafka.bootstrap_servers)
    except KafkaUnavailableError as error:
        return dg.SkipReason(f"cannot read the labels topic: {error}; no run requested")
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(kafka.labels_topic) or set()
        ends = consumer.end_offsets([TopicPartition(kafka.labels_topic, p) for p in partitions]) if partitions else {}
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
            dg.RunRequest(
                run_key=f"labels-{total}",
                asset_selection=[CHARGEBACK_LABELS, dg.AssetKey("labeled_predictions")],
                tags={"flywheel/trigger": "labels"},
            )
        ],
        cursor=str(total),
    )


@dg.schedule(
    name="retraining_fallback_schedule",
    cron_schedule="0 3 * * *",
    target=RETRAINING_ASSETS,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def retraining_fallback_schedule(context: dg.ScheduleEvaluationContext):
    """Retrains when nothing else has for `max_model_age_days` (default 7): the fallback of the sensors."""
    event = context.instance.get_latest_materialization_event(TRAINED_MODEL)
    max_age = timedelta(days=7)
    if event is not None and datetime.fromtimestamp(event.timestamp, UTC) > context.scheduled_execution_time - max_age:
        return dg.SkipReason(f"{TRAINED_MODEL.to_user_string()} is younger than {max_age.days} days")
    blocked = retraining_blocked(context.instance, timedelta(0), context.scheduled_execution_time)
    if blocked:
        return dg.SkipReason(f"fallback retraining due, but {blocked}")
    return dg.RunRequest(
        run_key=f"fallback-{context.scheduled_execution_time:%Y%m%d}",
        tags={RETRAINING_TAG: "true", "flywheel/trigger": "schedule"},
    )


# ---------------------------------------------------------------- automation

# A new champion (model_evaluation's data version changes only when the champion does) rebuilds the engine,
# and a new engine redeploys: declarative automation, evaluated by the automation sensor below.
REDEPLOY_ON_NEW_CHAMPION = (
    dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated() & dg.AutomationCondition.data_version_changed()
    )
    & ~dg.AutomationCondition.newly_updated()  # a run that already rebuilt it along with its dep
    & ~dg.AutomationCondition.in_progress()
)


def with_redeploy_automation(assets_defs: list) -> list:
    """The serving assets with REDEPLOY_ON_NEW_CHAMPION attached (their modules stay free of loop policy)."""
    keys = {SERVING_ENGINE, DEPLOYMENT}
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

LOOP_ASSETS = [drift_reference, labeled_predictions]
LOOP_SENSORS = [drift_sensor, performance_sensor, label_feedback_sensor, automation_sensor]
LOOP_SCHEDULES = [retraining_fallback_schedule]


def loop_resources(state_dir: str = ".flywheel") -> dict:
    return {
        "loop": LoopResource(
            snapshot_dir=f"{state_dir}/monitoring/snapshots",
            reference_dir=f"{state_dir}/monitoring/references",
            settle_seconds=STACK.retrain_settle_seconds,
        )
    }
