"""FeatureSpec rejects contradictory definitions and hashes what it defines."""

import json

import pytest

from features.spec import FeatureSpec


def _spec(**overrides):
    base = {
        "entity_id": "id",
        "timestamp": "ts",
        "label": "y",
        "numeric": ("a", "b"),
        "categorical": {"c": ("x", "y")},
    }
    return FeatureSpec(**{**base, **overrides})


def test_features_lists_numeric_then_categorical():
    assert _spec().features == ("a", "b", "c")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"numeric": ("a", "a")}, "feature names repeat"),
        ({"numeric": ("a", "y")}, "framing columns"),
        ({"categorical": {"c": ()}}, "empty vocabulary"),
    ],
)
def test_contradictions_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        _spec(**overrides)


def test_hash_changes_with_any_part_of_the_definition():
    assert _spec().definition_hash() == _spec().definition_hash()
    assert _spec().definition_hash() != _spec(numeric=("a", "b2")).definition_hash()
    assert _spec().definition_hash() != _spec(categorical={"c": ("x", "z")}).definition_hash()
    assert _spec().definition_hash() != _spec(version="2").definition_hash()


def test_encode_categorical_reserves_zero_for_unknown_values():
    from features.spec import encode_categorical

    assert encode_categorical(("x", "y"), ["y", "x", "new", None]) == [2, 1, 0, 0]


def test_a_spec_survives_its_dict_form_and_a_broken_one_is_named():
    spec = FeatureSpec("id", "t", "y", numeric=("b", "a"), categorical={"d": ("x", "y"), "c": ("z",)})
    again = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict(), sort_keys=True)))
    assert again == spec and list(again.categorical) == ["d", "c"], "column order survives any JSON writer"
    with pytest.raises(ValueError, match="loses the order"):
        FeatureSpec.from_dict({**spec.to_dict(), "categorical": {"d": ["x"]}})
    with pytest.raises(ValueError, match="numeric"):
        FeatureSpec.from_dict({"entity_id": "id", "timestamp": "t", "label": "y"})
