"""Reading wrk's report, judging a run, and walking a server's process tree."""

import pytest

from bench.wrk_load import LoadResult, WrkReport, descendants, duration_ms, lua_post_script, parse_wrk

CLEAN = """Running 5s test @ http://127.0.0.1:18010/v2/models/fraud/infer
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.86ms   50.88ms 370.81ms   92.89%
    Req/Sec     2.65k     1.11k    3.62k    79.17%
  Latency Distribution
     50%    9.49ms
     75%   13.16ms
     90%   43.88ms
     99%  307.06ms
  12827 requests in 5.01s, 2.48MB read
Requests/sec:   2558.72
Transfer/sec:    507.25KB
"""

ERRORS = """Running 1s test @ http://127.0.0.1:18099/
  1 threads and 128 connections
  Latency Distribution
     50%  870.00us
     75%    5.29ms
     90%    7.98ms
     99%    1.09s
  1216 requests in 1.10s, 659.26KB read
  Socket errors: connect 0, read 3, write 0, timeout 47
  Non-2xx or 3xx responses: 12
Requests/sec:   1105.69
Transfer/sec:    599.45KB
"""

NO_ANSWER = """Running 5s test @ http://127.0.0.1:18030/v2/models/fraud/infer
  1 threads and 32 connections
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 5.00s, 0.00B read
  Socket errors: connect 0, read 247638, write 0, timeout 0
Requests/sec:      0.00
Transfer/sec:       0.00B
"""


def _result(report: WrkReport) -> LoadResult:
    return LoadResult("system", 32, report, cpu_us_per_request=100.0)


@pytest.mark.parametrize(
    ("text", "expected"), [("870.00us", 0.87), ("1.20ms", 1.2), ("2.00s", 2000.0), ("1.00m", 60000.0)]
)
def test_duration_ms_reads_every_wrk_unit(text, expected):
    assert duration_ms(text) == pytest.approx(expected)


def test_duration_ms_rejects_unknown_text():
    with pytest.raises(ValueError, match="'12 hours' is not a wrk duration"):
        duration_ms("12 hours")


def test_a_clean_run_counts():
    report = parse_wrk(CLEAN)
    assert report == WrkReport(12827, 2558.72, 9.49, 307.06, non_2xx=0, socket_errors=0)
    assert _result(report).valid and _result(report).problem == ""


def test_non_2xx_answers_fail_the_run_and_socket_errors_are_named():
    report = parse_wrk(ERRORS)
    assert (report.p50_ms, report.p99_ms, report.non_2xx, report.socket_errors) == (0.87, 1090.0, 12, 50)
    assert not _result(report).valid
    assert _result(report).problem == "12 non-2xx, 50 socket errors"


def test_a_run_without_answers_fails():
    result = _result(parse_wrk(NO_ANSWER))
    assert not result.valid
    assert result.problem == "no answer (247638 socket errors)"


def test_socket_errors_alone_are_shown_but_keep_the_run():
    result = _result(WrkReport(100, 20.0, 1.0, 2.0, non_2xx=0, socket_errors=3))
    assert result.valid and result.problem == "3 socket errors"


def test_a_truncated_report_names_what_is_missing():
    with pytest.raises(ValueError, match="lacks Requests/sec, 99% latency"):
        parse_wrk(CLEAN.replace("     99%  307.06ms\n", "").replace("Requests/sec:   2558.72\n", ""))


def test_descendants_walks_the_whole_tree_and_nothing_else():
    # python proxy 10 -> tritonserver 11 -> stub 12 -> worker 13; 20 is unrelated; 14 is another child of 10
    parent_of = {10: 1, 11: 10, 12: 11, 13: 12, 14: 10, 20: 1}
    assert sorted(descendants(10, parent_of)) == [10, 11, 12, 13, 14]
    assert descendants(20, parent_of) == [20]


def test_lua_script_posts_the_body_and_refuses_a_body_that_ends_the_long_string(tmp_path):
    script = lua_post_script('{"inputs":[]}', tmp_path).read_text()
    assert 'wrk.method = "POST"' in script and 'wrk.body = [[{"inputs":[]}]]' in script
    with pytest.raises(ValueError, match="contains '\\]\\]'"):
        lua_post_script('{"data":[[1]]}', tmp_path)
