"""The main job in CI size closes the loop: drift -> sensor -> retrain -> gate -> engine -> redeploy, no human.

Runs `tools/flywheel run --short` (real Kafka, MLflow, Prometheus, inference server and `dagster dev` with its
daemon ticking the sensors and the automation) with every model of the worked example (the fraud parent, its three
merchant segments and the dispute model); the drift hits one segment, and the summary, the instance, the registry
and the server must show that only that segment's model was retrained and redeployed while the others kept serving.
Then the negative: a deliberately worse challenger is trained and gated on the same stack, refused, and the
automation leaves the served version alone.
"""

import json
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient

from dataplane.lake_stages import history_days
from tools.local_stack import (
    MODELS,
    PRIMARY,
    REGISTERED_MODEL,
    REPO_ROOT,
    RETRAINING_TRIGGERS,
    Stack,
    alerts_seen,
    runs_table,
    served_version,
)
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
    cmd += ["--summary-json", str(summary_file), "--loop-timeout", "900", "--wait-for", DRIFTED]
    try:
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False)
        print(result.stdout[-20_000:])
        print(result.stderr[-5_000:], file=sys.stderr)
        assert result.returncode == 0, f"the main job failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
        yield state, json.loads(summary_file.read_text()), result.stdout
    finally:
        down(state)


def _stack(state: Path) -> Stack:
    records = ServiceRecord.load_all(state / "services")
    return Stack(state, {r.name: r.port for r in records}, records)


DRIFTED = "fraud_digital"
"""The model of the segment the main job's drift hits (friendly fraud: the fraud labels of small digital-goods payments
change, no input and no other label does)."""
DRIFTED_MODEL = next(m for m in MODELS if m.name == DRIFTED)


def test_a_drift_in_one_segment_retrains_and_redeploys_only_that_segments_model(main_job):
    state, summary, stdout = main_job
    stack = _stack(state)
    assert summary["loop"]["closed"], stdout[-3000:]
    assert summary["loop"]["model"] == DRIFTED

    declared = {m.name: m for m in MODELS}
    assert len(declared) >= 5 and any(m.segment for m in MODELS), "the example declares segments and a second task"
    assert any(m.spec != PRIMARY.spec for m in MODELS), "a second task with features of its own"
    # retraining runs: requested by a sensor (drift, or labeled quality) for one model, tagged with it
    drift_runs = [r for r in summary["runs"] if r["model"] and r["trigger"] in RETRAINING_TRIGGERS]
    assert [r["model"] for r in drift_runs] == [DRIFTED], f"one run, for the drifted segment only: {drift_runs}"
    assert summary["retrained_models"] == [DRIFTED]
    decisions = [d["decision"] for d in summary["loop"]["rollout"]]
    assert decisions[-1] == "complete" and "rollback" not in decisions, f"the retrained version rolled out: {decisions}"
    assert decisions.count("promote") == len(DRIFTED_MODEL.rollout.stages) - 2, "every canary stage was held in turn"
    (run,) = drift_runs
    assert run["status"] == "SUCCESS"
    assert {f"{DRIFTED}_model", f"{DRIFTED}_model_evaluation", "streamed_transactions"} <= set(run["assets"])
    assert {a for a in run["assets"] if a.endswith("_model")} == {f"{DRIFTED}_model"}, "it trains that model only"
    automation = [r for r in summary["runs"] if r["trigger"].startswith("automation")]
    deployed = {a for r in automation for a in r["assets"] if a.endswith("_deployment")}
    assert deployed == {f"{DRIFTED}_deployment"}, f"only the retrained segment redeploys: {deployed}"

    before, after = summary["served_before"], summary["served_versions"]
    assert before[DRIFTED] == 1, "the drifted segment had its first champion serving"
    unserved = [name for name, model in declared.items() if model.segment and before[name] is None]
    if unserved:  # a segment whose gate refused its first version: its traffic went to the parent
        assert f"{PRIMARY.name} v1" in summary["normal_traffic"]["by_version"], (unserved, summary["normal_traffic"])
    for name in declared:
        if name != DRIFTED:
            assert after[name] == before[name], f"{name} kept serving its version: {before} -> {after}"
    client = MlflowClient(stack.mlflow_uri)
    registered = declared[DRIFTED].registered_model
    champion = int(client.get_model_version_by_alias(registered, "champion").version)
    assert champion >= 2 and after[DRIFTED] == champion == served_version(stack.server_url, DRIFTED)
    assert run["created"] > summary["loop"]["drift_started"], "the retraining followed the drift"

    normal = summary["normal_traffic"]
    assert set(normal["by_version"]) <= {f"{m.name} v1" for m in MODELS}, normal["by_version"]
    assert f"{DRIFTED} v1" in normal["by_version"], "the parent's requests were routed to the segments"
    assert normal["drift_verdict"] in {"ok", "drift"}, "the drift sensor evaluated the normal traffic"
    assert normal["retraining_runs"] == 0, "normal traffic triggered no retraining (a lone alarm is debounced)"
    others = normal["also_scored"]
    assert others and all(o["scored"] > 0 and not o["failures"] for o in others.values()), others

    drifted = summary["drifted_traffic"]
    assert drifted["failures"] == {}, f"no request failed while the model was switched: {drifted['first_failure']}"
    quality = drifted["quality_by_version"]
    old, new = quality[f"{DRIFTED} v1"], quality[f"{DRIFTED} v{champion}"]
    assert new["positives"] > 0 and old["positives"] > 0
    assert new["pr_auc"] > old["pr_auc"], f"quality on the drifted segment's stream recovers: {quality}"


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


ADDED_MODEL = '''
"""A model added by declaration alone: nothing else in the repository is edited."""
from dataclasses import replace

from domain.models import FRAUD, MODELS as EXAMPLE
from features.model_declaration import GateDeclaration, ModelDeclaration

AMOUNT_WATCH = ModelDeclaration(
    name="amount_watch",
    spec=replace(FRAUD.spec, numeric=("amount", "card_amount_zscore"), categorical={}),
    numeric_features=tuple(f for f in FRAUD.numeric_features if f.name in ("amount", "card_amount_zscore")),
    gate=GateDeclaration(min_quality={"roc_auc": 0.5}),
)
MODELS = (*EXAMPLE, AMOUNT_WATCH)
'''


def test_a_model_added_by_declaration_alone_reaches_the_running_server(main_job, tmp_path):
    state, _, _ = main_job
    stack = _stack(state)
    (tmp_path / "added_models.py").write_text(ADDED_MODEL)
    env = stack.environment("tiny", 10)
    env["FLYWHEEL_MODELS"] = "added_models:MODELS"
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    # trained on the history only (the drifted stream since is long, and the model does not need it)
    last_day = history_days(state / "lake" / "history" / "transactions")[-1]
    cutoff = f"{date.fromisoformat(last_day) + timedelta(days=1)}T00:00:00+00:00"
    (tmp_path / "run.json").write_text(
        json.dumps({"ops": {"amount_watch_training_set": {"config": {"cutoff": cutoff}}}})
    )
    stages = ("training_set", "model", "model_evaluation", "serving_engine", "deployment")
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "assets.definitions"]
    cmd += ["-c", str(tmp_path / "run.json")]
    cmd += ["--select", ",".join(f"amount_watch_{stage}" for stage in stages)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    assert served_version(stack.server_url, "amount_watch") == 1, "the running server attached it, no restart"
    transaction = {
        "transaction_id": "t-added-1",
        "event_time": "2025-01-06T10:00:00+00:00",
        "card_id": "c00000001",
        "merchant_id": "m000001",
        "merchant_category": "grocery",
        "amount": 42.0,
        "country": "DE",
        "device_id": "c00000001-d0001",
        "channel": "pos",
    }
    request = urllib.request.Request(
        f"{stack.server_url}/models/amount_watch/score", json.dumps(transaction).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer = json.loads(reply.read())
    assert answer["model_name"] == "amount_watch" and answer["model_version"] == "1"
    assert 0.0 <= answer["score"] <= 1.0


def test_a_registry_rollback_on_the_running_stack_reaches_the_server_within_a_sensor_tick(main_job):
    """`python -m training.registry rollback`, as a user would run it on the stack the main job left running: the
    rollout sensor (in the stack's Dagster daemon) makes the server answer with the previous champion."""
    state, _, _ = main_job
    stack = _stack(state)
    registered = DRIFTED_MODEL.registered_model
    retrained = served_version(stack.server_url, DRIFTED_MODEL.served_name)
    assert retrained is not None and retrained >= 2
    cmd = [sys.executable, "-m", "training.registry", "--tracking-uri", stack.mlflow_uri, "rollback"]
    result = subprocess.run(
        [*cmd, "--model", registered], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    previous = int(MlflowClient(stack.mlflow_uri).get_model_version_by_alias(registered, "champion").version)
    assert previous < retrained
    started = time.monotonic()
    while time.monotonic() - started < 90:  # the rollout sensor ticks every 5 s in --short; the daemon adds its loop
        if served_version(stack.server_url, DRIFTED_MODEL.served_name) == previous:
            break
        time.sleep(1)
    assert served_version(stack.server_url, DRIFTED_MODEL.served_name) == previous, "serving followed the rollback"
    print(f"the server answered with v{previous} {time.monotonic() - started:.0f} s after the registry rollback")


def test_the_drifted_models_alert_goes_pending_then_firing_in_prometheus_and_reaches_the_pager(main_job):
    """The stack's Prometheus evaluates the repository's rules on the pipeline exporter's snapshots, and
    Alertmanager routes what fires to the pager: the drifted segment's labeled-quality (or drift) alert did both."""
    state, summary, _ = main_job
    stack = _stack(state)
    alerts = alerts_seen(stack, summary["loop"]["drift_started"])
    assert summary["alerts"]["prometheus"], "the main job reported the alerts Prometheus evaluated"
    watched = {"FlywheelLabeledQualityDrop": "ml-pager", "FlywheelFeatureDrift": "ml-tickets"}
    key = DRIFTED_MODEL.registered_model
    mine = [a for a in alerts["prometheus"] if a["model"] == key and a["alert"] in watched]
    fired = [a for a in mine if "pending" in a and "firing" in a and a["pending"] < a["firing"]]
    assert fired, f"one of {sorted(watched)} for {key} went pending, then firing: {alerts['prometheus']}"
    paged = {
        (page["receiver"], alert.split()[0])
        for page in alerts["pager"]
        if page["status"] == "firing"
        for alert in page["alerts"]
        if alert.split()[-1] == key
    }
    assert {(watched[a["alert"]], a["alert"]) for a in fired} & paged, f"routed to the pager: {alerts['pager']}"
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1/targets", timeout=5) as reply:
        targets = json.load(reply)["data"]["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert health.get("pipeline") == "up" and health.get("inference-server") == "up", health
