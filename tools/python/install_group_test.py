"""Unit tests of the lock splitter behind the pip_lock_repository rule."""

import json

import pytest

from tools.python.install_group import group_key, parse_lock, select

LOCK = """\
torch==2.15.0 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via lightning
nvidia-cublas==13.4.1.3 \\
    --hash=sha256:ccc
pyspark==4.3.0 \\
    --hash=sha256:ddd
Typing_Extensions==4.16.0 \\
    --hash=sha256:eee
    # via torch
"""
GROUPS = {"_doc": "x", "torch": ["torch", "nvidia-*"], "spark": ["pyspark"], "base": None}


def test_parse_lock_keeps_each_pin_with_its_hashes_and_normalises_names():
    blocks = parse_lock(LOCK)
    assert set(blocks) == {"torch", "nvidia-cublas", "pyspark", "typing-extensions"}
    assert "--hash=sha256:aaa" in blocks["torch"] and "--hash=sha256:bbb" in blocks["torch"]
    assert "# via" not in blocks["torch"]


@pytest.mark.parametrize(
    ("group", "expected"),
    [("torch", {"torch", "nvidia-cublas"}), ("spark", {"pyspark"}), ("base", {"typing-extensions"})],
)
def test_groups_partition_the_lock(group, expected):
    assert set(select(parse_lock(LOCK), GROUPS, group)) == expected


def test_unknown_group_is_a_clear_error():
    with pytest.raises(SystemExit, match="group 'gpu' is not in groups.json"):
        select(parse_lock(LOCK), GROUPS, "gpu")


def test_group_key_changes_only_with_the_groups_own_pins():
    blocks = parse_lock(LOCK)
    torch_before = group_key(select(blocks, GROUPS, "torch"), "/usr/bin/python3.11")
    changed = parse_lock(LOCK.replace("pyspark==4.3.0", "pyspark==4.3.1"))
    assert group_key(select(changed, GROUPS, "torch"), "/usr/bin/python3.11") == torch_before
    assert group_key(select(changed, GROUPS, "spark"), "/usr/bin/python3.11") != group_key(
        select(blocks, GROUPS, "spark"), "/usr/bin/python3.11"
    )


def test_real_groups_file_covers_the_real_lock():
    from pathlib import Path

    here = Path(__file__).resolve().parent
    blocks = parse_lock((here / "requirements.lock").read_text())
    groups = json.loads((here / "groups.json").read_text())
    names = [n for g in groups if not g.startswith("_") for n in select(blocks, groups, g)]
    assert sorted(names) == sorted(blocks), "every locked package is in exactly one group"
    assert "torch" in names and "pyspark" in names and "dagster" in names
