"""Where data benchmarks put their results: one marked section each in a shared markdown page, plus machine facts."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

_HEADER = """# Data-plane benchmarks

Written by the scripts in `bench/` (see `bench/README.md`); each script rewrites only its own section. The machine
is shared with other engineers, so absolute numbers move between runs: compare the ratios, which are measured
against a baseline in the same run.
"""


def machine_description() -> str:
    """Host, CPU count and model, memory, load and date: enough to tell two runs' machines apart."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{memory_kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        memory = "unknown RAM"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} on {platform.node()}: {os.cpu_count()} x {model}, {memory}, "
        f"Python {platform.python_version()}, load average {load} at the start"
    )


def write_section(page: Path, name: str, markdown: str) -> None:
    """Replaces section `name` of `page` (creating the page or the section as needed)."""
    page = Path(page)
    text = page.read_text() if page.exists() else _HEADER
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
