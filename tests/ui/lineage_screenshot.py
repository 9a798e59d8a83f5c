"""Regenerates docs/images/lineage.png: the Dagster UI's global lineage of the Flywheel code location, headless.

    .venv/bin/python -m tests.ui.lineage_screenshot --out docs/images/lineage.png

Starts its own `dagster dev` (pointed at an empty state folder and at ports where nothing listens, so sensors
find nothing to do), checks that every asset is drawn with its whole name, then saves the screenshot.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from assets.stack_environment import StackEnvironment
from tests.ui.headless_chromium import find_chromium, png_size, rendered_dom, screenshot
from tests.ui.lineage_page import (
    LINEAGE_VIEW,
    drawn_asset_nodes,
    expected_asset_groups,
    lineage_problems,
    lineage_url,
    wait_for_code_locations,
)
from tools.services.dagster_dev import DagsterService
from tools.services.process import free_port


def start_isolated_dagster(workdir: Path) -> DagsterService:
    """`dagster dev` on the code location with its own DAGSTER_HOME and a stack that does not exist.

    The daemon ticks the loop's sensors, which are on by default: an empty state folder and closed ports keep
    them from touching a developer's running stack.
    """
    nowhere = StackEnvironment(
        state_dir=str(workdir / "state"),
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        server_url=f"http://127.0.0.1:{free_port()}",
    )
    service = DagsterService(home=workdir / "dagster", env=nowhere.as_environ()).start()
    try:
        wait_for_code_locations(service.url)
    except BaseException:
        service.stop()
        raise
    return service


def main(argv: list[str] | None = None) -> int:
    """Writes the lineage screenshot to --out; exits 1 (writing nothing) if the page misses or shortens a node."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/lineage.png"), help="PNG to write")
    args = parser.parse_args(argv)
    out = args.out
    if not out.is_absolute() and "BUILD_WORKSPACE_DIRECTORY" in os.environ:  # under `bazel run`
        out = Path(os.environ["BUILD_WORKSPACE_DIRECTORY"]) / out

    from assets.definitions import defs  # heavy (torch, Spark modules): only when actually run

    chromium = find_chromium()
    expected = expected_asset_groups(defs())
    with tempfile.TemporaryDirectory(prefix="lineage-screenshot-") as workdir:
        service = start_isolated_dagster(Path(workdir))
        try:
            url = lineage_url(service.url, set(expected.values()))
            problems = lineage_problems(drawn_asset_nodes(rendered_dom(chromium, url, LINEAGE_VIEW)), set(expected))
            if problems:
                print("lineage page not fit for the docs:\n  " + "\n  ".join(problems), file=sys.stderr)
                return 1
            screenshot(chromium, url, out, LINEAGE_VIEW)
        finally:
            service.stop()
    width, height = png_size(out)
    print(f"wrote {out} ({width}x{height}, {out.stat().st_size // 1024} KiB, {len(expected)} assets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
