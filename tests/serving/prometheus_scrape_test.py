"""A real Prometheus scrapes the server: request counts by model/version/status, latency and batch histograms."""

from tests.serving.serving_harness import ServerProcess, add_version, infer_body, wait_until


def test_prometheus_scrapes_serving_metrics(tmp_path, prometheus_service):
    root = tmp_path / "models"
    add_version(root, 3)
    with ServerProcess(root, tmp_path) as server:
        for i in range(25):
            assert server.request("POST", "/v2/models/fraud/infer", infer_body(seed=i))[0] == 200
        assert server.request("POST", "/v2/models/fraud/infer", b"{")[0] == 400
        prometheus_service.reload({"inference": [f"127.0.0.1:{server.port}"]})

        def value(promql: str) -> float | None:
            result = prometheus_service.query(promql)
            return float(result[0]["value"][1]) if result else None

        ok = 'flywheel_inference_requests_total{job="inference",model="fraud",version="3",status="200"}'
        assert wait_until(lambda: value(ok) == 25, timeout=60), "Prometheus never saw the 25 answered requests"
        assert value('flywheel_inference_requests_total{status="400"}') == 1
        assert value('flywheel_model_loaded_version{model="fraud"}') == 3
        assert value("sum(flywheel_inference_batch_size_count)") >= 1
        assert value("histogram_quantile(0.99, sum by (le) (flywheel_inference_request_duration_seconds_bucket))") > 0
        assert value("sum(flywheel_inference_score_count)") == 25
