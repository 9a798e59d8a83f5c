"""Whether a drift verdict should start a retraining run: one run per drift episode, a cooldown, a daily budget.

A pure function of (verdict, state, now) returning the next state, so the Dagster sensor that calls it stays a
thin adapter (it stores the state in its cursor and turns `retrain` into a RunRequest with `run_key`). A drift
*episode* opens on the first alarming tick and closes after `clear_ticks` quiet ticks in a row; every tick of one
episode carries the same run key, so however many ticks see it, the episode asks for one run. Within `cooldown`
of the last retraining the episode waits; when the day's budget is spent it raises an alert (once per episode)
instead of retraining, and retrains on a later day if the episode is still open.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from monitoring.drift_report import INSUFFICIENT_DATA

RETRAIN = "retrain"
"""Start a retraining run with Decision.run_key."""
WAIT = "wait"
"""Nothing to do: no drift, an episode already served, or insufficient data."""
COOLDOWN = "cooldown"
"""Drift, but the last retraining was less than `cooldown` ago; retrain once it has passed."""
BUDGET_EXHAUSTED = "budget_exhausted"
"""Drift, but today's retraining budget is spent: alert instead of retraining."""


@dataclass(frozen=True)
class RetrainState:
    """What the sensor remembers between ticks (JSON in its cursor)."""

    episode_start: str | None = None
    """ISO time the open drift episode began, or None when no episode is open."""
    episode_retrained: bool = False
    """Whether the open episode has had its run."""
    episode_alerted: bool = False
    """Whether the open episode has raised its budget alert."""
    quiet_ticks: int = 0
    """Consecutive non-alarming ticks within the open episode."""
    alarm_ticks: int = 0
    """Consecutive alarming ticks (an episode opens once there are `confirm_ticks` of them)."""
    last_retrain: str | None = None
    """ISO time of the latest retraining request."""
    budget_day: str | None = None
    """UTC date (YYYY-MM-DD) that `retrains_on_day` counts."""
    retrains_on_day: int = 0
    """Retraining requests made on `budget_day`."""
    budget_alerts: int = 0
    """Episodes that hit an exhausted budget, ever (exported as a counter)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> RetrainState:
        """The state stored in a cursor; None or empty gives the initial state."""
        return cls(**json.loads(text)) if text else cls()


@dataclass(frozen=True)
class RetrainPolicy:
    """Limits on how often drift may retrain a model."""

    cooldown: timedelta = timedelta(hours=6)
    """Minimum time between two retraining requests."""
    daily_budget: int = 2
    """Retraining requests allowed per UTC day; 0 means drift only ever alerts."""
    clear_ticks: int = 3
    """Quiet (non-alarming, sufficient-data) ticks in a row that close an episode."""
    confirm_ticks: int = 1
    """Alarming ticks in a row that open an episode: 2 turns a per-window false-alarm rate p into about p squared
    (windows of successive ticks hold different traffic), at the price of one tick of detection delay."""
    settle: timedelta = timedelta(0)
    """How long an episode must have been open before its retraining is requested. A run started at the onset
    finds the new regime only in the newest rows, which a time split puts in the holdout: the challenger never
    trains on it and the gate rightly refuses it. Settling lets the new regime reach the training split."""

    def __post_init__(self) -> None:
        if self.daily_budget < 0:
            raise ValueError(f"daily_budget must be >= 0, got {self.daily_budget}")
        if self.clear_ticks < 1:
            raise ValueError(f"clear_ticks must be >= 1, got {self.clear_ticks}")
        if self.confirm_ticks < 1:
            raise ValueError(f"confirm_ticks must be >= 1, got {self.confirm_ticks}")
        if self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must not be negative, got {self.cooldown}")
        if self.settle < timedelta(0):
            raise ValueError(f"settle must not be negative, got {self.settle}")


@dataclass(frozen=True)
class Decision:
    """What to do on this tick, why, and the state to keep for the next one."""

    action: str
    """retrain, wait, cooldown or budget_exhausted."""
    reason: str
    state: RetrainState
    run_key: str | None = None
    """Identifies the drift episode; the same on every tick of one episode."""
    alert: bool = False
    """True on the one tick per episode that found the budget spent."""


def episode_run_key(model: str, episode_start: str) -> str:
    """The run key of a drift episode: the model and the episode's start, so one episode is one run."""
    stamp = datetime.fromisoformat(episode_start).strftime("%Y%m%dT%H%M%S")
    return f"drift-{model}-{stamp}"


def verdict_alarm(verdict) -> bool | None:
    """True/False for an alarm, None for insufficient data; takes a bool, None, or a report with status and alarm."""
    if verdict is None or isinstance(verdict, bool):
        return verdict
    return None if verdict.status == INSUFFICIENT_DATA else bool(verdict.alarm)


def decide_retrain(
    verdict, state: RetrainState, now: datetime, policy: RetrainPolicy, model: str = "model"
) -> Decision:
    """The next step for one tick given a DriftReport/QualityReport (or bool; None means insufficient data).

    Insufficient data changes nothing; a quiet tick counts towards closing the episode; an alarm opens an episode
    or continues it, and retrains unless the episode already has its run, the cooldown holds, or the budget is spent.
    """
    alarm = verdict_alarm(verdict)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    today = now.date().isoformat()
    if state.budget_day != today:
        state = replace(state, budget_day=today, retrains_on_day=0)
    if alarm is None:
        return Decision(WAIT, "insufficient data: the episode state is unchanged", state, _key(model, state))
    if not alarm:
        state = replace(state, alarm_ticks=0)
        if state.episode_start is None:
            return Decision(WAIT, "no drift", state)
        quiet = state.quiet_ticks + 1
        if quiet >= policy.clear_ticks:
            closed = replace(state, episode_start=None, episode_retrained=False, episode_alerted=False, quiet_ticks=0)
            return Decision(WAIT, f"drift episode closed after {quiet} quiet ticks", closed)
        return Decision(
            WAIT,
            f"quiet tick {quiet} of {policy.clear_ticks} in an open episode",
            replace(state, quiet_ticks=quiet),
            _key(model, state),
        )
    state = replace(state, alarm_ticks=state.alarm_ticks + 1)
    if state.episode_start is None and state.alarm_ticks < policy.confirm_ticks:
        return Decision(
            WAIT, f"alarm {state.alarm_ticks} of {policy.confirm_ticks} in a row: not yet an episode", state
        )
    if state.episode_start is None:
        state = replace(state, episode_start=now.isoformat(), episode_retrained=False, episode_alerted=False)
    state = replace(state, quiet_ticks=0)
    key = _key(model, state)
    if state.episode_retrained:
        return Decision(WAIT, "this drift episode already has its retraining run", state, key)
    settled = datetime.fromisoformat(state.episode_start) + policy.settle
    if now < settled:
        reason = f"episode open since {state.episode_start}: retraining waits until {settled.isoformat()} (settle)"
        return Decision(WAIT, reason, state, key)
    if state.last_retrain is not None:
        ready = datetime.fromisoformat(state.last_retrain) + policy.cooldown
        if now < ready:
            return Decision(COOLDOWN, f"in cooldown until {ready.isoformat()}", state, key)
    if state.retrains_on_day >= policy.daily_budget:
        reason = f"daily retraining budget of {policy.daily_budget} is spent for {today}"
        if state.episode_alerted:
            return Decision(BUDGET_EXHAUSTED, reason + " (already alerted)", state, key)
        state = replace(state, episode_alerted=True, budget_alerts=state.budget_alerts + 1)
        return Decision(BUDGET_EXHAUSTED, reason, state, key, alert=True)
    state = replace(
        state, episode_retrained=True, last_retrain=now.isoformat(), retrains_on_day=state.retrains_on_day + 1
    )
    return Decision(RETRAIN, "drift episode without a run yet", state, key)


def budget_remaining(state: RetrainState, policy: RetrainPolicy, now: datetime) -> int:
    """Retraining requests still allowed today (UTC) under `policy`."""
    used = state.retrains_on_day if state.budget_day == now.date().isoformat() else 0
    return max(policy.daily_budget - used, 0)


def _key(model: str, state: RetrainState) -> str | None:
    return episode_run_key(model, state.episode_start) if state.episode_start else None
