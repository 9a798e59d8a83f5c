"""The serving benchmark's verdict: tables per system and concurrency, goal checks against baseline and peers."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bench.wrk_load import LoadResult, WrkReport

GOAL_CONCURRENCY = 32
GOAL_RATIO = 3.0
UNBATCHED_CPU_RATIO = 0.8
"""Batching off, our server's CPU per request must be at most this share of the baseline's, at every concurrency."""
SINGLE_P50_MS = 0.25
"""At concurrency 1, our median latency over HTTP/JSON must be at most this (and at most the baseline's)."""
GRPC_RATIO = 1.5
"""At GOAL_CONCURRENCY, OIP over gRPC must carry at least this many times the HTTP/JSON throughput."""


def median_result(rounds: Sequence[LoadResult]) -> LoadResult:
    """One system at one concurrency over several rounds: the median of every measure, with the rounds kept for
    their spread. A cell with a failed round is that failed round: a failure is never averaged away."""
    if not rounds:
        raise ValueError("median_result needs at least one round")
    failed = [r for r in rounds if not r.valid]
    if failed:
        return replace(failed[0], rounds=tuple(rounds))
    med = statistics.median
    report = WrkReport(
        requests=int(med(r.report.requests for r in rounds)),
        requests_per_s=med(r.report.requests_per_s for r in rounds),
        p50_ms=med(r.report.p50_ms for r in rounds),
        p99_ms=med(r.report.p99_ms for r in rounds),
        non_2xx=0,
        socket_errors=sum(r.report.socket_errors for r in rounds),
    )
    first = rounds[0]
    return LoadResult(first.system, first.concurrency, report, med(r.cpu_us_per_request for r in rounds), tuple(rounds))


def combine_rounds(results: Sequence[LoadResult]) -> list[LoadResult]:
    """Every (system, concurrency) cell of `results` (all rounds, any order) as its median_result, in first-seen
    order."""
    cells: dict[tuple[str, int], list[LoadResult]] = {}
    for result in results:
        cells.setdefault((result.system, result.concurrency), []).append(result)
    return [median_result(rounds) for rounds in cells.values()]


def spread(result: LoadResult, measure: Callable[[LoadResult], float], digits: int = 0) -> str:
    """'min-max' of a measure over the cell's rounds ('' for a single round)."""
    if len(result.rounds) < 2:
        return ""
    values = [measure(r) for r in result.rounds]
    return f"{min(values):,.{digits}f}-{max(values):,.{digits}f}"


def requests_per_s(result: LoadResult) -> float:
    return result.report.requests_per_s


def cpu_us(result: LoadResult) -> float:
    return result.cpu_us_per_request


@dataclass(frozen=True)
class GoalCheck:
    """One goal, what was measured for it, and whether it was met."""

    goal: str
    """The goal in words."""
    ours: str
    """Our measured value."""
    other: str
    """The value compared with."""
    met: bool | None
    """True met, False missed, None could not be checked (the other system did not run or failed)."""


def _rate(result: LoadResult) -> str:
    return f"{result.report.requests_per_s:,.0f} req/s"


def _ours_problem(result: LoadResult | None, system: str, concurrency: int) -> str:
    if result is None:
        return f"{system} has no run at c={concurrency}"
    if not result.valid or result.report.socket_errors:
        return f"{system} at c={concurrency}: {result.problem}"
    return ""


def goal_checks(
    results: Sequence[LoadResult],
    not_run: dict[str, str],
    ours: str,
    baseline: str,
    peers: Sequence[str],
    concurrency: Sequence[int],
    unbatched: str | None = None,
    grpc: str | None = None,
) -> list[GoalCheck]:
    """At GOAL_CONCURRENCY: >= GOAL_RATIO x the baseline's req/s with a lower p99; more req/s than each peer at each
    concurrency. With `unbatched` (our server with batching off), also: its CPU per request at most
    UNBATCHED_CPU_RATIO x the baseline's at each concurrency; at c=1 a p50 of at most SINGLE_P50_MS and at most the
    baseline's; at GOAL_CONCURRENCY `grpc` (our gRPC run, None while there is none) >= GRPC_RATIO x our HTTP/JSON
    req/s. Our run fails a goal if it had any error; a peer that did not run or answered non-2xx leaves the goal
    unchecked (None), never silently met."""
    by = {(r.system, r.concurrency): r for r in results}
    checks = []

    def compare(goal: str, c: int, other_system: str, judge, describe, describe_ours=None, system=ours) -> None:
        describe_ours = describe_ours or describe
        mine, other = by.get((system, c)), by.get((other_system, c))
        if problem := _ours_problem(mine, system, c):
            checks.append(GoalCheck(goal, problem, describe(other) if other else "-", False))
        elif other_system in not_run:
            checks.append(GoalCheck(goal, describe_ours(mine), f"not run: {not_run[other_system]}", None))
        elif other is None:
            checks.append(GoalCheck(goal, describe_ours(mine), f"{other_system} has no run at c={c}", None))
        elif not other.valid:
            checks.append(GoalCheck(goal, describe_ours(mine), f"{other_system} failed: {other.problem}", None))
        else:
            checks.append(GoalCheck(goal, describe_ours(mine), describe(other), judge(mine, other)))

    c = GOAL_CONCURRENCY
    base = by.get((baseline, c))

    def rate_and_ratio(result: LoadResult) -> str:
        if base is None or not base.valid or base.report.requests_per_s <= 0:
            return _rate(result)
        return f"{_rate(result)} ({result.report.requests_per_s / base.report.requests_per_s:.2f}x)"

    compare(
        f"c={c}: >= {GOAL_RATIO:g}x {baseline} throughput",
        c,
        baseline,
        lambda m, o: m.report.requests_per_s >= GOAL_RATIO * o.report.requests_per_s,
        _rate,
        rate_and_ratio,
    )
    compare(
        f"c={c}: lower p99 than {baseline}",
        c,
        baseline,
        lambda m, o: m.report.p99_ms < o.report.p99_ms,
        lambda r: f"p99 {r.report.p99_ms:.2f} ms",
    )
    for peer in peers:
        for level in concurrency:
            compare(
                f"c={level}: more req/s than {peer}",
                level,
                peer,
                lambda m, o: m.report.requests_per_s > o.report.requests_per_s,
                lambda r: f"{_rate(r)}, p99 {r.report.p99_ms:.2f} ms",
            )
    if unbatched is None:
        return checks
    for level in concurrency:
        compare(
            f"c={level}: batching off, server CPU/request <= {UNBATCHED_CPU_RATIO:g}x {baseline}'s",
            level,
            baseline,
            lambda m, o: m.cpu_us_per_request <= UNBATCHED_CPU_RATIO * o.cpu_us_per_request,
            lambda r: f"{r.cpu_us_per_request:.0f} us",
            lambda r, level=level: _cpu_and_ratio(r, by.get((baseline, level))),
            system=unbatched,
        )
    mine = by.get((ours, 1))
    if problem := _ours_problem(mine, ours, 1):
        checks.append(GoalCheck(f"c=1: p50 <= {SINGLE_P50_MS:g} ms", problem, "-", False))
    else:
        p50 = mine.report.p50_ms
        checks.append(GoalCheck(f"c=1: p50 <= {SINGLE_P50_MS:g} ms", f"p50 {p50:.3f} ms", "-", p50 <= SINGLE_P50_MS))
    compare(
        f"c=1: p50 <= {baseline}'s",
        1,
        baseline,
        lambda m, o: m.report.p50_ms <= o.report.p50_ms,
        lambda r: f"p50 {r.report.p50_ms:.3f} ms",
    )
    goal = f"c={c}: OIP over gRPC >= {GRPC_RATIO:g}x HTTP/JSON throughput"
    if grpc is None or grpc in not_run:
        checks.append(GoalCheck(goal, f"not run: {not_run[grpc]}" if grpc else "no gRPC run", "-", None))
    else:
        judge = lambda m, o: m.report.requests_per_s >= GRPC_RATIO * o.report.requests_per_s  # noqa: E731
        compare(goal, c, ours, judge, _rate, system=grpc)
    return checks


def _cpu_and_ratio(result: LoadResult, base: LoadResult | None) -> str:
    text = f"{result.cpu_us_per_request:.0f} us"
    if base is not None and base.valid and base.cpu_us_per_request > 0:
        text += f" ({result.cpu_us_per_request / base.cpu_us_per_request:.2f}x)"
    return text


def verdict(checks: Sequence[GoalCheck]) -> str:
    """One word for all goals: met, NOT met (naming how many missed), or not fully checked."""
    missed = sum(check.met is False for check in checks)
    unchecked = sum(check.met is None for check in checks)
    if missed:
        return f"NOT met ({missed} of {len(checks)} checks missed{f', {unchecked} not checked' if unchecked else ''})"
    if unchecked:
        return f"not fully checked ({unchecked} of {len(checks)} checks could not run; the rest met)"
    return f"met (all {len(checks)} checks)"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def goal_table(checks: Sequence[GoalCheck]) -> str:
    """The goal checks as a table."""
    met = {True: "yes", False: "**NO**", None: "not checked"}
    return markdown_table(
        ["goal", "flywheel server", "compared with", "met"], [[c.goal, c.ours, c.other, met[c.met]] for c in checks]
    )


def per_concurrency_tables(
    systems: Sequence[str],
    results: Sequence[LoadResult],
    not_run: dict[str, str],
    notes: dict[str, str],
    baseline: str,
    concurrency: Sequence[int],
) -> tuple[str, str]:
    """Two tables, one row per system and one column per concurrency: req/s (ratio to the baseline), p50 / p99 ms.

    A system that did not run says so in every cell and gives its reason; a run with non-2xx answers shows FAILED."""
    by = {(r.system, r.concurrency): r for r in results}
    throughput, latency = [], []
    for system in systems:
        if system in not_run:
            reason = f"not run: {not_run[system]}"
            throughput.append([system, *["not run"] * len(concurrency), reason])
            latency.append([system, *["not run"] * len(concurrency)])
            continue
        rates, delays = [], []
        for c in concurrency:
            result, base = by.get((system, c)), by.get((baseline, c))
            if result is None:
                rates.append("-")
                delays.append("-")
                continue
            if not result.valid:
                rates.append(f"FAILED ({result.problem})")
                delays.append("FAILED")
                continue
            cell = f"{result.report.requests_per_s:,.0f}"
            if base is not None and base.valid and system != baseline:
                cell += f" ({result.report.requests_per_s / base.report.requests_per_s:.2f}x)"
            if rounds := spread(result, requests_per_s):
                cell += f" <br>{rounds}"
            if result.report.socket_errors:
                cell += f" [{result.report.socket_errors} socket errors]"
            rates.append(cell)
            delay = f"{result.report.p50_ms:.2f} / {result.report.p99_ms:.2f}"
            if rounds := spread(result, lambda r: r.report.p99_ms, 2):
                delay += f" <br>p99 {rounds}"
            delays.append(delay)
        throughput.append([system, *rates, notes.get(system, "")])
        latency.append([system, *delays])
    columns = [f"c={c}" for c in concurrency]
    return (
        markdown_table(["system", *columns, "configuration"], throughput),
        markdown_table(["system", *columns], latency),
    )


def cpu_table(
    systems: Sequence[str], results: Sequence[LoadResult], not_run: dict[str, str], baseline: str, concurrency
) -> str:
    """Server CPU microseconds per answered request (its whole process tree), one row per system and one column per
    concurrency, with the ratio to the baseline and the spread over rounds."""
    by = {(r.system, r.concurrency): r for r in results}
    rows = []
    for system in systems:
        if system in not_run:
            rows.append([system, *["not run"] * len(concurrency)])
            continue
        cells = []
        for c in concurrency:
            result, base = by.get((system, c)), by.get((baseline, c))
            if result is None or not result.valid:
                cells.append("-" if result is None else "FAILED")
                continue
            cell = _cpu_and_ratio(result, base if system != baseline else None)
            if rounds := spread(result, cpu_us):
                cell += f" <br>{rounds}"
            cells.append(cell)
        rows.append([system, *cells])
    return markdown_table(["system", *[f"c={c}" for c in concurrency]], rows)
