"""The declared models the definitions are built from (FLYWHEEL_MODELS), checked once when the code location loads.

A bad list fails the load with one message naming the model and the field (features/model_declaration.py), so
nothing is half-registered. The per-model asset factories are not built yet: today's graph serves exactly one
declared model, and a longer list is refused by name rather than silently truncated.
"""

import importlib
from functools import cache

from assets.stack_environment import STACK
from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from features.model_declaration import DeclarationError, ModelDeclaration, check_declarations


def load_declarations(reference: str) -> tuple[ModelDeclaration, ...]:
    """The declarations at `reference` ('package.module:ATTRIBUTE'), checked against the example's event schemas."""
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise DeclarationError("-", "FLYWHEEL_MODELS", f"'{reference}' is not of the form package.module:ATTRIBUTE")
    try:
        models = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise DeclarationError("-", "FLYWHEEL_MODELS", f"cannot load '{reference}': {error}") from error
    if not isinstance(models, list | tuple):
        raise DeclarationError("-", "FLYWHEEL_MODELS", f"'{reference}' is a {type(models).__name__}, not a list")
    return check_declarations(tuple(models), TRANSACTION_ARROW_SCHEMA.names, LABEL_ARROW_SCHEMA.names)


@cache
def declared_models() -> tuple[ModelDeclaration, ...]:
    """The stack's declared models (FLYWHEEL_MODELS), loaded and checked once per process."""
    return load_declarations(STACK.models)


def single_model(models: tuple[ModelDeclaration, ...]) -> ModelDeclaration:
    """The one model today's per-model stages are built for; more than one is refused with the names."""
    if len(models) != 1:
        raise DeclarationError(
            models[-1].name,
            "FLYWHEEL_MODELS",
            f"{len(models)} models are declared ({[m.name for m in models]}); the per-model asset factories that "
            "build a graph for each are not written yet, so declare exactly one",
        )
    return models[0]


MODEL = single_model(declared_models())
"""The declared model every per-model stage of the graph serves today."""
