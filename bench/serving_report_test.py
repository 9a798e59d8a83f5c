"""Goal checks and per-concurrency tables of the serving benchmark."""

from bench.serving_report import goal_checks, per_concurrency_tables, verdict
from bench.wrk_load import LoadResult, WrkReport

OURS, BASE, PEER = "ours", "base", "peer"
LEVELS = (1, 32)


def run(system: str, c: int, rate: float, p99: float, non_2xx: int = 0, socket_errors: int = 0) -> LoadResult:
    return LoadResult(system, c, WrkReport(int(rate * 5), rate, p99 / 3, p99, non_2xx, socket_errors), 50.0)


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
