"""The main job in CI size closes the loop: drift -> sensor -> retrain -> gate -> engine -> redeploy, no human.

Runs `tools/flywheel run --short` (real Kafka, MLflow, Prometheus, inference server and `dagster dev` with its
daemon ticking the sensors and the automation), then checks the summary against the instance, the registry and
the server. Then the negative: a deliberately worse challenger is trained and gated on the same stack, refused,
and the automation leaves the served version alone.
"""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient

from tools.local_stack import PRIMARY, REGISTERED_MODEL, REPO_ROOT, Stack, runs_table, served_version
from tools.services.cli import down
from tools.services.process import ServiceRecord

WORSE_TRAINING = """\
name: worse
seed: 7
recall_at_fpr: 0.05
split: {train_fraction: 0.6, validation_fraction: 0.2}
model: {hidden_sizes: [4], embedding_dim: 2, dropout: 0.0}
optim: {learning_rate: 1.0e-7, weight_decay: 0.0, batch_size: 128, epochs: 1, pos_weight: null, max_pos_weight: 50.0}
trainer: {accelerator: cpu, devices: 1, num_nodes: 1, precision: auto, deterministic: true,
          enable_progress_bar: false, select_best_epoch: true}
"""


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """Runs the main job once (services left up for the negative test) and stops everything afterwards."""
    state = tmp_path_factory.mktemp("stack")
    summary_file = state / "summary.json"
    cmd = [sys.executable, "-m", "tools.local_stack", "--short", "--state-dir", str(state), "--free-ports"]
    cmd += ["--summary-json", str(summary_file), "--loop-timeout", "600"]
    try:
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, check=False)
        print(result.stdout[-20_000:])
        print(result.stderr[-5_000:], file=sys.stderr)
        assert result.returncode == 0, f"the main job failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
        yield state, json.loads(summary_file.read_text()), result.stdout
    finally:
        down(state)


def _stack(state: Path) -> Stack:
    records = ServiceRecord.load_all(state / "services")
    return Stack(state, {r.name: r.port for r in records}, records)


def test_a_drift_episode_retrains_promotes_and_redeploys_without_a_human(main_job):
    state, summary, stdout = main_job
    stack = _stack(state)
    assert summary["loop"]["closed"], stdout[-3000:]

    drift_runs = [r for r in summary["runs"] if r["trigger"] == "drift sensor"]
    assert len(drift_runs) == 1, f"one drift episode gives one retraining run: {summary['runs']}"
    assert drift_runs[0]["status"] == "SUCCESS"
    name = PRIMARY.name
    assert {f"{name}_model", f"{name}_model_evaluation", "streamed_transactions"} <= set(drift_runs[0]["assets"])
    assert drift_runs[0]["model"] == name, "the retraining run names the model it retrains"
    automation = [r for r in summary["runs"] if r["trigger"].startswith("automation")]
    deployed = {a for r in automation for a in r["assets"]}
    assert {f"{name}_serving_engine", f"{name}_deployment"} <= deployed, summary["runs"]

    client = MlflowClient(stack.mlflow_uri)
    champion = int(client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version)
    assert champion >= 2, "the retrained challenger was promoted"
    assert served_version(stack.server_url) == champion == summary["served_version"]
    normal = summary["normal_traffic"]
    assert list(normal["by_version"]) == ["1"], "normal traffic was served by the first champion"
    assert normal["drift_verdict"] in {"ok", "drift"}, "the drift sensor evaluated the normal traffic"
    assert normal["retraining_runs"] == 0, "normal traffic triggered no retraining (a lone alarm is debounced)"
    assert drift_runs[0]["created"] > summary["loop"]["drift_started"], "the retraining followed the drift"

    drifted = summary["drifted_traffic"]
    assert drifted["failures"] == {}, f"no request failed while the model was switched: {drifted['first_failure']}"
    quality = drifted["quality_by_version"]
    old, new = quality["1"], quality[str(champion)]
    assert new["frauds"] > 0 and old["frauds"] > 0
    assert new["pr_auc"] > old["pr_auc"], f"quality on the drifted stream recovers: {quality}"


def test_a_worse_challenger_is_refused_and_the_champion_keeps_serving(main_job, tmp_path):
    state, summary, _ = main_job
    stack = _stack(state)
    serving = served_version(stack.server_url)
    client = MlflowClient(stack.mlflow_uri)
    champion_before = client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version
    (tmp_path / "worse.yaml").write_text(WORSE_TRAINING)
    (tmp_path / "run.json").write_text(
        json.dumps({"ops": {f"{PRIMARY.name}_model": {"config": {"training_config": str(tmp_path / "worse.yaml")}}}})
    )
    gate_started = time.time()
    env = stack.environment("tiny", 10)
    selection = f"{PRIMARY.name}_model,{PRIMARY.name}_model_evaluation"
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "--select", selection]
    cmd += ["-m", "assets.definitions", "-c", str(tmp_path / "run.json")]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    worse = max(int(v.version) for v in client.search_model_versions(f"name='{REGISTERED_MODEL}'"))
    decision = client.get_model_version(REGISTERED_MODEL, str(worse)).tags["gate_decision"]
    assert decision not in {"promote", "first"}, f"the worse challenger v{worse} was {decision}"
    assert client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version == champion_before

    time.sleep(35)  # several automation ticks (10 s each in --short) see the gate run
    later = [r for r in runs_table(state / "dagster", gate_started) if f"{PRIMARY.name}_serving_engine" in r["assets"]]
    assert later == [], f"a refused challenger must not redeploy anything: {later}"
    assert served_version(stack.server_url) == serving
    with urllib.request.urlopen(f"{stack.server_url}/v2/health/ready", timeout=5) as reply:
        assert reply.status == 200
    with dg.DagsterInstance.from_config(str(state / "dagster")) as instance:
        deployed = instance.get_latest_materialization_event(dg.AssetKey(f"{PRIMARY.name}_deployment"))
    assert deployed is not None and deployed.timestamp < gate_started, "the deployment must not be rematerialised"
