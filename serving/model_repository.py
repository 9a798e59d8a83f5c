"""The Triton-layout model repository: <root>/<model>/config.pbtxt and <root>/<model>/<version>/model.onnx|model.plan.

Versions are immutable folders that appear atomically (written under a hidden staging name, then renamed), so a
server polling the repository never sees half a version. Publishing a version into a served repository is the
deployment's atomic switch: `pin_version` then names the one version servers serve (Triton's
`version_policy: specific`), so a rollback to an older version reaches serving; without a pin they follow the
latest complete version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from pathlib import Path

from serving.model_config import ModelConfig

CONFIG_FILE = "config.pbtxt"
PROVENANCE_FILE = "engine.json"
SERVING_FILE = "serving.json"
"""Beside config.pbtxt: what our server needs beyond Triton's config (the model's FeatureSpec for the transaction
endpoint, and for a partitioned model the segment it takes from its parent). Triton ignores the file."""


class RepositoryError(RuntimeError):
    """The repository is missing something or would be overwritten."""


def model_names(root: Path) -> list[str]:
    """Models in the repository (folders holding a config.pbtxt)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file())


def versions(root: Path, name: str) -> list[int]:
    """The model's complete versions, ascending (numeric folder names only; staging folders are hidden)."""
    folder = root / name
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def serving_version(root: Path, name: str) -> int | None:
    """The version a server should serve: the pinned one if config.pbtxt pins one (None while that version is not
    complete), else the newest complete one."""
    complete = versions(root, name)
    pinned = read_config(root, name).pinned_version if (root / name / CONFIG_FILE).is_file() else None
    if pinned is None:
        return complete[-1] if complete else None
    return pinned if pinned in complete else None


def pin_version(root: Path, name: str, version: int) -> ModelConfig:
    """Makes `version` the one the model serves (config.pbtxt rewritten atomically); it must be complete already."""
    if version not in versions(root, name):
        raise RepositoryError(
            f"cannot pin version {version} of model '{name}': {root / name} holds versions {versions(root, name)}"
        )
    config = dataclasses.replace(read_config(root, name), pinned_version=version)
    _write_atomically(root / name / CONFIG_FILE, config.to_pbtxt())
    return config


def read_config(root: Path, name: str) -> ModelConfig:
    """The model's config.pbtxt, parsed."""
    path = root / name / CONFIG_FILE
    if not path.is_file():
        raise RepositoryError(f"model '{name}' has no {CONFIG_FILE} under {root}")
    return ModelConfig.from_pbtxt(path.read_text())


def version_path(root: Path, name: str, version: int) -> Path:
    return root / name / str(version)


def read_provenance(root: Path, name: str, version: int) -> dict:
    """What built the version (engine variant, parity, quality, latency); {} if it has no record."""
    path = version_path(root, name, version) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_atomically(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    staging.write_text(text)
    os.replace(staging, path)


def write_version(
    root: Path, config: ModelConfig, version: int, engine_file: Path, provenance: dict | None = None
) -> Path:
    """Adds an immutable version: config.pbtxt (replaced atomically) and <version>/<model file>, renamed into place."""
    if version < 1:
        raise RepositoryError(f"model versions are positive integers, got {version}")
    model_dir = root / config.name
    target = model_dir / str(version)
    if target.exists():
        raise RepositoryError(f"{target} already exists: versions are immutable, publish a new version number")
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".staging-{version}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    shutil.copyfile(engine_file, staging / config.model_file)
    if provenance is not None:
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str))
    _write_atomically(model_dir / CONFIG_FILE, _keeping_pin(config, root).to_pbtxt())
    os.rename(staging, target)
    return target


def _keeping_pin(config: ModelConfig, root: Path) -> ModelConfig:
    """`config` with the pin the repository's current config.pbtxt holds: adding a version never switches traffic."""
    if not (root / config.name / CONFIG_FILE).is_file():
        return config
    return dataclasses.replace(config, pinned_version=read_config(root, config.name).pinned_version)


def write_serving_metadata(root: Path, name: str, metadata: dict) -> Path:
    """Writes the model's serving.json (atomically: a polling server reads the old file or the new one)."""
    path = root / name / SERVING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, json.dumps(metadata, indent=2, sort_keys=True))
    return path


def read_serving_metadata(root: Path, name: str) -> dict:
    """The model's serving.json ({} when it has none); a broken file raises RepositoryError naming it."""
    path = root / name / SERVING_FILE
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text())
    except ValueError as error:
        raise RepositoryError(f"{path} is not JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise RepositoryError(f"{path} holds a {type(metadata).__name__}, not an object")
    return metadata


def publish_version(source_root: Path, target_root: Path, name: str, version: int) -> Path:
    """Copies one version (and its model's config) from a build repository into a served one, atomically.

    Idempotent: publishing a version that is already there with the same files does nothing.
    """
    source = version_path(source_root, name, version)
    if not source.is_dir():
        raise RepositoryError(f"version {version} of model '{name}' is not in {source_root}")
    target = version_path(target_root, name, version)
    metadata = read_serving_metadata(source_root, name)
    if metadata:
        write_serving_metadata(target_root, name, metadata)
    if target.exists():
        same = all(
            (target / f.name).is_file() and (target / f.name).read_bytes() == f.read_bytes() for f in source.iterdir()
        )
        if not same:
            raise RepositoryError(f"{target} exists with different files: versions are immutable")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".staging-{version}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(source, staging)
    # A served model keeps its pin: publishing a version does not switch traffic, pin_version does.
    _write_atomically(target.parent / CONFIG_FILE, _keeping_pin(read_config(source_root, name), target_root).to_pbtxt())
    os.rename(staging, target)
    return target
