"""read_recent_by on a real broker: each group's newest records from one shared topic, a sparse group found by
looking further back, and an absent group ending the search instead of re-reading the topic to the limit."""

import json
import uuid

from kafka import KafkaProducer

from dataplane.ingestion import recent_records
from dataplane.ingestion.recent_records import read_recent_by


def test_sparse_groups_are_found_further_back_and_an_absent_one_stops_the_search(kafka_service, monkeypatch):
    topic = f"recent-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_service.bootstrap_servers)
    for i in range(6000):
        group = "sparse" if i % 30 == 0 else "busy"
        producer.send(topic, json.dumps({"group": group, "i": i}).encode())
    producer.flush()
    producer.close()
    reads = []
    real = recent_records._read_tail

    def counted(*args):
        reads.append(args[-1])
        return real(*args)

    monkeypatch.setattr(recent_records, "_read_tail", counted)
    found = read_recent_by(
        kafka_service.bootstrap_servers,
        topic,
        {"busy": 300, "sparse": 100, "absent": 100},
        key=lambda record: record["group"],
    )
    assert [r["i"] for r in found["busy"]] == [i for i in range(6000) if i % 30][-300:], "the newest, in order"
    assert [r["i"] for r in found["sparse"]] == list(range(0, 6000, 30))[-100:], "found by looking further back"
    assert found["absent"] == []
    assert len(reads) <= 5 and reads[-1] < 64 * 500, f"the absent group ended the search: looked back {reads}"
