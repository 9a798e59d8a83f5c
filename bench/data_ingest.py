"""Benchmark: Kafka -> validated Parquet through the real ingestion code, against a bare kafka-python consume loop.

One real KRaft broker (tools/services), N generated transactions produced once by the live stream. Then, in
alternating rounds on the same topic: the baseline, a bare kafka-python loop that polls every message and touches
its bytes, and ours, `ingest` (crash-safe micro-batches: decode, Parquet write + fsync + rename, offset commit) plus
`validate_to_lake` (pandera rules, quarantine, validated Parquet). Ratio = our events/s / the baseline's (medians
over the rounds); the goal is >= 0.8x.

Run: .venv/bin/python -m bench.data_ingest [--messages 200000] [--rounds 3] [--out docs/bench/data.md]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from assets.ingestion.kafka_sink import IngestSettings, ParquetOffsetSink, ingest
from assets.ingestion.live_stream import LiveStream, run_live_stream
from assets.lake_stages import validate_to_lake
from bench.report_sections import machine_description, write_section
from domain.schema import TRANSACTION_ARROW_SCHEMA, transaction_schema
from tools.services.kafka_broker import KafkaService

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "bench-transactions"


def bare_consume(bootstrap_servers: str, topic: str, expected: int) -> dict:
    """The baseline: connect, assign every partition, poll from the beginning until `expected` messages."""
    started = time.perf_counter()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        messages = size = 0
        while messages < expected:
            for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
                for message in batch:
                    messages += 1
                    size += len(message.value)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    return {"messages": messages, "bytes": size, "seconds": seconds}


def ingest_and_validate(bootstrap_servers: str, topic: str, work: Path, round_number: int) -> dict:
    """Ours: the ingestion code into a fresh sink with a fresh consumer group, then validation to the lake."""
    sink = work / f"stream-{round_number}"
    started = time.perf_counter()
    report = ingest(
        bootstrap_servers,
        IngestSettings(topic=topic, group_id=f"bench-{round_number}", batch_rows=50_000),
        ParquetOffsetSink(sink),
        TRANSACTION_ARROW_SCHEMA,
    )
    ingested = time.perf_counter()
    validation = validate_to_lake(
        work / "no-history",
        sink,
        work / f"validated-{round_number}",
        work / f"quarantine-{round_number}",
        transaction_schema(),
        TRANSACTION_ARROW_SCHEMA,
        max_invalid_share=0.05,
    )
    done = time.perf_counter()
    return {
        "messages": report.rows + report.malformed,
        "valid": validation.valid,
        "files": len(report.files),
        "ingest_s": ingested - started,
        "validate_s": done - ingested,
        "seconds": done - started,
    }


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--messages", type=int, default=200_000)
    cli.add_argument("--rounds", type=int, default=3)
    cli.add_argument("--partitions", type=int, default=2)
    cli.add_argument("--out", default=str(ROOT / "docs/bench/data.md"))
    args = cli.parse_args()
    machine = machine_description()
    print(machine, flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    kafka = KafkaService(work / "kafka", heap="1g").start()
    try:
        bootstrap = kafka.bootstrap_servers
        produced = run_live_stream(
            LiveStream(
                bootstrap,
                rate=None,
                transactions=args.messages,
                n_cards=200_000,
                n_merchants=20_000,
                transactions_topic=TOPIC,
                labels_topic="bench-chargebacks",
                partitions=args.partitions,
            )
        )
        print(f"produced {produced.transactions:,} in {produced.seconds:.1f} s", flush=True)
        rounds = []
        for number in range(args.rounds):
            bare = bare_consume(bootstrap, TOPIC, args.messages)
            ours = ingest_and_validate(bootstrap, TOPIC, work, number)
            if ours["valid"] != args.messages or bare["messages"] != args.messages:
                raise RuntimeError(f"round {number}: expected {args.messages} messages, got {bare} / {ours}")
            rounds.append((bare, ours))
            print(
                f"round {number}: bare {args.messages / bare['seconds']:,.0f}/s, ours "
                f"{args.messages / ours['seconds']:,.0f}/s (ingest {ours['ingest_s']:.1f} s + validate "
                f"{ours['validate_s']:.1f} s)",
                flush=True,
            )
    finally:
        kafka.stop()

    bare_rate = statistics.median(args.messages / bare["seconds"] for bare, _ in rounds)
    ours_rate = statistics.median(args.messages / ours["seconds"] for _, ours in rounds)
    ingest_rate = statistics.median(args.messages / ours["ingest_s"] for _, ours in rounds)
    ratio = ours_rate / bare_rate
    mean_bytes = rounds[0][0]["bytes"] / args.messages
    lines = [
        "## Kafka ingest (`bench/data_ingest.py`)",
        "",
        f"Run {machine}.",
        "",
        f"{args.messages:,} transactions (JSON, {mean_bytes:.0f} bytes each on average) on a {args.partitions}-"
        f"partition topic of a local KRaft broker, produced once by the live stream ({produced.per_second:,.0f}/s). "
        f"{args.rounds} alternating rounds; medians below.",
        "",
        "| system | what it does | events/s | ratio to baseline |",
        "|---|---|---:|---:|",
        f"| baseline: bare kafka-python loop | poll every message, touch its bytes | {bare_rate:,.0f} | 1.00x |",
        f"| ours, ingest only | decode, Parquet micro-batch + fsync, commit | {ingest_rate:,.0f} | "
        f"{ingest_rate / bare_rate:.2f}x |",
        f"| **ours, end to end** | ingest, then pandera validation to validated Parquet | **{ours_rate:,.0f}** | "
        f"**{ratio:.2f}x** |",
        "",
        "| round | baseline s | ingest s | validate s | ours total s | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for number, (bare, ours) in enumerate(rounds):
        lines.append(
            f"| {number} | {bare['seconds']:.1f} | {ours['ingest_s']:.1f} | {ours['validate_s']:.1f} | "
            f"{ours['seconds']:.1f} | {bare['seconds'] / ours['seconds']:.2f}x |"
        )
    lines += [
        "",
        f"Goal >= 0.8x: **{'met' if ratio >= 0.8 else 'not met'}**. What closed the gap (profiled with cProfile): "
        "messages are decoded a batch at a time by Arrow's JSON reader (falling back to the per-message decoder, "
        "with the same results and reasons, when a batch holds anything malformed) instead of `json.loads` and a "
        "type check per field; a writer thread decodes and writes batch n while the consumer fetches batch n+1 "
        "(commits still wait for the durable write); validation converts Arrow to pandas with Arrow-backed strings "
        "(`domain.schema.validation_frame`), which made pandera's type, membership and uniqueness checks ~5x "
        "faster. kafka-python checks record CRCs in pure Python unless the `crc32c` C extension is installed (it "
        "is not in the lock): that check is the largest single cost in both systems here.",
    ]
    write_section(Path(args.out), "ingest", "\n".join(lines))
    print(f"ratio {ratio:.2f}x; wrote {args.out}")


if __name__ == "__main__":
    main()
