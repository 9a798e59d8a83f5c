"""The gate's decisions and the behavioural tests, on hand-built models with known behaviour."""

import numpy as np
import pytest
import torch
from torch import nn

from training.behaviour import BehaviourExpectations, BehaviourResult, behaviour_tests, holdout_metrics
from training.gate import FIRST, PROMOTE, REJECT, GateConfig, ModelReport, comparison_markdown, comparison_table, decide
from training.synthetic import synthetic_frame, synthetic_spec

SPEC = synthetic_spec()


class LinearScore(nn.Module):
    """Contract-shaped model: sigmoid of a fixed linear function of the (standardised) numeric inputs."""

    def __init__(self, weights):
        super().__init__()
        self.weights = torch.tensor(weights, dtype=torch.float32)

    def forward(self, numeric, categorical):
        scaled = numeric / torch.tensor([10.0**i for i in range(numeric.shape[1])])
        return torch.sigmoid(scaled @ self.weights - 3.0).unsqueeze(1)


@pytest.fixture(scope="module")
def holdout():
    return synthetic_frame(SPEC, rows=2000, seed=3, positive_rate=0.1)


def _report(version, pr_auc, passed=True):
    behaviour = [BehaviourResult("quality:pr_auc", passed, pr_auc, "floor")]
    return ModelReport(f"v{version}", str(version), {"pr_auc": pr_auc, "roc_auc": 0.9, "ece": 0.02}, behaviour)


@pytest.mark.parametrize(
    ("challenger", "champion", "outcome", "reason"),
    [
        (_report(1, 0.40), None, FIRST, "no champion yet"),
        (_report(1, 0.40, passed=False), None, REJECT, "failed quality:pr_auc"),
        (_report(2, 0.50), _report(1, 0.40), PROMOTE, "pr_auc 0.5000 >= champion 0.4000"),
        (_report(2, 0.402), _report(1, 0.40), REJECT, "does not beat the champion"),
        (_report(2, 0.30), _report(1, 0.40), REJECT, "does not beat the champion"),
        (_report(2, 0.90, passed=False), _report(1, 0.40), REJECT, "failed quality:pr_auc"),
    ],
)
def test_decisions(challenger, champion, outcome, reason):
    decision = decide(challenger, champion, GateConfig(min_improvement=0.005))
    assert decision.outcome == outcome
    assert any(reason in r for r in decision.reasons), decision.reasons
    assert decision.promote == (outcome in (FIRST, PROMOTE))


def test_comparison_table_and_markdown_show_both_models():
    challenger, champion = _report(2, 0.5), _report(1, 0.4)
    table = comparison_table(challenger, champion)
    row = table.set_index("metric").loc["pr_auc"]
    assert row.champion == 0.4 and row.challenger == 0.5 and row.improvement == pytest.approx(0.1)
    text = comparison_markdown(table, decide(challenger, champion, GateConfig()))
    assert "challenger v2 vs champion v1" in text and "| pr_auc | 0.4000 | 0.5000 | 0.1000 |" in text


def test_behaviour_passes_for_a_model_with_the_expected_directions(holdout):
    good = LinearScore([2.0, -1.0, 0.0, 0.0])
    expectations = BehaviourExpectations(increasing=("x0",), decreasing=("x1",), max_ece=1.0)
    metrics = holdout_metrics(good, SPEC, holdout, 0.05)
    results = {r.name: r for r in behaviour_tests(good, SPEC, holdout, expectations, metrics)}
    assert set(results) >= {"invariance:event_id", "direction:x0:increase", "direction:x1:decrease", "quality:pr_auc"}
    assert all(r.passed for r in results.values()), results


def test_behaviour_catches_wrong_direction_and_a_relevant_field_declared_irrelevant(holdout):
    reversed_model = LinearScore([-2.0, 1.0, 0.0, 0.0])
    expectations = BehaviourExpectations(invariant_columns=("x0",), increasing=("x0",), decreasing=("x1",))
    metrics = holdout_metrics(reversed_model, SPEC, holdout, 0.05)
    failed = {r.name for r in behaviour_tests(reversed_model, SPEC, holdout, expectations, metrics) if not r.passed}
    assert {"invariance:x0", "direction:x0:increase", "direction:x1:decrease", "quality:roc_auc"} <= failed
    assert "invariance:event_id" not in failed


def test_expectations_naming_unknown_features_are_refused(holdout):
    with pytest.raises(ValueError, match="not numeric features"):
        behaviour_tests(LinearScore([1.0] * 4), SPEC, holdout, BehaviourExpectations(increasing=("nope",)), {})


def test_gate_evaluation_is_deterministic(holdout):
    model = LinearScore([2.0, -1.0, 0.0, 0.0])
    first = holdout_metrics(model, SPEC, holdout, 0.05)
    assert first == holdout_metrics(model, SPEC, holdout, 0.05)
    assert np.isfinite(list(first.values())).all()
