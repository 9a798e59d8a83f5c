"""The documented multi-node launch, as far as one CPU machine allows: two torchrun 'nodes' on 127.0.0.1."""

import subprocess

from tools.services.process import free_port
from training.config import load_config, save_config
from training.launch import TorchrunNode, training_command
from training.spec_files import write_spec
from training.synthetic import synthetic_spec, write_synthetic_training_set
from training.train import TrainingResult

SPEC = synthetic_spec()


def test_two_node_torchrun_launch_trains_with_world_size_two(tmp_path):
    data = write_synthetic_training_set(SPEC, tmp_path / "train.parquet", rows=2000)
    config = load_config("tiny").with_trainer(devices=1, num_nodes=2, enable_progress_bar=False)
    config_path = save_config(config, tmp_path / "config.yaml")
    spec_path = write_spec(SPEC, tmp_path / "spec.json")
    port = free_port()
    nodes = []
    for rank in (0, 1):
        node = TorchrunNode(nnodes=2, node_rank=rank, master_addr="127.0.0.1", master_port=port)
        command = training_command(config_path, spec_path, data, tmp_path / "out", torchrun=node, nproc_per_node=1)
        assert command[1:3] == ["-m", "torch.distributed.run"] and "--nnodes=2" in command
        log = (tmp_path / f"node{rank}.log").open("w")
        nodes.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    for process, log in nodes:
        assert process.wait(timeout=300) == 0, (tmp_path / "node0.log").read_text()[-3000:]
        log.close()
    result = TrainingResult.load(tmp_path / "out")
    assert result.world_size == 2
    assert result.test["roc_auc"] > 0.7
