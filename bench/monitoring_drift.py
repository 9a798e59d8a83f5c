"""Benchmark: rows per window each drift statistic needs to catch a given shift at <= 1% false alarms.

Windows are runs of consecutive served rows from the fraud generator (tests/monitoring/fraud_windows.py). For every
window size, each statistic's limit is its 99th percentile over no-drift windows (1% false alarms by
construction, as monitoring/threshold_calibration.py does per statistic); detection is the share of drifted
windows above that limit. The baseline, measured in the same run, is the classical test (two-sample
Kolmogorov-Smirnov for numeric features, chi-square goodness of fit for categorical ones) with its statistic
calibrated the same way; the same test at a nominal p < 0.01 is reported beside it, with the false-alarm rate it
really has on correlated production-like windows.

The peer is Evidently's DataDriftPreset with its defaults (the test it picks per column and that test's fixed
threshold, not calibrated to 1%), run from its own virtualenv (bench/competitors/setup_envs.sh evidently) on the
same windows: the first EVIDENTLY_NULL_WINDOWS no-drift windows and every drifted window of each size, one
subprocess per shift. Without that virtualenv the page says so instead of its rows.

Run: PYTHONPATH=. .venv/bin/python bench/monitoring_drift.py [--out docs/bench/monitoring.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import chisquare, ks_2samp

from bench.competitors.evidently_peer import rows_needed, run_evidently, summarise
from bench.competitors.peer_servers import PeerUnavailable
from domain.generator import GeneratorConfig, with_scenario
from monitoring.drift_statistics import (
    category_fractions,
    jensen_shannon_distance,
    numeric_bin_fractions,
    population_stability_index,
    scaled_wasserstein,
)
from monitoring.reference_profile import build_reference_profile
from tests.monitoring.fraud_windows import WINDOW_SPEC, served_days

WINDOW_SIZES = (250, 500, 1000, 2000, 4000, 8000, 16000)
NULL_WINDOWS = 300
DRIFT_WINDOWS = 100
POWER = 0.9
FALSE_ALARMS = 0.01
EVIDENTLY_NULL_WINDOWS = 100
"""No-drift windows per size given to Evidently (a subset: it takes ~0.1 s a window on the 170k-row reference)."""


@dataclass(frozen=True)
class Shift:
    """A generator scenario and the feature it should move."""

    name: str
    knobs: dict
    feature: str


SHIFTS = (
    Shift("amounts +10% (covariate)", {"amount_inflation": 1.10}, "amount"),
    Shift("2% of amounts in cents (quality)", {"quality_break": "amount_cents", "quality_break_share": 0.02}, "amount"),
    Shift(
        "2% of 'grocery' renamed (quality)",
        {"quality_break": "renamed_category", "quality_break_share": 0.02},
        "merchant_category",
    ),
    Shift("2% of countries null (quality)", {"quality_break": "null_field", "quality_break_share": 0.02}, "country"),
)


def _windows(frame, size: int, count: int, rng: np.random.Generator):
    starts = rng.integers(0, len(frame) - size, count)
    return [frame.iloc[s : s + size] for s in starts]


NOMINAL = "at p < 0.01 (nominal)"
"""Suffix of the classical tests used as they are meant to be: a fixed p-value limit, not calibrated."""


def _statistics(profile, feature: str, window, reference_values) -> dict[str, float]:
    """Every statistic of one feature on one window (larger means drift). The classical tests twice: their
    statistic (KS D, Pearson's chi-square), calibrated like ours, and 1 - p for the nominal limit."""
    if feature in profile.numeric:
        p = profile.numeric[feature]
        values = window[feature].to_numpy(np.float64)
        fractions = numeric_bin_fractions(values, np.asarray(p.bin_edges))
        ks = ks_2samp(values, reference_values)
        return {
            "PSI": population_stability_index(np.asarray(p.bin_fractions), fractions),
            "Wasserstein": scaled_wasserstein(values, np.asarray(p.quantiles), p.scale),
            "baseline: KS test, calibrated": float(ks.statistic),
            f"KS test {NOMINAL}": 1.0 - ks.pvalue,
        }
    p = profile.categorical[feature]
    expected = np.asarray(p.fractions)
    observed = category_fractions(window[feature].to_numpy(), p.vocabulary)
    smoothed = np.maximum(expected, 1e-4)
    counts = observed * len(window)
    chi2 = chisquare(counts, smoothed / smoothed.sum() * counts.sum())
    return {
        "PSI": population_stability_index(expected, observed),
        "Jensen-Shannon": jensen_shannon_distance(expected, observed),
        "baseline: chi-square test, calibrated": float(chi2.statistic),
        f"chi-square test {NOMINAL}": 1.0 - chi2.pvalue,
    }


def run(out: Path) -> str:
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    config = GeneratorConfig(n_cards=5000, n_merchants=500, days=400)
    reference = served_days(config, 0, 28)
    profile = build_reference_profile(reference, WINDOW_SPEC)
    null_pool = served_days(config, 28, 60)
    rows = []
    evidently_missing: str | None = None
    evidently_version = ""
    evidently_checks = 0
    for shift in SHIFTS:
        drift_pool = served_days(with_scenario(config, start_day=200, **shift.knobs), 200, 21)
        reference_values = reference[shift.feature].to_numpy(np.float64) if shift.feature in profile.numeric else None
        detected: dict[str, dict[int, float]] = {}
        nominal_false_alarms: dict[int, float] = {}
        peer_windows, peer_sizes, peer_drifted, peer_checks = [], [], [], []
        for size in WINDOW_SIZES:
            null_windows = _windows(null_pool, size, NULL_WINDOWS, rng)
            drift_windows = _windows(drift_pool, size, DRIFT_WINDOWS, rng)
            null = [_statistics(profile, shift.feature, w, reference_values) for w in null_windows]
            drift = [_statistics(profile, shift.feature, w, reference_values) for w in drift_windows]
            for name in null[0]:
                null_values = np.array([s[name] for s in null])
                if name.endswith(NOMINAL):
                    limit = 1.0 - FALSE_ALARMS  # p < 0.01, as the test is meant to be used
                    nominal_false_alarms[size] = float((null_values > limit).mean())
                else:
                    limit = float(np.quantile(null_values, 1.0 - FALSE_ALARMS))
                detected.setdefault(name, {})[size] = float(np.mean([s[name] > limit for s in drift]))
            for windows, drifted in ((null_windows[:EVIDENTLY_NULL_WINDOWS], False), (drift_windows, True)):
                peer_checks.append(len(peer_windows))
                peer_windows += [w[shift.feature].to_numpy() for w in windows]
                peer_sizes += [size] * len(windows)
                peer_drifted += [drifted] * len(windows)
        needed = {name: rows_needed(by_size, POWER) for name, by_size in detected.items()}
        false_alarms = {name: "1.0% (calibrated)" for name in needed}
        baseline = next(n for n in needed if n.startswith("baseline"))
        nominal = next(n for n in needed if n.endswith(NOMINAL))
        false_alarms[nominal] = f"{max(nominal_false_alarms.values()):.1%} (worst size)"
        if evidently_missing is None:
            kind = "numerical" if shift.feature in profile.numeric else "categorical"
            try:
                result = run_evidently(
                    shift.feature, kind, reference[shift.feature].to_numpy(), peer_windows, peer_checks
                )
            except PeerUnavailable as error:
                evidently_missing = str(error)
            else:
                evidently_version = result.version
                evidently_checks += result.report_checks
                summary = summarise(peer_sizes, peer_drifted, result.verdicts)
                name = f"Evidently default ({', '.join(summary.methods)})"
                needed[name] = rows_needed(summary.detected, POWER)
                worst = max(summary.false_alarms, key=lambda size: summary.false_alarms[size])
                false_alarms[name] = f"{summary.false_alarms[worst]:.1%} (worst size: {worst})"
        for name, size in needed.items():
            ratio = "" if size is None or needed[baseline] is None else f"{size / needed[baseline]:.2f}"
            shown = f"> {WINDOW_SIZES[-1]}" if size is None else str(size)
            rows.append(f"| {shift.name} | {shift.feature} | {name} | {shown} | {ratio} | {false_alarms[name]} |")
    elapsed = time.perf_counter() - started
    if evidently_missing is None:
        peer_note = (
            f"Evidently {evidently_version} rows: its DataDriftPreset with defaults, on the same windows (the first"
            f" {EVIDENTLY_NULL_WINDOWS} no-drift windows and all {DRIFT_WINDOWS} drifted ones per size; each window"
            " through Evidently's own default-test choice and test, and"
            f" {evidently_checks} of them, the first no-drift and drifted window of each size and shift, also"
            " through the full `Report([DataDriftPreset()])`, which agreed on test, score and verdict)."
            " Its defaults depend on the reference's size, not the window's: for a reference over 1,000 rows (ours"
            f" has {len(reference):,}) Wasserstein distance normed by the reference's standard deviation for"
            " numeric columns and Jensen-Shannon distance for categorical ones, drift at >= 0.1; for a reference"
            " of at most 1,000 rows the KS test (numeric) or chi-square test (categorical), drift at p 0.05. None of"
            " these is calibrated to a false-alarm rate: its false-alarm column is what the default really did"
            " on no-drift windows (worst size). Evidently drops missing values before testing."
        )
    else:
        peer_note = f"Evidently was not run: {evidently_missing}, then rerun this benchmark to add its rows."
    table = "\n".join(
        [
            "# Drift statistics: rows per window to catch a shift at <= 1% false alarms",
            "",
            f"Generated by `bench/monitoring_drift.py` on {platform.node()} ({platform.processor() or 'cpu'}),"
            f" {elapsed:.0f} s. Fraud generator, 5,000 cards; reference profile from 28 days; windows of consecutive"
            f" served rows. Limits: each statistic's 99th percentile over {NULL_WINDOWS} no-drift windows per size."
            f" Rows needed: smallest of {list(WINDOW_SIZES)} with >= {POWER:.0%} of {DRIFT_WINDOWS} drifted windows"
            " detected. Ratio: rows needed / the baseline's rows needed (same run). The baselines are the classical"
            " tests (two-sample Kolmogorov-Smirnov for numeric features, Pearson's chi-square for categorical ones),"
            " their statistic calibrated the same way as ours, so every ratio compares detectors at the same 1%"
            " false alarms. The same tests at a nominal p < 0.01 are shown too; their false-alarm column is what"
            " they really did on no-drift windows (correlated, production-like rows make them alarm more often).",
            "",
            peer_note,
            "",
            "| shift | feature | statistic | rows needed | ratio to baseline | false alarms |",
            "| --- | --- | --- | ---: | ---: | --- |",
            *rows,
            "",
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bench/monitoring.md"))
    print(run(parser.parse_args().out))


if __name__ == "__main__":
    main()
