"""Benchmark: the Spark point-in-time feature pipeline at 100k, 1M and 10M rows against pandas + numpy on one core,
and the column-wise online state build against the event-by-event replay it replaced.

Each size is a 42-day history from the generator (bench/data_generator.py, cards scaled to the rows). Spark runs
`compute_features` (features/point_in_time.py) on local[2] from Parquet to Parquet; the baseline,
bench/single_core_features.py, computes the same features from the same Parquet on one core (Arrow limited to one
thread) in a fresh process. Both outputs are compared feature by feature. A straight-line fit of time against rows
gives each engine's fixed cost and per-row cost, so the table says where Spark's fixed cost stops dominating.

Run: .venv/bin/python -m bench.data_features [--sizes 100000,1000000,10000000] [--out docs/bench/data.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.data_generator import DAYS
from bench.fresh_process import run_step
from bench.report_sections import machine_description, write_section

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".flywheel/bench"


def _name(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows >= 1_000_000 else f"{rows // 1_000}k"


def history(rows: int) -> Path:
    """A cached history of about `rows` transactions (generated once; the 10M one by bench/data_generator.py)."""
    path = CACHE / f"history-{_name(rows)}"
    manifest = path / "manifest.json"
    if not manifest.exists() or abs(json.loads(manifest.read_text())["rows"] - rows) > 0.1 * rows:
        result = run_step("bench.data_generator:history_step", rows=rows, path=str(path))
        print(f"generated {result['rows']:,} rows in {result['seconds']:.0f} s", flush=True)
    return path


def _labels(path: Path) -> pa.Table:
    """Chargebacks de-duplicated to the earliest arrival per transaction (what chargeback_labels stores)."""
    frame = pq.read_table(path / "chargebacks").select(["transaction_id", "label_time", "is_fraud"]).to_pandas()
    frame = frame.sort_values("label_time", kind="stable").drop_duplicates("transaction_id")
    return pa.Table.from_pandas(frame, preserve_index=False)


def single_core_step(path: str, out: str) -> dict:
    """(Fresh process) the baseline: read, compute every feature on one core, write Parquet."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from bench.single_core_features import compute_features_single_core
    from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES

    started = time.perf_counter()
    transactions = pq.read_table(Path(path) / "transactions")
    transactions = transactions.select([f.name for f in transactions.schema if f.name != "date"])
    features = compute_features_single_core(
        transactions, _labels(Path(path)), FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURES
    )
    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    pq.write_table(features, Path(out) / "part-0.parquet")
    return {"rows": features.num_rows, "seconds": time.perf_counter() - started}


def online_state_step(path: str, engine_kind: str, work: str) -> dict:
    """(Fresh process) builds the online store from a history: 'bulk' (the asset's way) or 'replay' (the old way)."""
    from dataplane.lake_stages import build_online_state
    from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
    from features.online_engine import OnlineFeatureEngine, replay
    from features.online_store import SqliteStateStore

    engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)
    labels_dir = Path(work) / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    labels = _labels(Path(path))
    pq.write_table(labels, labels_dir / "labels.parquet")
    store_path = Path(work) / f"{engine_kind}.sqlite"
    store_path.unlink(missing_ok=True)
    store = SqliteStateStore(store_path)
    started = time.perf_counter()
    if engine_kind == "bulk":
        counts = build_online_state(
            engine, Path(path) / "transactions", labels_dir, store, "transaction_id", FRAUD_FEATURES.definition_hash()
        )
    else:
        events = pq.read_table(Path(path) / "transactions").sort_by("event_time").to_pylist()
        arrivals = list(
            zip(
                labels["transaction_id"].to_pylist(),
                labels["label_time"].to_pylist(),
                labels["is_fraud"].to_pylist(),
                strict=True,
            )
        )
        _, states = replay(engine, events, arrivals, "transaction_id")
        for entity, by_key in states.items():
            store.put_many(entity, by_key)
        counts = {entity: len(by_key) for entity, by_key in states.items()}
    seconds = time.perf_counter() - started
    rows = sum(pq.read_metadata(p).num_rows for p in (Path(path) / "transactions").rglob("*.parquet"))
    store.close()
    return {
        "rows": rows,
        "seconds": seconds,
        "cards": counts["card_id"],
        "sqlite_mb": store_path.stat().st_size / 2**20,
    }


def spark_features(spark, path: Path, out: Path) -> dict:
    """Spark: read the history, de-duplicate labels, compute features, write Parquet; timed end to end."""
    from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
    from features.point_in_time import compute_features, deduplicate_labels

    started = time.perf_counter()
    transactions = spark.read.parquet(str(path / "transactions")).drop("date")
    labels = deduplicate_labels(spark.read.parquet(str(path / "chargebacks")).drop("date"), "transaction_id")
    features = compute_features(
        transactions, labels, FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURES
    )
    features.write.mode("overwrite").parquet(str(out))
    seconds = time.perf_counter() - started
    return {"rows": pq.ParquetDataset(out).read(columns=["transaction_id"]).num_rows, "seconds": seconds}


def agreement(spark_out: Path, baseline_out: Path) -> float:
    """Largest absolute difference between the two engines over every numeric feature and row."""
    from domain.features import FRAUD_FEATURES

    a = pq.read_table(spark_out).to_pandas().set_index("transaction_id").sort_index()
    b = pq.read_table(baseline_out).to_pandas().set_index("transaction_id").sort_index()
    if not a.index.equals(b.index):
        raise RuntimeError("Spark and the baseline produced different transaction ids")
    for name in FRAUD_FEATURES.categorical:
        if not (a[name] == b[name]).all():
            raise RuntimeError(f"categorical feature {name} differs")
    return max(float(np.abs(a[n].to_numpy(float) - b[n].to_numpy(float)).max()) for n in FRAUD_FEATURES.numeric)


def _costs(rows: list[int], seconds: list[float]) -> tuple[float, float]:
    """(fixed seconds, marginal seconds per row): the marginal cost from the two largest sizes, the fixed cost
    what is left of the smallest size's time (a straight-line fit would let the largest size hide it)."""
    points = sorted(zip(rows, seconds, strict=True))
    (n_small, t_small), (n_mid, t_mid), (n_big, t_big) = points[0], points[max(len(points) - 2, 0)], points[-1]
    marginal = max((t_big - t_mid) / (n_big - n_mid), 1e-12) if n_big > n_mid else t_big / n_big
    return max(t_small - n_small * marginal, 0.0), marginal


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated history sizes in rows")
    cli.add_argument("--replay-rows", type=int, default=100_000, help="history size the old replay is timed on")
    cli.add_argument("--spark-memory", default="6g", help="Spark driver memory")
    cli.add_argument("--out", default=str(ROOT / "docs/bench/data.md"))
    args = cli.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    machine = machine_description()
    print(machine, flush=True)
    paths = {rows: history(rows) for rows in sorted({*sizes, args.replay_rows})}
    work = CACHE / "features-work"

    from dataplane.spark_session import SparkSettings, local_spark

    started = time.perf_counter()
    spark = local_spark(SparkSettings(master="local[2]", shuffle_partitions=8, driver_memory=args.spark_memory))
    spark.range(1).count()
    session_s = time.perf_counter() - started

    smallest = min(paths)
    spark_features(spark, paths[smallest], work / "warm-up")  # first-job costs (code generation, JIT) once
    results = []
    try:
        for rows in sizes:
            spark_out, base_out = work / f"spark-{_name(rows)}", work / f"single-{_name(rows)}"
            ours = spark_features(spark, paths[rows], spark_out)
            print(f"{rows:,}: spark {ours['seconds']:.1f} s", flush=True)
            base = run_step("bench.data_features:single_core_step", path=str(paths[rows]), out=str(base_out))
            print(f"{rows:,}: single core {base['seconds']:.1f} s, {base['peak_rss_mb']:.0f} MB", flush=True)
            difference = agreement(spark_out, base_out) if rows <= 1_000_000 else None
            results.append((rows, ours, base, difference))
    finally:
        spark.stop()
    replayed = run_step(
        "bench.data_features:online_state_step", path=str(paths[args.replay_rows]), engine_kind="replay", work=str(work)
    )
    print(f"replay {replayed}", flush=True)
    bulk = {}
    for rows in sorted({args.replay_rows, *sizes}):
        bulk[rows] = run_step(
            "bench.data_features:online_state_step", path=str(paths[rows]), engine_kind="bulk", work=str(work)
        )
        print(f"bulk {rows:,}: {bulk[rows]}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    write_section(Path(args.out), "features", _report(machine, session_s, results, replayed, bulk))
    print(f"wrote {args.out}")


def _report(machine, session_s, results, replayed, bulk) -> str:
    from domain.features import FRAUD_FEATURES

    spark_fixed, spark_per_row = _costs([r[1]["rows"] for r in results], [r[1]["seconds"] for r in results])
    base_fixed, base_per_row = _costs([r[2]["rows"] for r in results], [r[2]["seconds"] for r in results])
    lines = [
        "## Point-in-time features: Spark vs one core (`bench/data_features.py`)",
        "",
        f"Run {machine}.",
        "",
        f"All {len(FRAUD_FEATURES.numeric)} numeric and {len(FRAUD_FEATURES.categorical)} categorical features of "
        f"`domain/features.py`, from a "
        f"{DAYS}-day generated history (Parquet) to Parquet. Spark: local[2] (both cores), session start "
        f"{session_s:.0f} s and one warm-up run on the smallest history not included. Baseline: pandas + numpy on one "
        "core, fresh process "
        "(`bench/single_core_features.py`); ratio = baseline seconds / Spark seconds (above 1: Spark is faster).",
        "",
        "| rows | Spark s | Spark rows/s | one-core s | one-core rows/s | one-core peak RSS | ratio | max abs diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, ours, base, difference in results:
        compared = "not compared" if difference is None else f"{difference:.1e}"
        lines.append(
            f"| {ours['rows']:,} | {ours['seconds']:.1f} | {ours['rows'] / ours['seconds']:,.0f} | "
            f"{base['seconds']:.1f} | {base['rows'] / base['seconds']:,.0f} | {base['peak_rss_mb']:,.0f} MB | "
            f"{base['seconds'] / ours['seconds']:.2f}x | {compared} |"
        )
    knee = spark_fixed / spark_per_row if spark_per_row > 0 else float("inf")
    lines += [
        "",
        f"Costs (marginal per row from the two largest sizes, fixed = the rest of the smallest size's time): Spark "
        f"{spark_fixed:.1f} s fixed + {spark_per_row * 1e6:.1f} s per million rows; one core {base_fixed:.1f} s + "
        f"{base_per_row * 1e6:.1f} s per million rows. Spark's fixed cost (job planning, shuffles, task start) "
        f"equals its per-row work at about **{knee:,.0f} rows**: below that the fixed cost dominates.",
    ]
    if base_per_row > spark_per_row:
        crossover = (spark_fixed - base_fixed) / (base_per_row - spark_per_row)
        lines.append(
            f"Spark overtakes one core at about **{max(crossover, 0):,.0f} rows** on this 2-core machine; "
            "on more cores or executors only Spark's side scales."
        )
    else:
        lines.append(
            "On this 2-core machine one core stays ahead at every size: Spark's per-row cost is not lower than the "
            "vectorised baseline's. Its case is more cores and executors, and data that does not fit one machine."
        )
    lines += [
        "",
        "Online store build (`online_features` asset): the column-wise build (`features/online_state_bulk.py`) vs the "
        "event-by-event replay it replaced, each in a fresh process, including the SQLite writes:",
        "",
        "| build | rows | seconds | rows/s | peak RSS | cards | SQLite | ratio to replay |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| baseline: replay | {replayed['rows']:,} | {replayed['seconds']:.1f} | "
        f"{replayed['rows'] / replayed['seconds']:,.0f} | {replayed['peak_rss_mb']:,.0f} MB | "
        f"{replayed['cards']:,} | {replayed['sqlite_mb']:.0f} MB | 1.0x |",
    ]
    replay_rate = replayed["rows"] / replayed["seconds"]
    for _, result in sorted(bulk.items()):
        rate = result["rows"] / result["seconds"]
        lines.append(
            f"| column-wise | {result['rows']:,} | {result['seconds']:.1f} | {rate:,.0f} | "
            f"{result['peak_rss_mb']:,.0f} MB | {result['cards']:,} | {result['sqlite_mb']:.0f} MB | "
            f"{rate / replay_rate:.0f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
