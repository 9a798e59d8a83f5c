"""Safe rollout on a real server (two workers), real Kafka and a real MLflow registry, under load the whole time.

Three challengers that a gate would pass but that misbehave live (NaN on a slice of inputs, 20x and more slower,
scores far from the champion's on the same requests) are each rolled back automatically before reaching 100%,
with the champion alias restored, the version marked, the rollback counted; a good challenger goes through shadow,
5%, 25% to 100%; a registry rollback by hand reaches serving in one sensor tick. No request fails throughout, and
the answers users saw from each bad version are counted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import numpy as np
import onnxruntime as ort
import pytest
from kafka import KafkaConsumer
from mlflow.tracking import MlflowClient

from assets.mlflow_tracking import MlflowTracking
from assets.rollout import RolloutResource, rollout_sensor_for, rollout_tick
from domain.models import FRAUD
from features.model_declaration import RolloutDeclaration
from serving.deployment_plan import Deployment, read_deployment, write_deployment
from serving.rollout_controller import RolloutTarget
from serving.rollout_policy import ROLLBACK, divergence_limit
from serving.tiny_onnx_models import logistic_model, nan_slice_model, save, slow_twin_model
from tests.serving.serving_harness import CONFIG, LoadGenerator, ServerProcess, add_version, infer_body, wait_until
from training.registry import CHAMPION, REJECTED_TAG, alias_version, promotion_history, set_champion

POLICY = RolloutDeclaration(
    stages=(0, 5, 25, 100), sticky_key="card_id", min_requests=150, min_stage_seconds=2.0, max_stage_seconds=60
)
CHALLENGERS = {
    "nan_on_a_slice": (2, nan_slice_model(CONFIG, seed=1, category=3)),
    "slow": (3, slow_twin_model(CONFIG, seed=1, width=2048)),
    "shifted_scores": (4, logistic_model(CONFIG, seed=1, output_offset=3.0)),
}
GOOD = (5, logistic_model(CONFIG, seed=1, output_offset=0.05))


def card_request(index: int, sent: int) -> tuple[bytes, str]:
    """One infer request of a card (each client thread has its own 125 cards), tagged with the card."""
    card = f"card-{index}-{sent % 125}"
    return infer_body(1, seed=index * 1_000_003 + sent, parameters={"card_id": card}), card


class Users(LoadGenerator):
    """Four clients sending card requests; `since(mark)` gives (status, version, score, card) per answer."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server, threads=4, body=card_request)

    @property
    def transport_errors(self) -> list[str]:
        return self.errors

    def mark(self) -> int:
        return len(self.answers)

    def since(self, mark: int) -> list[tuple[int, str | None, float | None, str]]:
        seen = []
        for status, payload, card in self.answers[mark:]:
            ok = status == 200 and isinstance(payload, dict)
            version = payload["model_version"] if ok else None
            seen.append((status, version, payload["outputs"][0]["data"][0] if ok else None, card))
        return seen


def holdout_limit(stable: Path, challenger: Path) -> float:
    """The gate's calibration, here on the request distribution the users send: both engines on the same rows."""
    rows = [json.loads(infer_body(1, seed=s))["inputs"] for s in range(4000)]
    numeric = np.array([r[0]["data"] for r in rows], dtype=np.float32)
    categorical = np.array([r[1]["data"] for r in rows], dtype=np.int64)
    scores = [
        ort.InferenceSession(str(path)).run(None, {"numeric": numeric, "categorical": categorical})[0]
        for path in (stable, challenger)
    ]
    return POLICY.divergence_tolerance * divergence_limit(
        scores[0], scores[1], POLICY.divergence_window, POLICY.divergence_false_alarm
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mlflow_service, kafka_service):
    root = tmp_path_factory.mktemp("rollout")
    served, built = root / "served", root / "built"
    add_version(served, 1, logistic_model(CONFIG, seed=1))
    add_version(built, 1, logistic_model(CONFIG, seed=1))
    write_deployment(served, "fraud", Deployment({1: 100}, sequence=1))
    topic = f"predictions-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=mlflow_service.tracking_uri)
    registered = f"rollout-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(registered)
    run = client.create_run(client.create_experiment(f"rollout-test-{uuid.uuid4().hex[:8]}")).info.run_id
    client.log_text(run, "versions are served from the test's own repository", "model/README.txt")
    for _ in range(5):
        client.create_model_version(registered, source=f"runs:/{run}/model", run_id=run)
    set_champion(client, registered, "1", "first", "test stack")
    model = dataclasses.replace(FRAUD, registered_model=registered, rollout=POLICY)
    args = ("--workers", "2", "--kafka-bootstrap-servers", kafka_service.bootstrap_servers, "--prediction-topic", topic)
    with ServerProcess(served, root, *args) as server, Users(server) as users:
        yield {
            "server": server,
            "users": users,
            "client": client,
            "model": model,
            "registered": registered,
            "target": RolloutTarget(served, built, server.url),
            "kafka": kafka_service.bootstrap_servers,
            "topic": topic,
            "tracking_uri": mlflow_service.tracking_uri,
        }


def promote(stack, version: int, model) -> None:
    """What the gate and the engine build leave behind: an engine, the champion alias, and the divergence limit
    calibrated on the holdout, where each challenger behaved like the good one (so it passed the gate): what it
    does differently happens only live (a broken export, a train/serve skew, a slow node)."""
    target = stack["target"]
    add_version(target.build_repository, version, model)
    as_the_gate_saw_it = save(GOOD[1], target.build_repository.parent / "gate" / "challenger.onnx")
    limit = holdout_limit(target.build_repository / "fraud" / "1" / "model.onnx", as_the_gate_saw_it)
    evidence = {"divergence_limit": limit}
    set_champion(stack["client"], stack["registered"], str(version), "promote", "gate passed", evidence)


def run_rollout(stack, timeout_s: float = 90) -> list:
    """Controller ticks every half second until the rollout ends; returns every step."""
    steps = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step = rollout_tick(stack["model"], stack["client"], stack["target"])
        steps.append(step)
        if step.action in (ROLLBACK, "complete"):
            return steps
        time.sleep(0.5)
    raise AssertionError(f"the rollout did not end in {timeout_s} s: {[s.describe() for s in steps[-3:]]}")


def served_primary(server) -> str:
    return server.request("GET", "/v2/models/fraud")[1]["versions"][0]


def every_worker(server, check, answers: int = 8) -> bool:
    """`check(metadata)` holds on `answers` fresh connections in a row (each may reach the other worker)."""
    return all(check(server.request("GET", "/v2/models/fraud")[1]) for _ in range(answers))


def serves_only(server, version: str):
    """Until every worker serves `version` alone (each applies a deployment on its own poll)."""
    return wait_until(
        lambda: every_worker(server, lambda m: m["versions"] == [version] and "deployment" not in m), timeout=5
    )


@pytest.mark.parametrize("case", list(CHALLENGERS))
def test_a_challenger_that_misbehaves_live_is_rolled_back_before_it_reaches_all_traffic(stack, case):
    version, onnx_model = CHALLENGERS[case]
    server, users, client, registered = stack["server"], stack["users"], stack["client"], stack["registered"]
    rollbacks_before = read_deployment(stack["target"].served_repository, "fraud").rollbacks
    mark = users.mark()
    promote(stack, version, onnx_model)
    steps = run_rollout(stack)
    last = steps[-1]
    assert last.action == ROLLBACK, [s.describe() for s in steps]
    stages = [s.deployment.weights.get(version, 0) for s in steps if s.deployment is not None]
    assert max(stages) < 100, f"v{version} reached {max(stages)}% of the traffic"
    expected_reason = {
        "nan_on_a_slice": "error rate",
        "slow": "model latency",
        "shifted_scores": "score difference",
    }
    assert any(expected_reason[case] in r for r in last.reasons), last.reasons

    # complete: alias restored, version marked, traffic back within a reload (one tick), the rollback counted
    assert alias_version(client, registered, CHAMPION).version == "1"
    assert expected_reason[case] in client.get_model_version(registered, str(version)).tags[REJECTED_TAG]
    event = promotion_history(client, registered)[-1]
    assert event.action == "rollback" and event.to_version == "1" and event.evidence["challenger"]["requests"] > 0
    assert serves_only(server, "1")
    deployment = read_deployment(stack["target"].served_repository, "fraud")
    assert deployment.weights == {1: 100} and deployment.rollbacks == rollbacks_before + 1
    assert wait_until(
        lambda: f'flywheel_rollout_rollbacks{{model="fraud"}} {rollbacks_before + 1}.0' in server.metrics(), timeout=5
    )

    # what users saw: nothing failed, nothing invalid, and the bad version answered nobody
    answers = users.since(mark)
    statuses = Counter(status for status, *_ in answers)
    assert set(statuses) == {200}, statuses
    assert all(score is not None and math.isfinite(score) and 0 <= score <= 1 for _, _, score, _ in answers)
    by_version = Counter(v for _, v, *_ in answers)
    steps_said = [s.describe() for s in steps]
    assert by_version[str(version)] == 0, f"shadow caught it before any user saw v{version}: {by_version} {steps_said}"
    assert not users.transport_errors


def test_a_good_challenger_goes_through_every_stage_and_sticky_cards_stay(stack):
    version, onnx_model = GOOD
    server, users, client, registered = stack["server"], stack["users"], stack["client"], stack["registered"]
    mark = users.mark()
    promote(stack, version, onnx_model)
    steps = run_rollout(stack)
    assert steps[-1].action == "complete", [s.describe() for s in steps]
    shares = []
    for step in steps:
        if step.deployment is not None and step.changed:
            weights = step.deployment.weights
            shares.append("shadow" if step.deployment.shadow else weights.get(version, 0))
    assert shares == ["shadow", 5, 25, 100], shares
    assert serves_only(server, str(version))
    actions = [e.action for e in promotion_history(client, registered)[-3:]]
    assert actions == ["canary", "canary", "rollout"], actions
    answers = users.since(mark)
    assert {status for status, *_ in answers} == {200} and not users.transport_errors
    assert any(v == str(version) for _, v, *_ in answers)
    seen: dict[str, list[str]] = {}
    for _, served_by, _, card in answers:
        seen.setdefault(card, []).append(served_by)
    new = str(version)
    flipped_back = [c for c, seen_by in seen.items() if new in seen_by and "1" in seen_by[seen_by.index(new) :]]
    # sticky: once a card is on the canary it stays there as the canary grows (each worker applies a new stage on
    # its own poll, so a card may cross back once in the fraction of a second between two workers' switches)
    assert len(flipped_back) <= 0.05 * len(seen), f"{len(flipped_back)} of {len(seen)} cards went back to v1"

    # shadow predictions are in the prediction log, marked, beside the served ones
    consumer = KafkaConsumer(stack["topic"], bootstrap_servers=stack["kafka"], auto_offset_reset="earliest")
    records, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:  # the users keep the topic busy: read a while, not to its end
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(json.loads(m.value) for m in batch)
        if any(r.get("shadow") and r["model_version"] == version for r in records) and len(records) > 5000:
            break
    consumer.close()
    shadow = [r for r in records if r.get("shadow")]
    assert shadow and {r["model_version"] for r in shadow} >= {version}
    assert all(r["model_version"] != 1 for r in shadow), "the serving version is never marked shadow"
    assert any(r["model_version"] == 1 and not r.get("shadow") for r in records)


def test_a_registry_rollback_by_hand_reaches_serving_in_one_sensor_tick(stack):
    server, client, registered, target = stack["server"], stack["client"], stack["registered"], stack["target"]
    serving = served_primary(server)
    assert serving == str(GOOD[0]), "runs after the good challenger's rollout"
    command = [sys.executable, "-m", "training.registry", "--tracking-uri", stack["tracking_uri"]]
    subprocess.run([*command, "rollback", "--model", registered], check=True, capture_output=True, timeout=60)
    assert alias_version(client, registered, CHAMPION).version == "1"
    sensor = rollout_sensor_for([stack["model"]])
    resources = {
        "rollout": RolloutResource(
            served_repository=str(target.served_repository),
            build_repository=str(target.build_repository),
            server_url=target.server_url,
        ),
        "mlflow_tracking": MlflowTracking(tracking_uri=stack["tracking_uri"]),
    }
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    (observation,) = result.asset_events
    assert observation.asset_key == dg.AssetKey("fraud_deployment")
    assert observation.metadata["decision"].value == "follow"
    assert observation.metadata["weights"].value == {"1": 100}
    assert serves_only(server, "1"), "every worker answers with v1 within a reload"


def test_a_deployment_that_cannot_be_applied_is_refused_whole(stack):
    server, target = stack["server"], stack["target"]
    before = read_deployment(target.served_repository, "fraud")
    (target.served_repository / "fraud" / "deployment.json").write_text(
        json.dumps({"weights": {"1": 50, "9": 50}, "sequence": before.sequence + 1})
    )
    time.sleep(1.0)
    metadata = server.request("GET", "/v2/models/fraud")[1]
    assert metadata["versions"] == ["1"] and "deployment" not in metadata, "version 9 does not exist: nothing changed"
    write_deployment(target.served_repository, "fraud", before.next())
