"""Joins the prediction log with late labels: which predictions are labeled, which are still pending.

A prediction is positive once its label has arrived, negative once it is older than the label maturity
window without a label (chargebacks that never came), and pending otherwise. Labels whose id was never
predicted are counted and kept (the labels table is re-joined on every run, so a late prediction still finds
its label); they never break the join.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

POSITIVE = "positive"
MATURED_NEGATIVE = "matured_negative"
PENDING = "pending"


@dataclass(frozen=True)
class FeedbackJoin:
    """Predictions with their label status, and how many labels matched nothing."""

    frame: pd.DataFrame
    """One row per predicted id: the prediction's columns plus `label` (1/0, NaN when pending) and `status`."""
    unknown_labels: int
    """Labels whose id has no prediction (kept for a later join)."""

    def counts(self) -> dict[str, int]:
        by_status = self.frame["status"].value_counts()
        return {
            "predictions": len(self.frame),
            "positive": int(by_status.get(POSITIVE, 0)),
            "matured_negative": int(by_status.get(MATURED_NEGATIVE, 0)),
            "pending": int(by_status.get(PENDING, 0)),
            "unknown_labels": self.unknown_labels,
        }


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    now: pd.Timestamp,
    maturity: pd.Timedelta,
    id_column: str = "transaction_id",
    label_time_column: str = "label_time",
    prediction_time_column: str = "time",
    label_column: str | None = None,
) -> FeedbackJoin:
    """Label status of every prediction (the first per id and model version wins) as of `now`.

    With `label_column`, only labels whose value there is 1 count as positives (a labels table can carry several
    kinds, one column each); without it every label row is a positive.
    """
    for column in (id_column, prediction_time_column, "score"):
        if column not in predictions.columns:
            raise ValueError(f"predictions lack column '{column}'; have {sorted(predictions.columns)}")
    for column in (id_column, label_time_column):
        if column not in labels.columns:
            raise ValueError(f"labels lack column '{column}'; have {sorted(labels.columns)}")
    # One prediction per id and version: a shadow version's score of a mirrored request is kept beside the served
    # one, so both versions are judged on the same transactions.
    per = [id_column, "model_version"] if "model_version" in predictions.columns else [id_column]
    first = predictions.dropna(subset=[id_column]).drop_duplicates(subset=per, keep="first")
    if label_column is not None:
        if label_column not in labels.columns:
            raise ValueError(f"labels lack column '{label_column}'; have {sorted(labels.columns)}")
        labels = labels[labels[label_column].fillna(0).astype(int) == 1]
    arrived = labels[pd.to_datetime(labels[label_time_column], utc=True) <= now]
    arrived = arrived.drop_duplicates(subset=[id_column], keep="first")[[id_column, label_time_column]]
    frame = first.merge(arrived, on=id_column, how="left")
    predicted_at = pd.to_datetime(frame[prediction_time_column], unit="s", utc=True)
    has_label = frame[label_time_column].notna()
    matured = (now - predicted_at) >= maturity
    frame["status"] = np.where(has_label, POSITIVE, np.where(matured, MATURED_NEGATIVE, PENDING))
    frame["label"] = np.where(has_label, 1.0, np.where(matured, 0.0, np.nan))
    unknown = int((~arrived[id_column].isin(first[id_column])).sum())
    return FeedbackJoin(frame=frame, unknown_labels=unknown)


def quality_by_version(
    joined: pd.DataFrame, max_fpr: float = 0.01, top_k: int = 100, version_columns=("model", "model_version")
) -> pd.DataFrame:
    """Quality of each model version on its labeled predictions: PR-AUC, ROC-AUC, recall at FPR, precision at k."""
    labeled = joined[joined["status"] != PENDING]
    rows = []
    for key, group in labeled.groupby(list(version_columns), sort=True):
        labels = group["label"].to_numpy(dtype=np.int64)
        scores = group["score"].to_numpy(dtype=np.float64)
        both = 0 < labels.sum() < len(labels)
        k = min(top_k, len(group))
        top = np.argsort(-scores, kind="stable")[:k]
        rows.append(
            {
                **dict(zip(version_columns, key if isinstance(key, tuple) else (key,), strict=True)),
                "labeled": len(group),
                "positives": int(labels.sum()),
                "pr_auc": float(average_precision_score(labels, scores)) if both else float("nan"),
                "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
                "recall_at_fpr": _recall_at_fpr(labels, scores, max_fpr) if both else float("nan"),
                "precision_at_k": float(labels[top].mean()) if k else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def score_metric(name: str, labels: np.ndarray, scores: np.ndarray, max_fpr: float = 0.01) -> float:
    """One ranking metric of `scores` against binary `labels` (NaN when only one class is present)."""
    labels = np.asarray(labels, dtype=np.int64)
    if not 0 < labels.sum() < len(labels):
        return float("nan")
    if name == "pr_auc":
        return float(average_precision_score(labels, scores))
    if name == "roc_auc":
        return float(roc_auc_score(labels, scores))
    if name == "recall_at_fpr":
        return _recall_at_fpr(labels, np.asarray(scores), max_fpr)
    raise ValueError(f"unknown metric {name!r}; expected pr_auc, roc_auc or recall_at_fpr")


def _recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= max_fpr].max())
