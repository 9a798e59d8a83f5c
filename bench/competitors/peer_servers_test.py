"""Launch definitions of the benchmark's peers: missing virtualenvs are named, MLServer's settings are complete."""

import json

import pytest

from bench.competitors.peer_servers import PeerUnavailable, mlserver_launch, mlserver_settings, pytriton_launch


def test_a_missing_virtualenv_says_how_to_build_it(tmp_path):
    with pytest.raises(PeerUnavailable, match=r"pytriton/bin/python is missing \(build it with bench/competitors/"):
        pytriton_launch(tmp_path / "model.onnx", (1, 2, 3), venvs=tmp_path)
    with pytest.raises(PeerUnavailable, match="mlserver/bin/python is missing"):
        mlserver_launch(tmp_path / "model.onnx", (1, 2, 3), tmp_path / "work", venvs=tmp_path)


def test_pytriton_launch_uses_its_venv_and_ports(tmp_path):
    python = tmp_path / "pytriton" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    launch = pytriton_launch(tmp_path / "model.onnx", (8010, 8011, 8012), max_queue_delay_us=50, venvs=tmp_path)
    assert launch.argv[:3] == [str(python), "-m", "bench.competitors.pytriton_server"]
    assert launch.argv[launch.argv.index("--grpc-port") + 1] == "8011"
    assert launch.infer_url == "http://127.0.0.1:8010/v2/models/fraud/infer"
    assert launch.ready_url == "http://127.0.0.1:8010/v2/models/fraud/ready"


def test_mlserver_settings_turn_on_adaptive_batching_with_our_model(tmp_path):
    settings, model = mlserver_settings(
        tmp_path / "m.onnx", (1, 2, 3), tmp_path, parallel_workers=0, max_batch_time_s=0.0005
    )
    assert (settings["http_port"], settings["grpc_port"], settings["metrics_port"]) == (1, 2, 3)
    assert settings["host"] == "127.0.0.1" and settings["parallel_workers"] == 0
    # MLServer writes metrics and environments relative to its cwd unless told: keep them out of the repository
    assert settings["metrics_dir"].startswith(str(tmp_path)) and settings["environments_dir"].startswith(str(tmp_path))
    assert model["implementation"] == "bench.competitors.mlserver_model.OnnxRuntimeModel"
    assert model["max_batch_size"] > 1 and model["max_batch_time"] == 0.0005
    assert model["parameters"]["uri"] == str(tmp_path / "m.onnx")


def test_mlserver_launch_writes_its_settings_folder(tmp_path):
    bin_dir = tmp_path / "mlserver" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").touch()
    (bin_dir / "mlserver").touch()
    launch = mlserver_launch(tmp_path / "m.onnx", (1, 2, 3), tmp_path / "work", venvs=tmp_path)
    assert launch.argv == [str(bin_dir / "mlserver"), "start", str(tmp_path / "work")]
    assert json.loads((tmp_path / "work" / "model-settings.json").read_text())["name"] == "fraud"
    assert json.loads((tmp_path / "work" / "settings.json").read_text())["http_port"] == 1
