"""Declarations are checked at definitions load: each bad field is refused with the model and the field named."""

import dataclasses
from datetime import timedelta

import pytest

from features.definitions import Categorical, LabelRate, Passthrough, WindowAggregate
from features.model_declaration import (
    DeclarationError,
    DriftDeclaration,
    GateDeclaration,
    ModelDeclaration,
    Segment,
    check_declarations,
    feature_table,
    segment_route,
    too_little_data,
)
from features.spec import FeatureSpec

EVENTS = ("event_id", "t", "user", "shop", "amount", "kind")
LABELS = ("event_id", "label_time", "y", "other_label")
SPEC = FeatureSpec("event_id", "t", "y", numeric=("amount", "n_1h", "shop_rate"), categorical={"kind": ("a", "b")})
GOOD = ModelDeclaration(
    name="scorer",
    spec=SPEC,
    numeric_features=(
        Passthrough("amount", column="amount"),
        WindowAggregate("n_1h", entity="user", window_seconds=3600, agg="count"),
        LabelRate("shop_rate", entity="shop", prior_rate=0.1, prior_weight=10.0),
    ),
    categorical_features=(Categorical("kind", column="kind", vocabulary=("a", "b")),),
    gate=GateDeclaration(increasing=("shop_rate",)),
    drift=DriftDeclaration(exempt=("n_1h",)),
)


def test_a_good_declaration_passes_and_gets_its_default_names():
    (model,) = check_declarations([GOOD], EVENTS, LABELS)
    assert (model.registered_model, model.served_name) == ("scorer-model", "scorer")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Bad Name"}, "name", "lower-case"),
        ({"gate": GateDeclaration(increasing=("nope",))}, "gate.increasing", "unknown features ['nope']"),
        ({"drift": DriftDeclaration(exempt=("ghost",))}, "drift.exempt", "unknown features ['ghost']"),
        ({"gate": GateDeclaration(primary_metric="accuracy")}, "gate.primary_metric", "'accuracy' is not one of"),
        ({"spec": dataclasses.replace(SPEC, label="is_bad")}, "spec.label", "'is_bad' is not a column of the labels"),
        ({"label_maturity": timedelta(0)}, "label_maturity", "must be positive"),
        (
            {"numeric_features": GOOD.numeric_features[:2] + (Passthrough("extra", column="amount"),)},
            "numeric_features",
            "does not match spec.numeric",
        ),
        (
            {"numeric_features": (Passthrough("amount", column="amt"), *GOOD.numeric_features[1:])},
            "numeric_features 'amount'.column",
            "reads column 'amt'",
        ),
    ],
)
def test_each_bad_field_is_named(change, field, words):
    with pytest.raises(DeclarationError, match="model '.*', field '" + field.replace("'", ".") + "'") as error:
        check_declarations([dataclasses.replace(GOOD, **change)], EVENTS, LABELS)
    assert words in str(error.value)


def test_two_models_cannot_claim_one_name_or_one_serving_name():
    twin = dataclasses.replace(GOOD, registered_model="other-model", served_name="other")
    with pytest.raises(DeclarationError, match="field 'name': 'scorer' is claimed by 2 models"):
        check_declarations([GOOD, twin], EVENTS, LABELS)
    rival = dataclasses.replace(GOOD, name="rival", registered_model="rival-model", served_name="scorer")
    with pytest.raises(DeclarationError, match="model 'rival', field 'served_name': 'scorer' is claimed by 2 models"):
        check_declarations([GOOD, rival], EVENTS, LABELS)
    second_task = dataclasses.replace(
        GOOD, name="other", registered_model="", served_name="", spec=dataclasses.replace(SPEC, label="other_label")
    )
    assert [m.name for m in check_declarations([GOOD, second_task], EVENTS, LABELS)] == ["scorer", "other"]


def test_no_models_is_refused():
    with pytest.raises(DeclarationError, match="no model is declared"):
        check_declarations([], EVENTS, LABELS)


def test_models_share_one_feature_table_and_one_name_means_one_definition():
    light = dataclasses.replace(
        GOOD,
        name="light",
        registered_model="",
        served_name="",
        spec=FeatureSpec("event_id", "t", "y", numeric=("amount",)),
        numeric_features=(Passthrough("amount", column="amount"),),
        categorical_features=(),
    )
    table = feature_table([GOOD, light])
    assert table.spec.numeric == ("amount", "n_1h", "shop_rate") and list(table.spec.categorical) == ["kind"]
    clash = dataclasses.replace(light, numeric_features=(Passthrough("amount", column="kind"),))
    with pytest.raises(
        DeclarationError, match="model 'light', field 'numeric_features': 'amount' is defined differently"
    ):
        feature_table([GOOD, clash])


def _segment(name: str, values: tuple[str, ...], **changes) -> ModelDeclaration:
    segment = Segment(parent="scorer", column="kind", values=values)
    return dataclasses.replace(GOOD, name=name, registered_model="", served_name="", segment=segment, **changes)


def test_segments_of_one_parent_pass_and_get_a_route_to_their_parent():
    models = check_declarations([GOOD, _segment("scorer_a", ("a",)), _segment("scorer_b", ("b",))], EVENTS, LABELS)
    assert segment_route(models[1], models) == {"parent": "scorer", "column": "kind", "values": ["a"]}
    assert segment_route(models[0], models) is None


@pytest.mark.parametrize(
    ("models", "field", "words"),
    [
        (lambda: [GOOD, _segment("scorer_a", ("zzz",))], "segment.values", "no data"),
        (lambda: [GOOD, _segment("scorer_a", ("a",)), _segment("scorer_b", ("a", "b"))], "segment.values", "also"),
        (
            lambda: [dataclasses.replace(_segment("scorer_a", ("a",)), segment=Segment("nobody", "kind", ("a",)))],
            "segment.parent",
            "not another declared model",
        ),
        (
            lambda: [GOOD, _segment("scorer_a", ("a",), spec=dataclasses.replace(SPEC, label="other_label"))],
            "spec.label",
            "differs from its parent",
        ),
        (
            lambda: [
                GOOD,
                dataclasses.replace(_segment("scorer_a", ("a",)), segment=Segment("scorer", "colour", ("a",))),
            ],
            "segment.column",
            "events do not have",
        ),
        (lambda: [GOOD, _segment("scorer_a", ())], "segment.values", "non-empty"),
    ],
)
def test_bad_segments_are_refused_naming_the_model_and_field(models, field, words):
    with pytest.raises(DeclarationError, match=words) as error:
        check_declarations(models(), EVENTS, LABELS)
    assert error.value.field_name == field


def test_a_segment_too_small_to_train_says_why():
    segment = Segment(parent="scorer", column="kind", values=("a",), min_rows=100, min_positives=5)
    assert "fewer than min_rows=100" in too_little_data(segment, 99, 50)
    assert "4 positive labels" in too_little_data(segment, 100, 4)
    assert too_little_data(segment, 100, 5) is None
