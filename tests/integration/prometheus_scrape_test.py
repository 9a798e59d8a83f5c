"""A real Prometheus scrapes a prometheus-client exporter and answers a query for its metric."""

import time

from prometheus_client import CollectorRegistry, Counter, start_http_server

from tools.services.process import free_port


def test_prometheus_scrapes_exporter_and_answers_query(prometheus_service):
    registry = CollectorRegistry()
    counter = Counter("flywheel_roundtrip_events", "events seen by the round-trip test", ["kind"], registry=registry)
    counter.labels(kind="a").inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus_service.reload({"roundtrip": [f"127.0.0.1:{port}"]})
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline and not result:
            result = prometheus_service.query('flywheel_roundtrip_events_total{job="roundtrip",kind="a"}')
            time.sleep(0.5)
        assert result, "Prometheus never returned the exporter's metric"
        assert float(result[0]["value"][1]) == 7.0
    finally:
        server.shutdown()
        thread.join(timeout=5)
