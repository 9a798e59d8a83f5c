"""Unit tests of service process management: clear errors, no leftover processes."""

import socket
import sys

import pytest

from tools.services.process import (
    ManagedProcess,
    ServiceError,
    ensure_port_free,
    pid_alive,
    require_binary,
)
from tools.services.prometheus import prometheus_config


def test_missing_binary_names_the_install_command():
    with pytest.raises(ServiceError, match=r"'no-such-tool-xyz' is not installed: run `apt-get install -y xyz`"):
        require_binary("no-such-tool-xyz", "apt-get install -y xyz")


def test_port_in_use_is_reported_with_what_to_do():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServiceError, match=rf"Kafka: port {port} on 127.0.0.1 is already in use"):
            ensure_port_free(port, "Kafka")


def test_service_that_never_gets_ready_is_stopped_and_its_log_shown(tmp_path):
    script = "import time; print('booting slowly', flush=True); time.sleep(60)"
    process = ManagedProcess("slow", [sys.executable, "-c", script], tmp_path / "slow.log").start()
    with pytest.raises(ServiceError) as info:
        process.wait_ready(lambda: False, timeout=2)
    assert "did not become ready within 2 s and was stopped" in str(info.value)
    assert "booting slowly" in str(info.value)
    assert not pid_alive(process.pid)


def test_service_that_exits_while_starting_reports_its_code(tmp_path):
    script = "import sys; print('bad config', flush=True); sys.exit(3)"
    process = ManagedProcess("broken", [sys.executable, "-c", script], tmp_path / "broken.log").start()
    with pytest.raises(ServiceError, match=r"exited with code 3 while starting(.|\n)*bad config"):
        process.wait_ready(lambda: False, timeout=10)


def test_probe_errors_are_named_in_the_timeout_message(tmp_path):
    process = ManagedProcess("p", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log").start()

    def probe():
        raise ConnectionRefusedError("nobody home")

    with pytest.raises(ServiceError, match="ConnectionRefusedError: nobody home"):
        process.wait_ready(probe, timeout=1)


def test_prometheus_config_has_one_job_per_target_group():
    text = prometheus_config({"server": ["127.0.0.1:8000"], "app": ["127.0.0.1:1"]}, "2s", ["rules.yml"])
    assert '"job_name": "app"' in text and '"job_name": "server"' in text
    assert text.index('"app"') < text.index('"server"')
    assert '"scrape_interval": "2s"' in text and '"rules.yml"' in text
