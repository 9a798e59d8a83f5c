"""Goal checks and per-concurrency tables of the serving benchmark."""

from dataclasses import replace

import pytest

from bench.serving_report import (
    combine_rounds,
    cpu_table,
    goal_checks,
    median_result,
    per_concurrency_tables,
    verdict,
)
from bench.wrk_load import LoadResult, WrkReport

OURS, BASE, PEER, UNBATCHED = "ours", "base", "peer", "ours-unbatched"
LEVELS = (1, 32)


def run(
    system: str, c: int, rate: float, p99: float, non_2xx: int = 0, socket_errors: int = 0, cpu: float = 50.0
) -> LoadResult:
    return LoadResult(system, c, WrkReport(int(rate * 5), rate, p99 / 3, p99, non_2xx, socket_errors), cpu)


def checks(results, not_run=None):
    return goal_checks(results, not_run or {}, OURS, BASE, [PEER], LEVELS)


def healthy() -> list[LoadResult]:
    return [
        run(OURS, 1, 1500, 2.0),
        run(OURS, 32, 9000, 10.0),
        run(BASE, 1, 1400, 3.0),
        run(BASE, 32, 2000, 40.0),
        run(PEER, 1, 400, 5.0),
        run(PEER, 32, 3000, 20.0),
    ]


def test_all_goals_met_when_ours_wins_everywhere():
    result = checks(healthy())
    assert [c.met for c in result] == [True, True, True, True]
    assert result[0].ours == "9,000 req/s (4.50x)" and result[0].other == "2,000 req/s"
    assert verdict(result) == "met (all 4 checks)"


def test_below_three_times_the_baseline_misses_the_throughput_goal():
    results = [r for r in healthy() if (r.system, r.concurrency) != (OURS, 32)] + [run(OURS, 32, 5000, 10.0)]
    result = checks(results)
    assert result[0].met is False and result[0].ours == "5,000 req/s (2.50x)"
    assert verdict(result).startswith("NOT met (1 of 4 checks missed")


def test_a_higher_p99_misses_the_latency_goal():
    results = [r for r in healthy() if (r.system, r.concurrency) != (OURS, 32)] + [run(OURS, 32, 9000, 45.0)]
    assert [c.met for c in checks(results)][:2] == [True, False]


def test_losing_to_a_peer_at_one_concurrency_is_a_miss():
    results = [r for r in healthy() if (r.system, r.concurrency) != (PEER, 1)] + [run(PEER, 1, 1600, 1.0)]
    assert [c.met for c in checks(results)] == [True, True, False, True]


def test_a_peer_that_did_not_run_is_not_checked_and_says_why():
    results = [r for r in healthy() if r.system != PEER]
    result = checks(results, {PEER: "venv is missing"})
    assert [c.met for c in result] == [True, True, None, None]
    assert result[2].other == "not run: venv is missing"
    assert verdict(result).startswith("not fully checked (2 of 4")


def test_a_peer_answering_non_2xx_is_not_a_win():
    results = [r for r in healthy() if (r.system, r.concurrency) != (PEER, 32)] + [run(PEER, 32, 100, 1.0, 7)]
    result = checks(results)
    assert result[3].met is None and result[3].other == "peer failed: 7 non-2xx"


def test_our_own_errors_miss_the_goal():
    results = [r for r in healthy() if (r.system, r.concurrency) != (OURS, 32)]
    results.append(run(OURS, 32, 9000, 10.0, socket_errors=4))
    result = checks(results)
    assert result[0].met is False and "4 socket errors" in result[0].ours


def test_tables_show_ratios_failures_and_not_run_reasons():
    results = [r for r in healthy() if r.system != PEER] + [run("broken", 1, 100, 1.0, non_2xx=3)]
    throughput, latency = per_concurrency_tables(
        [OURS, BASE, PEER, "broken"], results, {PEER: "venv is missing"}, {OURS: "batching"}, BASE, LEVELS
    )
    lines = throughput.splitlines()
    assert lines[0] == "| system | c=1 | c=32 | configuration |"
    assert lines[2] == "| ours | 1,500 (1.07x) | 9,000 (4.50x) | batching |"
    assert lines[3] == "| base | 1,400 | 2,000 |  |"
    assert lines[4] == "| peer | not run | not run | not run: venv is missing |"
    assert lines[5] == "| broken | FAILED (3 non-2xx) | - |  |"
    assert latency.splitlines()[2] == "| ours | 0.67 / 2.00 | 3.33 / 10.00 |"


def test_a_cell_is_the_median_of_its_rounds_with_their_spread():
    rounds = [run(OURS, 32, rate, p99, cpu=cpu) for rate, p99, cpu in ((9000, 10, 60), (7000, 30, 90), (9500, 12, 55))]
    cell = median_result(rounds)
    assert (cell.report.requests_per_s, cell.report.p99_ms, cell.cpu_us_per_request) == (9000, 12, 60)
    assert cell.rounds == tuple(rounds)
    (table_row,) = per_concurrency_tables([OURS], [cell], {}, {}, BASE, (32,))[0].splitlines()[2:]
    assert table_row == "| ours | 9,000 <br>7,000-9,500 |  |"
    assert cpu_table([OURS], [cell], {}, BASE, (32,)).splitlines()[2] == "| ours | 60 us <br>55-90 |"


def test_a_failed_round_is_never_averaged_away():
    rounds = [run(OURS, 32, 9000, 10), run(OURS, 32, 50, 10, non_2xx=9), run(OURS, 32, 9100, 10)]
    cell = median_result(rounds)
    assert not cell.valid and cell.report.non_2xx == 9
    with pytest.raises(ValueError, match="at least one round"):
        median_result([])


def test_rounds_in_alternating_order_combine_per_cell():
    results = [run(OURS, 1, 1500, 2), run(BASE, 1, 1400, 3), run(BASE, 1, 1000, 3), run(OURS, 1, 1700, 2)]
    combined = combine_rounds(results)
    assert [(r.system, r.report.requests_per_s) for r in combined] == [(OURS, 1600), (BASE, 1200)]


def full_checks(results):
    return goal_checks(results, {}, OURS, BASE, [PEER], LEVELS, unbatched=UNBATCHED)


def lean() -> list[LoadResult]:
    fast_single = replace(run(OURS, 1, 1500, 2.0), report=WrkReport(7500, 1500, 0.2, 2.0, 0, 0))
    return [r for r in healthy() if (r.system, r.concurrency) != (OURS, 1)] + [
        fast_single,
        run(UNBATCHED, 1, 1400, 2.0, cpu=30.0),
        run(UNBATCHED, 32, 3000, 20.0, cpu=30.0),
    ]


def test_the_lean_path_goals_cpu_per_request_and_single_request_latency():
    result = full_checks(lean())
    by_goal = {c.goal: c for c in result}
    cpu = by_goal["c=32: batching off, server CPU/request <= 0.8x base's"]
    assert cpu.met is True and cpu.ours == "30 us (0.60x)" and cpu.other == "50 us"
    assert by_goal["c=1: p50 <= 0.25 ms"].met is True
    assert by_goal["c=1: p50 <= base's"].met is True  # 0.2 ms against 1.0 ms
    grpc = by_goal["c=32: OIP over gRPC >= 1.5x HTTP/JSON throughput"]
    assert grpc.met is None and grpc.ours == "no gRPC run"
    assert verdict(result).startswith("not fully checked (1 of")


def test_unbatched_cpu_above_the_share_of_the_baseline_misses():
    results = [r for r in lean() if (r.system, r.concurrency) != (UNBATCHED, 1)] + [run(UNBATCHED, 1, 1400, 2, cpu=45)]
    missed = [c.goal for c in full_checks(results) if c.met is False]
    assert missed == ["c=1: batching off, server CPU/request <= 0.8x base's"]


def test_a_slow_single_request_misses_the_absolute_latency_goal():
    results = [r for r in lean() if (r.system, r.concurrency) != (OURS, 1)] + [run(OURS, 1, 1500, 2.0)]
    by_goal = {c.goal: c for c in full_checks(results)}
    assert by_goal["c=1: p50 <= 0.25 ms"].met is False and by_goal["c=1: p50 <= 0.25 ms"].ours == "p50 0.667 ms"


def test_grpc_throughput_is_judged_against_our_http_run_and_a_missing_client_is_not_checked():
    goal = "c=32: OIP over gRPC >= 1.5x HTTP/JSON throughput"

    def judged(results, not_run=None):
        checks = goal_checks(results, not_run or {}, OURS, BASE, [PEER], LEVELS, UNBATCHED, grpc="grpc")
        return next(c for c in checks if c.goal == goal)

    slow = judged([*lean(), run("grpc", 32, 3000, 9.0)])
    assert slow.met is False and slow.ours == "3,000 req/s" and slow.other == "9,000 req/s"
    assert judged([*lean(), run("grpc", 32, 14000, 9.0)]).met is True
    # the median of 3,000 and 14,000 is 8,500: under 1.5x 9,000
    assert judged(combine_rounds([*lean(), run("grpc", 32, 3000, 9.0), run("grpc", 32, 14000, 9.0)])).met is False
    not_built = judged(lean(), {"grpc": "ghz is not built"})
    assert not_built.met is None and not_built.ours == "not run: ghz is not built"
