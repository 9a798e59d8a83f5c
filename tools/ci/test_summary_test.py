"""The CI summary counts test cases from JUnit XML and never reports a broken run as green."""

from tools.ci.test_summary import Counts, count_junit, summarise, target_statuses

LOG = """
INFO: Build completed, 1 test FAILED, 30 total actions
//a:one_test                                                    PASSED in 1.2s
//a:two_test                                           (cached) PASSED in 0.4s
//b:three_test                                                  FAILED in 3.0s
//b:four_test                                                   TIMEOUT in 300.0s
Executed 3 out of 4 tests: 2 tests pass and 2 fail locally.
"""

XML = """<?xml version="1.0"?><testsuites><testsuite>
<testcase name="a"/><testcase name="b"><skipped/></testcase>
<testcase name="c"><failure message="x"/></testcase><testcase name="d"/>
</testsuite></testsuites>"""


def test_target_lines_are_parsed_including_cached_ones():
    assert target_statuses(LOG) == {
        "//a:one_test": "PASSED",
        "//a:two_test": "PASSED",
        "//b:three_test": "FAILED",
        "//b:four_test": "TIMEOUT",
    }


def test_junit_cases_are_counted_by_outcome():
    counts = count_junit(XML)
    assert (counts.passed, counts.failed, counts.skipped) == (2, 1, 1)


def test_targets_without_xml_count_once_and_failures_are_named(tmp_path):
    (tmp_path / "a" / "one_test").mkdir(parents=True)
    (tmp_path / "a" / "one_test" / "test.xml").write_text(
        '<testsuites><testsuite><testcase name="x"/><testcase name="y"/></testsuite></testsuites>'
    )
    total, problems = summarise(target_statuses(LOG), tmp_path)
    assert (total.passed, total.failed) == (2 + 1, 2)
    assert problems == ["//b:four_test: TIMEOUT", "//b:three_test: FAILED"]


def test_summary_line_format():
    assert Counts(5, 1, 2).line() == "5 passed, 1 failed, 2 skipped"
