"""HTTP load with `wrk`: run it, read its report, and charge the server's CPU (its whole process tree) per request."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass(frozen=True)
class WrkReport:
    """What one `wrk --latency` run printed."""

    requests: int
    """Responses received (any status)."""
    requests_per_s: float
    """wrk's Requests/sec (counts non-2xx responses too)."""
    p50_ms: float
    """Median latency of answered requests."""
    p99_ms: float
    """99th percentile latency of answered requests (timed-out requests are not in it)."""
    non_2xx: int
    """Responses whose status was not 2xx/3xx."""
    socket_errors: int
    """connect + read + write + timeout errors."""


@dataclass(frozen=True)
class LoadResult:
    """One system at one concurrency."""

    system: str
    """Name of the system under test."""
    concurrency: int
    """Open connections, each with one request in flight."""
    report: WrkReport
    """wrk's numbers."""
    cpu_us_per_request: float
    """Server CPU time (its whole process tree) per answered request: steadier than req/s on a shared machine."""
    rounds: tuple[LoadResult, ...] = ()
    """For a cell combined from several rounds (serving_report.median_result): the rounds, for their spread."""

    @property
    def valid(self) -> bool:
        """Every answer was 2xx: a benchmark of error answers measures nothing (socket errors are shown, not fatal)."""
        return self.report.requests > 0 and self.report.non_2xx == 0

    @property
    def problem(self) -> str:
        """What went wrong in the run (non-2xx answers, socket errors such as 2 s timeouts), or '' if nothing."""
        if self.report.requests == 0:
            return f"no answer ({self.report.socket_errors} socket errors)"
        parts = []
        if self.report.non_2xx:
            parts.append(f"{self.report.non_2xx} non-2xx")
        if self.report.socket_errors:
            parts.append(f"{self.report.socket_errors} socket errors")
        return ", ".join(parts)


def duration_ms(text: str) -> float:
    """wrk's duration text ('870.00us', '1.20ms', '2.00s', '1.00m') in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"'{text}' is not a wrk duration (number followed by us, ms, s or m)")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkReport:
    """Read a `wrk --latency` report; a report without its totals or 50%/99% lines is an error naming what's missing."""
    answered = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    missing = [name for name, found in (("requests", answered), ("Requests/sec", rate)) if not found]
    missing += [f"{p}% latency" for p in ("50", "99") if p not in percentiles]
    if missing:
        raise ValueError(f"wrk's report lacks {', '.join(missing)}:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkReport(
        requests=int(answered.group(1)),
        requests_per_s=float(rate.group(1)),
        p50_ms=duration_ms(percentiles["50"]),
        p99_ms=duration_ms(percentiles["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def descendants(root: int, parent_of: dict[int, int]) -> list[int]:
    """`root` and every process below it, given each process's parent."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def cpu_seconds(root: int) -> float:
    """User + system CPU of a process and all its descendants (workers, Triton's server and backend stubs)."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat_fields(int(entry.name))):
            parent_of[int(entry.name)] = int(fields[1])
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in descendants(root, parent_of):
        if fields := _proc_stat_fields(pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def lua_post_script(body: str, directory: Path) -> Path:
    """A wrk script that POSTs `body` as JSON on every request."""
    if "]]" in body:
        raise ValueError("the request body contains ']]', which would end wrk's Lua long string early")
    script = directory / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{body}]]\n')
    return script


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """`argv` run on the CPUs `cpus` (taskset's list syntax, e.g. "0" or "0-1"), or unchanged when None."""
    return ["taskset", "-c", cpus, *argv] if cpus else list(argv)


def run_wrk(
    url: str, body: str, concurrency: int, duration_s: int, system: str, server_pid: int, cpus: str | None = None
) -> LoadResult:
    """One `wrk -t1 -cN` run of single POSTs against `url` (on the CPUs `cpus`, if given), with the server's CPU time
    over the run."""
    with tempfile.TemporaryDirectory(prefix="wrk-") as work:
        script = lua_post_script(body, Path(work))
        cpu_before = cpu_seconds(server_pid)
        completed = subprocess.run(
            pinned(["wrk", "-t1", f"-c{concurrency}", f"-d{duration_s}s", "--latency", "-s", str(script), url], cpus),
            capture_output=True,
            text=True,
            check=False,
        )
        cpu = cpu_seconds(server_pid) - cpu_before
    if completed.returncode != 0:
        raise RuntimeError(
            f"wrk failed for {system} at c={concurrency} (exit {completed.returncode}):\n"
            f"{completed.stdout}{completed.stderr}"
        )
    report = parse_wrk(completed.stdout)
    return LoadResult(system, concurrency, report, cpu / max(report.requests, 1) * 1e6)
