"""Two clean builds of the serving image give the same digest: the Bazel build, and every step again from scratch."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from tools.images.image_tool import LABEL_LOCK, LABEL_REVISION, Paths, rebuild
from tools.images.oci_image import read_image

RUNFILES = Path(os.environ.get("TEST_SRCDIR", "")) / os.environ.get("TEST_WORKSPACE", "flywheel")
IMAGE = "infra/images/serving"
WORKSPACE = Path(os.path.realpath(__file__)).parents[2]


def test_rebuild_from_scratch_gives_the_bazel_digest(tmp_path):
    recipe = json.loads((RUNFILES / f"{IMAGE}.recipe.json").read_text())
    bazel_digest = (RUNFILES / f"{IMAGE}.digest").read_text().strip()
    _, config, _ = read_image(RUNFILES / f"{IMAGE}.tar")
    revision = config["config"]["Labels"][LABEL_REVISION]
    first = rebuild(recipe, Paths("short", RUNFILES), tmp_path / "first", revision)
    second = rebuild(recipe, Paths("short", RUNFILES), tmp_path / "second", revision)
    assert first == second
    assert first == bazel_digest, f"rebuild {first} != Bazel's {bazel_digest}; {_sources_changed_since_build(tmp_path)}"
    assert (tmp_path / "first" / "image.tar").read_bytes() == (tmp_path / "second" / "image.tar").read_bytes()


def test_labels_name_the_commit_and_the_lock():
    _, config, _ = read_image(RUNFILES / f"{IMAGE}.tar")
    labels = config["config"]["Labels"]
    lock = (RUNFILES / "tools/python/requirements.lock").read_bytes()
    assert labels[LABEL_LOCK] == hashlib.sha256(lock).hexdigest()
    head = subprocess.run(["git", "-C", str(WORKSPACE), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert head.returncode == 0, f"{WORKSPACE} is not a git checkout: {head.stderr}"
    assert labels[LABEL_REVISION] == head.stdout.strip(), (
        "the image's revision label is not the checkout's HEAD: build with "
        "--workspace_status_command=tools/images/workspace_status.sh (in .bazelrc)"
    )


def test_no_secrets_and_non_root():
    manifest, config, _ = read_image(RUNFILES / f"{IMAGE}.tar")
    assert config["config"]["User"] == "65532:65532"
    suspicious = [e for e in config["config"]["Env"] if any(w in e.upper() for w in ("PASSWORD", "SECRET", "TOKEN"))]
    assert not suspicious, f"image environment carries secrets: {suspicious}"
    assert len(manifest["layers"]) == 3


def _sources_changed_since_build(rebuilt: Path) -> str:
    """Which application sources differ from what Bazel built with (runfiles link to the live tree)."""
    changed = []
    for layer_json in sorted(rebuilt.glob("first/layer*.json")):
        now = json.loads(layer_json.read_text())["facts"].get("sha256", {})
        for digests in (RUNFILES / "infra/images").glob("*.digests.json"):
            then = json.loads(digests.read_text())["facts"].get("sha256", {})
            if then.keys() & now.keys():
                changed += [f for f in sorted(then.keys() | now.keys()) if then.get(f) != now.get(f)]
    if changed:
        return f"sources edited after the build (re-run the test): {sorted(set(changed))}"
    return "no source changed since the build, so the build is not reproducible"
