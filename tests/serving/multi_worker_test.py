"""Several worker processes share one port (SO_REUSEPORT); metrics aggregate over them; a dead worker is replaced."""

import os
import signal
from pathlib import Path

from tests.serving.serving_harness import LoadGenerator, ServerProcess, add_version, infer_body, wait_until


def worker_pids(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {int(pid) for pid in children}


def metric(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_two_workers_share_the_port_and_reload_together(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1)
    with ServerProcess(root, tmp_path, "--workers", "2") as server:
        assert wait_until(lambda: len(worker_pids(server.process.pid)) == 2)
        assert wait_until(
            lambda: metric(server.metrics(), 'flywheel_model_version_workers{model="fraud",version="1"}') == 2
        )
        with LoadGenerator(server, threads=4) as load:
            assert wait_until(lambda: len(load.outcomes) > 300)
            add_version(root, 2)
            assert wait_until(
                lambda: metric(server.metrics(), 'flywheel_model_version_workers{model="fraud",version="2"}') == 2
            ), "both workers reloaded"
        assert load.errors == [] and {s for s, _ in load.outcomes} == {200}
        text = server.metrics()
        assert metric(text, 'flywheel_inference_requests_total{endpoint="infer",model="fraud",status="200"') >= len(
            load.outcomes
        )

        victim = sorted(worker_pids(server.process.pid))[0]
        os.kill(victim, signal.SIGKILL)
        assert wait_until(
            lambda: victim not in worker_pids(server.process.pid) and len(worker_pids(server.process.pid)) == 2
        )
        assert wait_until(lambda: server.request("GET", "/v2/health/ready")[0] == 200)
        statuses = [server.request("POST", "/v2/models/fraud/infer", infer_body(seed=i))[0] for i in range(20)]
        assert set(statuses) == {200}
