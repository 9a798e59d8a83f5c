"""FeatureSpec to and from JSON, so a training subprocess, an MLflow run and serving share the exact definition."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from features.references import load_reference
from features.spec import FeatureSpec

SPEC_FILE_NAME = "feature_spec.json"


def spec_to_dict(spec: FeatureSpec) -> dict:
    data = dataclasses.asdict(spec)
    data["numeric"] = list(spec.numeric)
    data["categorical"] = {name: list(vocab) for name, vocab in spec.categorical.items()}
    return data


def spec_from_dict(data: dict) -> FeatureSpec:
    fields = {f.name for f in dataclasses.fields(FeatureSpec)}
    unknown = set(data) - fields
    if unknown:
        raise ValueError(f"feature spec has unknown field(s) {sorted(unknown)}")
    values = dict(data)
    values["numeric"] = tuple(values.get("numeric", ()))
    values["categorical"] = {name: tuple(vocab) for name, vocab in values.get("categorical", {}).items()}
    return FeatureSpec(**values)


def write_spec(spec: FeatureSpec, path: str | Path) -> Path:
    """Writes the spec as JSON (with its definition hash, for humans; the hash is recomputed on read)."""
    path = Path(path)
    path.write_text(json.dumps({**spec_to_dict(spec), "definition_hash": spec.definition_hash()}, indent=2))
    return path


def read_spec(path: str | Path) -> FeatureSpec:
    data = json.loads(Path(path).read_text())
    recorded = data.pop("definition_hash", None)
    spec = spec_from_dict(data)
    if recorded and recorded != spec.definition_hash():
        raise ValueError(f"{path}: recorded definition hash {recorded} != {spec.definition_hash()} of its content")
    return spec


def resolve_spec(reference: str) -> FeatureSpec:
    """A spec from a JSON file path or from 'package.module:ATTRIBUTE' (e.g. a domain FeatureSpec instance)."""
    if ":" in reference and not Path(reference).exists():
        spec = load_reference(reference)
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"{reference} is a {type(spec).__name__}, not a FeatureSpec")
        return spec
    return read_spec(reference)
