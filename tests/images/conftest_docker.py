"""pytest plugin: a session-wide private Docker engine, or one clear skip (a failure if FLYWHEEL_REQUIRE_DOCKER=1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.images.docker_engine import DockerEngine, DockerUnavailable, start_engine

_REQUIRE = "FLYWHEEL_REQUIRE_DOCKER"


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory) -> DockerEngine:
    """A private dockerd for this test session."""
    try:
        engine = start_engine(Path(tmp_path_factory.mktemp("docker")))
    except DockerUnavailable as exc:
        message = f"requires-docker tests skipped: {exc}"
        print(f"\n*** {message} ***", file=sys.stderr)
        if os.environ.get(_REQUIRE) == "1":
            pytest.fail(f"{message} ({_REQUIRE}=1 says Docker must work here)", pytrace=False)
        pytest.skip(message)
    yield engine
    engine.stop()
