"""Evidently peer of the drift benchmark: the batch files both processes read, verdict summaries, rows needed."""

import json

import numpy as np
import pytest

from bench.competitors.evidently_drift import read_batch
from bench.competitors.evidently_peer import (
    EvidentlyVerdict,
    parse_verdicts,
    rows_needed,
    run_evidently,
    summarise,
    write_batch,
)
from bench.competitors.peer_servers import PeerUnavailable


def _verdict(drift: bool, method: str = "Jensen-Shannon distance") -> EvidentlyVerdict:
    return EvidentlyVerdict(drift=drift, score=0.2 if drift else 0.01, method=method, threshold=0.1)


def test_numeric_windows_reach_the_verdict_script_unchanged(tmp_path):
    reference = np.array([1.0, 2.5, np.nan, 4.0])
    windows = [np.array([1.0, np.nan]), np.array([3.0, 4.0, 5.0])]
    write_batch(tmp_path, "amount", "numerical", reference, windows, report_checks=[1])
    spec, read_reference, read_windows = read_batch(tmp_path)
    assert spec["column"] == "amount" and spec["kind"] == "numerical" and spec["report_checks"] == [1]
    np.testing.assert_array_equal(read_reference.to_numpy(), reference)
    assert len(read_windows) == 2
    for written, read in zip(windows, read_windows, strict=True):
        np.testing.assert_array_equal(read.to_numpy(), written)


def test_missing_categories_stay_missing(tmp_path):
    # Evidently drops missing values before testing; they must arrive as missing, not as the string 'None'
    windows = [np.array(["US", None, "GB"], dtype=object), np.array([None], dtype=object)]
    write_batch(tmp_path, "country", "categorical", np.array(["US", "GB"], dtype=object), windows)
    _, reference, read_windows = read_batch(tmp_path)
    assert reference.tolist() == ["US", "GB"]
    assert read_windows[0].tolist() == ["US", None, "GB"] and read_windows[1].isna().all()


@pytest.mark.parametrize(
    ("kind", "windows", "checks", "problem"),
    [
        ("ordinal", [np.ones(2)], (), "kind 'ordinal' is not one of"),
        ("numerical", [], (), "no windows"),
        ("numerical", [np.ones(2), np.ones(0)], (), "window 1 is empty"),
        ("numerical", [np.ones(2)], (3,), r"report_checks \[3\] are not window indices"),
    ],
)
def test_bad_batches_are_refused_with_the_reason(tmp_path, kind, windows, checks, problem):
    with pytest.raises(ValueError, match=problem):
        write_batch(tmp_path, "amount", kind, np.ones(3), windows, checks)


def test_a_batch_whose_lengths_do_not_add_up_is_refused(tmp_path):
    write_batch(tmp_path, "amount", "numerical", np.ones(3), [np.ones(2), np.ones(2)])
    spec = json.loads((tmp_path / "batch.json").read_text())
    (tmp_path / "batch.json").write_text(json.dumps({**spec, "lengths": [2, 3]}))
    with pytest.raises(ValueError, match="holds 4 values; batch.json's lengths add to 5"):
        read_batch(tmp_path)


def test_verdicts_must_cover_every_window():
    text = json.dumps({"evidently": "0.7.23", "report_checks": 1, "verdicts": [_verdict(True).__dict__]})
    result = parse_verdicts(text, 1)
    assert result.version == "0.7.23" and result.report_checks == 1 and result.verdicts == [_verdict(True)]
    with pytest.raises(ValueError, match="1 verdicts for 2 windows"):
        parse_verdicts(text, 2)


def test_a_missing_virtualenv_names_the_setup_command(tmp_path):
    with pytest.raises(
        PeerUnavailable, match=r"evidently/bin/python is missing \(build it with .*setup_envs.sh evidently\)"
    ):
        run_evidently("amount", "numerical", np.ones(3), [np.ones(2)], venvs=tmp_path)


def test_summary_splits_detection_from_false_alarms_per_size():
    sizes = [250, 250, 250, 250, 1000, 1000, 1000]
    drifted = [False, False, True, True, False, True, True]
    flags = [True, False, True, False, False, True, True]
    summary = summarise(sizes, drifted, [_verdict(f) for f in flags])
    assert summary.false_alarms == {250: 0.5, 1000: 0.0}
    assert summary.detected == {250: 0.5, 1000: 1.0}
    assert summary.methods == ("Jensen-Shannon distance, threshold 0.1",)


def test_summary_names_every_test_evidently_chose():
    verdicts = [_verdict(False, "K-S p_value"), _verdict(False, "Wasserstein distance (normed)")]
    summary = summarise([250, 2000], [False, False], verdicts)
    assert summary.methods == ("K-S p_value, threshold 0.1", "Wasserstein distance (normed), threshold 0.1")
    with pytest.raises(ValueError, match="one each per window"):
        summarise([250], [False, True], verdicts)


@pytest.mark.parametrize(
    ("detected", "needed"),
    [
        ({250: 0.2, 500: 0.9, 1000: 1.0}, 500),
        ({1000: 0.95, 250: 0.1, 500: 0.89}, 1000),  # order of sizes does not matter
        ({250: 0.95, 500: 0.5, 1000: 0.99}, 250),  # the smallest size that reaches the power, even if a larger dips
        ({250: 0.1, 500: 0.5}, None),
        ({}, None),
    ],
)
def test_rows_needed_is_the_smallest_size_reaching_the_power(detected, needed):
    assert rows_needed(detected, 0.9) == needed
