"""A `package.module:ATTRIBUTE` reference loads its object, and a bad one says what is wrong with it."""

import pytest

from features.references import load_reference


def test_a_reference_loads_its_object():
    from features.model_contract import OUTPUT_SCORE

    assert load_reference("features.model_contract:OUTPUT_SCORE") == OUTPUT_SCORE


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("no_colon", "not of the form package.module:ATTRIBUTE"),
        ("features.nowhere:X", "cannot load 'features.nowhere:X'"),
        ("features.model_contract:NOPE", "cannot load 'features.model_contract:NOPE'"),
    ],
)
def test_a_bad_reference_is_named(reference, words):
    with pytest.raises(ValueError, match=words):
        load_reference(reference)
