"""`package.module:ATTRIBUTE` references: how configs and environment variables name a Python object."""

from __future__ import annotations

import importlib


def load_reference(reference: str):
    """The object `reference` names; ValueError naming the reference and what is wrong with it."""
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise ValueError(f"'{reference}' is not of the form package.module:ATTRIBUTE")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load '{reference}': {error}") from error
