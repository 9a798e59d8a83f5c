"""A model's drift sensor against a real Kafka prediction log: quiet traffic skips, drift requests one run per
episode, other models' records on the same topic stay out of its window, and the stack-wide cap queues it."""

import dataclasses
import json

import dagster as dg
import numpy as np
import pandas as pd
from kafka import KafkaProducer

from assets.closed_loop import LoopResource, drift_sensor_for, retraining_assets
from assets.data_assets import KafkaResource
from domain.models import FRAUD
from features.model_declaration import RetrainBudget
from monitoring.reference_profile import PROFILE_FORMAT, build_reference_profile
from monitoring.threshold_calibration import calibrate_thresholds, consecutive_windows

WINDOW = 200
FRAUD_FEATURES = FRAUD.spec
MODEL = dataclasses.replace(
    FRAUD,
    drift=dataclasses.replace(FRAUD.drift, window_rows=WINDOW),
    budget=RetrainBudget(daily_runs=5, cooldown_minutes=0),
)
GUARDED = dataclasses.replace(MODEL, budget=RetrainBudget(daily_runs=5, cooldown_minutes=30))


def _traffic(rows: int, seed: int, amount_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(10.0, 2.0, rows) for name in FRAUD_FEATURES.numeric})
    frame["amount"] = rng.lognormal(3.0, 0.5, rows) * amount_scale
    for name, vocab in FRAUD_FEATURES.categorical.items():
        frame[name] = rng.choice(vocab, rows)
    frame["score"] = rng.beta(1, 20, rows)
    return frame


def _publish(
    bootstrap: str, topic: str, frame: pd.DataFrame, version: int, model: str = "fraud", shadow: bool = False
) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i, row in enumerate(frame.to_dict("records")):
        score = row.pop("score")
        record = {"transaction_id": f"{model}{version}-{i}", "model": model, "model_version": version}
        if shadow:
            record["shadow"] = True
        producer.send(topic, json.dumps({**record, "features": row, "score": score, "time": 0.0}).encode())
    producer.flush()
    producer.close()


def _reference(loop: LoopResource, version: int, model=None) -> None:
    history = _traffic(WINDOW * 40, seed=1)
    profile = build_reference_profile(history.iloc[: WINDOW * 8], FRAUD_FEATURES)
    thresholds = calibrate_thresholds(profile, consecutive_windows(history.iloc[WINDOW * 8 :], WINDOW), FRAUD_FEATURES)
    for name, text in (("reference_profile.json", profile.to_json()), ("drift_thresholds.json", thresholds.to_json())):
        path = loop.reference_path(model or MODEL, version, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _tick(instance, kafka: KafkaResource, loop: LoopResource, cursor: str | None, model=MODEL):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"kafka": kafka, "loop": loop})
    return drift_sensor_for([model])(context)


def test_quiet_traffic_skips_and_a_drift_episode_requests_exactly_one_run(kafka_service, tmp_path):
    kafka = KafkaResource(bootstrap_servers=kafka_service.bootstrap_servers)
    loop = LoopResource(snapshot_dir=str(tmp_path / "snapshots"), reference_dir=str(tmp_path / "refs"))
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, kafka, loop, None)
    assert not first.run_requests and "no predictions" in first.skip_reason.skip_message

    _publish(kafka_service.bootstrap_servers, loop.predictions_topic, _traffic(WINDOW, seed=7), version=1)
    missing = _tick(instance, kafka, loop, None)
    assert "has no drift reference yet" in missing.skip_reason.skip_message

    _reference(loop, version=1)
    current = loop.reference_path(MODEL, 1, "reference_profile.json").read_text()
    loop.reference_path(MODEL, 1, "reference_profile.json").write_text(
        current.replace(f'"format": {PROFILE_FORMAT}', '"format": 1')
    )
    older = _tick(instance, kafka, loop, None)
    assert "drift reference is unreadable" in older.skip_reason.skip_message
    assert "materialize fraud_drift_reference" in older.skip_reason.skip_message
    loop.reference_path(MODEL, 1, "reference_profile.json").write_text(current)
    quiet = _tick(instance, kafka, loop, None)
    assert not quiet.run_requests, quiet.skip_reason
    assert quiet.skip_reason.skip_message.startswith("wait: no drift")

    _publish(kafka_service.bootstrap_servers, loop.predictions_topic, _traffic(WINDOW, seed=8, amount_scale=3.0), 1)
    first_alarm = _tick(instance, kafka, loop, quiet.cursor)
    assert not first_alarm.run_requests, "one alarming tick is not yet an episode (confirm_ticks=2)"
    assert "alarm 1 of 2 in a row" in first_alarm.skip_reason.skip_message
    assert not quiet.asset_events, "quiet ticks stay out of the event log"
    (observation,) = first_alarm.asset_events
    assert observation.asset_key == dg.AssetKey("fraud_drift_reference")
    assert observation.metadata["status"].value == "drift"
    assert "data:image/png;base64," in observation.metadata["drift_per_feature"].value
    assert "amount" in observation.metadata["explanation"].value
    fired = _tick(instance, kafka, loop, first_alarm.cursor)
    assert len(fired.run_requests) == 1
    request = fired.run_requests[0]
    assert request.run_key.startswith("drift-drift-fraud-model-")
    assert set(request.asset_selection) == set(retraining_assets(MODEL))
    assert {"fraud_model", "fraud_training_set", "transaction_features"} <= {
        k.to_user_string() for k in request.asset_selection
    }
    assert request.tags["flywheel/model"] == "fraud"
    assert "amount" in request.tags["flywheel/why"]
    assert list((tmp_path / "snapshots").glob("*.json")), "drift statistics were exported for Prometheus"

    again = _tick(instance, kafka, loop, fired.cursor)
    assert not again.run_requests, "one drift episode gives one run, however many ticks see it"
    assert "already has its retraining run" in again.skip_reason.skip_message


def test_unreachable_kafka_skips_with_the_reason(tmp_path):
    loop = LoopResource(snapshot_dir=str(tmp_path / "s"), reference_dir=str(tmp_path / "r"))
    result = _tick(dg.DagsterInstance.ephemeral(), KafkaResource(bootstrap_servers="127.0.0.1:1"), loop, None)
    assert isinstance(result, dg.SkipReason)
    assert "no Kafka broker reachable at 127.0.0.1:1" in result.skip_message


def test_a_retraining_run_in_flight_or_in_cooldown_blocks_a_second_one_whoever_asks(kafka_service, tmp_path):
    from dagster._core.test_utils import create_run_for_test

    kafka = KafkaResource(bootstrap_servers=kafka_service.bootstrap_servers)
    topic = "predictions-guard"
    loop = LoopResource(
        predictions_topic=topic,
        snapshot_dir=str(tmp_path / "snapshots"),
        reference_dir=str(tmp_path / "refs"),
        confirm_ticks=1,
    )
    _reference(loop, version=1)
    _publish(kafka_service.bootstrap_servers, topic, _traffic(WINDOW, seed=9, amount_scale=3.0), version=1)
    instance = dg.DagsterInstance.ephemeral()
    tags = {"flywheel/retraining": "true", "flywheel/trigger": "performance", "flywheel/model": "fraud"}
    create_run_for_test(instance, job_name="retrain", tags=tags, status=dg.DagsterRunStatus.STARTED)

    blocked = _tick(instance, kafka, loop, None, GUARDED)
    assert not blocked.run_requests
    assert "retraining of fraud wanted" in blocked.skip_reason.skip_message
    assert "(performance) is STARTED" in blocked.skip_reason.skip_message
    assert json.loads(blocked.cursor) == {}, "the episode stays open: its run is not spent on a blocked tick"

    finished = dg.DagsterInstance.ephemeral()
    create_run_for_test(finished, job_name="retrain", tags=tags, status=dg.DagsterRunStatus.SUCCESS)
    cooling = _tick(finished, kafka, loop, None, GUARDED)
    assert not cooling.run_requests and "cooldown 30 min" in cooling.skip_reason.skip_message

    other = {"flywheel/retraining": "true", "flywheel/trigger": "drift", "flywheel/model": "another"}
    queued_instance = dg.DagsterInstance.ephemeral()
    create_run_for_test(queued_instance, job_name="retrain", tags=other, status=dg.DagsterRunStatus.STARTED)
    queued = _tick(queued_instance, kafka, loop, None, GUARDED)
    assert not queued.run_requests and "queued: 1 retraining run(s) of other models in flight (stack-wide cap 1)" in (
        queued.skip_reason.skip_message
    )
    roomy = LoopResource(**{**loop.dict(), "max_concurrent_retraining": 2})
    assert len(_tick(queued_instance, kafka, roomy, None, GUARDED).run_requests) == 1, "under the cap it goes"

    free = _tick(dg.DagsterInstance.ephemeral(), kafka, loop, None, GUARDED)
    assert len(free.run_requests) == 1 and free.run_requests[0].tags["flywheel/retraining"] == "true"


def test_one_tick_judges_every_model_on_its_own_records_and_retrains_only_the_drifted_one(kafka_service, tmp_path):
    kafka = KafkaResource(bootstrap_servers=kafka_service.bootstrap_servers)
    topic = "predictions-shared"
    other = dataclasses.replace(MODEL, name="other", registered_model="other-model", served_name="other")
    loop = LoopResource(
        predictions_topic=topic,
        snapshot_dir=str(tmp_path / "snapshots"),
        reference_dir=str(tmp_path / "refs"),
        confirm_ticks=1,
    )
    _reference(loop, version=1)
    _reference(loop, version=1, model=other)
    _publish(kafka_service.bootstrap_servers, topic, _traffic(WINDOW, seed=11), version=1)
    # The other model's traffic drifts, and is logged after this model's quiet traffic on the same topic.
    _publish(kafka_service.bootstrap_servers, topic, _traffic(3 * WINDOW, seed=12, amount_scale=3.0), 1, "other")
    # A shadow version of the quiet model scores mirrored requests far differently: rollout evidence, not drift.
    shifted = _traffic(3 * WINDOW, seed=13, amount_scale=3.0).assign(score=0.9)
    _publish(kafka_service.bootstrap_servers, topic, shifted, 2, "fraud", shadow=True)
    sensor = drift_sensor_for([MODEL, other])
    tick = sensor(
        dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources={"kafka": kafka, "loop": loop})
    )
    (request,) = tick.run_requests
    assert request.tags["flywheel/model"] == "other" and set(request.asset_selection) == set(retraining_assets(other))
    assert "fraud" not in {r.tags["flywheel/model"] for r in tick.run_requests}, "the quiet model is not retrained"
    states = json.loads(tick.cursor)
    assert set(states) == {"fraud", "other"} and json.loads(states["fraud"])["alarm_ticks"] == 0
