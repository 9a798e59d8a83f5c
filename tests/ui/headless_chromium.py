"""Debian's Chromium, headless, from the command line: the DOM a page renders, and a PNG screenshot of it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# What headless Chromium needs on these machines (no sandbox inside containers, no GPU, no calls home); each run
# also gets a throwaway profile, so no state carries over between pages.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class BrowserUnavailable(RuntimeError):
    """No Chromium to run on this machine."""


class BrowserError(RuntimeError):
    """Chromium ran but did not render the page."""


@dataclass(frozen=True)
class Viewport:
    """The browser window a page is laid out in, and the PNG it is drawn into."""

    width: int
    """Window width in CSS pixels: what the page lays itself out for."""
    height: int
    """Window height in CSS pixels."""
    scale: float = 1.0
    """Device pixels per CSS pixel; below 1 draws a wide layout into a smaller PNG."""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.scale <= 0:
            raise ValueError(f"viewport needs a positive size and scale, got {self}")

    @property
    def png_size(self) -> tuple[int, int]:
        """(width, height) in pixels of a screenshot taken in this viewport."""
        return round(self.width * self.scale), round(self.height * self.scale)


def find_chromium() -> str:
    """The path of the `chromium` binary, or BrowserUnavailable saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise BrowserUnavailable(
            "Debian's `chromium` is not on PATH; install it with `apt-get install -y chromium` (tools/setup.sh does)"
        )
    return path


def _run(chromium: str, url: str, viewport: Viewport, settle_ms: int, timeout: float, *action: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        argv = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={viewport.width},{viewport.height}",
            f"--force-device-scale-factor={viewport.scale}",
            # Virtual time stands still while network fetches are pending, so this waits for the app's GraphQL
            # answers and then lets its timers (layout, animations) run for settle_ms of page time.
            f"--virtual-time-budget={settle_ms}",
            *action,
            url,
        ]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"chromium did not finish rendering {url} within {timeout:.0f} s") from exc
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise BrowserError(f"chromium exited with {result.returncode} rendering {url}:\n{tail}")
    return result.stdout


def rendered_dom(chromium: str, url: str, viewport: Viewport, settle_ms: int = 20_000, timeout: float = 120) -> str:
    """The page's DOM as serialised HTML after its scripts ran (what a user's browser would show)."""
    dom = _run(chromium, url, viewport, settle_ms, timeout, "--dump-dom")
    if not dom.strip():
        raise BrowserError(f"chromium rendered an empty DOM for {url}")
    return dom


def screenshot(
    chromium: str, url: str, out: Path, viewport: Viewport, settle_ms: int = 20_000, timeout: float = 120
) -> Path:
    """Saves a PNG of the rendered page to `out` (parents created) and returns it."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run(chromium, url, viewport, settle_ms, timeout, f"--screenshot={out}")
    if not out.exists():
        raise BrowserError(f"chromium wrote no screenshot of {url} to {out}")
    return out


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header; ValueError if the file is not a PNG."""
    header = Path(path).read_bytes()[:24]
    if not header.startswith(PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
