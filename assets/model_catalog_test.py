"""The declared models load from FLYWHEEL_MODELS and are checked: a bad list fails by name, before any asset exists."""

import dataclasses

import pytest

from assets.model_catalog import declared_models, load_declarations
from domain.models import MODELS
from features.model_declaration import DeclarationError, GateDeclaration

EXAMPLE = MODELS[0]
EU = f"{EXAMPLE.name}_eu"
MISSPELT = (dataclasses.replace(EXAMPLE, gate=GateDeclaration(increasing=(EXAMPLE.spec.numeric[0] + "_misspelt",))),)
TWO = (EXAMPLE, dataclasses.replace(EXAMPLE, name=EU, registered_model=f"{EU}-model", served_name=EU))
CLASH = (EXAMPLE, dataclasses.replace(EXAMPLE, name=EU, registered_model=f"{EU}-model"))
NOT_A_LIST = 42


def test_the_example_declares_the_model_the_graph_serves():
    assert load_declarations("domain.models:MODELS") == MODELS == declared_models()
    assert EXAMPLE.registered_model == f"{EXAMPLE.name}-model" and EXAMPLE.served_name == EXAMPLE.name


def test_a_misspelt_feature_fails_the_load_naming_model_and_field():
    with pytest.raises(DeclarationError, match=f"model '{EXAMPLE.name}', field 'gate.increasing': unknown features"):
        load_declarations("assets.model_catalog_test:MISSPELT")


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("no_colon", "package.module:ATTRIBUTE"),
        ("assets.nowhere:MODELS", "cannot load"),
        ("assets.model_catalog_test:NOT_A_LIST", "is a int, not a list"),
    ],
)
def test_an_unloadable_reference_is_refused(reference, words):
    with pytest.raises(DeclarationError, match=words):
        load_declarations(reference)


def test_several_models_load_and_a_serving_name_claimed_twice_is_refused():
    assert [m.name for m in load_declarations("assets.model_catalog_test:TWO")] == [EXAMPLE.name, EU]
    claimed = f"model '{EU}', field 'served_name': '{EXAMPLE.served_name}' is claimed by 2"
    with pytest.raises(DeclarationError, match=claimed):
        load_declarations("assets.model_catalog_test:CLASH")


def test_training_aims_for_the_gates_direction_expectations():
    from assets.model_training import ModelTrainingConfig, training_inputs

    numeric = EXAMPLE.spec.numeric
    declared = dataclasses.replace(EXAMPLE, gate=GateDeclaration(increasing=(numeric[0],), decreasing=(numeric[1],)))
    training_config, _ = training_inputs(declared, ModelTrainingConfig(training_config="tiny"))
    assert training_config.monotone == {numeric[0]: 1, numeric[1]: -1}
    plain, _ = training_inputs(dataclasses.replace(EXAMPLE, gate=GateDeclaration()), ModelTrainingConfig())
    assert plain.monotone == {}
