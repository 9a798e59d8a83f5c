"""Offline checks of what infra/ deploys: Kubernetes schemas, CRDs, Helm chart value schemas, and image references.

The upstream CRDs and chart schemas live in ../shared/schemas beside the workspace
(/work/shared/schemas here, <clone>/../shared/schemas in CI), found through the
workspace's real path; Kubernetes' own schemas come with kubernetes-validate.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

WORKSPACE = Path(os.path.realpath(__file__)).parents[1]
KUBERNETES_VERSION = "1.33.0"
_DIGEST_REF = re.compile(r"^(?P<registry>[^@]+)/(?P<name>[a-z0-9_]+)@sha256:(?P<hex>[0-9a-f]{64})$")


class SchemasMissing(FileNotFoundError):
    """../shared/schemas is not beside the workspace."""


def schemas_root() -> Path:
    """../shared/schemas relative to the workspace's real path; SchemasMissing says where it looked."""
    root = (WORKSPACE.parent / "shared" / "schemas").resolve()
    if not (root / "README.md").is_file():
        raise SchemasMissing(
            f"upstream schemas not found at {root} (../shared/schemas from the workspace {WORKSPACE}): "
            "the Strimzi/prometheus-operator CRDs and Dagster chart schemas must sit there (see its README)"
        )
    return root


def load_crds(root: Path) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema for every CRD under strimzi/ and prometheus-operator/."""
    schemas = {}
    for path in sorted([*root.glob("strimzi/*.yaml"), *root.glob("prometheus-operator/*.yaml")]):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate_native(manifest: dict) -> list[str]:
    """Errors of a built-in Kubernetes object against the Kubernetes schema (strict: unknown fields fail)."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{exc.path}: {exc.message}" if hasattr(exc, "path") else str(exc)]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [
            f"no Kubernetes {KUBERNETES_VERSION} schema for {manifest.get('apiVersion')}/{manifest.get('kind')}: {exc}"
        ]
    return []


def validate_custom(manifest: dict, crds: dict[tuple[str, str], dict]) -> list[str]:
    """Errors of a custom resource against its CRD's openAPIV3Schema."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key not in crds:
        return [f"no CRD in shared/schemas serves {key[0]} {key[1]}"]
    validator = jsonschema.Draft7Validator(_structural(crds[key]))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def _structural(schema: dict) -> dict:
    """A CRD schema as plain JSON Schema: x-kubernetes-int-or-string becomes integer|string."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("x-kubernetes-int-or-string"):
                node.pop("type", None)
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def without_required(schema):
    """A chart schema minus `required`: Helm checks values merged with the chart's defaults, we check ours alone."""
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema


def local_refs(schema):
    """Remote $refs (kubernetesjsonschema.dev) replaced by permissive {}: never fetched at test time."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("http"):
            return {k: local_refs(v) for k, v in schema.items() if k != "$ref"}
        return {k: local_refs(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [local_refs(v) for v in schema]
    return schema


def validate_values(values: dict, schema_file: Path) -> list[str]:
    """Errors of our Helm values against a chart's values.schema.json (types, enums, unknown keys)."""
    schema = local_refs(without_required(json.loads(schema_file.read_text())))
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(values)]


def image_references(node, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, image) for every container image a manifest or values object names (Helm repository+tag pairs too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}/{key}"
            if key == "image" and isinstance(value, str):
                yield where, value
            elif key == "image" and isinstance(value, dict) and "repository" in value:
                tag = value.get("tag")
                yield where, f"{value['repository']}:{tag}" if tag else value["repository"]
            else:
                yield from image_references(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from image_references(value, f"{path}[{index}]")


def check_image(reference: str, bazel_images: dict[str, str | None], third_party: set[str]) -> str | None:
    """Why an image reference is not allowed, or None: ours by digest as Bazel built it, or a pinned third party."""
    if reference in third_party:
        return None
    match = _DIGEST_REF.match(reference)
    if not match:
        return f"'{reference}' is neither REGISTRY/<bazel image>@sha256:<digest> nor in infra/third_party_images.json"
    name = match["name"]
    if name not in bazel_images:
        return f"'{reference}' names image '{name}', which //infra/images does not build ({sorted(bazel_images)})"
    built = bazel_images[name]
    if built is not None and f"sha256:{match['hex']}" != built:
        return f"'{reference}' has digest sha256:{match['hex'][:12]}..., but Bazel built {built[:19]}..."
    return None
