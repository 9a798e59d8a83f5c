"""The local alerting path, started for real: exporter -> Prometheus (the repository's rules) -> Alertmanager (the
repository's routing) -> pager."""

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from monitoring.drift_report import DRIFT, DriftReport, FeatureDrift, StatisticResult
from monitoring.pipeline_metrics import write_drift_snapshot
from tools.services.alerting import (
    ALERTMANAGER_CONFIG,
    RULES,
    AlertmanagerService,
    PagerService,
    PipelineExporterService,
    alertmanager_config,
)
from tools.services.pager import pager_server, read_notifications
from tools.services.prometheus import PrometheusService


def test_every_receiver_of_the_repository_config_points_at_the_pager():
    text = ALERTMANAGER_CONFIG.read_text()
    config = alertmanager_config(text, 41234)
    receivers = text.count("url: http://127.0.0.1:")
    assert receivers >= 5 and config.count("url: http://127.0.0.1:41234/alerts/") == receivers
    assert "9095" not in config
    with pytest.raises(ValueError, match="no webhook receiver"):
        alertmanager_config("route:\n  receiver: x\n", 41234)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_pager_keeps_each_notification_and_names_what_is_wrong_with_a_bad_one(tmp_path):
    server = pager_server(tmp_path, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        notification = {"status": "firing", "receiver": "ml-pager", "alerts": [{"labels": {"alertname": "X"}}]}
        assert _post(f"{url}/alerts/ml-pager", json.dumps(notification).encode()) == (200, {"kept": 1})
        status, reply = _post(f"{url}/alerts/ml-pager", b"{not json")
        assert status == 400 and "not JSON" in reply["error"]
        status, reply = _post(f"{url}/alerts/ml-pager", b'{"status": "firing"}')
        assert status == 400 and "'alerts'" in reply["error"]
        status, reply = _post(f"{url}/elsewhere", b"{}")
        assert status == 404 and "/alerts/<receiver>" in reply["error"]
        (kept,) = read_notifications(tmp_path)
        assert kept["path_receiver"] == "ml-pager" and kept["alerts"] == notification["alerts"]
    finally:
        server.shutdown()


def _drifting() -> DriftReport:
    """A report whose PSI of `amount` (0.4) is above its limit (0.1)."""
    amount = FeatureDrift("amount", "numeric", (StatisticResult("psi", 0.4, 0.1, True),), 0.0, 0.0)
    return DriftReport(DRIFT, 2000, 2000, (amount,), "h")


def test_a_drift_snapshot_goes_pending_then_firing_in_prometheus_and_reaches_the_pager(tmp_path):
    """The sensor's snapshot, the exporter, the repository's rules (FlywheelFeatureDrift waits `for: 1m`) and
    routing (a ticket for team ml after group_wait 30s): about 100 s from the snapshot to the pager."""
    snapshots = tmp_path / "snapshots"
    write_drift_snapshot(snapshots, "scorer", _drifting(), datetime.now(UTC))
    services = []
    try:
        pager = PagerService(tmp_path / "pager").start()
        services.append(pager)
        alertmanager = AlertmanagerService(tmp_path / "alertmanager", pager_port=pager.port).start()
        services.append(alertmanager)
        exporter = PipelineExporterService(tmp_path / "exporter", snapshot_dir=snapshots).start()
        services.append(exporter)
        prometheus = PrometheusService(
            tmp_path / "prometheus",
            targets={"pipeline": [f"127.0.0.1:{exporter.port}"]},
            scrape_interval="2s",
            rule_files=[str(RULES)],
            alertmanagers=[f"127.0.0.1:{alertmanager.port}"],
        ).start()
        services.append(prometheus)

        states, delivered = [], []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not delivered:
            alerts = prometheus.query('ALERTS{alertname="FlywheelFeatureDrift", model="scorer"}')
            states += [a["metric"]["alertstate"] for a in alerts if a["metric"]["alertstate"] not in states[-1:]]
            delivered = [n for n in read_notifications(pager.workdir) if n["status"] == "firing"]
            time.sleep(1)
        assert states[:2] == ["pending", "firing"], f"the alert went {states}"
        (notification,) = delivered
        assert notification["path_receiver"] == "ml-tickets", "a ticket for team ml, by the repository's routes"
        (alert,) = notification["alerts"]
        assert alert["labels"]["alertname"] == "FlywheelFeatureDrift"
        assert alert["labels"]["model"] == "scorer" and alert["labels"]["feature"] == "amount"
        assert "psi of amount is 0.4" in alert["annotations"]["summary"]
        held = alertmanager.alerts()
        assert [a["labels"]["alertname"] for a in held] == ["FlywheelFeatureDrift"]
    finally:
        for service in reversed(services):
            service.stop()
