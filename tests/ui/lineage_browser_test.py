"""Headless Chromium on a running Dagster UI: the global lineage page draws every asset of the code location.

Without Chromium the test is skipped with that reason, or fails when FLYWHEEL_REQUIRE_BROWSER=1 (CI).
"""

import os
import sys
from pathlib import Path

import pytest

from assets.definitions import defs
from tests.ui.headless_chromium import BrowserUnavailable, find_chromium, png_size, rendered_dom, screenshot
from tests.ui.lineage_page import LINEAGE_VIEW, drawn_asset_nodes, expected_asset_groups, lineage_url
from tests.ui.lineage_screenshot import start_isolated_dagster

_REQUIRE = "FLYWHEEL_REQUIRE_BROWSER"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary, or one clear skip (a failure where the browser must exist)."""
    try:
        return find_chromium()
    except BrowserUnavailable as exc:
        message = f"browser tests skipped: {exc}"
        print(f"\n*** {message} ***", file=sys.stderr)
        if os.environ.get(_REQUIRE) == "1":
            pytest.fail(f"{message} ({_REQUIRE}=1 says Chromium must be here)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def dagster_ui(chromium, tmp_path_factory):
    """`dagster dev` on the Flywheel code location, loaded and answering."""
    service = start_isolated_dagster(tmp_path_factory.mktemp("dagster_ui"))
    yield service
    service.stop()


@pytest.fixture
def output_dir(tmp_path) -> Path:
    """Where the screenshot goes: Bazel's undeclared outputs (kept in bazel-testlogs), else a temp folder."""
    return Path(os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or tmp_path)


def test_global_lineage_draws_every_asset_with_its_name(chromium, dagster_ui, output_dir):
    expected = expected_asset_groups(defs())
    url = lineage_url(dagster_ui.url, set(expected.values()))

    drawn = drawn_asset_nodes(rendered_dom(chromium, url, LINEAGE_VIEW))

    assert drawn.minimal == [], "nodes drawn zoomed out with shortened names: widen LINEAGE_VIEW"
    names = drawn.names(set(expected))
    assert sorted(names) == sorted(expected), "the lineage page must draw each asset of the code location once"

    shot = screenshot(chromium, url, output_dir / "lineage.png", LINEAGE_VIEW)
    assert png_size(shot) == LINEAGE_VIEW.png_size
