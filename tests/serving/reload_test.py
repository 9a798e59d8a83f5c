"""Hot reload under load drops nothing; corrupted or wrong-signature versions are refused while the old one serves."""

import re

import pytest

from serving.model_config import contract_config
from serving.synthetic_data import reference_spec
from serving.tiny_onnx_models import logistic_model
from tests.serving.serving_harness import LoadGenerator, ServerProcess, add_version, infer_body, wait_until


@pytest.fixture
def repository(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1)
    return root


def served_version(server) -> str:
    return server.request("GET", "/v2/models/fraud")[1]["versions"][0]


def test_reload_under_load_fails_no_request(repository, tmp_path):
    with ServerProcess(repository, tmp_path) as server, LoadGenerator(server, threads=6) as load:
        assert wait_until(lambda: len(load.outcomes) > 200)
        add_version(repository, 2)
        assert wait_until(lambda: served_version(server) == "2")
        seen_v2 = len(load.outcomes)
        assert wait_until(lambda: len(load.outcomes) > seen_v2 + 200)
        metrics = server.metrics()
    statuses = {status for status, _ in load.outcomes}
    versions = [version for _, version in load.outcomes]
    assert load.errors == [], "no connection was dropped"
    assert statuses == {200}, f"every request succeeded, got statuses {statuses}"
    assert versions[0] == "1" and versions[-1] == "2"
    switch = versions.index("2")
    assert set(versions[switch + 50 :]) == {"2"}, "after the switch, the new version answers"
    assert 'flywheel_model_reloads_total{model="fraud",outcome="loaded",version="2"} 1.0' in metrics
    assert 'flywheel_model_loaded_version{model="fraud"} 2.0' in metrics


def test_corrupted_and_wrong_signature_versions_are_refused(repository, tmp_path):
    with ServerProcess(repository, tmp_path) as server, LoadGenerator(server, threads=2) as load:
        corrupted = add_version(repository, 2)
        (corrupted / "model.onnx").write_bytes(b"\x00not an onnx model\xff" * 100)
        assert wait_until(lambda: 'outcome="refused",version="2"' in server.metrics())
        assert served_version(server) == "1"

        wrong = contract_config("fraud", reference_spec(n_numeric=5))
        add_version(repository, 3, model=logistic_model(wrong, seed=3), config=wrong)
        assert wait_until(lambda: 'outcome="refused",version="3"' in server.metrics())
        assert served_version(server) == "1"
        status, body, _ = server.request("POST", "/v2/models/fraud/infer", infer_body())
        assert status == 200 and body["model_version"] == "1"
    assert load.errors == [] and {s for s, _ in load.outcomes} == {200}
    assert set(v for _, v in load.outcomes) == {"1"}
    log = (tmp_path / f"server-{server.port}.log").read_text()
    assert re.search(r"version 2: ONNX Runtime cannot load", log)
    assert "version 3: its signature" in log


def test_a_server_started_before_the_first_deployment_serves_it_once_published(tmp_path):
    empty = tmp_path / "models"
    with ServerProcess(empty, tmp_path, "--model", "fraud", wait_for="/v2/health/live") as server:
        assert server.request("GET", "/v2/health/ready")[0] != 200, "nothing to serve yet: not ready"
        status, body, _ = server.request("POST", "/v2/models/fraud/infer", infer_body())
        assert status == 404 and "not served here" in body["error"]
        add_version(empty, 1)
        assert wait_until(lambda: server.request("GET", "/v2/health/ready")[0] == 200)
        status, body, _ = server.request("POST", "/v2/models/fraud/infer", infer_body())
        assert status == 200 and body["model_version"] == "1"
