"""Overload is answered 503 with Retry-After, never a crash, an unbounded wait or unbounded memory."""

import concurrent.futures
import http.client
import time
from pathlib import Path

from serving.tiny_onnx_models import slow_logistic_model
from tests.serving.serving_harness import CONFIG, ServerProcess, add_version, infer_body


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def burst(server: ServerProcess, requests: int, workers: int):
    def one(i):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        started = time.monotonic()
        try:
            connection.request("POST", "/v2/models/fraud/infer", body=infer_body(rows=4, seed=i))
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("retry-after"), time.monotonic() - started
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(requests)))


def test_overload_gets_503_with_retry_after_and_the_server_stays_up(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1, model=slow_logistic_model(CONFIG, width=2048, layers=4))
    args = ("--max-batch-size", "8", "--max-queue-rows", "16", "--queue-timeout-s", "2", "--retry-after-s", "2")
    with ServerProcess(root, tmp_path, *args) as server:
        pid = server.process.pid
        burst(server, 20, 4)  # warm up allocations
        baseline = rss_kib(pid)
        results = burst(server, 400, 48)
        after_first = rss_kib(pid)
        results += burst(server, 400, 48)
        after_second = rss_kib(pid)
        statuses = [status for status, _, _ in results]
        assert set(statuses) <= {200, 503}, f"only successes and 503s, got {set(statuses)}"
        assert statuses.count(503) > 50, "the bounded queue refused part of the burst"
        assert statuses.count(200) > 20, "and kept serving the rest"
        assert all(retry == "2" for status, retry, _ in results if status == 503)
        assert max(elapsed for _, _, elapsed in results) < 10, "no request waited without bound"
        assert server.alive()
        assert server.request("POST", "/v2/models/fraud/infer", infer_body())[0] == 200
        assert after_second - after_first < 30_000, f"memory grew {after_second - after_first} KiB on a second burst"
        assert after_first - baseline < 100_000
        assert (
            'flywheel_inference_requests_total{endpoint="infer",model="fraud",status="503",version="1"}'
            in server.metrics()
        )
