"""The live stream sends exactly what was asked, continues the history, and chargebacks follow their payment."""

import json
import os
import subprocess
import sys
from statistics import median

import pyarrow as pa
import pytest
from kafka import KafkaConsumer, TopicPartition

from domain.generator import GeneratorConfig, Population, generate_day, scenario_preset
from domain.live_stream import LiveStream, run_live_stream, stream_live

WORLD = {"seed": 13, "n_cards": 2_000, "n_merchants": 300}


def _read_topic(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        messages = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                messages.extend(batch)
        return messages
    finally:
        consumer.close()


def _expected(first_day: int, days: int, scenario: str = "normal", label_delay_compression: float = 48):
    config = GeneratorConfig(
        **WORLD,
        days=first_day + days,
        scenario=scenario_preset(scenario),
        label_delay_compression=label_delay_compression,
    )
    population = Population(config)
    generated = [generate_day(config, population, day) for day in range(first_day, first_day + days)]
    return pa.concat_tables([g.transactions for g in generated]), pa.concat_tables([g.labels for g in generated])


@pytest.fixture(scope="module")
def normal_stream(kafka_service):
    counts = stream_live(
        kafka_service.bootstrap_servers,
        rate=4_000,
        seconds=1.0,
        scenario="normal",
        transactions_topic="live-normal-transactions",
        labels_topic="live-normal-chargebacks",
        first_day=5,
        label_delay_compression=48,
        **WORLD,
    )
    transactions = _read_topic(kafka_service.bootstrap_servers, "live-normal-transactions")
    labels = _read_topic(kafka_service.bootstrap_servers, "live-normal-chargebacks")
    return counts, transactions, labels


def test_sends_rate_times_seconds_transactions_continuing_the_history(normal_stream):
    counts, messages, _ = normal_stream
    assert counts.transactions == 4_000 and len(messages) == 4_000
    expected, _ = _expected(first_day=5, days=counts.next_day - 5)
    expected_rows = expected.slice(0, 4_000).to_pylist()
    sent = sorted((json.loads(m.value) for m in messages), key=lambda row: row["transaction_id"])
    assert [row["transaction_id"] for row in sent] == [row["transaction_id"] for row in expected_rows]
    first = sent[0]
    assert first == {**expected_rows[0], "event_time": expected_rows[0]["event_time"].isoformat()}
    assert all(m.key.decode() == json.loads(m.value)["card_id"] for m in messages), "keyed by card"
    assert len({m.partition for m in messages}) == 2, "spread over the topic's partitions"
    assert counts.first_event_time.startswith("2025-01-06"), "day 5 of a history starting 2025-01-01"
    assert counts.frauds > 0


def test_chargebacks_follow_their_transaction_and_only_when_due(normal_stream):
    counts, transactions, labels = normal_stream
    sent_at = {json.loads(m.value)["transaction_id"]: (json.loads(m.value)["event_time"], m) for m in transactions}
    assert counts.chargebacks == len(labels) > 0
    for message in labels:
        label = json.loads(message.value)
        event_time, transaction = sent_at[label["transaction_id"]]  # only labels of sent transactions
        assert event_time < label["label_time"] <= counts.last_event_time, "due by the simulated clock"
        assert message.key.decode() == label["transaction_id"]
        assert message.timestamp >= transaction.timestamp, "sent after its transaction"
    _, expected_labels = _expected(first_day=5, days=counts.next_day - 5)
    of_sent = [tid for tid in expected_labels["transaction_id"].to_pylist() if tid in sent_at]
    assert counts.chargebacks + counts.chargebacks_pending == len(of_sent), "every other label is still pending"
    assert counts.chargebacks_pending > 0, "with 7 simulated hours of mean delay some are still to come"


def test_a_quality_break_continues_the_stream_and_drains_its_labels(kafka_service, normal_stream):
    previous, _, _ = normal_stream
    counts = run_live_stream(
        LiveStream(
            kafka_service.bootstrap_servers,
            rate=None,
            transactions=600,
            scenario="amount_cents",
            first_day=previous.next_day,
            label_delay_compression=48,
            drain_labels=True,
            transactions_topic="live-break-transactions",
            labels_topic="live-break-chargebacks",
            **WORLD,
        )
    )
    rows = [json.loads(m.value) for m in _read_topic(kafka_service.bootstrap_servers, "live-break-transactions")]
    assert counts.transactions == len(rows) == 600
    assert median(row["amount"] for row in rows) > 500, "amounts are in cents"
    assert min(row["event_time"] for row in rows) > previous.last_event_time, "simulated time goes on"
    labels = _read_topic(kafka_service.bootstrap_servers, "live-break-chargebacks")
    ids = {row["transaction_id"] for row in rows}
    _, expected_labels = _expected(previous.next_day, counts.next_day - previous.next_day, "amount_cents")
    assert counts.chargebacks_pending == 0 and counts.chargebacks == len(labels)
    assert len(labels) == sum(tid in ids for tid in expected_labels["transaction_id"].to_pylist())


def test_the_command_streams_prints_progress_and_a_summary(kafka_service):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-m", "domain.live_stream"]
    done = subprocess.run(
        command
        + ["--bootstrap-servers", kafka_service.bootstrap_servers, "--rate", "1000", "--seconds", "0.5"]
        + ["--cards", "2000", "--merchants", "300", "--transactions-topic", "live-cli-transactions"]
        + ["--labels-topic", "live-cli-chargebacks", "--scenario", "concept_drift", "--progress-seconds", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["transactions"] == 500 and summary["first_event_time"].startswith("2025-01-31")
    assert "transactions (" in done.stderr and "simulated clock" in done.stderr, done.stderr
    assert len(_read_topic(kafka_service.bootstrap_servers, "live-cli-transactions")) == 500

    helped = subprocess.run(command + ["--help"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert helped.returncode == 0 and "concept_drift" in helped.stdout and "--label-delay-compression" in helped.stdout
    wrong = subprocess.run(command + ["--scenario", "typo"], capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode == 2 and "invalid choice: 'typo'" in wrong.stderr


def test_a_stream_stopped_mid_day_resumes_where_it_stopped(kafka_service):
    """Two streams, the second resumed from the first's counts, send what one uninterrupted stream sends."""

    def stream(name: str, transactions: int, **resume) -> LiveStream:
        return LiveStream(
            kafka_service.bootstrap_servers,
            rate=None,
            transactions=transactions,
            transactions_topic=f"resume-{name}-transactions",
            labels_topic=f"resume-{name}-chargebacks",
            first_day=resume.pop("first_day", 5),
            label_delay_compression=48,
            **resume,
            **WORLD,
        )

    def sent(name: str) -> tuple[list, list]:
        bootstrap = kafka_service.bootstrap_servers
        transactions = [
            json.loads(m.value)["transaction_id"] for m in _read_topic(bootstrap, f"resume-{name}-transactions")
        ]
        labels = [json.loads(m.value) for m in _read_topic(bootstrap, f"resume-{name}-chargebacks")]
        return sorted(transactions), sorted((label["transaction_id"], label["label_time"]) for label in labels)

    first = run_live_stream(stream("parts", 1_500))
    assert first.resume_day == 5 and first.next_day == 6, "stopped within day 5"
    second = run_live_stream(stream("parts", 2_000, first_day=first.resume_day, resume_after=first.last_event_time))
    run_live_stream(stream("whole", 3_500))
    parts, whole = sent("parts"), sent("whole")
    assert len(set(parts[0])) == len(parts[0]) == 3_500, "no payment sent twice"
    assert parts[0] == whole[0], "none skipped: the rest of day 5, then day 6"
    assert parts[1] == whole[1], "every chargeback once, when due, as one stream sends them"
    assert second.first_event_time > first.last_event_time
