"""A model's labeled predictions join its records of the real Kafka prediction log with labels (other models'
records stay out); its performance sensor retrains it on a drop."""

import dataclasses
import json
import time
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
from kafka import KafkaProducer

from assets.closed_loop import LoopResource, loop_stages, retraining_assets
from assets.data_assets import KafkaResource, LakeResource
from domain.models import FRAUD
from monitoring.labeled_quality import quality_reference

ROWS = 600
MODEL = dataclasses.replace(FRAUD, label_maturity=timedelta(hours=24))
STAGES = loop_stages(MODEL)
labeled_predictions, performance_sensor = STAGES.labeled_predictions, STAGES.performance_sensor


def _scores(rng, labels, good: bool) -> np.ndarray:
    if good:
        return np.clip(labels * 0.45 + rng.uniform(0, 0.55, len(labels)), 0, 1)
    return rng.uniform(0, 1, len(labels))  # a model that lost its signal


def _publish(
    bootstrap: str, topic: str, ids: list[str], scores: np.ndarray, version: int, at: float, model: str = "fraud"
) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for transaction_id, score in zip(ids, scores, strict=True):
        record = {"request_id": "r", "transaction_id": transaction_id, "model": model}
        record |= {"model_version": version, "features": {}, "score": float(score), "time": at}
        producer.send(topic, json.dumps(record).encode())
    producer.send(topic, b"not json at all")  # quarantined by the ingestion, never crashes it
    producer.flush()
    producer.close()


def test_feedback_join_and_performance_sensor(kafka_service, tmp_path):
    rng = np.random.default_rng(3)
    labels = (rng.uniform(size=ROWS) < 0.15).astype(int)
    loop = LoopResource(snapshot_dir=str(tmp_path / "snap"), reference_dir=str(tmp_path / "refs"))
    reference = quality_reference(_scores(rng, labels, good=True), labels, threshold=0.5)
    path = loop.reference_path(MODEL, 1, "quality_reference.json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(dataclasses.asdict(reference)))

    ids = [f"tx-{i}" for i in range(ROWS)]
    two_days_ago = time.time() - 2 * 86400
    _publish(kafka_service.bootstrap_servers, loop.predictions_topic, ids, _scores(rng, labels, False), 1, two_days_ago)
    others = [f"other-{i}" for i in range(50)]  # another model's predictions on the same log
    _publish(kafka_service.bootstrap_servers, loop.predictions_topic, others, np.zeros(50), 3, two_days_ago, "other")
    lake = LakeResource(root=str(tmp_path / "lake"))
    label_rows = [i for i in ids if labels[int(i.split("-")[1])]] + ["tx-unknown"]
    label_file = lake.path("labels", "chargebacks", "labels.parquet")
    label_file.parent.mkdir(parents=True)
    disputed = [i for i in ids if not labels[int(i.split("-")[1])]][:5]  # another kind of label: not this task's
    arrived = pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)
    pd.DataFrame(
        {
            "transaction_id": label_rows + disputed,
            "label_time": arrived,
            "is_fraud": [1] * len(label_rows) + [0] * len(disputed),
            "is_dispute": [0] * len(label_rows) + [1] * len(disputed),
        }
    ).to_parquet(label_file)

    resources = {"kafka": KafkaResource(bootstrap_servers=kafka_service.bootstrap_servers), "lake": lake, "loop": loop}
    result = dg.materialize([labeled_predictions], resources=resources)
    assert result.success
    metadata = result.asset_materializations_for_node("fraud_labeled_predictions")[0].metadata
    assert metadata["positive"].value == labels.sum()
    assert metadata["matured_negative"].value == ROWS - labels.sum()
    assert metadata["unknown_labels"].value == 1
    assert metadata["malformed_predictions"].value == 2, "each non-JSON record is quarantined and counted"
    assert "| fraud " in metadata["quality_by_version"].value and "other" not in metadata["quality_by_version"].value
    assert "data:image/png;base64," in metadata["quality_over_time"].value
    estimated = metadata["estimated_quality_by_version"].value  # from every served row's score, labeled or not
    assert "estimated_pr_auc" in estimated and f" {ROWS} |" in estimated, estimated

    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources)
    first = performance_sensor(context)
    assert not first.run_requests and "alarm 1 of 2 in a row" in first.skip_reason.skip_message
    tick = performance_sensor(
        dg.build_sensor_context(instance=context.instance, cursor=first.cursor, resources=resources)
    )
    assert len(tick.run_requests) == 1, tick.skip_reason
    assert set(tick.run_requests[0].asset_selection) == set(retraining_assets(MODEL))
    assert tick.run_requests[0].tags["flywheel/trigger"] == "performance"

    again = performance_sensor(
        dg.build_sensor_context(instance=context.instance, cursor=tick.cursor, resources=resources)
    )
    assert not again.run_requests, "the same quality episode does not retrain twice"
