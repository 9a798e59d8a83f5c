"""The Prometheus rules pass `promtool check/test rules`, and Alertmanager's config and routes pass amtool."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "prometheus" / "flywheel_rules.yml"
RULES_TEST = HERE / "prometheus" / "flywheel_rules_test.yml"
ALERTMANAGER = HERE / "alertmanager" / "alertmanager.yml"
EXPECTED_ALERTS = {
    "FlywheelServingErrorRateHigh": "serving-pager",
    "FlywheelLatencyP99AboveSLO": "serving-pager",
    "FlywheelQueueSaturated": "serving-pager",
    "FlywheelQueueBacklog": "serving-tickets",
    "FlywheelPredictionLogDropping": "serving-tickets",
    "FlywheelFeatureDrift": "ml-tickets",
    "FlywheelLabeledQualityDrop": "ml-pager",
    "FlywheelRetrainingBudgetExhausted": "ml-pager",
    "FlywheelAutomaticRollback": "ml-pager",
    "FlywheelIngestionLagHigh": "data-tickets",
    "FlywheelMonitoringSnapshotStale": "ml-tickets",
}
"""Every alert the rules must define, and the receiver its labels must route to."""


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install -y prometheus prometheus-alertmanager")
    return path


def _run(argv: list[str], cwd: Path = HERE) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _alert_rules() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_check_rules():
    assert "SUCCESS" in _run([_tool("promtool"), "check", "rules", str(RULES)])


def test_promtool_unit_tests_pass():
    assert "SUCCESS" in _run([_tool("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)


def test_every_expected_alert_exists_and_has_a_unit_test():
    alerts = _alert_rules()
    assert set(alerts) == set(EXPECTED_ALERTS)
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert tested == set(alerts), f"alerts without a firing unit test: {sorted(set(alerts) - tested)}"


def test_amtool_accepts_the_alertmanager_config():
    assert "SUCCESS" in _run([_tool("amtool"), "check-config", str(ALERTMANAGER)])


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_each_alert_routes_to_its_receiver(alert):
    labels = {"alertname": alert, **_alert_rules()[alert]["labels"]}
    argv = [_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}"]
    output = _run(argv + [f"{k}={v}" for k, v in sorted(labels.items())])
    assert output.split() == [EXPECTED_ALERTS[alert]]
