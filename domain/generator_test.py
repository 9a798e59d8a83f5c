"""The generator is deterministic, realistic in structure, and each scenario knob does what it says."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from domain.generator import (
    QUALITY_BREAKS,
    SCENARIO_PRESETS,
    GeneratorConfig,
    Population,
    Scenario,
    fixed_width_ids,
    generate_day,
    scenario_preset,
    write_history,
)
from domain.schema import TRANSACTION_ARROW_SCHEMA

CONFIG = GeneratorConfig(n_cards=2_000, n_merchants=300, days=3, seed=9)


def _day(config=CONFIG, index=0):
    return generate_day(config, Population(config), index)


def test_same_seed_same_data_other_seed_other_data():
    assert _day().transactions.equals(_day().transactions)
    assert not _day().transactions.equals(_day(GeneratorConfig(n_cards=2_000, n_merchants=300, seed=10)).transactions)


def test_rows_are_sorted_unique_and_typed():
    day = _day()
    assert day.transactions.schema == TRANSACTION_ARROW_SCHEMA
    times = day.transactions["event_time"].to_numpy()
    assert (np.diff(times.astype(np.int64)) >= 0).all()
    assert pc.count_distinct(day.transactions["transaction_id"]).as_py() == day.transactions.num_rows


def test_every_fraud_pattern_occurs_and_fraud_is_rare():
    day = _day(
        GeneratorConfig(n_cards=2_000, n_merchants=300, seed=9, card_testing_bursts_per_day=50, takeovers_per_day=50)
    )
    assert set(np.unique(day.pattern)) >= {0, 1, 2, 3}
    assert 0.001 < _day().is_fraud.mean() < 0.05, "at default rates fraud is rare"


def test_chargebacks_arrive_after_their_transaction():
    day = _day()
    events = dict(
        zip(day.transactions["transaction_id"].to_pylist(), day.transactions["event_time"].to_pylist(), strict=True)
    )
    assert day.labels.num_rows > 0
    assert all(
        at > events[tid]
        for tid, at in zip(day.labels["transaction_id"].to_pylist(), day.labels["label_time"].to_pylist(), strict=True)
    )


def test_amount_inflation_and_concept_drift_knobs():
    base = _day()
    drifted = _day(
        GeneratorConfig(
            n_cards=2_000, n_merchants=300, seed=9, scenario=Scenario(amount_inflation=2.0, new_fraud_pattern_rate=0.01)
        )
    )
    assert pc.mean(drifted.transactions["amount"]).as_py() > 1.6 * pc.mean(base.transactions["amount"]).as_py()
    assert (drifted.pattern == 4).sum() > 0 and (base.pattern == 4).sum() == 0


def test_friendly_fraud_changes_only_the_labels_of_small_digital_goods_payments():
    base = _day()
    drifted = _day(GeneratorConfig(n_cards=2_000, n_merchants=300, seed=9, scenario=Scenario(friendly_fraud_share=0.5)))
    assert drifted.transactions.equals(base.transactions), "the payments are the card's own: no input changes"
    friendly = drifted.pattern == 5
    assert friendly.sum() > 20 and (base.pattern == 5).sum() == 0
    assert (drifted.is_fraud == (base.is_fraud | friendly)).all() and not (base.is_fraud & friendly).any()
    chosen = drifted.transactions.filter(pa.array(friendly))
    assert set(chosen["merchant_category"].to_pylist()) == {"digital_goods"}
    assert pc.max(chosen["amount"]).as_py() <= 20.0
    labels, before = drifted.labels.to_pandas(), base.labels.to_pandas()
    added = labels.merge(before, how="left", indicator=True).query("_merge == 'left_only'")
    assert len(labels) == len(before) + len(added), "every earlier chargeback and dispute is kept as it was"
    assert set(added["transaction_id"]) <= set(chosen["transaction_id"].to_pylist())
    assert (added["is_fraud"] == 1).all() and (added["is_dispute"] == 0).all()
    disputed = set(labels.loc[labels["is_dispute"] == 1, "transaction_id"])
    assert not disputed & set(added["transaction_id"]), "nobody disputes a payment they charged back as fraud"


def test_history_is_partitioned_by_date(tmp_path):
    written = write_history(CONFIG, tmp_path)
    assert written.dates == ("2025-01-01", "2025-01-02", "2025-01-03")
    assert sorted(p.name for p in (tmp_path / "transactions").iterdir()) == [f"date={d}" for d in written.dates]
    assert (tmp_path / "chargebacks").is_dir() and written.labels > 0


def test_fixed_width_ids():
    assert fixed_width_ids("t", np.array([0, 42]), 4).to_pylist() == ["t0000", "t0042"]


def test_scenario_presets_name_every_break_and_refuse_unknown_names():
    assert {"normal", "covariate_drift", "concept_drift", "friendly_fraud", *QUALITY_BREAKS} == set(SCENARIO_PRESETS)
    assert scenario_preset("normal") == Scenario()
    assert scenario_preset("null_field", quality_break_share=0.1).quality_break_share == 0.1
    drifted = _day(GeneratorConfig(n_cards=2_000, n_merchants=300, seed=9, scenario=scenario_preset("covariate_drift")))
    assert pc.mean(drifted.transactions["amount"]).as_py() > 1.15 * pc.mean(_day().transactions["amount"]).as_py()
    with pytest.raises(ValueError, match="unknown scenario 'typo'; expected one of"):
        scenario_preset("typo")
