"""The Dagster user-code image, run for real: the code-location gRPC server answers, definitions match the source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images.docker_engine import run_detached, wait_for
from tools.services.process import free_port

RUNFILES = Path(os.environ.get("TEST_SRCDIR", "")) / os.environ.get("TEST_WORKSPACE", "flywheel")
IMAGE = RUNFILES / "infra/images/user_code.tar"
LIST_ASSETS = (
    "import json; from assets.definitions import defs; "
    "print(json.dumps(sorted(k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys())))"
)


@pytest.fixture(scope="module")
def user_code(docker_engine):
    return docker_engine.load(IMAGE)


def test_code_location_grpc_server_answers(docker_engine, user_code):
    port = free_port()
    name = f"user-code-{port}"
    args = ["dagster", "api", "grpc", "--module-name", "assets.definitions", "--host", "127.0.0.1", "--port", str(port)]
    run_detached(docker_engine, user_code, args, name)

    def healthy() -> bool:
        check = [sys.executable, "-m", "dagster", "api", "grpc-health-check", "--port", str(port)]
        return subprocess.run(check, capture_output=True, timeout=20).returncode == 0

    def logs() -> str:
        result = docker_engine.docker("logs", name, check=False)
        return result.stdout + result.stderr

    wait_for(healthy, 180, "dagster code-location gRPC server", logs)
    docker_engine.docker("rm", "-f", name, check=False)


def test_definitions_in_the_image_match_the_source(docker_engine, user_code):
    from assets.definitions import defs

    inside = docker_engine.docker("run", "--rm", "--entrypoint", "/usr/bin/python3.11", user_code, "-c", LIST_ASSETS)
    source = sorted(k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys())
    assert source, "the source defines no assets"
    assert json.loads(inside.stdout.strip().splitlines()[-1]) == source
