"""Optimised ONNX Runtime engines: graph optimisation, INT8 quantisation and structured pruning, each kept only
if it stays within a quality budget on the holdout and is actually faster."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from serving.model_config import ModelConfig

ELEMENTWISE = (nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.LeakyReLU, nn.Dropout, nn.Identity, nn.ELU)


def optimise_graph(source: Path, destination: Path) -> Path:
    """Writes the graph after ONNX Runtime's extended optimisations (constant folding, fusions), hardware-neutral."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(destination)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return destination


def quantise_int8(source: Path, destination: Path) -> Path:
    """Dynamic INT8 quantisation of the weights (activations quantised per batch at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8)
    return destination


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of scores against binary labels (the holdout quality metric)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.min() == labels.max():
        raise ValueError("the holdout has a single class: its AUC is undefined; use a larger or stratified holdout")
    return float(roc_auc_score(labels, np.asarray(scores).reshape(-1)))


def median_latency_us(run: Callable[[], object], repeats: int = 200, warmup: int = 20) -> float:
    """Median wall time of one call, in microseconds."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def session_latency_us(session: ort.InferenceSession, inputs: dict[str, np.ndarray], repeats: int = 200) -> float:
    """Median latency of one ONNX Runtime run on `inputs`."""
    return median_latency_us(lambda: session.run(None, inputs), repeats=repeats)


@dataclass(frozen=True)
class VariantDecision:
    """Whether an engine variant replaces the FP32 engine, and why."""

    name: str
    """Variant name: int8, pruned, ..."""
    kept: bool
    """True when it passed the quality budget and was faster."""
    reason: str
    """One sentence a person can act on."""
    quality: float
    """Holdout quality (ROC AUC) of the variant."""
    quality_drop: float
    """Reference quality minus variant quality (negative: the variant scored better)."""
    latency_us: float
    """Median latency of one run at the benchmark batch size."""
    reference_latency_us: float
    """The same for the FP32 engine."""


def decide_variant(
    name: str,
    reference_quality: float,
    variant_quality: float,
    reference_latency_us: float,
    variant_latency_us: float,
    budget: float,
    min_speedup: float = 0.05,
) -> VariantDecision:
    """Keeps a lossy variant only if its quality drop is within `budget` and it is at least `min_speedup` faster.

    A budget <= 0 turns the variant off: INT8 and pruning are lossy by construction, and a holdout that happens to
    score them no worse is no evidence they are lossless.
    """
    drop = reference_quality - variant_quality
    faster_by = 1 - variant_latency_us / reference_latency_us if reference_latency_us > 0 else 0.0

    def decision(kept: bool, reason: str) -> VariantDecision:
        return VariantDecision(name, kept, reason, variant_quality, drop, variant_latency_us, reference_latency_us)

    if budget <= 0:
        return decision(False, f"{name}: quality budget is {budget:g}, so lossy variants are disabled")
    if drop > budget:
        return decision(False, f"{name}: holdout quality drop {drop:.4f} exceeds the budget {budget:g}")
    if faster_by < min_speedup:
        return decision(
            False,
            f"{name}: {variant_latency_us:.1f} us vs {reference_latency_us:.1f} us is not at least "
            f"{min_speedup:.0%} faster",
        )
    return decision(True, f"{name}: quality drop {drop:.4f} within {budget:g} and {faster_by:.0%} faster")


def prunable_pairs(module: nn.Module) -> list[tuple[nn.Sequential, int, int]]:
    """(sequential, i, j) where Linear i feeds Linear j through element-wise layers only: i's units can be removed."""
    pairs = []
    for sequential in (m for m in module.modules() if isinstance(m, nn.Sequential)):
        layers = list(sequential)
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Linear):
                continue
            j = i + 1
            while j < len(layers) and isinstance(layers[j], ELEMENTWISE):
                j += 1
            if j < len(layers) and isinstance(layers[j], nn.Linear):
                pairs.append((sequential, i, j))
    return pairs


def prune_units(module: nn.Module, fraction: float) -> tuple[nn.Module, int]:
    """A copy with `fraction` of each prunable hidden layer's units removed (smallest weight norm first).

    Units are physically removed (smaller matrices), so the engine gets faster; masking them would not.
    Returns the copy and the number of units removed.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"pruning fraction must be in (0, 1), got {fraction}")
    pruned = copy.deepcopy(module)
    removed = 0
    for sequential, i, j in prunable_pairs(pruned):
        first, second = sequential[i], sequential[j]
        importance = first.weight.detach().norm(dim=1) * second.weight.detach().norm(dim=0)
        keep_count = max(1, round(first.out_features * (1 - fraction)))
        keep = torch.sort(torch.topk(importance, keep_count).indices).values
        shrunk_first = nn.Linear(first.in_features, keep_count, bias=first.bias is not None)
        shrunk_second = nn.Linear(keep_count, second.out_features, bias=second.bias is not None)
        with torch.no_grad():
            shrunk_first.weight.copy_(first.weight[keep])
            if first.bias is not None:
                shrunk_first.bias.copy_(first.bias[keep])
            shrunk_second.weight.copy_(second.weight[:, keep])
            if second.bias is not None:
                shrunk_second.bias.copy_(second.bias)
        removed += first.out_features - keep_count
        sequential[i], sequential[j] = shrunk_first, shrunk_second
    return pruned, removed


def fine_tune(
    module: nn.Module,
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    config: ModelConfig,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> nn.Module:
    """A short binary cross-entropy fine-tune of a model whose first output is a probability (the contract)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.from_numpy(inputs[t.name]) for t in config.inputs]
    target = torch.from_numpy(np.asarray(labels, dtype=np.float32)).reshape(-1, 1)
    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(steps):
        index = torch.randint(0, len(target), (min(batch_size, len(target)),), generator=generator)
        optimiser.zero_grad()
        scores = module(*(t[index] for t in tensors)).clamp(1e-7, 1 - 1e-7)
        nn.functional.binary_cross_entropy(scores, target[index]).backward()
        optimiser.step()
    return module.eval()
