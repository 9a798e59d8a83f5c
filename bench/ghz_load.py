"""gRPC load with `ghz` (Go): the OIP gRPC service's descriptors as a protoset, one infer request as ghz's JSON, its
report read into the same LoadResult as `wrk`'s, with the server's CPU per answered request."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from bench.wrk_load import LoadResult, WrkReport, cpu_seconds, pinned

ROOT = Path(__file__).resolve().parents[1]
GHZ_VERSION = "v0.93.0"
"""The ghz release bench/competitors/setup_envs.sh builds from the Go module proxy (the newest it serves)."""
GHZ = ROOT / ".flywheel" / "bench-tools" / "ghz"
METHOD = "inference.GRPCInferenceService/ModelInfer"
RAW_DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}
"""Little-endian numpy types of the datatypes the benchmark body uses (OIP raw contents are little-endian)."""
CLOSING = "transport is closing"
"""ghz's error for the calls it still had in flight when its duration ended (it closes the connection under them):
the client's cut-off, not the server's answer, so they count neither as answers nor as errors."""


class GhzUnavailable(RuntimeError):
    """ghz is not built here."""


def ghz_binary() -> Path:
    """The ghz binary built by setup_envs.sh (else one on PATH); GhzUnavailable says how to build it."""
    if GHZ.exists():
        return GHZ
    if found := shutil.which("ghz"):
        return Path(found)
    raise GhzUnavailable(f"ghz is not built (bench/competitors/setup_envs.sh ghz builds {GHZ_VERSION} with Go)")


def write_protoset(path: Path) -> Path:
    """The OIP gRPC service's file descriptors (tritonclient's generated ones, dependencies first) as a protoset."""
    from google.protobuf import descriptor_pb2
    from tritonclient.grpc import service_pb2

    files = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(descriptor) -> None:
        if descriptor.name in seen:
            return
        for dependency in descriptor.dependencies:
            add(dependency)
        seen.add(descriptor.name)
        descriptor.CopyToProto(files.file.add())

    add(service_pb2.DESCRIPTOR)
    path.write_bytes(files.SerializeToString())
    return path


def grpc_request_json(body: str, model: str = "fraud") -> str:
    """The OIP JSON infer body as a ModelInferRequest in protobuf's JSON mapping, tensors as raw contents (base64),
    which is what tritonclient.grpc sends."""
    document = json.loads(body)
    request: dict = {"model_name": model, "inputs": [], "raw_input_contents": []}
    for tensor in document["inputs"]:
        datatype = tensor["datatype"]
        if datatype not in RAW_DTYPES:
            raise ValueError(f"input '{tensor['name']}': datatype {datatype} has no raw encoding here")
        request["inputs"].append({"name": tensor["name"], "datatype": datatype, "shape": tensor["shape"]})
        raw = np.asarray(tensor["data"], dtype=RAW_DTYPES[datatype]).tobytes()
        request["raw_input_contents"].append(base64.b64encode(raw).decode())
    return json.dumps(request)


def parse_ghz(text: str) -> WrkReport:
    """A `ghz --format json` report as a WrkReport: OK answers, their rate, p50/p99; every non-OK status is a
    failed answer, except the calls cut off by the end of the run (CLOSING), which are left out."""
    report = json.loads(text)
    codes = report.get("statusCodeDistribution") or {}
    errors = report.get("errorDistribution") or {}
    closing = sum(count for message, count in errors.items() if CLOSING in message)
    failed = sum(count for code, count in codes.items() if code != "OK") - closing
    percentiles = {p["percentage"]: p["latency"] / 1e6 for p in report.get("latencyDistribution") or []}
    missing = [f"{p}% latency" for p in (50, 99) if p not in percentiles]
    if missing or "total" not in report:
        raise ValueError(f"ghz's report lacks {', '.join(missing) or 'total'}: {text[:300]}")
    answered = codes.get("OK", 0)
    seconds = report["total"] / 1e9
    return WrkReport(
        requests=answered,
        requests_per_s=answered / seconds if seconds > 0 else 0.0,
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        non_2xx=max(failed, 0),
        socket_errors=0,
    )


def run_ghz(
    address: str, body: str, concurrency: int, duration_s: int, system: str, server_pid: int, cpus: str | None = None
) -> LoadResult:
    """One ghz run of unary ModelInfer calls (`concurrency` workers on one HTTP/2 connection, as gRPC clients
    usually hold one) against host:port, on the CPUs `cpus`, with the server's CPU time over the run."""
    ghz = ghz_binary()
    with tempfile.TemporaryDirectory(prefix="ghz-") as work:
        protoset = write_protoset(Path(work) / "oip.protoset")
        data = Path(work) / "request.json"
        data.write_text(grpc_request_json(body))
        argv = [str(ghz), "--insecure", "--protoset", str(protoset), "--call", METHOD, "-D", str(data)]
        argv += ["-c", str(concurrency), "-z", f"{duration_s}s", "--cpus", "1", "--format", "json", address]
        cpu_before = cpu_seconds(server_pid)
        completed = subprocess.run(pinned(argv, cpus), capture_output=True, text=True, check=False, env=os.environ)
        cpu = cpu_seconds(server_pid) - cpu_before
    if completed.returncode != 0 and not completed.stdout.strip():
        problem = f"exit {completed.returncode}: {completed.stderr.strip()[:300]}"
        raise RuntimeError(f"ghz failed for {system} at c={concurrency} ({problem})")
    report = parse_ghz(completed.stdout)
    return LoadResult(system, concurrency, report, cpu / max(report.requests, 1) * 1e6)
