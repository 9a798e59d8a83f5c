"""Unit tests of the retraining decision: one run per episode, cooldown, daily budget, insufficient data."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.drift_report import INSUFFICIENT_DATA, DriftReport
from monitoring.retrain_decision import (
    BUDGET_EXHAUSTED,
    COOLDOWN,
    RETRAIN,
    WAIT,
    RetrainPolicy,
    RetrainState,
    budget_remaining,
    decide_retrain,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
TICK = timedelta(minutes=5)


def _run(verdicts, policy, state=None, start=T0, step=TICK):
    state = state or RetrainState()
    decisions = []
    for i, verdict in enumerate(verdicts):
        decision = decide_retrain(verdict, state, start + i * step, policy, model="scorer")
        decisions.append(decision)
        state = RetrainState.from_json(decision.state.to_json())  # the sensor cursor round trip
    return decisions


def test_one_episode_gives_one_run_however_many_ticks_see_it():
    decisions = _run([True] * 10, RetrainPolicy(cooldown=timedelta(0), daily_budget=5))
    assert [d.action for d in decisions] == [RETRAIN] + [WAIT] * 9
    assert len({d.run_key for d in decisions}) == 1 and decisions[0].run_key == "drift-scorer-20250301T080000"


def test_episode_closes_after_quiet_ticks_and_a_new_one_gets_a_new_run():
    policy = RetrainPolicy(cooldown=timedelta(0), daily_budget=5, clear_ticks=2)
    decisions = _run([True, False, True, False, False, True], policy)
    assert [d.action for d in decisions] == [RETRAIN, WAIT, WAIT, WAIT, WAIT, RETRAIN]
    assert decisions[2].run_key == decisions[0].run_key  # one quiet tick does not end the episode
    assert decisions[4].state.episode_start is None
    assert decisions[5].run_key != decisions[0].run_key


def test_insufficient_data_neither_opens_nor_closes_an_episode():
    policy = RetrainPolicy(cooldown=timedelta(0), daily_budget=5, clear_ticks=1)
    empty = DriftReport(INSUFFICIENT_DATA, 10, 500, (), "h")
    decisions = _run([empty, True, empty, empty, True], policy)
    assert [d.action for d in decisions] == [WAIT, RETRAIN, WAIT, WAIT, WAIT]
    assert decisions[0].state.episode_start is None and decisions[3].run_key == decisions[1].run_key


def test_cooldown_delays_the_run_of_a_new_episode_until_it_passes():
    policy = RetrainPolicy(cooldown=timedelta(hours=1), daily_budget=5, clear_ticks=1)
    decisions = _run([True, False, True, True, True], policy, step=timedelta(minutes=15))
    assert [d.action for d in decisions] == [RETRAIN, WAIT, COOLDOWN, COOLDOWN, RETRAIN]
    assert decisions[4].run_key == decisions[2].run_key  # the delayed run belongs to the second episode


def test_exhausted_budget_alerts_once_per_episode_and_retrains_the_next_day():
    policy = RetrainPolicy(cooldown=timedelta(0), daily_budget=1, clear_ticks=1)
    first = _run([True, False], policy, start=T0)
    later = _run([True, True, True], policy, state=first[-1].state, start=T0 + timedelta(hours=1))
    assert [d.action for d in later] == [BUDGET_EXHAUSTED] * 3
    assert [d.alert for d in later] == [True, False, False] and later[-1].state.budget_alerts == 1
    assert budget_remaining(later[-1].state, policy, T0 + timedelta(hours=2)) == 0
    next_day = decide_retrain(True, later[-1].state, T0 + timedelta(days=1), policy, model="scorer")
    assert next_day.action == RETRAIN and next_day.run_key == later[0].run_key
    assert budget_remaining(next_day.state, policy, T0 + timedelta(days=1)) == 0


def test_zero_budget_only_ever_alerts():
    decisions = _run([True] * 3, RetrainPolicy(daily_budget=0))
    assert [d.action for d in decisions] == [BUDGET_EXHAUSTED] * 3 and decisions[0].alert


def test_naive_time_and_bad_policy_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_retrain(True, RetrainState(), datetime(2025, 1, 1), RetrainPolicy())
    with pytest.raises(ValueError, match="daily_budget"):
        RetrainPolicy(daily_budget=-1)
    assert RetrainState.from_json(None) == RetrainState()


def test_confirmation_needs_alarms_in_a_row_and_a_lone_alarm_opens_nothing():
    policy = RetrainPolicy(cooldown=timedelta(0), daily_budget=5, confirm_ticks=2)
    decisions = _run([True, False, True, True, True], policy)
    assert [d.action for d in decisions] == [WAIT, WAIT, WAIT, RETRAIN, WAIT]
    assert decisions[0].state.episode_start is None and "alarm 1 of 2" in decisions[0].reason
    assert decisions[1].state.alarm_ticks == 0, "a quiet tick resets the count"
    assert decisions[3].run_key == decisions[4].run_key
    with pytest.raises(ValueError, match="confirm_ticks"):
        RetrainPolicy(confirm_ticks=0)


def test_settle_holds_the_run_until_the_episode_has_lasted_long_enough():
    policy = RetrainPolicy(cooldown=timedelta(0), daily_budget=5, settle=timedelta(minutes=12))
    decisions = _run([True] * 5, policy)  # ticks 5 minutes apart: the episode is 0, 5, 10, 15, 20 minutes old
    assert [d.action for d in decisions] == [WAIT, WAIT, WAIT, RETRAIN, WAIT]
    assert "retraining waits until 2025-03-01T08:12:00+00:00" in decisions[1].reason
    assert len({d.run_key for d in decisions}) == 1, "settling keeps the episode and its run key"
    with pytest.raises(ValueError, match="settle"):
        RetrainPolicy(settle=timedelta(seconds=-1))
