"""Benchmark: rows per window a drift detector needs to catch a given shift at <= 1% false alarms.

Windows are runs of consecutive served rows from the fraud generator (tests/monitoring/fraud_windows.py). Two
detectors watch every feature, the score (and, for ours, the features' joint PCA) at once, calibrated by the same
`calibrate_statistics` the drift_reference asset runs, so that about 1% of no-drift windows alarm at all: the drift
sensor's own family of statistics, and the classical tests in their place (KS for numeric features and the score,
chi-square for categorical ones). Their false alarms are measured on held-out no-drift windows; detection is the
share of drifted windows that alarm. Beside them, every single statistic on the feature the shift moves, each at
its own 99th percentile over the no-drift windows (1% by construction), the classical tests as usually run (scipy's
KS against the whole reference, chi-square) calibrated the same way, and the same tests at a nominal p < 0.01 with
the false-alarm rate they really have on correlated production-like windows.

The peer is Evidently's DataDriftPreset with its defaults (the test it picks per column and that test's fixed
threshold, not calibrated to 1%), run from its own virtualenv (bench/competitors/setup_envs.sh evidently) on the
same windows: the first EVIDENTLY_NULL_WINDOWS no-drift windows and every drifted window of each size, one
subprocess per shift. Without that virtualenv the page says so instead of its rows.

Run: PYTHONPATH=. .venv/bin/python bench/monitoring_drift.py [--out docs/bench/monitoring.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chisquare, ks_2samp

from bench.competitors.evidently_peer import rows_needed, run_evidently, summarise
from bench.competitors.peer_servers import PeerUnavailable
from domain.generator import GeneratorConfig, with_scenario
from monitoring.drift_report import (
    CATEGORICAL,
    NUMERIC,
    SCORE,
    SENSOR_FAMILY,
    judge_statistics,
    window_statistics,
)
from monitoring.drift_statistics import (
    ALL_CATEGORICAL_STATISTICS,
    ALL_NUMERIC_STATISTICS,
    ANDERSON_DARLING,
    CHI_SQUARE,
    G_TEST,
    JENSEN_SHANNON,
    KOLMOGOROV_SMIRNOV,
    MISSING_RATE,
    NORMAL_SCORE_SHIFT,
    PSI,
    TAIL_RATE,
    UNKNOWN_RATE,
    WASSERSTEIN,
    category_fractions,
)
from monitoring.multivariate_drift import JOINT, RECONSTRUCTION_ERROR
from monitoring.reference_profile import build_reference_profile
from monitoring.threshold_calibration import calibrate_statistics, consecutive_windows
from tests.monitoring.fraud_windows import (
    WINDOW_SPEC,
    amounts_follow_channel,
    gradual_inflation,
    segment_inflation,
    served_days,
)

WINDOW_SIZES = (250, 500, 1000, 2000, 4000, 8000, 16000)
NULL_WINDOWS = 300
DRIFT_WINDOWS = 100
POWER = 0.9
FALSE_ALARMS = 0.01
EVIDENTLY_NULL_WINDOWS = 100
"""No-drift windows per size given to Evidently (a subset: it takes ~0.1 s a window on the 170k-row reference)."""


@dataclass(frozen=True)
class Shift:
    """A change of the served rows (a generator scenario, or a reshaping of unchanged rows) and the feature it moves
    (the per-feature statistics are measured on that one; the sensor's verdict looks at every feature)."""

    name: str
    feature: str
    knobs: dict = field(default_factory=dict)
    reshape: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    segment: str | None = None
    """A merchant category the shift is confined to: also measured by a sensor on that segment's traffic alone, as
    a Flywheel segment model (`ModelDeclaration.segment`) watches its own served rows."""


SHIFTS = (
    Shift("amounts +10% (covariate)", "amount", {"amount_inflation": 1.10}),
    Shift("2% of amounts in cents (quality)", "amount", {"quality_break": "amount_cents", "quality_break_share": 0.02}),
    Shift(
        "2% of 'grocery' renamed (quality)",
        "merchant_category",
        {"quality_break": "renamed_category", "quality_break_share": 0.02},
    ),
    Shift("2% of countries null (quality)", "country", {"quality_break": "null_field", "quality_break_share": 0.02}),
    Shift("amounts creep up 1% a day, windows from day 7 on (gradual)", "amount", reshape=gradual_inflation),
    Shift(
        "30% of payments: ecom takes the larger amounts (joint; both marginals unchanged)",
        "amount",
        reshape=partial(amounts_follow_channel, share=0.3),
    ),
    Shift("fuel amounts +25% (one segment, 10% of payments)", "amount", reshape=segment_inflation, segment="fuel"),
)

SENSOR = "Flywheel sensor"
CLASSICAL = "classical tests on every feature"
FAMILIES: dict[str, dict[str, tuple[str, ...]] | None] = {
    SENSOR: None,  # drift_report.SENSOR_FAMILY, as the drift sensor runs it
    CLASSICAL: {NUMERIC: (KOLMOGOROV_SMIRNOV,), SCORE: (KOLMOGOROV_SMIRNOV,), CATEGORICAL: (CHI_SQUARE,)},
}
"""Detectors that watch every feature and the score at once, calibrated and corrected the same way (the
drift_reference asset's `calibrate_statistics`): ours, and the classical tests in its place (KS for numeric
features and the score, Pearson's chi-square for categorical ones), so that the goal compares like with like."""
JOINT_ALONE = "joint PCA reconstruction error (all features)"
HELD_OUT_DAYS = 60


def _windows(frame, size: int, count: int, rng: np.random.Generator):
    starts = rng.integers(0, len(frame) - size, count)
    return [frame.iloc[s : s + size] for s in starts]


def _held_out_windows(frame, size: int, count: int):
    """Up to `count` non-overlapping windows spread evenly over the frame (independent evidence of false alarms)."""
    windows = list(consecutive_windows(frame, size))
    keep = np.unique(np.linspace(0, len(windows) - 1, min(count, len(windows))).astype(int))
    return [windows[i] for i in keep]


NOMINAL = "at p < 0.01 (nominal)"
"""Suffix of the classical tests used as they are meant to be: a fixed p-value limit, not calibrated."""
BASELINE = "baseline: "

_NAMES = {
    KOLMOGOROV_SMIRNOV: "KS distance to the reference grid",
    ANDERSON_DARLING: "Anderson-Darling distance",
    NORMAL_SCORE_SHIFT: "normal-score location shift",
    PSI: "PSI",
    WASSERSTEIN: "Wasserstein",
    TAIL_RATE: "share beyond the reference's 0.5% / 99.5% quantiles",
    JENSEN_SHANNON: "Jensen-Shannon",
    CHI_SQUARE: "chi-square over vocabulary, unknown, missing",
    G_TEST: "G-test over vocabulary, unknown, missing",
    MISSING_RATE: "missing share",
    UNKNOWN_RATE: "unknown-category share",
}


def _statistics(feature: str, kind: str, computed: dict, window, reference_values, expected) -> dict[str, float]:
    """Every statistic of the shifted feature on one window (larger means drift): ours, from the sensor's own
    `window_statistics`, then the classical tests twice: their statistic (KS D against the whole reference, Pearson's
    chi-square), calibrated like ours, and 1 - p for the nominal limit."""
    ours = ALL_NUMERIC_STATISTICS if kind == NUMERIC else ALL_CATEGORICAL_STATISTICS
    result = {_NAMES[name]: computed[name] for name in ours}
    if kind == NUMERIC:
        values = window[feature].to_numpy(np.float64)
        ks = ks_2samp(values[~np.isnan(values)], reference_values)
        result[f"{BASELINE}KS test, calibrated"] = float(ks.statistic)
        result[f"KS test {NOMINAL}"] = 1.0 - ks.pvalue
        return result
    observed = category_fractions(window[feature].to_numpy(), tuple(expected[0]))
    smoothed = np.maximum(expected[1], 1e-4)
    counts = observed * len(window)
    chi2 = chisquare(counts, smoothed / smoothed.sum() * counts.sum())
    result[f"{BASELINE}chi-square test, calibrated"] = float(chi2.statistic)
    result[f"chi-square test {NOMINAL}"] = 1.0 - chi2.pvalue
    return result


def _shift_statistics(feature: str, kind: str, stats, window, reference_values, expected) -> dict[str, float]:
    """The shifted feature's statistics and the joint one, from a window's `window_statistics`."""
    by_name = {name: values for name, _, values in stats}
    single = _statistics(feature, kind, by_name[feature], window, reference_values, expected)
    return {**single, JOINT_ALONE: by_name[JOINT][RECONSTRUCTION_ERROR]}


def _alarm_share(profile, statistics, thresholds, size: int, family) -> float:
    """Share of windows (their `window_statistics`) the family's verdict calls drift."""
    return float(np.mean([judge_statistics(profile, s, thresholds, size, family).alarm for s in statistics]))


def _drift_pool(config, shift: Shift):
    if shift.reshape is None:
        return served_days(with_scenario(config, start_day=200, **shift.knobs), 200, 21)
    return shift.reshape(served_days(config, 200, 21))


@dataclass
class NoDrift:
    """One window size's no-drift evidence: calibration windows, their statistics, each family's limits and its
    false alarms on held-out windows."""

    windows: list
    statistics: list
    thresholds: dict
    false_alarms: dict
    held_out: int


def no_drift_evidence(profile, null_pool, held_out_pool, size: int, rng, families=FAMILIES) -> NoDrift:
    windows = _windows(null_pool, size, NULL_WINDOWS, rng)
    statistics = [window_statistics(profile, w, WINDOW_SPEC) for w in windows]
    # Random starts overlap: the pool holds len(null_pool) // size independent windows.
    independent = len(null_pool) // size
    held_out = [window_statistics(profile, w, WINDOW_SPEC) for w in _held_out_windows(held_out_pool, size, 300)]
    thresholds, false_alarms = {}, {}
    for name, family in families.items():
        thresholds[name] = calibrate_statistics(profile, statistics, size, FALSE_ALARMS, independent, family)
        false_alarms[name] = _alarm_share(profile, held_out, thresholds[name], size, family)
    return NoDrift(windows, statistics, thresholds, false_alarms, len(held_out))


def run(out: Path) -> str:
    started = time.perf_counter()
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    config = GeneratorConfig(n_cards=5000, n_merchants=500, days=400)
    reference = served_days(config, 0, 28)
    profile = build_reference_profile(reference, WINDOW_SPEC)
    null_pool = served_days(config, 28, 30)
    held_out_pool = served_days(config, 58, HELD_OUT_DAYS)
    no_drift = {}
    for size in WINDOW_SIZES:
        no_drift[size] = no_drift_evidence(profile, null_pool, held_out_pool, size, rng)
        shares = ", ".join(f"{name} {share:.1%}" for name, share in no_drift[size].false_alarms.items())
        print(f"no-drift windows of {size} rows: held-out false alarms {shares}", flush=True)

    rows, summary = [], []
    evidently_missing: str | None = None
    evidently_version = ""
    evidently_checks = 0
    for shift in SHIFTS:
        drift_pool = _drift_pool(config, shift)
        kind = NUMERIC if shift.feature in profile.numeric else CATEGORICAL
        reference_values = reference[shift.feature].to_numpy(np.float64) if kind == NUMERIC else None
        expected = None
        if kind == CATEGORICAL:
            category = profile.categorical[shift.feature]
            expected = (category.vocabulary, np.asarray(category.fractions))
        detected: dict[str, dict[int, float]] = {}
        nominal_false_alarms: dict[int, float] = {}
        peer_windows, peer_sizes, peer_drifted, peer_checks = [], [], [], []
        for size in WINDOW_SIZES:
            evidence = no_drift[size]
            drift_windows = _windows(drift_pool, size, DRIFT_WINDOWS, rng)
            drift_stats = [window_statistics(profile, w, WINDOW_SPEC) for w in drift_windows]
            for name, family in FAMILIES.items():
                share = _alarm_share(profile, drift_stats, evidence.thresholds[name], size, family)
                detected.setdefault(name, {})[size] = share
            null, drift = (
                [
                    _shift_statistics(shift.feature, kind, s, w, reference_values, expected)
                    for s, w in zip(stats, windows, strict=True)
                ]
                for stats, windows in ((evidence.statistics, evidence.windows), (drift_stats, drift_windows))
            )
            for name in null[0]:
                null_values = np.array([s[name] for s in null])
                if name.endswith(NOMINAL):
                    limit = 1.0 - FALSE_ALARMS  # p < 0.01, as the test is meant to be used
                    nominal_false_alarms[size] = float((null_values > limit).mean())
                else:
                    limit = float(np.quantile(null_values, 1.0 - FALSE_ALARMS))
                detected.setdefault(name, {})[size] = float(np.mean([s[name] > limit for s in drift]))
            for windows, drifted in ((evidence.windows[:EVIDENTLY_NULL_WINDOWS], False), (drift_windows, True)):
                peer_checks.append(len(peer_windows))
                peer_windows += [w[shift.feature].to_numpy() for w in windows]
                peer_sizes += [size] * len(windows)
                peer_drifted += [drifted] * len(windows)
        needed = {name: rows_needed(by_size, POWER) for name, by_size in detected.items()}
        false_alarms = {name: "1.0% (calibrated)" for name in needed}
        for name in FAMILIES:
            worst = max(no_drift, key=lambda size, name=name: no_drift[size].false_alarms[name])
            false_alarms[name] = f"{no_drift[worst].false_alarms[name]:.1%} (held out, worst size: {worst})"
        baseline = next(n for n in needed if n.startswith(BASELINE))
        nominal = next(n for n in needed if n.endswith(NOMINAL))
        false_alarms[nominal] = f"{max(nominal_false_alarms.values()):.1%} (worst size)"
        if evidently_missing is None:
            evidently_kind = "numerical" if kind == NUMERIC else "categorical"
            try:
                result = run_evidently(
                    shift.feature, evidently_kind, reference[shift.feature].to_numpy(), peer_windows, peer_checks
                )
            except PeerUnavailable as error:
                evidently_missing = str(error)
            else:
                evidently_version = result.version
                evidently_checks += result.report_checks
                peer = summarise(peer_sizes, peer_drifted, result.verdicts)
                name = f"Evidently default ({', '.join(peer.methods)})"
                needed[name] = rows_needed(peer.detected, POWER)
                worst = max(peer.false_alarms, key=lambda size: peer.false_alarms[size])
                false_alarms[name] = f"{peer.false_alarms[worst]:.1%} (worst size: {worst})"
        for name, size in needed.items():
            ratio = "" if size is None or needed[baseline] is None else f"{size / needed[baseline]:.2f}"
            rows.append(
                f"| {shift.name} | {shift.feature} | {name} | {_shown(size)} | {ratio} | {false_alarms[name]} |"
            )
        segment_note = ""
        if shift.segment is not None:
            segment_rows, share = segment_sensor_rows(shift.segment, reference, null_pool, drift_pool, rng)
            name = f"{SENSOR} on the {shift.segment} segment's own traffic (a segment model)"
            traffic = "" if segment_rows is None else f", about {segment_rows / share:,.0f} rows of all traffic"
            rows.append(
                f"| {shift.name} | {shift.feature} | {name} | {_shown(segment_rows)} {shift.segment} rows{traffic} |"
                f" | 1% (calibrated on the segment) |"
            )
            segment_note = f"; a segment model's sensor: {_shown(segment_rows)} {shift.segment} rows{traffic}"
        summary.append(_summary_row(shift, needed, baseline, segment_note))
        print(f"{shift.name}: {needed[SENSOR]} rows (classical {needed[CLASSICAL]})", flush=True)
    elapsed = time.perf_counter() - started
    page = _page(
        rows,
        summary,
        elapsed,
        load_before,
        len(reference),
        (evidently_missing, evidently_version, evidently_checks),
        no_drift,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return page


def _shown(size: int | None) -> str:
    return f"> {WINDOW_SIZES[-1]}" if size is None else str(size)


def segment_sensor_rows(segment: str, reference, null_pool, drift_pool, rng) -> tuple[int | None, float]:
    """Rows of the segment's own traffic its own sensor needs (profile, calibration and windows on the segment's
    rows only), and the segment's share of all traffic."""

    def rows_of(frame):
        return frame[frame["merchant_category"] == segment].reset_index(drop=True)

    profile = build_reference_profile(rows_of(reference), WINDOW_SPEC)
    null, drifted = rows_of(null_pool), rows_of(drift_pool)
    detected = {}
    for size in WINDOW_SIZES:
        if len(null) // size < 2:
            break
        statistics = [window_statistics(profile, w, WINDOW_SPEC) for w in _windows(null, size, NULL_WINDOWS, rng)]
        thresholds = calibrate_statistics(profile, statistics, size, FALSE_ALARMS, len(null) // size)
        drift = [window_statistics(profile, w, WINDOW_SPEC) for w in _windows(drifted, size, DRIFT_WINDOWS, rng)]
        detected[size] = _alarm_share(profile, drift, thresholds, size, None)
    return rows_needed(detected, POWER), len(null) / len(null_pool)


def _summary_row(shift: Shift, needed: dict[str, int | None], baseline: str, segment_note: str = "") -> str:
    """The goal per shift: the sensor against the classical tests under the same family-wise correction."""
    ours, peer = needed[SENSOR], needed[CLASSICAL]
    if ours is not None and (peer is None or ours <= peer):
        verdict = "met"
    else:
        verdict = f"missed ({_shown(ours)} vs {_shown(peer)})"
    verdict += segment_note
    singles = [
        (size, name)
        for name, size in needed.items()
        if size is not None and name not in FAMILIES and not name.endswith(NOMINAL) and not name.startswith("Evid")
    ]
    best = min(singles, default=(None, "none"))
    return (
        f"| {shift.name} | {_shown(ours)} | {_shown(peer)} | {verdict} | {_shown(needed[baseline])} |"
        f" {_shown(best[0])} ({best[1]}) |"
    )


def _page(rows, summary, elapsed, load_before, reference_rows, evidently, no_drift) -> str:
    evidently_missing, evidently_version, evidently_checks = evidently
    if evidently_missing is None:
        peer_note = (
            f"Evidently {evidently_version} rows: its DataDriftPreset with defaults, on the same windows (the first"
            f" {EVIDENTLY_NULL_WINDOWS} no-drift windows and all {DRIFT_WINDOWS} drifted ones per size; each window"
            " through Evidently's own default-test choice and test, and"
            f" {evidently_checks} of them, the first no-drift and drifted window of each size and shift, also"
            " through the full `Report([DataDriftPreset()])`, which agreed on test, score and verdict)."
            " Its defaults depend on the reference's size, not the window's: for a reference over 1,000 rows (ours"
            f" has {reference_rows:,}) Wasserstein distance normed by the reference's standard deviation for"
            " numeric columns and Jensen-Shannon distance for categorical ones, drift at >= 0.1; for a reference"
            " of at most 1,000 rows the KS test (numeric) or chi-square test (categorical), drift at p 0.05. None of"
            " these is calibrated to a false-alarm rate: its false-alarm column is what the default really did"
            " on no-drift windows (worst size). Evidently drops missing values before testing."
        )
    else:
        peer_note = f"Evidently was not run: {evidently_missing}, then rerun this benchmark to add its rows."
    false_alarm_rows = [
        f"| {size} | {evidence.held_out} | "
        + " | ".join(f"{evidence.false_alarms[name]:.1%}" for name in FAMILIES)
        + " |"
        for size, evidence in no_drift.items()
    ]
    held_out = sum(e.held_out for e in no_drift.values())
    totals = {name: sum(e.false_alarms[name] * e.held_out for e in no_drift.values()) / held_out for name in FAMILIES}
    sensor = ", ".join(f"{kind}: {', '.join(stats)}" for kind, stats in SENSOR_FAMILY.items())
    return "\n".join(
        [
            "# Drift detection: rows per window to catch a shift at <= 1% false alarms",
            "",
            f"Generated by `bench/monitoring_drift.py` on {platform.node()} ({platform.processor() or 'cpu'}),"
            f" {elapsed:.0f} s (load average before: {load_before[0]:.1f}; this benchmark counts rows, not time)."
            " Fraud generator, 5,000 cards; reference profile from 28 days; windows of consecutive served rows."
            f" Calibration: {NULL_WINDOWS} no-drift windows per size from random starts in the next 30 days. Held"
            f" out: non-overlapping no-drift windows from the {HELD_OUT_DAYS} days after those (at most 300 per"
            f" size). Rows needed: smallest of {list(WINDOW_SIZES)} with >= {POWER:.0%} of {DRIFT_WINDOWS} drifted"
            " windows detected.",
            "",
            f"**{SENSOR}** is the drift sensor's detector as it runs, watching every feature, the score and their"
            f" joint PCA at once ({sensor}), with limits from `calibrate_statistics` (each statistic's tail fitted,"
            " a Bonferroni bound over all of them, widened for the number of independent calibration windows), so"
            f" that about 1% of no-drift windows alarm at all. **{CLASSICAL}** is the same machinery with the"
            " classical tests in place of ours (KS for numeric features and the score, Pearson's chi-square for"
            " categorical ones): the goal compares the two. The other rows watch only the feature the shift moves,"
            " one statistic at 1% (its 99th percentile over the same no-drift windows): what each statistic can"
            " do when somebody already knows where to look. Among them the baselines are the classical tests as"
            " usually run (two-sample KS against the whole reference, chi-square with scipy), calibrated; the same"
            " tests at a nominal p < 0.01 are shown with the false alarms they really had (correlated,"
            " production-like rows make them alarm more often).",
            "",
            peer_note,
            "",
            "## The goal: every feature watched, family-wise 1%",
            "",
            f"| shift | {SENSOR} rows | {CLASSICAL} rows | goal | one feature: classical test | one feature:"
            " best single statistic |",
            "| --- | ---: | ---: | --- | ---: | --- |",
            *summary,
            "",
            "## False alarms on held-out no-drift windows",
            "",
            "| window rows | held-out windows | " + " | ".join(FAMILIES) + " |",
            "| ---: | ---: | " + " | ".join("---:" for _ in FAMILIES) + " |",
            *false_alarm_rows,
            "| all | | " + " | ".join(f"{totals[name]:.1%}" for name in FAMILIES) + " |",
            "",
            "## Every detector",
            "",
            "| shift | feature | statistic | rows needed | ratio to baseline | false alarms |",
            "| --- | --- | --- | ---: | ---: | --- |",
            *rows,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bench/monitoring.md"))
    print(run(parser.parse_args().out))


if __name__ == "__main__":
    main()
