"""Rollout decisions: promote, hold or roll back a new version from live evidence (pure logic, no I/O).

The evidence of a stage is what the server's metrics say about the two versions in that stage alone (its metrics
carry the deployment's sequence number): requests, failed or invalid answers, median and p99 time of the runtime
call per batch (measured inside the call, so queueing and the other version's traffic do not count; the slacks
absorb batch-size differences between a shadow's coalesced batches and a canary's small ones), and in the shadow
stage the mean |score difference| on the same requests, whose limit is calibrated on the gate's holdout pairs
(`divergence_limit`) rather than guessed. Labeled quality joins the evidence where enough labels have matured.
Rollback wins over everything and needs no minimum stage time: bad evidence is acted on at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import average_precision_score, roc_auc_score

from features.model_declaration import RolloutDeclaration

PROMOTE = "promote"
HOLD = "hold"
ROLLBACK = "rollback"
MIN_ERRORS_FOR_ROLLBACK = 5
"""Failed answers the new version must have given before its error rate can roll it back (one is noise)."""
MIN_RUNS_FOR_MEDIAN = 50
"""Model runs per version before their median run times are compared."""
MIN_RUNS_FOR_P99 = 500
"""Model runs per version before their p99 run times are compared (fewer make p99 little more than the maximum,
and one descheduled run on a busy machine would decide)."""


@dataclass(frozen=True)
class VersionEvidence:
    """One version's answers in the current stage."""

    requests: int = 0
    """Requests it scored (served or shadow), dropped ones excluded."""
    errors: int = 0
    """Of those, runs that failed or gave NaN or out-of-range scores."""
    dropped: int = 0
    """Mirrored requests it never scored because its queue was full."""
    runs: int = 0
    """Model runs (batches) it made."""
    p50_seconds: float | None = None
    """Median runtime time of one batch (None without runs)."""
    p99_seconds: float | None = None
    """p99 runtime time of one batch (None without runs)."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class StageEvidence:
    """What one stage has shown so far about the serving version and the new one."""

    stable: VersionEvidence
    challenger: VersionEvidence
    difference_rows: int = 0
    """Shadow rows scored by both versions."""
    mean_difference: float | None = None
    """Mean |challenger - stable| score on those rows."""
    labeled: dict = field(default_factory=dict)
    """{"stable": (rows, metric), "challenger": (rows, metric)} from matured labels, where there are any."""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    action: str
    reasons: tuple[str, ...]


def decide(
    policy: RolloutDeclaration,
    evidence: StageEvidence,
    stage_seconds: float,
    divergence_limit: float | None,
    shadow: bool = False,
) -> Decision:
    """Promote to the next stage, hold, or roll back, with the reasons (the sensor's skip reason or the record).
    In the `shadow` stage with a divergence limit, the stage also waits for its window of paired rows."""
    stable, challenger = evidence.stable, evidence.challenger
    bad = []
    rate_gap = challenger.error_rate - stable.error_rate
    if challenger.errors >= MIN_ERRORS_FOR_ROLLBACK and rate_gap > policy.max_error_rate_increase:
        bad.append(
            f"error rate {challenger.error_rate:.2%} ({challenger.errors} of {challenger.requests}) against "
            f"{stable.error_rate:.2%} serving; allowed +{policy.max_error_rate_increase:.2%}"
        )
    runs = min(challenger.runs, stable.runs)
    for label, new, old, slack, needed in (
        ("median", challenger.p50_seconds, stable.p50_seconds, policy.median_slack_seconds, MIN_RUNS_FOR_MEDIAN),
        ("p99", challenger.p99_seconds, stable.p99_seconds, policy.p99_slack_seconds, MIN_RUNS_FOR_P99),
    ):
        if runs < needed or new is None or old is None:
            continue
        if new > policy.max_latency_ratio * old and new - old > slack:
            bad.append(
                f"{label} model latency {new * 1e3:.3f} ms per batch against {old * 1e3:.3f} ms serving "
                f"({challenger.runs} and {stable.runs} runs); allowed {policy.max_latency_ratio:g}x and "
                f"+{slack * 1e3:g} ms"
            )
    if (
        divergence_limit is not None
        and evidence.mean_difference is not None
        and evidence.difference_rows >= policy.divergence_window
        and evidence.mean_difference > divergence_limit
    ):
        bad.append(
            f"mean |score difference| {evidence.mean_difference:.4f} on {evidence.difference_rows} shadowed rows "
            f"against a calibrated limit of {divergence_limit:.4f}"
        )
    quality = _quality_gap(policy, evidence.labeled)
    if quality is not None and quality[0] > policy.max_quality_drop:
        bad.append(quality[1])
    if bad:
        return Decision(ROLLBACK, tuple(bad))
    waiting = []
    if challenger.requests < policy.min_requests:
        if stage_seconds >= policy.max_stage_seconds:
            waiting.append(
                f"no evidence: {challenger.requests} of {policy.min_requests} requests after {stage_seconds:.0f} s, "
                f"past the {policy.max_stage_seconds:.0f} s hold; the stage holds until traffic arrives"
            )
        else:
            waiting.append(f"{challenger.requests} of {policy.min_requests} requests")
    if shadow and divergence_limit is not None and evidence.difference_rows < policy.divergence_window:
        waiting.append(f"{evidence.difference_rows} of {policy.divergence_window} paired shadow rows")
    if stage_seconds < policy.min_stage_seconds:
        waiting.append(f"{stage_seconds:.0f} of {policy.min_stage_seconds:.0f} s")
    if waiting:
        return Decision(HOLD, tuple(waiting))
    good = [
        f"{challenger.requests} requests, error rate {challenger.error_rate:.2%} (serving {stable.error_rate:.2%})",
    ]
    if challenger.p99_seconds is not None and stable.p99_seconds is not None:
        good.append(f"p99 {challenger.p99_seconds * 1e3:.2f} ms (serving {stable.p99_seconds * 1e3:.2f} ms)")
    if evidence.mean_difference is not None and divergence_limit is not None:
        good.append(f"mean |score difference| {evidence.mean_difference:.4f} <= {divergence_limit:.4f}")
    if quality is not None:
        good.append(quality[1])
    return Decision(PROMOTE, tuple(good))


def _quality_gap(policy: RolloutDeclaration, labeled: dict) -> tuple[float, str] | None:
    if "stable" not in labeled or "challenger" not in labeled:
        return None
    (stable_rows, stable_metric), (challenger_rows, challenger_metric) = labeled["stable"], labeled["challenger"]
    if min(stable_rows, challenger_rows) < policy.min_labeled_rows:
        return None
    gap = stable_metric - challenger_metric
    return gap, (
        f"labeled quality {challenger_metric:.4f} on {challenger_rows} rows against {stable_metric:.4f} serving "
        f"({stable_rows} rows); allowed drop {policy.max_quality_drop}"
    )


def divergence_limit(
    stable_scores: np.ndarray, challenger_scores: np.ndarray, window: int, false_alarm: float, draws: int = 4000
) -> float:
    """The limit on the mean |score difference| over `window` paired rows: the (1 - false_alarm) quantile of that
    statistic over windows drawn from pairs where the challenger was fine (the gate's holdout). Live windows of
    an unchanged challenger exceed it with probability about `false_alarm`."""
    differences = np.abs(np.asarray(challenger_scores, float) - np.asarray(stable_scores, float)).reshape(-1)
    if len(differences) < window:
        raise ValueError(f"{len(differences)} holdout pairs cannot calibrate windows of {window} rows")
    rng = np.random.default_rng(0)
    means = differences[rng.integers(0, len(differences), size=(draws, window))].mean(axis=1)
    return float(np.quantile(means, 1 - false_alarm))


def labeled_evidence(joined, metric: str, stable: int, challenger: int, since: float) -> dict:
    """{"stable": (rows, metric), "challenger": (rows, metric)} from the feedback join's labeled predictions
    (columns model_version, time, score, label: NaN while pending) made since the rollout started, when the shadow
    scored the same requests as the serving version; a version without both classes among its labeled rows is
    left out. `metric` is the gate's: pr_auc, roc_auc (anything else: ROC-AUC)."""
    if joined is None or len(joined) == 0 or not {"model_version", "time", "score", "label"} <= set(joined.columns):
        return {}
    recent = joined[(joined["time"] >= since) & joined["label"].notna()]
    labeled = {}
    for role, version in (("stable", stable), ("challenger", challenger)):
        rows = recent[recent["model_version"] == version]
        labels = rows["label"].to_numpy(dtype=np.int64)
        if not 0 < labels.sum() < len(labels):
            continue
        scores = rows["score"].to_numpy(dtype=np.float64)
        value = average_precision_score(labels, scores) if metric == "pr_auc" else roc_auc_score(labels, scores)
        labeled[role] = (len(rows), float(value))
    return labeled


# ------------------------------------------------------------------ evidence from the server's /metrics


def stage_evidence(metrics_text: str, model: str, sequence: int, stable: int, challenger: int) -> StageEvidence:
    """The stage's evidence from the server's Prometheus exposition (aggregated over its workers)."""
    counts: dict[tuple[int, str], float] = {}
    buckets: dict[int, dict[float, float]] = {}
    difference_sum = difference_count = 0.0
    wanted = {str(stable), str(challenger)}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") != model or labels.get("sequence") != str(sequence):
                continue
            if labels.get("version") not in wanted:
                continue
            version = int(labels["version"])
            if sample.name == "flywheel_rollout_requests_total":
                key = (version, labels["outcome"])
                counts[key] = counts.get(key, 0.0) + sample.value
            elif sample.name == "flywheel_rollout_run_seconds_bucket":
                per_version = buckets.setdefault(version, {})
                bound = float(labels["le"])
                per_version[bound] = per_version.get(bound, 0.0) + sample.value
            elif sample.name == "flywheel_rollout_score_difference_sum" and version == challenger:
                difference_sum += sample.value
            elif sample.name == "flywheel_rollout_score_difference_count" and version == challenger:
                difference_count += sample.value

    def version_evidence(version: int) -> VersionEvidence:
        ok, error, invalid, dropped = (int(counts.get((version, o), 0)) for o in ("ok", "error", "invalid", "dropped"))
        runs = buckets.get(version, {})
        count = int(runs.get(float("inf"), 0))
        return VersionEvidence(
            ok + error + invalid, error + invalid, dropped, count, quantile(runs, 0.5), quantile(runs, 0.99)
        )

    return StageEvidence(
        stable=version_evidence(stable),
        challenger=version_evidence(challenger),
        difference_rows=int(difference_count),
        mean_difference=difference_sum / difference_count if difference_count else None,
    )


def quantile(cumulative: dict[float, float], q: float) -> float | None:
    """PromQL's histogram_quantile on one histogram's cumulative buckets (upper bound -> count)."""
    if not cumulative:
        return None
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound
