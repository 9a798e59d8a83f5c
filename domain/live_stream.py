"""The live feed: the generator's next days sent to Kafka at a steady rate, chargebacks following when they are due.

Simulated time continues the history: with the history's seed, card and merchant counts, day `first_day` is the
day `write_history` would have written next, so cards, merchants and habits carry on. Transactions go out in
event-time order, paced to `rate` per second of wall clock; the simulated clock is the event time of the last
transaction sent, and each chargeback is sent as soon as that clock passes its arrival time (divide the generator's
14-day mean delay with `label_delay_compression` to see labels within a short run). A chargeback therefore always
follows its transaction, on one producer, so a consumer never sees a label before the payment it is about.

Run `python -m domain.live_stream --help`; from code, `stream_live(...)` returns the counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from kafka import KafkaProducer

from dataplane.ingestion.json_records import encode_rows
from dataplane.ingestion.kafka_producer import ensure_topic
from domain.gateway_client import ScoringCounts, TransactionScorer
from domain.generator import SCENARIO_PRESETS, GeneratorConfig, Population, generate_day, scenario_preset
from domain.schema import TRANSACTION_KEY

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULTS = GeneratorConfig()


@dataclass(frozen=True)
class LiveStream:
    """What to stream, where, and how fast."""

    bootstrap_servers: str
    """host:port list of Kafka brokers."""
    rate: float | None = 200.0
    """Transactions per second of wall clock; None sends as fast as the producer can."""
    seconds: float = 60.0
    """How long to stream; rate x seconds transactions are sent (unless `transactions` is set)."""
    transactions: int | None = None
    """Exact number of transactions to send (needed when rate is None); overrides rate x seconds."""
    scenario: str = "normal"
    """A name from domain.generator.SCENARIO_PRESETS: normal, covariate_drift, concept_drift or a quality break."""
    break_share: float | None = None
    """Share of rows a quality-break scenario hits (None: the preset's, every row)."""
    seed: int = _DEFAULTS.seed
    """Generator seed; use the history's to continue the same cards and merchants."""
    n_cards: int = _DEFAULTS.n_cards
    """Number of cards (the history's)."""
    n_merchants: int = _DEFAULTS.n_merchants
    """Number of merchants (the history's)."""
    start: datetime = _DEFAULTS.start
    """UTC midnight of the history's first day."""
    first_day: int = _DEFAULTS.days
    """Generator day the stream starts with (the history's day count continues it)."""
    resume_after: str | None = None
    """ISO time of the last transaction an earlier stream sent on `first_day` (its `last_event_time`): this stream
    starts right after it, so a stream stopped mid-day and started again (another scenario, say) neither skips the
    rest of the day (whose missing payments would drop every card's 24-hour counts, a drift every model sees) nor
    sends a payment twice; chargebacks that stream already sent are not sent again."""
    label_delay_compression: float = 1.0
    """Chargeback delays are divided by this (1440 turns the 14-day mean into 14 simulated minutes)."""
    drain_labels: bool = False
    """After the last transaction, also send the chargebacks of sent transactions that are not yet due."""
    transactions_topic: str = "transactions"
    """Topic of transactions (JSON, keyed by card)."""
    labels_topic: str = "chargebacks"
    """Topic of chargebacks (JSON, keyed by transaction id)."""
    partitions: int = 2
    """Partitions of each topic when this creates it (existing topics are left as they are)."""
    scenario_knobs: dict[str, float] = field(default_factory=dict)
    """Overrides of the scenario preset's knobs, e.g. {"new_fraud_pattern_rate": 0.3} for a fast concept drift."""
    score_url: str | None = None
    """Inference server base URL: each transaction is also scored through POST /models/{score_model}/score."""
    score_model: str = "fraud"
    """Served model name the transactions are scored with (its answers are compared with the fraud ground truth)."""
    also_score: tuple[str, ...] = ()
    """Other served models every transaction is also scored with (another task's model)."""
    world: dict[str, float] = field(default_factory=dict)
    """GeneratorConfig overrides of the history's world (e.g. its fraud rates); a stream must use the history's."""
    progress_seconds: float = 5.0
    """How often the progress callback is called."""

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate must be positive (or None for unthrottled), got {self.rate}")
        if self.rate is None and self.transactions is None:
            raise ValueError("an unthrottled stream (rate=None) needs an explicit number of transactions")
        if self.transactions is not None and self.transactions < 0:
            raise ValueError(f"transactions must be >= 0, got {self.transactions}")
        if self.seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {self.seconds}")
        scenario_preset(self.scenario, **self.scenario_knobs)  # raises naming the choices or the bad knob
        if self.break_share is not None and not 0 < self.break_share <= 1:
            raise ValueError(f"break_share must be in (0, 1], got {self.break_share}")

    @property
    def total(self) -> int:
        """Transactions this stream sends."""
        return self.transactions if self.transactions is not None else round(self.rate * self.seconds)

    def generator_config(self) -> GeneratorConfig:
        """The generator configuration (history's world, this stream's scenario and label delays)."""
        overrides = dict(self.scenario_knobs)
        if self.break_share is not None:
            overrides["quality_break_share"] = self.break_share
        return GeneratorConfig(
            seed=self.seed,
            n_cards=self.n_cards,
            n_merchants=self.n_merchants,
            start=self.start,
            days=self.first_day + 1,
            label_delay_compression=self.label_delay_compression,
            scenario=scenario_preset(self.scenario, **overrides),
            **self.world,
        )


@dataclass
class LiveStreamCounts:
    """What a stream sent (also the progress snapshot)."""

    transactions: int = 0
    """Transactions sent."""
    chargebacks: int = 0
    """Chargebacks sent (duplicated deliveries included, as the generator makes them)."""
    chargebacks_pending: int = 0
    """Chargebacks of sent transactions not yet due when the stream stopped (0 with drain_labels)."""
    frauds: int = 0
    """Ground truth: sent transactions that are fraudulent (reported or not)."""
    first_event_time: str | None = None
    """Simulated time of the first transaction sent (ISO 8601)."""
    last_event_time: str | None = None
    """Simulated time of the last transaction sent: the simulated clock."""
    next_day: int = 0
    """First generator day not touched."""
    resume_day: int = 0
    """Day of the last transaction sent: pass it as `first_day`, and `last_event_time` as `resume_after`, to continue
    exactly where this stream stopped."""
    seconds: float = 0.0
    """Wall-clock seconds so far."""
    failed_sends: list[str] = field(default_factory=list)
    """Errors of messages Kafka did not acknowledge (the run raises if any)."""
    scoring: ScoringCounts | None = None
    """What the inference server answered, when the stream scores through it (score_url)."""
    also_scored: dict[str, ScoringCounts] = field(default_factory=dict)
    """What the server answered for each model of `also_score`."""

    @property
    def per_second(self) -> float:
        """Transactions per wall-clock second."""
        return self.transactions / self.seconds if self.seconds > 0 else 0.0


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=int(micros))).isoformat()


def _micros(iso: str) -> int:
    """Microseconds since the epoch of an ISO 8601 time (naive means UTC): the inverse of _iso."""
    moment = datetime.fromisoformat(iso)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


class _Due:
    """Chargebacks generated so far and not yet sent, ordered by arrival; each knows its transaction's row."""

    def __init__(self) -> None:
        self.labels: pa.Table | None = None
        self.day = np.empty(0, np.int64)
        self.row = np.empty(0, np.int64)
        self.at = np.empty(0, np.int64)

    def add(self, labels: pa.Table, transactions: pa.Table, day: int) -> None:
        rows = pc.index_in(labels["transaction_id"], value_set=transactions["transaction_id"]).to_numpy()
        at = labels["label_time"].cast(pa.int64()).to_numpy()
        merged = labels if self.labels is None else pa.concat_tables([self.labels, labels])
        day_col = np.concatenate([self.day, np.full(len(at), day, np.int64)])
        row_col = np.concatenate([self.row, rows.astype(np.int64)])
        at_col = np.concatenate([self.at, at])
        order = np.argsort(at_col, kind="stable")
        self.labels, self.day, self.row, self.at = merged.take(order), day_col[order], row_col[order], at_col[order]

    def pop_until(self, micros: int) -> pa.Table | None:
        """Removes and returns the chargebacks due by `micros` (their transactions are all sent by then)."""
        if self.labels is None:
            return None
        n = int(np.searchsorted(self.at, micros, side="right"))
        return self._pop(np.arange(len(self.at)) < n)

    def pop_sent(self, day: int, rows_sent: int) -> pa.Table | None:
        """Removes and returns the chargebacks whose transaction was sent (all but today's unsent rows)."""
        if self.labels is None:
            return None
        return self._pop((self.day < day) | (self.row < rows_sent))

    def pending(self, day: int, rows_sent: int) -> int:
        """How many chargebacks of sent transactions are still waiting (those of unsent rows never go out)."""
        if self.labels is None:
            return 0
        keep = (self.day < day) | (self.row < rows_sent)
        return int(keep.sum())

    def _pop(self, mask: np.ndarray) -> pa.Table | None:
        if not mask.any():
            return None
        out = self.labels.filter(pa.array(mask))
        rest = ~mask
        self.labels = self.labels.filter(pa.array(rest))
        self.day, self.row, self.at = self.day[rest], self.row[rest], self.at[rest]
        return out


def run_live_stream(
    stream: LiveStream,
    progress: Callable[[LiveStreamCounts], None] | None = None,
    stop: threading.Event | None = None,
) -> LiveStreamCounts:
    """Sends `stream.total` transactions paced to `stream.rate`, with each chargeback once it is due; returns counts.

    Setting `stop` (from another thread) ends the stream early, after the chunk in flight.

    Raises RuntimeError if Kafka did not acknowledge every message (acks=all), so nothing is lost silently.
    """
    config = stream.generator_config()
    population = Population(config)
    for topic in (stream.transactions_topic, stream.labels_topic):
        ensure_topic(stream.bootstrap_servers, topic, stream.partitions)
    producer = KafkaProducer(bootstrap_servers=stream.bootstrap_servers, acks="all", linger_ms=5, batch_size=256 * 1024)
    counts = LiveStreamCounts(
        next_day=stream.first_day, resume_day=stream.first_day, last_event_time=stream.resume_after
    )
    resume = _micros(stream.resume_after) if stream.resume_after else None
    due = _Due()
    chunk = max(1, min(5_000, round(stream.rate / 20))) if stream.rate else 5_000
    day, table, fraud, row = stream.first_day - 1, None, None, 0
    started = last_report = time.monotonic()

    def failed(error: Exception) -> None:
        counts.failed_sends.append(repr(error))

    scorer = TransactionScorer(stream.score_url, stream.score_model) if stream.score_url else None
    counts.scoring = scorer.counts if scorer else None
    others = [TransactionScorer(stream.score_url, m) for m in stream.also_score] if stream.score_url else []
    counts.also_scored = {other.model: other.counts for other in others}

    def send(topic: str, part: pa.Table, key_column: str) -> list[bytes]:
        keys = part[key_column].to_pylist()
        values = encode_rows(part)
        for key, value in zip(keys, values, strict=True):
            producer.send(topic, key=key.encode(), value=value).add_errback(failed)
        return values

    def send_labels(labels: pa.Table | None) -> None:
        if labels is not None and labels.num_rows:
            send(stream.labels_topic, labels, "transaction_id")
            counts.chargebacks += labels.num_rows

    try:
        while counts.transactions < stream.total and not (stop is not None and stop.is_set()):
            if table is None or row >= table.num_rows:
                day += 1
                generated = generate_day(config, population, day)
                table, fraud, row = generated.transactions, generated.is_fraud, 0
                due.add(generated.labels, table, day)
                if resume is not None and day == stream.first_day:
                    times = table["event_time"].cast(pa.int64()).to_numpy()
                    row = int(np.searchsorted(times, resume, side="right"))  # sent by the stream that stopped there
                    due.pop_until(resume)  # that stream sent every chargeback due by then
                counts.next_day = day + 1
                continue
            n = min(chunk, stream.total - counts.transactions, table.num_rows - row)
            part = table.slice(row, n)
            values = send(stream.transactions_topic, part, TRANSACTION_KEY)
            if scorer is not None:
                for value, is_fraud in zip(values, fraud[row : row + n], strict=True):
                    scorer.score(value, bool(is_fraud))
                    for other in others:
                        other.score(value)
            times = part["event_time"].cast(pa.int64())
            counts.first_event_time = counts.first_event_time or _iso(times[0].as_py())
            clock = times[-1].as_py()
            counts.last_event_time = _iso(clock)
            counts.frauds += int(fraud[row : row + n].sum())
            counts.transactions += n
            row += n
            counts.resume_day = day
            send_labels(due.pop_until(clock))
            if stream.rate:
                ahead = counts.transactions / stream.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            now = time.monotonic()
            if progress is not None and now - last_report >= stream.progress_seconds:
                counts.seconds = now - started
                counts.chargebacks_pending = due.pending(day, row)
                progress(counts)
                last_report = now
        if stream.drain_labels:
            send_labels(due.pop_sent(day, row))
        counts.chargebacks_pending = due.pending(day, row)
        producer.flush()
    finally:
        producer.close()
        for each in [scorer, *others] if scorer is not None else []:
            each.close()
    counts.seconds = time.monotonic() - started
    if counts.failed_sends:
        raise RuntimeError(
            f"{len(counts.failed_sends)} messages were not acknowledged by Kafka at {stream.bootstrap_servers}; "
            f"first error: {counts.failed_sends[0]}"
        )
    return counts


def stream_live(
    bootstrap_servers: str,
    rate: float | None,
    seconds: float,
    scenario: str = "normal",
    seed: int = _DEFAULTS.seed,
    progress: Callable[[LiveStreamCounts], None] | None = None,
    **options,
) -> LiveStreamCounts:
    """Streams live transactions and their late chargebacks; `options` are any other `LiveStream` fields."""
    stream = LiveStream(
        bootstrap_servers=bootstrap_servers, rate=rate, seconds=seconds, scenario=scenario, seed=seed, **options
    )
    return run_live_stream(stream, progress)


def _progress_line(counts: LiveStreamCounts) -> None:
    print(
        f"[{counts.seconds:7.1f} s] {counts.transactions:>9,} transactions ({counts.per_second:,.0f}/s), "
        f"{counts.chargebacks:,} chargebacks sent, {counts.chargebacks_pending:,} pending; "
        f"simulated clock {counts.last_event_time}",
        file=sys.stderr,
        flush=True,
    )


def parse_knobs(items: list[str]) -> dict[str, float]:
    """["name=value", ...] -> {name: float(value)}; raises ValueError naming a malformed item."""
    knobs = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            knobs[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"--knob expects NAME=NUMBER, got {item!r}")
    return knobs


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m domain.live_stream`."""
    cli = argparse.ArgumentParser(
        prog="python -m domain.live_stream",
        description=(
            "Stream live card transactions, and their chargebacks when they fall due, to Kafka at a steady rate. "
            "The stream continues the generated history (same seed, cards and merchants; simulated time goes on "
            "from --first-day). Progress goes to stderr every few seconds; a JSON summary of what was sent is the "
            "last line on stdout."
        ),
        epilog=(
            "examples:\n"
            "  %(prog)s --bootstrap-servers 127.0.0.1:9092 --rate 200 --seconds 60\n"
            "  %(prog)s --bootstrap-servers 127.0.0.1:9092 --scenario concept_drift --label-delay-compression 1440\n"
            "  %(prog)s --bootstrap-servers 127.0.0.1:9092 --scenario renamed_category --break-share 0.2\n\n"
            "scenarios:\n"
            "  normal            nothing changes\n"
            "  covariate_drift   amounts x1.3 and 10%% of spend at merchants never seen before\n"
            "  concept_drift     a new 'quiet' fraud pattern (own device and country, night-time digital goods)\n"
            "  friendly_fraud    cardholders charge back small digital-goods payments as fraud (labels change only)\n"
            "  null_field        country is null            (a data-quality break validation must catch)\n"
            "  amount_cents      amounts are sent in cents  (a data-quality break)\n"
            "  renamed_category  'grocery' is 'groceries'   (a data-quality break)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT", default="127.0.0.1:9092", help="Kafka brokers (default %(default)s)"
    )
    cli.add_argument(
        "--rate", metavar="N", type=float, default=200.0, help="transactions per second (default %(default)s)"
    )
    cli.add_argument(
        "--seconds", metavar="S", type=float, default=60.0, help="how long to stream (default %(default)s)"
    )
    cli.add_argument(
        "--transactions", metavar="N", type=int, default=None, help="send exactly this many instead of rate x seconds"
    )
    cli.add_argument(
        "--unthrottled", action="store_true", help="ignore --rate and send as fast as possible (needs --transactions)"
    )
    cli.add_argument(
        "--scenario",
        metavar="NAME",
        default="normal",
        choices=sorted(SCENARIO_PRESETS),
        help="what changes: %(choices)s (below; default normal)",
    )
    cli.add_argument(
        "--break-share",
        metavar="SHARE",
        type=float,
        default=None,
        help="share of rows a quality break hits (default: every row)",
    )
    cli.add_argument(
        "--label-delay-compression",
        metavar="X",
        type=float,
        default=1.0,
        help="divide chargeback delays by this; 1440 turns the 14-day mean into 14 simulated minutes (default 1)",
    )
    cli.add_argument(
        "--drain-labels", action="store_true", help="at the end, also send chargebacks that are not yet due"
    )
    cli.add_argument("--seed", metavar="N", type=int, default=_DEFAULTS.seed, help="generator seed (the history's)")
    cli.add_argument(
        "--cards", metavar="N", type=int, default=_DEFAULTS.n_cards, help="number of cards (the history's)"
    )
    cli.add_argument(
        "--merchants", metavar="N", type=int, default=_DEFAULTS.n_merchants, help="merchants (the history's)"
    )
    cli.add_argument(
        "--start",
        metavar="DATE",
        default=_DEFAULTS.start.date().isoformat(),
        help="first day of the history, YYYY-MM-DD UTC (default %(default)s)",
    )
    cli.add_argument(
        "--first-day",
        metavar="DAY",
        type=int,
        default=_DEFAULTS.days,
        help="generator day to start with: the history's number of days (default %(default)s)",
    )
    cli.add_argument(
        "--resume-after",
        metavar="TIME",
        help="ISO time of the last transaction an earlier stream sent on --first-day: continue right after it",
    )
    cli.add_argument("--transactions-topic", metavar="TOPIC", default="transactions", help="default %(default)s")
    cli.add_argument("--labels-topic", metavar="TOPIC", default="chargebacks", help="default %(default)s")
    cli.add_argument(
        "--partitions", metavar="N", type=int, default=2, help="partitions of topics it creates (default 2)"
    )
    cli.add_argument(
        "--progress-seconds", metavar="S", type=float, default=5.0, help="progress line interval (default 5)"
    )
    cli.add_argument(
        "--knob",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override a scenario knob, e.g. new_fraud_pattern_rate=0.3 (repeatable)",
    )
    cli.add_argument(
        "--score-url",
        metavar="URL",
        default=None,
        help="also score every transaction through this inference server (POST /models/MODEL/score)",
    )
    cli.add_argument("--score-model", metavar="MODEL", default="fraud", help="served model name (default fraud)")
    cli.add_argument("--quiet", action="store_true", help="no progress lines")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Parses the command line, streams, prints the summary; exit code 2 on bad arguments."""
    cli = parser()
    args = cli.parse_args(argv)
    try:
        stream = LiveStream(
            bootstrap_servers=args.bootstrap_servers,
            rate=None if args.unthrottled else args.rate,
            seconds=args.seconds,
            transactions=args.transactions,
            scenario=args.scenario,
            break_share=args.break_share,
            seed=args.seed,
            n_cards=args.cards,
            n_merchants=args.merchants,
            start=datetime.fromisoformat(args.start).replace(tzinfo=UTC),
            first_day=args.first_day,
            resume_after=args.resume_after,
            label_delay_compression=args.label_delay_compression,
            drain_labels=args.drain_labels,
            transactions_topic=args.transactions_topic,
            labels_topic=args.labels_topic,
            partitions=args.partitions,
            progress_seconds=args.progress_seconds,
            scenario_knobs=parse_knobs(args.knob),
            score_url=args.score_url,
            score_model=args.score_model,
        )
        GeneratorConfig(n_cards=stream.n_cards, n_merchants=stream.n_merchants)  # validates sizes up front
    except ValueError as error:
        cli.error(str(error))
    print(
        f"streaming {stream.total:,} transactions ({args.scenario}) to {stream.transactions_topic} and "
        f"{stream.labels_topic} on {stream.bootstrap_servers}",
        file=sys.stderr,
        flush=True,
    )
    counts = run_live_stream(stream, None if args.quiet else _progress_line)
    if not args.quiet:
        _progress_line(counts)
    summary = {k: v for k, v in asdict(counts).items() if k not in {"failed_sends", "scoring"}}
    if counts.scoring is not None:
        summary["scoring"] = {
            "scored": counts.scoring.scored,
            "by_version": dict(counts.scoring.by_version),
            "failures": {str(k): v for k, v in counts.scoring.failures.items()},
            **counts.scoring.latency_quantiles(),
        }
    print(json.dumps({**summary, "per_second": round(counts.per_second, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
