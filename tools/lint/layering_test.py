"""The rooms' import directions, checked on the real source tree (STYLE.md, "Bazel" and "The shape of the house").

`assets/` (Dagster definitions) may import everything; the machinery (`training/`, `serving/`, `monitoring/`,
`dataplane/`, `features/`) never imports `assets/`, `tools/` or the worked example in `domain/`; `features/` sits
below them all; `tools/` drives Dagster through its CLI and never imports `assets/`. Bazel's visibility enforces
the `domain/` rule for declared deps; this test also catches a function-level import that no BUILD file names.
"""

import ast
import os
from pathlib import Path

import pytest

WORKSPACE = Path(os.path.realpath(__file__)).parents[2]
MACHINERY = ("training", "serving", "monitoring", "dataplane", "features")
FORBIDDEN = {
    "training": {"assets", "domain", "tools", "serving", "monitoring", "dataplane"},
    "serving": {"assets", "domain", "tools", "training", "monitoring", "dataplane"},
    "monitoring": {"assets", "domain", "tools", "training", "serving", "dataplane"},
    "dataplane": {"assets", "domain", "tools", "training", "serving", "monitoring"},
    "features": {"assets", "domain", "tools", "training", "serving", "monitoring", "dataplane"},
    "tools": {"assets"},
}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in a file, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def violations(room: str) -> list[str]:
    problems = []
    for path in sorted((WORKSPACE / room).rglob("*.py")):
        for line, package in sorted(imported_packages(path)):
            if package in FORBIDDEN[room]:
                problems.append(f"{path.relative_to(WORKSPACE)}:{line} imports {package}")
    return problems


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_only_downwards(room):
    assert (WORKSPACE / room).is_dir(), f"{room}/ is missing from {WORKSPACE}"
    assert violations(room) == [], f"{room}/ may not import {sorted(FORBIDDEN[room])}"


def test_the_check_sees_function_level_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from assets.definitions import defs\n    return defs\n")
    assert (4, "assets") in imported_packages(sample)
