"""The declared models load from FLYWHEEL_MODELS and are checked: a bad list fails by name, before any asset exists."""

import dataclasses

import pytest

from assets.model_catalog import declared_models, load_declarations
from domain.models import FRAUD, MODELS
from features.model_declaration import DeclarationError, GateDeclaration

MISSPELT = (dataclasses.replace(FRAUD, gate=GateDeclaration(increasing=("merchant_fraud_rte",))),)
TWO = (FRAUD, dataclasses.replace(FRAUD, name="fraud_eu", registered_model="fraud-eu-model", served_name="fraud_eu"))
CLASH = (FRAUD, dataclasses.replace(FRAUD, name="fraud_eu", registered_model="fraud-eu-model"))
NOT_A_LIST = 42


def test_the_example_declares_the_model_the_graph_serves():
    assert load_declarations("domain.models:MODELS") == MODELS == declared_models()
    assert FRAUD.registered_model == "fraud-model" and FRAUD.served_name == "fraud"


def test_a_misspelt_feature_fails_the_load_naming_model_and_field():
    with pytest.raises(DeclarationError, match="model 'fraud', field 'gate.increasing': unknown features"):
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
    assert [m.name for m in load_declarations("assets.model_catalog_test:TWO")] == ["fraud", "fraud_eu"]
    with pytest.raises(DeclarationError, match="model 'fraud_eu', field 'served_name': 'fraud' is claimed by 2"):
        load_declarations("assets.model_catalog_test:CLASH")
