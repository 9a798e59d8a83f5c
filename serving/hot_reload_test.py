"""A ModelHost switches to a new version only after it passed its checks; bad versions leave the old one serving."""

from pathlib import Path

import numpy as np

from serving import model_repository
from serving.deployment_plan import Deployment, write_deployment
from serving.hot_reload import ModelHost
from serving.loaded_model import synthetic_inputs
from serving.model_config import TensorSpec, contract_config
from serving.synthetic_data import reference_spec
from serving.tiny_onnx_models import linear_unbounded_model, logistic_model, save

CONFIG = contract_config("scorer", reference_spec())


def add_version(root: Path, version: int, model=None, config=CONFIG) -> Path:
    path = save(model or logistic_model(config, seed=version), root.parent / f"src-{version}.onnx")
    return model_repository.write_version(root, config, version, path)


def test_loads_the_latest_version_and_moves_on_to_newer_ones(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    assert host.poll().loaded and host.current.version == 1
    assert host.poll() is None, "nothing new"
    add_version(root, 2)
    event = host.poll()
    assert event.loaded and host.current.version == 2
    outputs, version = host.run(synthetic_inputs(CONFIG, 3))
    assert version == 2 and outputs["score"].shape == (3, 1)


def test_corrupted_model_is_refused_and_old_version_keeps_serving(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    host.poll()
    bad = add_version(root, 2)
    (bad / "model.onnx").write_bytes(b"\x08\x07this is not a protobuf" * 10)
    event = host.poll()
    assert not event.loaded and "cannot load" in event.reason
    assert host.current.version == 1
    assert host.poll() is None, "a refused version is not retried while its files are unchanged"
    save(logistic_model(CONFIG, seed=2), bad / "model.onnx")  # fixed in place
    assert host.poll().loaded and host.current.version == 2


def test_wrong_signature_is_refused(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    host.poll()
    other = contract_config("scorer", reference_spec(n_numeric=5))
    add_version(root, 2, config=other)  # a consistent model and config, but not the served signature
    event = host.poll()
    assert not event.loaded and "differs from the served one" in event.reason
    assert host.current.version == 1


def test_graph_not_matching_its_config_is_refused(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    host.poll()
    renamed = CONFIG.__class__(
        **{**CONFIG.__dict__, "inputs": (TensorSpec("amounts", "TYPE_FP32", (8,)), CONFIG.inputs[1])}
    )
    path = save(logistic_model(renamed, seed=2), tmp_path / "renamed.onnx")
    version_dir = root / "scorer" / "2"
    version_dir.mkdir()
    path.rename(version_dir / "model.onnx")
    event = host.poll()
    assert not event.loaded and "does not match config.pbtxt" in event.reason and "amounts" in event.reason


def test_outputs_outside_the_score_range_are_refused(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    host.poll()
    add_version(root, 2, model=linear_unbounded_model(CONFIG))
    event = host.poll()
    assert not event.loaded and "outside the allowed" in event.reason
    np.testing.assert_equal(host.current.version, 1)


def test_first_version_failing_leaves_the_model_not_ready(tmp_path):
    root = tmp_path / "repo"
    bad = add_version(root, 1)
    (bad / "model.onnx").write_bytes(b"garbage")
    host = ModelHost(root, "scorer")
    assert not host.poll().loaded
    assert host.current is None


def test_a_pinned_version_serves_and_a_pin_to_an_older_one_rolls_back(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    add_version(root, 2)
    host = ModelHost(root, "scorer")
    assert host.poll().loaded and host.current.version == 2, "unpinned: the newest version serves"
    model_repository.pin_version(root, "scorer", 1)
    event = host.poll()
    assert event.loaded and event.version == 1 and host.current.version == 1, "the rollback reached serving"
    add_version(root, 3)
    assert host.poll() is None and host.current.version == 1, "a newer folder does not win over the pin"
    model_repository.pin_version(root, "scorer", 3)
    assert host.poll().loaded and host.current.version == 3


def test_a_deployment_loads_every_version_it_names_and_switches_in_one_step(tmp_path):
    root = tmp_path / "repo"
    for version in (1, 2, 3):
        add_version(root, version)
    host = ModelHost(root, "scorer")
    write_deployment(root, "scorer", Deployment({1: 95, 2: 5}, shadow=(3,), sequence=1))
    event = host.poll()
    assert event.loaded and event.version == 1, "the primary is the version with the most traffic"
    assert sorted(host.routing.models) == [1, 2, 3] and host.current.version == 1
    write_deployment(root, "scorer", Deployment({2: 100}, sequence=2))
    assert host.poll().loaded and sorted(host.routing.models) == [2], "versions the deployment dropped are released"


def test_a_deployment_with_a_refused_or_missing_version_changes_nothing(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    add_version(root, 2, model=linear_unbounded_model(CONFIG))
    host = ModelHost(root, "scorer")
    write_deployment(root, "scorer", Deployment({1: 100}, sequence=1))
    host.poll()
    write_deployment(root, "scorer", Deployment({1: 75, 2: 25}, sequence=2))
    event = host.poll()
    assert not event.loaded and "outside the allowed" in event.reason
    assert host.routing.deployment.sequence == 1 and sorted(host.routing.models) == [1], "never half-applied"
    assert host.refused_deployment[0] == 2 and "version 2" in host.refused_deployment[1]
    assert host.poll() is None, "not retried while the refused version's files are unchanged"
    write_deployment(root, "scorer", Deployment({1: 50, 9: 50}, sequence=3))
    assert not host.poll().loaded and host.routing.deployment.sequence == 1, "a version that does not exist"


def test_a_malformed_deployment_file_keeps_what_serves(tmp_path):
    root = tmp_path / "repo"
    add_version(root, 1)
    host = ModelHost(root, "scorer")
    host.poll()
    (root / "scorer" / "deployment.json").write_text('{"weights": {"1": 60, "2": 30}}')
    assert host.poll() is None and host.current.version == 1
    assert "weights must sum to 100, got 90" in host.refused_deployment[1]
