"""`flywheel services up|status|down` starts real services, reports them, and leaves nothing behind."""

import socket

import pytest

from tools.services.cli import down, status, up
from tools.services.process import ServiceError, ServiceRecord, pid_alive


def test_up_status_down_round_trip(tmp_path, capsys):
    ports = {"kafka": 0, "mlflow": 0, "prometheus": 0, "dagster": 0}
    records = up(tmp_path, ["kafka", "prometheus"], ports)
    assert {r.name for r in records} == {"kafka", "prometheus"}
    assert all(pid_alive(r.pid) for r in records)
    assert status(tmp_path) == 0
    out = capsys.readouterr().out
    assert "kafka" in out and "bootstrap_servers=127.0.0.1:" in out

    down(tmp_path)
    assert not any(pid_alive(r.pid) for r in records)
    assert ServiceRecord.load_all(tmp_path / "services") == []


def test_port_conflict_stops_what_was_already_started(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        ports = {"kafka": 0, "mlflow": 0, "prometheus": taken, "dagster": 0}
        with pytest.raises(ServiceError, match=f"Prometheus: port {taken} on 127.0.0.1 is already in use"):
            up(tmp_path, ["kafka", "prometheus"], ports)
    assert ServiceRecord.load_all(tmp_path / "services") == [], "kafka was stopped again: no half-started stack"
