"""The convenience endpoint's logic: a raw transaction -> features (pluggable online feature function) -> model inputs.

The feature function is the domain's (shared with training, reading the online feature state); serving only
knows its interface, `FeatureFunction`, and turns its output into contract tensors with the FeatureSpec.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from features.spec import FeatureSpec, encode_categorical
from serving.model_config import ModelConfig
from serving.oip_codec import RequestError


@runtime_checkable
class FeatureFunction(Protocol):
    """Computes one transaction's model features (by FeatureSpec name) from the raw transaction and online state."""

    def __call__(self, transaction: Mapping[str, Any]) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]: ...


def load_feature_function(reference: str) -> FeatureFunction:
    """Resolves 'package.module:attribute'; a class or zero-argument factory is called once to build the function."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"feature function reference {reference!r} must look like 'package.module:attribute'")
    target = getattr(importlib.import_module(module_name), attribute)
    if inspect.isclass(target) or getattr(target, "is_factory", False):
        target = target()
    if not callable(target):
        raise TypeError(f"{reference} is not callable")
    return target


def load_feature_spec(reference: str) -> FeatureSpec:
    """Resolves 'package.module:attribute' to a FeatureSpec instance (or a zero-argument function returning one)."""
    module_name, _, attribute = reference.partition(":")
    target = getattr(importlib.import_module(module_name), attribute)
    spec = target() if callable(target) and not isinstance(target, FeatureSpec) else target
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"{reference} is a {type(spec).__name__}, not a FeatureSpec")
    return spec


def input_feature_names(spec: FeatureSpec, config: ModelConfig) -> dict[str, tuple[str, ...]]:
    """Which FeatureSpec names each model input's columns hold (the contract: numeric then categorical)."""
    groups = [spec.numeric, tuple(spec.categorical)]
    names: dict[str, tuple[str, ...]] = {}
    for tensor, group in zip(config.inputs, (g for g in groups if g), strict=False):
        if len(tensor.dims) == 1 and tensor.dims[0] == len(group):
            names[tensor.name] = group
    return names


def encode_features(spec: FeatureSpec, config: ModelConfig, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One row of contract inputs from named features; a missing, extra, non-numeric or non-finite feature is a 400."""
    if not isinstance(features, Mapping):
        raise RequestError(400, f"the feature function returned {type(features).__name__}, not a mapping")
    missing = [name for name in spec.features if name not in features]
    if missing:
        raise RequestError(400, f"features {missing} are missing; the model needs {list(spec.features)}")
    numeric = []
    for name in spec.numeric:
        value = features[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RequestError(400, f"feature '{name}' must be a finite number, got {value!r}")
        numeric.append(float(value))
    categorical = [encode_categorical(vocab, [features[name]])[0] for name, vocab in spec.categorical.items()]
    columns = [np.asarray([numeric], dtype=np.float32)]
    if spec.categorical:
        columns.append(np.asarray([categorical], dtype=np.int64))
    if len(columns) != len(config.inputs):
        raise RequestError(400, f"model '{config.name}' inputs do not follow the FeatureSpec contract")
    return {
        tensor.name: column.astype(tensor.numpy_dtype, copy=False)
        for tensor, column in zip(config.inputs, columns, strict=True)
    }


async def compute_features(function: FeatureFunction, transaction: Mapping[str, Any]) -> Mapping[str, Any]:
    """Calls the feature function (sync or async); bad transactions become a 400 naming the problem, an
    unavailable feature state (OSError, e.g. ConnectionError or FileNotFoundError) a 503."""
    try:
        result = function(transaction)
        if inspect.isawaitable(result):
            result = await result
    except (KeyError, ValueError, TypeError) as exc:
        raise RequestError(400, f"cannot compute features for this transaction: {type(exc).__name__}: {exc}") from None
    except OSError as exc:  # the feature state (file, Redis, ...) is unavailable: the request is fine, retry later
        raise RequestError(503, f"feature state unavailable: {exc}") from None
    return result
