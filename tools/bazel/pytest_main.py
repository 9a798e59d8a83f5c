"""Entry point of every py_pytest target: runs pytest on the files Bazel passes."""

import os
import sys

import pytest


def main() -> int:
    # sys.path[0] is this file's folder; drop it so that tools/bazel never shadows a package.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    args = ["-p", "no:cacheprovider", "--import-mode=importlib", "-o", "addopts=", "-ra"]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    code = pytest.main(args + sys.argv[1:])
    # A file whose tests are all skipped is a pass for Bazel, reported by pytest as such.
    return 0 if code == pytest.ExitCode.NO_TESTS_COLLECTED and os.environ.get("FLYWHEEL_ALLOW_EMPTY") else int(code)


if __name__ == "__main__":
    sys.exit(main())
