"""`bazel run //infra/images:serving_push -- --registry ...` pushes to a real registry (Debian docker-registry)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tools.services.process import ManagedProcess, free_port

RUNFILES = Path(os.environ.get("TEST_SRCDIR", "")) / os.environ.get("TEST_WORKSPACE", "flywheel")
REGISTRY_BINARY = shutil.which("docker-registry", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A local registry (distribution 2.8) on a free port, storing under a temp dir."""
    if REGISTRY_BINARY is None:
        message = "docker-registry is not installed: run tools/images/setup_docker.sh"
        if os.environ.get("FLYWHEEL_REQUIRE_DOCKER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
        f"{root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    process = ManagedProcess("docker-registry", [REGISTRY_BINARY, "serve", str(config)], root / "registry.log").start()

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as response:
            return response.status == 200

    process.wait_ready(ready, 30)
    yield f"127.0.0.1:{port}"
    process.stop()


def test_push_then_pull_manifest_by_tag(registry):
    push = RUNFILES / "infra/images/serving_push.sh"
    args = [str(push), "--registry", f"{registry}/flywheel", "--tag", "candidate", "--insecure"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    digest = (RUNFILES / "infra/images/serving.digest").read_text().strip()
    assert digest in result.stdout
    request = urllib.request.Request(
        f"http://{registry}/v2/flywheel/serving/manifests/candidate",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == digest
        manifest = json.load(response)
    assert len(manifest["layers"]) == 3
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)  # blobs exist: skipped, same digest
    assert again.returncode == 0 and digest in again.stdout


def test_unreachable_registry_is_named():
    push = RUNFILES / "infra/images/serving_push.sh"
    port = free_port()
    result = subprocess.run(
        [str(push), "--registry", f"127.0.0.1:{port}/flywheel", "--insecure"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "unreachable" in result.stderr
