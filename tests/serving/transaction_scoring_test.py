"""POST /models/{name}/score: a raw transaction scored through a pluggable feature function, logged to Kafka."""

import json
import time

import numpy as np
from kafka import KafkaConsumer, TopicPartition

from features.spec import encode_categorical
from serving.ort_session import session
from tests.serving.fake_online_features import SPEC, features
from tests.serving.serving_harness import ServerProcess, add_version, infer_body, wait_until

FEATURE_ARGS = (
    "--feature-spec",
    "serving.synthetic_data:reference_spec",
    "--feature-function",
    "tests.serving.fake_online_features:features",
)


def consume(bootstrap: str, topic: str, expected: int) -> list[dict]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    partition = TopicPartition(topic, 0)
    records: list[dict] = []
    assert wait_until(lambda: topic in (consumer.topics() or set()), timeout=30)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)

    def poll():
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(json.loads(m.value) for m in batch)
        return len(records) >= expected

    wait_until(poll, timeout=30)
    consumer.close()
    return records


def test_transaction_is_scored_and_every_prediction_reaches_kafka(tmp_path, kafka_service):
    root = tmp_path / "models"
    add_version(root, 1)
    topic = "predictions-test"
    args = (*FEATURE_ARGS, "--kafka-bootstrap-servers", kafka_service.bootstrap_servers, "--prediction-topic", topic)
    transaction = {"event_id": "tx-42", "amount": 120.5, "hour": 3, "c0": "v2", "c1": "nope"}
    with ServerProcess(root, tmp_path, *args) as server:
        status, body, _ = server.request("POST", "/models/fraud/score", json.dumps(transaction).encode())
        assert status == 200, body
        assert body["model_version"] == "1" and body["transaction_id"] == "tx-42"
        values = features(transaction)
        numeric = np.asarray([[values[n] for n in SPEC.numeric]], dtype=np.float32)
        categorical = np.asarray([[encode_categorical(v, [values[n]])[0] for n, v in SPEC.categorical.items()]])
        expected = session(root / "fraud" / "1" / "model.onnx").run(
            None, {"numeric": numeric, "categorical": categorical}
        )
        assert abs(body["score"] - float(expected[0][0, 0])) < 1e-6

        ids = {"parameters": {"transaction_ids": ["tx-a", "tx-b"]}, "id": "req-9"}
        assert server.request("POST", "/v2/models/fraud/infer", infer_body(rows=2, **ids))[0] == 200
        bad = server.request("POST", "/models/fraud/score", json.dumps({"amount": "lots"}).encode())
        assert bad[0] == 400 and "ValueError" in bad[1]["error"]
        records = consume(kafka_service.bootstrap_servers, topic, expected=3)
        assert wait_until(lambda: 'flywheel_prediction_log_records_total{outcome="sent"} 3.0' in server.metrics())

    by_transaction = {r["transaction_id"]: r for r in records}
    assert set(by_transaction) == {"tx-42", "tx-a", "tx-b"}
    scored = by_transaction["tx-42"]
    assert scored["model"] == "fraud" and scored["model_version"] == 1
    assert scored["features"]["c0"] == "v2" and abs(scored["features"]["x0"] - values["x0"]) < 1e-9
    assert abs(scored["score"] - body["score"]) < 1e-9
    batch_record = by_transaction["tx-b"]
    assert batch_record["request_id"] == "req-9"
    assert set(batch_record["features"]) == set(SPEC.features), "OIP inputs are logged under FeatureSpec names"
    assert all(isinstance(r["time"], float) for r in records)


def test_kafka_down_counts_drops_and_serving_goes_on(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1)
    args = ("--kafka-bootstrap-servers", "127.0.0.1:1", "--prediction-log-max-pending", "4")
    with ServerProcess(root, tmp_path, *args) as server:
        started = time.monotonic()
        for i in range(30):
            assert server.request("POST", "/v2/models/fraud/infer", infer_body(seed=i))[0] == 200
        assert time.monotonic() - started < 10, "an unreachable Kafka never slows the request path"
        # kafka-python blocks ~30 s before it gives up on a broker: meanwhile one request is held by the sender,
        # four wait in the bounded queue and the other 25 are dropped at once, and counted.
        assert wait_until(lambda: _dropped(server.metrics()) >= 25, timeout=10)


def _dropped(metrics: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("flywheel_prediction_log_records_total") and "dropped" in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
