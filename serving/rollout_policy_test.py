"""Rollout decisions from stage evidence: rollback on errors, latency, divergence or labeled quality, hold until the
evidence is in (saying why), promote otherwise; the divergence limit holds its false-alarm rate; evidence is read
from the exposition the server's own metrics write."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.model_declaration import RolloutDeclaration
from serving.deployment_plan import Deployment
from serving.metrics import ServingMetrics
from serving.rollout_policy import (
    HOLD,
    PROMOTE,
    ROLLBACK,
    StageEvidence,
    VersionEvidence,
    decide,
    divergence_limit,
    labeled_evidence,
    quantile,
    stage_evidence,
)

POLICY = RolloutDeclaration(min_requests=200, min_stage_seconds=30, max_stage_seconds=600)


def ev(requests: int, errors: int = 0, runs: int | None = None, p50: float | None = None, p99: float = 0.001):
    return VersionEvidence(requests, errors, 0, requests if runs is None else runs, p50, p99)


HEALTHY = VersionEvidence(requests=1000, errors=0, runs=1000, p50_seconds=0.0001, p99_seconds=0.001)


def evidence(challenger: VersionEvidence, **fields) -> StageEvidence:
    return StageEvidence(stable=HEALTHY, challenger=challenger, **fields)


def test_promotes_when_the_evidence_is_in_and_good():
    good = evidence(ev(300, p99=0.0012), difference_rows=300, mean_difference=0.01)
    decision = decide(POLICY, good, 40, 0.02)
    assert decision.action == PROMOTE
    assert any("0.0100 <= 0.0200" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("challenger", "age", "said"),
    [
        (ev(120, p99=0.001), 40, "120 of 200 requests"),
        (ev(300, p99=0.001), 10, "10 of 30 s"),
        (
            ev(3, p99=0.001),
            900,
            "no evidence: 3 of 200 requests after 900 s, past the 600 s hold",
        ),
    ],
)
def test_holds_until_its_evidence_is_in_and_says_why(challenger, age, said):
    decision = decide(POLICY, evidence(challenger), age, None)
    assert decision.action == HOLD and any(said in r for r in decision.reasons)


def test_rolls_back_on_errors_at_once_without_waiting_for_the_stage():
    decision = decide(POLICY, evidence(ev(40, 8, p99=0.001)), 2, None)
    assert decision.action == ROLLBACK and "error rate 20.00% (8 of 40)" in decision.reasons[0]
    assert decide(POLICY, evidence(ev(400, 1, p99=0.001)), 40, None).action == PROMOTE, "one is noise"


def test_rolls_back_a_slow_version_but_not_microsecond_noise():
    slow = decide(POLICY, evidence(ev(600, p99=0.041)), 40, None)
    assert slow.action == ROLLBACK and "p99 model latency 41.000 ms per batch against 1.000 ms" in slow.reasons[0]
    typical = decide(POLICY, evidence(ev(300, p50=0.0008, p99=0.0015)), 40, None)
    assert (
        typical.action == ROLLBACK and "median model latency 0.800 ms per batch against 0.100 ms" in typical.reasons[0]
    )
    fast_model = dataclasses.replace(HEALTHY, p50_seconds=0.00001, p99_seconds=0.0001)
    noisy = ev(300, p50=0.00004, p99=0.0004)
    noise = decide(POLICY, StageEvidence(fast_model, noisy), 40, None)
    assert noise.action == PROMOTE, "4x of 10 us and of 0.1 ms are under the slacks"
    few_runs = decide(POLICY, evidence(ev(300, runs=300, p99=0.041)), 40, None)
    assert few_runs.action == PROMOTE, "p99 of 300 runs rests on three: not yet evidence"
    busy = decide(POLICY, evidence(ev(600, p50=0.0004, p99=0.02)), 40, None)
    assert busy.action == PROMOTE, "a busy machine's stalls (0.3 ms on the median, 19 ms on p99) are in the slacks"


def test_rolls_back_on_score_divergence_only_with_enough_paired_rows():
    far = evidence(ev(300, p99=0.001), difference_rows=250, mean_difference=0.3)
    assert decide(POLICY, far, 40, 0.02).action == ROLLBACK
    few = evidence(ev(300, p99=0.001), difference_rows=50, mean_difference=0.3)
    assert decide(POLICY, few, 40, 0.02).action == PROMOTE, "50 rows is below the calibrated window"
    waiting = decide(POLICY, few, 40, 0.02, shadow=True)
    assert waiting.action == HOLD and "50 of 200 paired shadow rows" in waiting.reasons[0], "shadow waits for them"


def test_rolls_back_on_labeled_quality_once_enough_labels_matured():
    labeled = {"stable": (800, 0.60), "challenger": (700, 0.50)}
    worse = decide(POLICY, evidence(ev(300, p99=0.001), labeled=labeled), 40, None)
    assert worse.action == ROLLBACK and "labeled quality 0.5000 on 700 rows" in worse.reasons[0]
    immature = {"stable": (800, 0.60), "challenger": (100, 0.10)}
    immature_evidence = evidence(ev(300, p99=0.001), labeled=immature)
    assert decide(POLICY, immature_evidence, 40, None).action == PROMOTE


def test_labeled_evidence_judges_both_versions_on_the_rollouts_own_labeled_rows():
    rng = np.random.default_rng(3)
    labels = rng.random(2000) < 0.1
    good = np.where(labels, rng.uniform(0.5, 1, 2000), rng.uniform(0, 0.6, 2000))
    frame = pd.DataFrame(
        {
            "model_version": np.repeat([1, 2], 2000),
            "time": np.tile(np.linspace(0, 200, 2000), 2),
            "score": np.concatenate([good, rng.random(2000)]),
            "label": np.tile(np.where(np.arange(2000) % 10 == 0, np.nan, labels.astype(float)), 2),
        }
    )
    found = labeled_evidence(frame, "pr_auc", stable=1, challenger=2, since=100.0)
    (stable_rows, stable_metric), (challenger_rows, challenger_metric) = found["stable"], found["challenger"]
    assert stable_rows == challenger_rows == 900, "pending labels and rows before the rollout are left out"
    assert stable_metric > 0.5 > challenger_metric
    assert labeled_evidence(frame.assign(label=0.0), "pr_auc", 1, 2, 0.0) == {}, "one class: no verdict"
    assert labeled_evidence(None, "pr_auc", 1, 2, 0.0) == {}


def test_the_divergence_limit_holds_its_false_alarm_rate_on_fresh_pairs():
    rng = np.random.default_rng(7)
    champion = rng.beta(1, 20, size=40_000)
    challenger = np.clip(champion + rng.normal(0, 0.01, size=champion.size), 0, 1)
    limit = divergence_limit(champion[:20_000], challenger[:20_000], window=200, false_alarm=0.01)
    fresh = np.abs(challenger[20_000:] - champion[20_000:])
    windows = fresh[: len(fresh) // 200 * 200].reshape(-1, 200).mean(axis=1)
    assert (windows > limit).mean() <= 0.03
    shifted = np.abs(np.clip(champion[20_000:] + 0.05, 0, 1) - champion[20_000:])[:200].mean()
    assert shifted > 3 * limit
    with pytest.raises(ValueError, match="cannot calibrate windows of 200 rows"):
        divergence_limit(champion[:50], challenger[:50], window=200, false_alarm=0.01)


def test_quantile_matches_promql_interpolation():
    assert quantile({0.001: 50.0, 0.002: 100.0, float("inf"): 100.0}, 0.5) == pytest.approx(0.001)
    assert quantile({0.001: 0.0, 0.002: 100.0, float("inf"): 100.0}, 0.99) == pytest.approx(0.00199)
    assert quantile({}, 0.99) is None


def test_stage_evidence_reads_what_the_server_metrics_write():
    metrics = ServingMetrics()
    metrics.deployment_applied("m", Deployment({3: 100}, shadow=(4,), sequence=9, rollbacks=2), None)
    for _ in range(90):
        metrics.rollout_outcome("m", 3, "served", 9, "ok")
        metrics.rollout_outcome("m", 4, "shadow", 9, "ok")
        metrics.rollout_run("m", 3, "served", 9, 0.00008)
        metrics.rollout_run("m", 4, "shadow", 9, 0.004)
    for _ in range(10):
        metrics.rollout_outcome("m", 4, "shadow", 9, "invalid")
        metrics.rollout_outcome("m", 4, "shadow", 9, "dropped")
        metrics.rollout_outcome("m", 4, "shadow", 8, "error")  # an earlier stage: not this one's evidence
        metrics.rollout_run("m", 4, "shadow", 8, 0.1)
    metrics.observe_difference("m", 4, 9, np.array([0.1, 0.3]))
    found = stage_evidence(metrics.exposition().decode(), "m", 9, stable=3, challenger=4)
    assert found.stable.requests == 90 and found.stable.errors == 0
    assert (found.challenger.requests, found.challenger.errors, found.challenger.dropped) == (100, 10, 10)
    assert 0.0025 < found.challenger.p99_seconds <= 0.01 and 0.00005 < found.stable.p99_seconds <= 0.0001
    assert found.stable.runs == 90 and found.challenger.runs == 90
    assert found.difference_rows == 2 and found.mean_difference == pytest.approx(0.2)
    assert 'flywheel_rollout_rollbacks{model="m"} 2.0' in metrics.exposition().decode()
