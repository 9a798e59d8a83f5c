"""The GPU check in its CPU form: trains both configs, runs DDP with gloo, exports with parity, and names every GPU
step it skips (without CUDA) with its reason; the table it writes is the one a GPU run writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tools.gpu.check import NO_CUDA, Row, markdown, parse_args

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    command = [
        sys.executable,
        "-m",
        "tools.gpu.check",
        str(out),
        "--rows",
        "6000",
        "--epochs",
        "2",
        "--batch-size",
        "512",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (out / "gpu_check.md").read_text()
    assert table in done.stdout, "the table is printed as well as written"
    return json.loads((out / "gpu_check.json").read_text()), table


def _row(report, check, device):
    (row,) = [r for r in report[0]["rows"] if r["check"] == check and r["device"] == device]
    return row


@pytest.mark.skipif(torch.cuda.is_available(), reason="this test checks the CPU form; a GPU run is tools/gpu/check.sh")
def test_cpu_form_trains_both_configs_and_skips_the_gpu_with_its_reason(report):
    for name in ("full", "large"):
        cpu = _row(report, f"train `{name}`", "cpu")
        assert cpu["outcome"] == "ok" and float(cpu["figure"].split()[0].replace(",", "")) > 0
        assert "precision 32-true" in cpu["detail"] and "batch 512" in cpu["detail"]
        assert _row(report, f"train `{name}`", "gpu") == {
            "check": f"train `{name}`",
            "device": "gpu",
            "outcome": "skipped",
            "figure": "",
            "detail": NO_CUDA,
        }
    assert _row(report, "DDP, gloo, world size 1", "cpu")["outcome"] == "ok"
    assert "world size 1" in _row(report, "DDP, gloo, world size 1", "cpu")["detail"]
    for check in ("DDP, nccl, world size 1", "2 NCCL ranks on one GPU", "ORT vs torch on CUDA (fp32)"):
        assert _row(report, check, "gpu")["outcome"] == "skipped"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this test checks the CPU form")
def test_cpu_form_exports_the_trained_network_with_parity_and_says_tensorrt_is_absent(report):
    export = _row(report, "ONNX export + parity (ORT CPU vs torch CPU)", "trained on cpu")
    assert export["outcome"] == "ok" and float(export["figure"].split()[-1]) <= 1e-5
    tensorrt = _row(report, "TensorRT importable", "gpu")
    assert tensorrt["figure"] == "no" and "TensorRT is not installed" in tensorrt["detail"]
    assert report[0]["environment"]["cuda"] == "not available"
    assert "| check | device | outcome | figure | detail |" in report[1]


def test_bad_arguments_are_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        parse_args(["out", "--epochs", "1"])
    assert "--epochs at least 2" in capsys.readouterr().err


def test_a_row_has_one_of_three_outcomes_and_the_table_escapes_pipes():
    with pytest.raises(ValueError, match="outcome"):
        Row("x", "cpu", "passed")
    args = parse_args(["out", "--rows", "1000"])
    assert "a / b" in markdown({"torch": "2"}, [Row("x", "cpu", "failed", detail="a | b")], args)
