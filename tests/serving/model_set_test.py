"""One server, a changing set of models: a model published while serving is served without a restart, a removed one
answers 404 naming the models still served, and each model's memory and version are reported per model."""

import shutil

from serving.model_config import contract_config
from serving.synthetic_data import reference_spec
from tests.serving.serving_harness import ServerProcess, add_version, infer_body, wait_until

SECOND = contract_config("second", reference_spec())


def _memory(metrics: str, model: str) -> float:
    prefix = f'flywheel_model_memory_bytes{{model="{model}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else -1.0


def test_models_come_and_go_without_a_restart(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1)
    with ServerProcess(root, tmp_path) as server:
        pid = server.process.pid
        assert server.request("GET", "/v2/models/second")[0] == 404
        add_version(root, 4, config=SECOND)
        assert wait_until(lambda: server.request("GET", "/v2/models/second/ready")[0] == 200)
        status, body, _ = server.request("POST", "/v2/models/second/infer", infer_body())
        assert status == 200 and body["model_name"] == "second" and body["model_version"] == "4"
        assert server.request("POST", "/v2/models/fraud/infer", infer_body())[0] == 200, "the first model still serves"
        metrics = server.metrics()
        assert 'flywheel_model_loaded_version{model="second"} 4.0' in metrics
        assert _memory(metrics, "fraud") >= 0 and _memory(metrics, "second") >= 0, "memory is reported per model"

        shutil.rmtree(root / "fraud")
        assert wait_until(lambda: server.request("GET", "/v2/models/fraud")[0] == 404)
        status, body, _ = server.request("POST", "/v2/models/fraud/infer", infer_body())
        assert status == 404 and "served models: ['second']" in body["error"]
        assert server.request("POST", "/v2/models/second/infer", infer_body())[0] == 200
        assert server.process.pid == pid, "no restart"
