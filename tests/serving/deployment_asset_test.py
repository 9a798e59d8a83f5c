"""The deployment asset switches a running server to the built version, and fails (old version live) on a bad one."""

import dagster as dg
import pytest

from assets.deployment import deployment_asset, engine_key
from domain.models import FRAUD
from tests.serving.serving_harness import ServerProcess, add_version

deployment = deployment_asset(FRAUD)
SERVING_ENGINE = engine_key(FRAUD)


def report_engine(instance: dg.DagsterInstance, build_root, version: int) -> None:
    """Records a serving_engine materialization, as the asset would after building `version`."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            SERVING_ENGINE,
            metadata={"model": "fraud", "version": version, "repository": str(build_root), "variant": "fp32"},
        )
    )


def run_deployment(instance, server, timeout_s: float = 20):
    config = {"server_url": server.url, "served_repository": str(server.root), "ready_timeout_seconds": timeout_s}
    return dg.materialize(
        [deployment],
        instance=instance,
        run_config={"ops": {"fraud_deployment": {"config": config}}},
        raise_on_error=False,
    )


@pytest.fixture
def setup(tmp_path):
    served, built = tmp_path / "served", tmp_path / "built"
    add_version(served, 1)
    add_version(built, 2)
    with ServerProcess(served, tmp_path, "--workers", "2") as server:
        server.root = served
        yield server, built


def test_deployment_makes_the_new_version_live(setup):
    server, built = setup
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 2)
        result = run_deployment(instance, server)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("fraud_deployment")
        assert materialization.metadata["live_version"].value == 2
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["2"]
    assert (server.root / "fraud" / "2" / "model.onnx").read_bytes() == (
        built / "fraud" / "2" / "model.onnx"
    ).read_bytes()


def test_a_version_the_server_refuses_fails_the_deployment_and_the_old_one_stays_live(setup):
    server, built = setup
    broken = add_version(built, 3)
    (broken / "model.onnx").write_bytes(b"not a model")
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 3)
        result = run_deployment(instance, server, timeout_s=4)
        assert not result.success
        failure = result.failure_data_for_node("fraud_deployment")
        assert "did not report version 3 of model 'fraud' ready" in failure.user_failure_data.description
        assert "['1']" in failure.user_failure_data.description, "the message says what is live instead"
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["1"]


def test_deploying_an_older_version_rolls_the_running_server_back(setup):
    server, built = setup
    add_version(built, 1)
    with dg.instance_for_test() as instance:
        report_engine(instance, built, 2)
        assert run_deployment(instance, server).success
        assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["2"]
        report_engine(instance, built, 1)  # e.g. after `training.registry rollback`: the engine of the old champion
        result = run_deployment(instance, server)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("fraud_deployment")
        assert materialization.metadata["live_version"].value == 1
    assert server.request("GET", "/v2/models/fraud")[1]["versions"] == ["1"], "the pin, not the newest folder, serves"
