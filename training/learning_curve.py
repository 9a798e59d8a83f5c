"""The learning curve (loss and validation PR-AUC per epoch) as a PNG for the Dagster UI and MLflow."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_learning_curve(history: list[dict[str, float]], path: str | Path, title: str = "learning curve") -> Path:
    """Draws train/validation loss and validation PR-AUC against epoch (no pyplot: no global state)."""
    if not history:
        raise ValueError("no epochs recorded: nothing to plot")
    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(8, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    loss_axis, auc_axis = figure.subplots(1, 2)
    for key, label in (("train_loss", "train loss"), ("val_loss", "validation loss")):
        if all(key in row for row in history):
            loss_axis.plot(epochs, [row[key] for row in history], marker="o", label=label)
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("weighted BCE")
    loss_axis.legend()
    for key, label in (("val_pr_auc", "PR-AUC"), ("val_roc_auc", "ROC-AUC"), ("val_recall_at_fpr", "recall@FPR")):
        if all(key in row for row in history):
            auc_axis.plot(epochs, [row[key] for row in history], marker="o", label=label)
    auc_axis.set_xlabel("epoch")
    auc_axis.set_ylim(0, 1.02)
    auc_axis.set_title("validation")
    auc_axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path
