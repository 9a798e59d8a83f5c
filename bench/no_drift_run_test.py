"""The no-drift run counts what the drift sensor publishes: each tick once, alarms with what fired, episodes."""

import json
from datetime import UTC, datetime

from bench.no_drift_run import read_snapshots
from monitoring.drift_report import DRIFT, OK, DriftReport, FeatureDrift, StatisticResult
from monitoring.pipeline_metrics import write_drift_snapshot


def _report(alarm: bool) -> DriftReport:
    fired = StatisticResult("anderson_darling", 0.02 if alarm else 0.001, 0.01, alarm)
    feature = FeatureDrift("amount", "numeric", (fired,), 0.0, 0.0)
    return DriftReport(DRIFT if alarm else OK, 2000, 2000, (feature,), "spec")


def _episode(directory, key: str, open_: bool, at: float) -> None:
    payload = {"kind": "retraining", "key": key, "written_at": at, "episode_open": open_}
    (directory / f"retraining--{key}.json").write_text(json.dumps(payload))


def test_each_tick_counts_once_with_what_fired_and_episodes_open_once(tmp_path):
    seen, models, open_episodes = {}, {}, set()
    for second, alarm in enumerate([False, True, True, False]):
        write_drift_snapshot(tmp_path, "scorer", _report(alarm), datetime.fromtimestamp(1000 + second, UTC))
        _episode(tmp_path, "scorer", open_=second in (2, 3), at=1000 + second)
        read_snapshots(tmp_path, seen, models, open_episodes)
        read_snapshots(tmp_path, seen, models, open_episodes)  # nothing new: counted once
    scorer = models["scorer"]
    assert (scorer.ticks, scorer.alarms, scorer.insufficient, scorer.episodes) == (4, 2, 0, 1)
    assert scorer.fired == {("amount", "anderson_darling"): 2}
    (tmp_path / "drift--half-written.json").write_text("{")
    read_snapshots(tmp_path, seen, models, open_episodes)  # a file being replaced is read next time, not an error
