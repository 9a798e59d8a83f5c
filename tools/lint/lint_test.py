"""Lint as tests: ruff (Python) and buildifier (Bazel files) over the whole source tree.

The target is tagged `external` so it runs on every `bazel test //...`: it reads
the real source tree, not only its declared inputs.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKSPACE = Path(os.path.realpath(__file__)).parents[2]
BUILDIFIER_WARNINGS = "-native-py,-native-sh-binary"
# The rules_cc stand-in must call native rules directly; buildifier would "fix" that.
BUILDIFIER_SKIP = ("tools/bazel/rules_cc/",)
SKIP_DIRS = {".git", ".venv", ".flywheel", "node_modules", "__pycache__"}


def bazel_files() -> list[str]:
    """WORKSPACE, BUILD and .bzl files of the source tree, relative to the workspace root."""
    found = []
    for root, dirs, files in os.walk(WORKSPACE):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("bazel-")]
        for name in files:
            if name in ("WORKSPACE", "BUILD", "BUILD.bazel") or name.endswith(".bzl"):
                rel = os.path.relpath(os.path.join(root, name), WORKSPACE)
                if not rel.startswith(BUILDIFIER_SKIP):
                    found.append(rel)
    return sorted(found)


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=WORKSPACE, capture_output=True, text=True, check=False)


def test_workspace_root_found():
    assert (WORKSPACE / "WORKSPACE").is_file(), f"{WORKSPACE} is not the workspace root"


@pytest.mark.parametrize(
    "ruff_args", [["check", "--no-cache"], ["format", "--check", "--no-cache"]], ids=["ruff-check", "ruff-format"]
)
def test_ruff(ruff_args):
    result = _run([sys.executable, "-m", "ruff", *ruff_args, "."])
    assert result.returncode == 0, f"ruff {' '.join(ruff_args)} failed:\n{result.stdout}{result.stderr}"


def test_buildifier():
    binary = Path(os.environ["TEST_SRCDIR"]) / "buildifier" / "buildifier"
    files = bazel_files()
    assert "WORKSPACE" in files and "BUILD.bazel" in files
    result = _run([str(binary), "-mode=check", "-lint=warn", f"-warnings={BUILDIFIER_WARNINGS}", *files])
    assert result.returncode == 0, (
        f"buildifier found problems (fix with `tools/flywheel fmt`):\n{result.stdout}{result.stderr}"
    )
