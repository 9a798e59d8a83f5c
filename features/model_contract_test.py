"""The model contract: one definition of tensor names, dtypes and widths for any FeatureSpec."""

import numpy as np

from features.model_contract import (
    INPUT_CATEGORICAL,
    INPUT_NUMERIC,
    OUTPUT_SCORE,
    example_inputs,
    input_tensors,
    output_tensors,
)
from features.spec import FeatureSpec

SPEC = FeatureSpec("id", "t", "y", numeric=("a", "b", "c"), categorical={"k": ("x", "y"), "m": ("p",)})
NUMERIC_ONLY = FeatureSpec("id", "t", "y", numeric=("a",))


def test_inputs_follow_the_spec_in_order():
    assert [(t.name, t.dtype, t.width) for t in input_tensors(SPEC)] == [
        (INPUT_NUMERIC, np.dtype(np.float32), 3),
        (INPUT_CATEGORICAL, np.dtype(np.int64), 2),
    ]
    assert [(t.name, t.width) for t in output_tensors()] == [(OUTPUT_SCORE, 1)]


def test_a_spec_without_categoricals_has_no_categorical_input():
    assert [t.name for t in input_tensors(NUMERIC_ONLY)] == [INPUT_NUMERIC]
    assert list(example_inputs(NUMERIC_ONLY, 4)) == [INPUT_NUMERIC]


def test_example_inputs_have_the_contract_dtypes_shapes_and_valid_indices():
    inputs = example_inputs(SPEC, 500, seed=3)
    assert inputs[INPUT_NUMERIC].dtype == np.float32 and inputs[INPUT_NUMERIC].shape == (500, 3)
    categorical = inputs[INPUT_CATEGORICAL]
    assert categorical.dtype == np.int64 and categorical.shape == (500, 2)
    assert categorical[:, 0].max() <= 2 and categorical[:, 1].max() <= 1 and categorical.min() == 0
    np.testing.assert_array_equal(
        example_inputs(SPEC, 5, seed=1)[INPUT_NUMERIC], example_inputs(SPEC, 5, seed=1)[INPUT_NUMERIC]
    )
