"""The declared models the definitions are built from (FLYWHEEL_MODELS), checked once when the code location loads.

A bad list fails the load with one message naming the model and the field (features/model_declaration.py), so
nothing is half-registered; assets/model_stages.py then builds every per-model stage from each declaration.
"""

from functools import cache

from assets.stack_environment import STACK
from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from features.model_declaration import (
    DeclarationError,
    FeatureTable,
    ModelDeclaration,
    check_declarations,
    feature_table,
)
from features.references import load_reference


def load_declarations(reference: str) -> tuple[ModelDeclaration, ...]:
    """The declarations at `reference` ('package.module:ATTRIBUTE'), checked against the example's event schemas."""
    try:
        models = load_reference(reference)
    except ValueError as error:
        raise DeclarationError("-", "FLYWHEEL_MODELS", str(error)) from error
    if not isinstance(models, list | tuple):
        raise DeclarationError("-", "FLYWHEEL_MODELS", f"'{reference}' is a {type(models).__name__}, not a list")
    return check_declarations(tuple(models), TRANSACTION_ARROW_SCHEMA.names, LABEL_ARROW_SCHEMA.names)


@cache
def declared_models() -> tuple[ModelDeclaration, ...]:
    """The stack's declared models (FLYWHEEL_MODELS), loaded and checked once per process."""
    return load_declarations(STACK.models)


@cache
def shared_features() -> FeatureTable:
    """The feature table every declared model reads from (one Spark job and one online store for all of them)."""
    return feature_table(declared_models())
