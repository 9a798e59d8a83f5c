"""Raw transaction -> features (pluggable function) -> contract tensors, with clear errors."""

import asyncio

import numpy as np
import pytest

from features.spec import FeatureSpec
from serving.model_config import contract_config
from serving.oip_codec import RequestError
from serving.transaction_scoring import (
    FeatureFunction,
    compute_features,
    encode_features,
    input_feature_names,
    load_feature_function,
    load_feature_spec,
)

SPEC = FeatureSpec(
    entity_id="tx_id", timestamp="ts", label="y", numeric=("amount", "hour"), categorical={"channel": ("web", "pos")}
)
CONFIG = contract_config("m", SPEC)


def fake_features(transaction):
    """A stand-in for the domain's online feature function."""
    return {"amount": float(transaction["amount"]), "hour": 13, "channel": transaction.get("channel", "?")}


async def async_fake_features(transaction):
    return fake_features(transaction)


def test_features_become_contract_tensors():
    inputs = encode_features(SPEC, CONFIG, {"amount": 12.5, "hour": 3, "channel": "pos"})
    np.testing.assert_array_equal(inputs["numeric"], np.array([[12.5, 3]], dtype=np.float32))
    np.testing.assert_array_equal(inputs["categorical"], np.array([[2]], dtype=np.int64))
    assert encode_features(SPEC, CONFIG, {"amount": 1, "hour": 3, "channel": "atm"})["categorical"][0, 0] == 0


@pytest.mark.parametrize(
    ("features", "fragment"),
    [
        ({"amount": 1.0, "channel": "web"}, "['hour'] are missing"),
        ({"amount": float("nan"), "hour": 1, "channel": "web"}, "'amount' must be a finite number"),
        ({"amount": "12", "hour": 1, "channel": "web"}, "'amount' must be a finite number"),
        ({"amount": True, "hour": 1, "channel": "web"}, "'amount' must be a finite number"),
    ],
)
def test_bad_features_are_400s_naming_the_feature(features, fragment):
    with pytest.raises(RequestError) as caught:
        encode_features(SPEC, CONFIG, features)
    assert caught.value.status == 400 and fragment in caught.value.message


@pytest.mark.parametrize("function", [fake_features, async_fake_features])
def test_sync_and_async_feature_functions(function):
    assert isinstance(function, FeatureFunction)
    features = asyncio.run(compute_features(function, {"amount": "7.5", "channel": "web"}))
    assert features == {"amount": 7.5, "hour": 13, "channel": "web"}


def test_feature_function_errors_on_a_bad_transaction_are_400s():
    with pytest.raises(RequestError, match="KeyError"):
        asyncio.run(compute_features(fake_features, {"channel": "web"}))


def test_references_resolve_to_functions_and_specs():
    assert load_feature_function("serving.transaction_scoring_test:fake_features") is fake_features
    assert load_feature_spec("serving.synthetic_data:reference_spec").numeric[0] == "x0"
    with pytest.raises(ValueError, match="package.module:attribute"):
        load_feature_function("no_colon")


def test_input_feature_names_map_columns_to_spec_names():
    assert input_feature_names(SPEC, CONFIG) == {"numeric": ("amount", "hour"), "categorical": ("channel",)}
