"""The serving benchmark's verdict: tables per system and concurrency, goal checks against baseline and peers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.wrk_load import LoadResult

GOAL_CONCURRENCY = 32
GOAL_RATIO = 3.0


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
) -> list[GoalCheck]:
    """At GOAL_CONCURRENCY: >= GOAL_RATIO x the baseline's req/s with a lower p99; more req/s than each peer at each
    concurrency. Our run fails a goal if it had any error; a peer that did not run or answered non-2xx leaves the
    goal unchecked (None), never silently met."""
    by = {(r.system, r.concurrency): r for r in results}
    checks = []

    def compare(goal: str, c: int, other_system: str, judge, describe, describe_ours=None) -> None:
        describe_ours = describe_ours or describe
        mine, other = by.get((ours, c)), by.get((other_system, c))
        if problem := _ours_problem(mine, ours, c):
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
    return checks


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
            if result.report.socket_errors:
                cell += f" [{result.report.socket_errors} socket errors]"
            rates.append(cell)
            delays.append(f"{result.report.p50_ms:.2f} / {result.report.p99_ms:.2f}")
        throughput.append([system, *rates, notes.get(system, "")])
        latency.append([system, *delays])
    columns = [f"c={c}" for c in concurrency]
    return (
        markdown_table(["system", *columns, "configuration"], throughput),
        markdown_table(["system", *columns], latency),
    )
