"""The Triton layout, immutable versions and the atomic publish used by deployment."""

from pathlib import Path

import pytest

from serving import model_repository
from serving.model_config import ModelConfig, contract_config
from serving.synthetic_data import reference_spec
from serving.tiny_onnx_models import logistic_model, save

CONFIG = contract_config("scorer", reference_spec())


def engine(tmp_path: Path, seed: int) -> Path:
    return save(logistic_model(CONFIG, seed), tmp_path / f"engine-{seed}.onnx")


def test_write_version_makes_the_triton_layout(tmp_path):
    root = tmp_path / "repo"
    model_repository.write_version(root, CONFIG, 1, engine(tmp_path, 1), {"variant": "fp32"})
    assert (root / "scorer" / "config.pbtxt").is_file()
    assert (root / "scorer" / "1" / "model.onnx").is_file()
    assert ModelConfig.from_pbtxt((root / "scorer" / "config.pbtxt").read_text()) == CONFIG
    assert model_repository.read_provenance(root, "scorer", 1) == {"variant": "fp32"}
    assert model_repository.model_names(root) == ["scorer"]


def test_versions_are_immutable_and_listed_in_order(tmp_path):
    root = tmp_path / "repo"
    for version in (2, 10, 1):
        model_repository.write_version(root, CONFIG, version, engine(tmp_path, version))
    (root / "scorer" / ".staging-11-abc").mkdir()  # an interrupted write is not a version
    assert model_repository.versions(root, "scorer") == [1, 2, 10]
    assert model_repository.serving_version(root, "scorer") == 10, "unpinned: the newest complete version"
    with pytest.raises(model_repository.RepositoryError, match="immutable"):
        model_repository.write_version(root, CONFIG, 2, engine(tmp_path, 3))


def test_publish_copies_a_version_and_is_idempotent(tmp_path):
    built, served = tmp_path / "built", tmp_path / "served"
    model_repository.write_version(built, CONFIG, 3, engine(tmp_path, 3))
    target = model_repository.publish_version(built, served, "scorer", 3)
    assert (target / "model.onnx").read_bytes() == (built / "scorer" / "3" / "model.onnx").read_bytes()
    assert model_repository.publish_version(built, served, "scorer", 3) == target
    assert not [p for p in (served / "scorer").iterdir() if p.name.startswith(".")], "no staging left behind"


def test_publish_refuses_to_overwrite_a_different_version(tmp_path):
    built, served = tmp_path / "built", tmp_path / "served"
    model_repository.write_version(built, CONFIG, 1, engine(tmp_path, 1))
    model_repository.write_version(served, CONFIG, 1, engine(tmp_path, 2))
    with pytest.raises(model_repository.RepositoryError, match="different files"):
        model_repository.publish_version(built, served, "scorer", 1)


def test_missing_version_is_a_clear_error(tmp_path):
    with pytest.raises(model_repository.RepositoryError, match="version 4"):
        model_repository.publish_version(tmp_path, tmp_path / "x", "scorer", 4)


def test_pin_names_the_served_version_and_survives_a_publish(tmp_path):
    built, served = tmp_path / "build", tmp_path / "served"
    for version in (1, 2):
        model_repository.write_version(built, CONFIG, version, engine(tmp_path, version))
        model_repository.publish_version(built, served, "scorer", version)
    assert model_repository.serving_version(served, "scorer") == 2
    model_repository.pin_version(served, "scorer", 1)
    assert model_repository.serving_version(served, "scorer") == 1
    assert "specific: { versions: [ 1 ] }" in (served / "scorer" / "config.pbtxt").read_text()
    model_repository.write_version(built, CONFIG, 3, engine(tmp_path, 3))
    model_repository.publish_version(built, served, "scorer", 3)
    assert model_repository.serving_version(served, "scorer") == 1, "publishing does not switch traffic"
    with pytest.raises(model_repository.RepositoryError, match=r"cannot pin version 7 .* holds versions \[1, 2, 3\]"):
        model_repository.pin_version(served, "scorer", 7)
    assert model_repository.serving_version(served, "scorer") == 1


def test_serving_metadata_travels_with_a_publish_and_a_broken_file_is_named(tmp_path):
    build, served = tmp_path / "build", tmp_path / "served"
    model_repository.write_version(build, CONFIG, 1, engine(tmp_path, 1))
    assert model_repository.read_serving_metadata(build, "scorer") == {}
    metadata = {"feature_spec": reference_spec().to_dict(), "segment": {"parent": "p", "column": "c", "values": ["x"]}}
    model_repository.write_serving_metadata(build, "scorer", metadata)
    model_repository.publish_version(build, served, "scorer", 1)
    assert model_repository.read_serving_metadata(served, "scorer") == metadata
    (served / "scorer" / model_repository.SERVING_FILE).write_text("{not json")
    with pytest.raises(model_repository.RepositoryError, match="serving.json is not JSON"):
        model_repository.read_serving_metadata(served, "scorer")
