"""Turns one `bazel test` run into the line CI reads: `N passed, N failed, N skipped`.

Counts pytest test cases from each target's JUnit XML (Bazel's test.xml); a target
that failed or timed out without a readable XML counts as one failed test.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

_TARGET_LINE = re.compile(
    r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|SKIPPED|INCOMPLETE|REMOTE FAILURE|"
    r"FAILED TO BUILD)\b"
)


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def target_statuses(bazel_log: str) -> dict[str, str]:
    statuses = {}
    for line in bazel_log.splitlines():
        match = _TARGET_LINE.match(line.strip())
        if match:
            statuses[match.group(1)] = match.group(2)
    return statuses


def count_junit(xml_text: str) -> Counts:
    counts = Counts()
    root = ET.fromstring(xml_text)
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            counts.failed += 1
        elif "skipped" in tags:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


def xml_path(testlogs: Path, target: str) -> Path:
    package, _, name = target[2:].partition(":")
    return testlogs / package / name / "test.xml"


def summarise(statuses: dict[str, str], testlogs: Path) -> tuple[Counts, list[str]]:
    total, problems = Counts(), []
    for target, status in sorted(statuses.items()):
        counts = Counts()
        with contextlib.suppress(OSError, ET.ParseError):
            counts = count_junit(xml_path(testlogs, target).read_text())
        if status in ("PASSED", "FLAKY") and counts.failed == 0:
            if counts.passed + counts.skipped == 0:
                counts.passed = 1  # a non-pytest test target: one test
        elif status != "SKIPPED":
            problems.append(f"{target}: {status}")
            if counts.failed == 0:
                counts.failed = 1
        total.add(counts)
    return total, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bazel-log", type=Path, required=True, help="captured output of `bazel test`")
    parser.add_argument("--testlogs", type=Path, required=True, help="`bazel info bazel-testlogs`")
    parser.add_argument("--bazel-exit", type=int, required=True, help="exit code of `bazel test`")
    args = parser.parse_args()
    statuses = target_statuses(args.bazel_log.read_text(errors="replace"))
    total, problems = summarise(statuses, args.testlogs)
    for problem in problems:
        print(f"not passing: {problem}")
    if args.bazel_exit not in (0, 3) and not problems:
        # The build itself broke (exit 1), or no tests ran (exit 4): count it as a failure.
        print(f"bazel test exited with {args.bazel_exit} before running tests")
        total.failed += 1
    print(total.line())
    return 0 if args.bazel_exit == 0 and total.failed == 0 and total.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
