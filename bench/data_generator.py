"""Benchmark: fraud generator rows/s, and a 10M-row history written to Parquet with its time and peak memory.

Baseline, measured in the same run: the same legitimate-spend model written the usual way, one row at a time in
Python (`random` draws, a dict per row, Arrow table at the end). Ratio = our rows/s / the baseline's rows/s. The
history steps run in a fresh process each, so the peak RSS reported is that step's alone; the 10M-row history is
kept under --keep (default .flywheel/bench/history-10m) for bench/data_features.py.

Run: .venv/bin/python -m bench.data_generator [--rows 10000000] [--out docs/bench/data.md]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from bench.fresh_process import run_step
from bench.report_sections import machine_description, write_section
from domain.generator import GeneratorConfig, Population, generate_day, write_history
from domain.schema import TRANSACTION_ARROW_SCHEMA
from domain.vocabulary import CHANNELS, COUNTRIES, HOME_COUNTRIES, MERCHANT_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
DAYS = 42
"""History length of every measured history; card count scales the rows (about 1.2 transactions per card-day)."""


def cards_for(rows: int) -> int:
    """Cards that make about `rows` transactions over DAYS days."""
    return max(1_000, round(rows / (DAYS * 1.2 * 0.99)))


def row_at_a_time(rows: int, n_cards: int = 20_000, n_merchants: int = 2_000, seed: int = 7) -> pa.Table:
    """The baseline: legitimate spend drawn row by row with `random`, collected as dicts, converted at the end."""
    rng = random.Random(seed)
    hourly = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 4.5, 5, 5.5, 6.5, 6, 5.5, 5.5, 6, 7, 7.5, 7, 6, 4.5, 3, 1.8]
    hour_cum = list(itertools.accumulate(hourly))
    categories = list(MERCHANT_CATEGORIES)
    share_cum = list(itertools.accumulate(v[3] for v in MERCHANT_CATEGORIES.values()))
    card_home = [rng.randrange(len(HOME_COUNTRIES)) for _ in range(n_cards)]
    card_spend = [rng.gauss(0, 0.35) for _ in range(n_cards)]
    card_cum = list(itertools.accumulate(rng.gammavariate(2.0, 0.5) for _ in range(n_cards)))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(rows):
        card = bisect.bisect(card_cum, rng.random() * card_cum[-1])
        category = bisect.bisect(share_cum, rng.random() * share_cum[-1])
        name, mu, sigma = categories[category], *MERCHANT_CATEGORIES[categories[category]][1:3]
        country = card_home[card] if rng.random() > 0.03 else rng.randrange(len(HOME_COUNTRIES))
        hour = bisect.bisect(hour_cum, rng.random() * hour_cum[-1])
        out.append(
            {
                "transaction_id": f"t{i:014d}",
                "event_time": start + timedelta(days=i // 24_000, seconds=hour * 3600 + rng.random() * 3600),
                "card_id": f"c{card:08d}",
                "merchant_id": f"m{rng.randrange(n_merchants):06d}",
                "merchant_category": name,
                "amount": round(math.exp(rng.gauss(mu + card_spend[card], sigma)), 2),
                "country": COUNTRIES[country],
                "device_id": f"c{card:08d}-d{rng.randrange(3):04d}",
                "channel": CHANNELS[0 if rng.random() < 0.45 else 1],
            }
        )
    return pa.Table.from_pylist(out, schema=TRANSACTION_ARROW_SCHEMA)


def in_memory_rate(n_cards: int, days: int = 3) -> dict:
    """Rows/s of `generate_day` (transactions, chargebacks, ground truth) for a few days, nothing written."""
    config = GeneratorConfig(n_cards=n_cards, n_merchants=max(2_000, n_cards // 10), days=days)
    population = Population(config)
    started = time.perf_counter()
    rows = sum(generate_day(config, population, day).transactions.num_rows for day in range(days))
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def history_step(rows: int, path: str) -> dict:
    """(Fresh process) writes a DAYS-day history of about `rows` transactions to `path`; returns counts and time."""
    n_cards = cards_for(rows)
    config = GeneratorConfig(n_cards=n_cards, n_merchants=max(2_000, n_cards // 10), days=DAYS)
    target = Path(path)
    if target.exists():
        shutil.rmtree(target)
    started = time.perf_counter()
    written = write_history(config, target)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in target.rglob("*.parquet"))
    manifest = {"rows": written.transactions, "n_cards": n_cards, "days": DAYS, "seed": config.seed}
    (target / "manifest.json").write_text(json.dumps(manifest))
    return {
        "rows": written.transactions,
        "labels": written.labels,
        "frauds": written.frauds,
        "n_cards": n_cards,
        "seconds": seconds,
        "rows_per_s": written.transactions / seconds,
        "parquet_mb": size / 2**20,
    }


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rows", type=int, default=10_000_000, help="rows of the big history (default 10M)")
    cli.add_argument("--baseline-rows", type=int, default=100_000, help="rows the row-at-a-time baseline makes")
    cli.add_argument("--keep", default=str(ROOT / ".flywheel/bench/history-10m"), help="where the big history stays")
    cli.add_argument("--out", default=str(ROOT / "docs/bench/data.md"))
    args = cli.parse_args()
    machine = machine_description()
    print(machine, flush=True)

    started = time.perf_counter()
    row_at_a_time(args.baseline_rows)
    baseline_s = time.perf_counter() - started
    baseline = args.baseline_rows / baseline_s
    print(f"baseline row-at-a-time: {baseline:,.0f} rows/s", flush=True)
    memory = {cards: in_memory_rate(cards) for cards in (20_000, 200_000)}
    for cards, result in memory.items():
        print(f"generate_day, {cards:,} cards: {result['rows_per_s']:,.0f} rows/s", flush=True)
    scratch = ROOT / ".flywheel/bench/history-1m"
    small = run_step("bench.data_generator:history_step", rows=1_000_000, path=str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"1M history: {small}", flush=True)
    big = run_step("bench.data_generator:history_step", rows=args.rows, path=args.keep)
    print(f"{args.rows:,} history: {big}", flush=True)

    lines = [
        "## Generator (`bench/data_generator.py`)",
        "",
        f"Run {machine}.",
        "",
        "Baseline: the same legitimate-spend model drawn one row at a time in Python (`random`, a dict per row, "
        f"Arrow table at the end), {args.baseline_rows:,} rows: **{baseline:,.0f} rows/s**. Ours is vectorised "
        "numpy per day and also draws the fraud patterns and chargebacks.",
        "",
        "| what | rows | seconds | rows/s | ratio to baseline | peak RSS | Parquet |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| baseline: row at a time, in memory | {args.baseline_rows:,} | {baseline_s:.1f} | {baseline:,.0f} "
        "| 1.0x | | |",
    ]
    for cards, result in memory.items():
        lines.append(
            f"| `generate_day`, {cards:,} cards, 3 days, in memory | {result['rows']:,} | {result['seconds']:.1f} | "
            f"{result['rows_per_s']:,.0f} | {result['rows_per_s'] / baseline:.1f}x | | |"
        )
    for result in (small, big):
        lines.append(
            f"| `write_history`, {result['n_cards']:,} cards x {DAYS} days, to Parquet | {result['rows']:,} | "
            f"{result['seconds']:.1f} | {result['rows_per_s']:,.0f} | {result['rows_per_s'] / baseline:.1f}x | "
            f"{result['peak_rss_mb']:,.0f} MB | {result['parquet_mb']:,.0f} MB |"
        )
    lines += [
        "",
        f"The {big['rows']:,}-row history ({big['labels']:,} chargebacks, {big['frauds']:,} frauds) took "
        f"{big['seconds']:.0f} s with a peak RSS of {big['peak_rss_mb']:,.0f} MB: one day is in memory at a time, "
        "so memory grows with cards per day, not with history length.",
    ]
    write_section(Path(args.out), "generator", "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
