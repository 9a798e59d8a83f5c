"""Benchmark: Kafka -> validated Parquet through the real ingestion code, against a bare kafka-python consume loop.

One real KRaft broker (tools/services), N generated transactions produced once by the live stream. Then, in
alternating rounds on the same topic: the baseline, a bare kafka-python loop that polls every message and touches
its bytes, and ours, `ingest` (crash-safe micro-batches: decode, Parquet write + fsync + rename, offset commit) plus
`validate_to_lake` (pandera rules, quarantine, validated Parquet). A warm-up round of each comes first and is not
counted; the order within a round alternates (baseline first in even rounds, ours first in odd ones) so neither side
always runs on the heels of the other. Ratio = our events/s / the baseline's (medians over the rounds); the goal is
>= 0.8x. Each side's process CPU seconds are reported too: on a shared machine they move far less than wall time.

Run: .venv/bin/python -m bench.data_ingest [--messages 200000] [--rounds 7] [--warmup 1] [--out docs/bench/data.md]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from bench.report_sections import machine_description, write_section
from dataplane.ingestion.kafka_sink import IngestSettings, ParquetOffsetSink, ingest
from dataplane.lake_stages import validate_to_lake
from domain.live_stream import LiveStream, run_live_stream
from domain.schema import TRANSACTION_ARROW_SCHEMA, transaction_schema
from tools.services.kafka_broker import KafkaService

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "bench-transactions"


def bare_consume(bootstrap_servers: str, topic: str, expected: int) -> dict:
    """The baseline: connect, assign every partition, poll from the beginning until `expected` messages."""
    started, cpu = time.perf_counter(), time.process_time()
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
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    finally:
        consumer.close()
    return {"messages": messages, "bytes": size, "seconds": seconds, "cpu_s": cpu_s}


def ingest_and_validate(bootstrap_servers: str, topic: str, work: Path, round_number: int) -> dict:
    """Ours: the ingestion code into a fresh sink with a fresh consumer group, then validation to the lake."""
    sink = work / f"stream-{round_number}"
    started, cpu = time.perf_counter(), time.process_time()
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
    done, cpu_s = time.perf_counter(), time.process_time() - cpu
    return {
        "messages": report.rows + report.malformed,
        "valid": validation.valid,
        "files": len(report.files),
        "ingest_s": ingested - started,
        "validate_s": done - ingested,
        "seconds": done - started,
        "cpu_s": cpu_s,
    }


def one_round(bootstrap: str, work: Path, number: int, messages: int, baseline_first: bool) -> tuple[dict, dict]:
    """The baseline and ours once each, in the given order; raises if either missed a message."""
    if baseline_first:
        bare = bare_consume(bootstrap, TOPIC, messages)
        ours = ingest_and_validate(bootstrap, TOPIC, work, number)
    else:
        ours = ingest_and_validate(bootstrap, TOPIC, work, number)
        bare = bare_consume(bootstrap, TOPIC, messages)
    if ours["valid"] != messages or bare["messages"] != messages:
        raise RuntimeError(f"round {number}: expected {messages} messages, got {bare} / {ours}")
    return bare, ours


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--messages", type=int, default=200_000)
    cli.add_argument("--rounds", type=int, default=7, help="counted rounds (medians over these)")
    cli.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (broker JIT, page cache, imports)")
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
        for number in range(args.warmup):
            one_round(bootstrap, work, -1 - number, args.messages, baseline_first=True)
            print(f"warm-up round {number} done (not counted)", flush=True)
        rounds = []
        for number in range(args.rounds):
            bare, ours = one_round(bootstrap, work, number, args.messages, baseline_first=number % 2 == 0)
            rounds.append((bare, ours))
            print(
                f"round {number}: bare {args.messages / bare['seconds']:,.0f}/s ({bare['cpu_s']:.1f} s CPU), ours "
                f"{args.messages / ours['seconds']:,.0f}/s (ingest {ours['ingest_s']:.1f} s + validate "
                f"{ours['validate_s']:.1f} s; {ours['cpu_s']:.1f} s CPU)",
                flush=True,
            )
    finally:
        kafka.stop()

    bare_rate = statistics.median(args.messages / bare["seconds"] for bare, _ in rounds)
    ours_rate = statistics.median(args.messages / ours["seconds"] for _, ours in rounds)
    ingest_rate = statistics.median(args.messages / ours["ingest_s"] for _, ours in rounds)
    ratio = ours_rate / bare_rate
    cpu_ratio = statistics.median(bare["cpu_s"] for bare, _ in rounds) / statistics.median(
        ours["cpu_s"] for _, ours in rounds
    )
    mean_bytes = rounds[0][0]["bytes"] / args.messages
    lines = [
        "## Kafka ingest (`bench/data_ingest.py`)",
        "",
        f"Run {machine}.",
        "",
        f"{args.messages:,} transactions (JSON, {mean_bytes:.0f} bytes each on average) on a {args.partitions}-"
        f"partition topic of a local KRaft broker, produced once by the live stream ({produced.per_second:,.0f}/s). "
        f"One uncounted warm-up round, then {args.rounds} rounds alternating which side runs first; medians below.",
        "",
        "| system | what it does | events/s | ratio to baseline |",
        "|---|---|---:|---:|",
        f"| baseline: bare kafka-python loop | poll every message, touch its bytes | {bare_rate:,.0f} | 1.00x |",
        f"| ours, ingest only | decode, Parquet micro-batch + fsync, commit | {ingest_rate:,.0f} | "
        f"{ingest_rate / bare_rate:.2f}x |",
        f"| **ours, end to end** | ingest, then pandera validation to validated Parquet | **{ours_rate:,.0f}** | "
        f"**{ratio:.2f}x** |",
        "",
        f"Process CPU seconds (all threads; medians): baseline "
        f"{statistics.median(bare['cpu_s'] for bare, _ in rounds):.2f} s, ours "
        f"{statistics.median(ours['cpu_s'] for _, ours in rounds):.2f} s, ratio **{cpu_ratio:.2f}x**. Wall time "
        "on this shared machine runs 1.3-2x the CPU time and moves with the other engineers' load; the CPU ratio "
        "says how much work each side does.",
        "",
        "| round | first | baseline s | baseline CPU s | ingest s | validate s | ours total s | ours CPU s | ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, (bare, ours) in enumerate(rounds):
        lines.append(
            f"| {number} | {'baseline' if number % 2 == 0 else 'ours'} | {bare['seconds']:.1f} | "
            f"{bare['cpu_s']:.1f} | {ours['ingest_s']:.1f} | {ours['validate_s']:.1f} | {ours['seconds']:.1f} | "
            f"{ours['cpu_s']:.1f} | {bare['seconds'] / ours['seconds']:.2f}x |"
        )
    lines += [
        "",
        f"Goal >= 0.8x: **{'met' if ratio >= 0.8 else 'not met'}**.",
        "",
        "Where the time goes (cProfile and per-thread CPU clocks, 200,000 messages): in both loops kafka-python's "
        "pure-Python record CRC check (`crc_update`) is about 60% of the time and record parsing most of the rest; "
        "Python's cyclic GC takes about 0.5 s in each. Ours does about 0.6 s more CPU than the baseline: Arrow's "
        "JSON reader ~0.2 s, the writer thread (join, Arrow columns, Parquet encode, fsync) ~0.16 s, validation "
        "~0.15 s (Parquet read, pandera with the unique-id check its largest part, validated Parquet write) and "
        "~0.1 s on the consumer thread (buffering, commits, setup).",
        "",
        "What closed the gap: messages are decoded a batch at a time by Arrow's JSON reader (falling back to the "
        "per-message decoder, with the same results and reasons, when a batch holds anything malformed), read from "
        "an Arrow buffer rather than a Python file object; a writer thread decodes and writes batch n while the "
        "consumer fetches batch n+1 (commits still wait for the durable write); validation converts Arrow to pandas "
        "with Arrow-backed strings (`dataplane.validation_frame`), which made pandera's type, membership and "
        "uniqueness checks ~5x faster. Then (2026-11-29): Parquet is written with a 16 KiB dictionary page limit "
        "(`PARQUET_DICTIONARY_PAGE_LIMIT`) so near-unique columns (ids, timestamps, offsets) fall back to plain "
        "encoding early instead of being dictionary-encoded a whole batch long (encoding 111 -> 72 ms CPU per "
        "200k rows, files 13% smaller); validation reads only the columns it checks and skips the valid/malformed "
        "split when nothing is malformed (validate 0.32 -> 0.18 s). An A/B of the code before and after in one "
        "process on one broker (9 rotating rounds in a quiet spell, load average about 2-3.5): end to end 0.86x -> "
        "0.89x on wall time, 0.86x -> 0.89x on CPU. "
        "This benchmark also gained an uncounted warm-up round (in the previous run the first round's baseline, "
        "the first consume after producing, took 11.3 s against ~7 s later), alternating order, 7 rounds instead "
        "of 3, and the CPU columns. So the code changes are worth about +0.03x; the rest of any step from the "
        "previous run's 0.77x (3 rounds, load average 4-7) is measurement and load, which is why the CPU ratio "
        "is printed beside the wall-time one.",
        "",
        "Tried and not kept: `operator.itemgetter` instead of the three list comprehensions that collect values, "
        "offsets and timestamps (~5 ms per 200k); writing on the consumer thread instead of a writer thread (no "
        "better on wall time); 8k-row micro-batches (more files and commits: 0.87-0.89x vs 0.90x ingest only) and "
        "100k-row ones (16 ms less CPU, but the last batch, written after the final poll, grows from 65 to 158 ms). "
        "With the `crc32c` C extension (not in the lock) both sides are ~4x faster (baseline ~1.2 s instead of "
        "~5 s per 200k) and the ratio falls to ~0.64x, since our ~0.6 s of decoding, writing and validating then "
        "dominates: the largest absolute throughput win, but not one for this ratio.",
    ]
    write_section(Path(args.out), "ingest", "\n".join(lines))
    print(f"ratio {ratio:.2f}x; wrote {args.out}")


if __name__ == "__main__":
    main()
