"""The engine build's holdout carries exactly the model contract's inputs (a spec without categoricals has none)."""

import dataclasses

import numpy as np
import pandas as pd

from assets.serving_engine import as_holdout
from serving.synthetic_data import reference_spec


def _frame(spec, rows: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in spec.numeric})
    for name, vocabulary in spec.categorical.items():
        frame[name] = [vocabulary[i % len(vocabulary)] for i in range(rows)]
    frame[spec.label] = np.arange(rows) % 2
    return frame


def test_the_holdout_has_the_contract_inputs_only():
    spec = reference_spec()
    holdout = as_holdout(_frame(spec), spec, rows=5)
    assert sorted(holdout.inputs) == ["categorical", "numeric"] and holdout.inputs["numeric"].shape == (5, 8)
    numeric_only = dataclasses.replace(spec, categorical={})
    holdout = as_holdout(_frame(numeric_only), numeric_only, rows=5)
    assert list(holdout.inputs) == ["numeric"], "no zero-width categorical tensor for a model that has none"
    assert holdout.labels.tolist() == [1, 0, 1, 0, 1]
