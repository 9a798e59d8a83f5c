"""Scores live transactions through the inference server's raw-transaction endpoint, as a payment gateway would.

`TransactionScorer` posts each JSON-encoded transaction to `POST /models/{model}/score` on one keep-alive
connection and keeps what a demo summary needs: how many were scored, which versions answered, the failures by
status (with the first message), and client-side latencies. A failure is counted, never raised: the stream goes on
while a model is being switched, as real traffic would.
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


@dataclass
class ScoringCounts:
    """What the scorer saw."""

    scored: int = 0
    """Transactions answered 200."""
    by_version: Counter = field(default_factory=Counter)
    """Answers per model version that answered, as '<model> v<version>' (a segment's model answers for its parent)."""
    failures: Counter = field(default_factory=Counter)
    """Failed requests by HTTP status (0: no connection)."""
    first_failure: str = ""
    """The first failure's status and message."""
    latencies_ms: list[float] = field(default_factory=list)
    """Client-side latency of each answered request."""
    outcomes: list[tuple[str, float, bool]] = field(default_factory=list)
    """('<model> v<version>', score, ground truth) of each answered request whose truth the caller knows."""

    def quality_by_version(self) -> dict[str, dict[str, float]]:
        """PR-AUC (average precision) of each version's scores against the ground truth, with row and positive counts
        (the fraud ground truth: the positives are frauds)."""
        from sklearn.metrics import average_precision_score

        result = {}
        for version in sorted({v for v, _, _ in self.outcomes}):
            scores = np.array([s for v, s, _ in self.outcomes if v == version])
            truth = np.array([t for v, _, t in self.outcomes if v == version])
            both = 0 < truth.sum() < len(truth)
            result[version] = {
                "rows": len(truth),
                "positives": int(truth.sum()),
                "pr_auc": round(float(average_precision_score(truth, scores)), 4) if both else float("nan"),
            }
        return result

    def latency_quantiles(self) -> dict[str, float]:
        """p50/p99 in milliseconds (empty when nothing was scored)."""
        if not self.latencies_ms:
            return {}
        p50, p99 = np.percentile(self.latencies_ms, [50, 99])
        return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2)}


class TransactionScorer:
    """One keep-alive HTTP connection to the server's `/models/{model}/score` endpoint."""

    def __init__(self, server_url: str, model: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(server_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"server URL must look like http://host:port, got {server_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.model = model
        self.path = f"/models/{model}/score"
        self.timeout_s = timeout_s
        self.counts = ScoringCounts()
        self._connection: http.client.HTTPConnection | None = None

    def score(self, body: bytes, truth: bool | None = None) -> float | None:
        """Scores one JSON transaction; returns the score, or None (counted) when the server did not answer 200.

        `truth` (the generator's ground truth, when known) is kept with the answer for `quality_by_version`.
        """
        started = time.perf_counter()
        try:
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self._connection.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
            response = self._connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            self._fail(0, f"no answer from {self.host}:{self.port}: {error}")
            return None
        if response.status != 200:
            self._fail(response.status, payload.decode(errors="replace")[:300])
            return None
        answer = json.loads(payload)
        # The model that answered: a partitioned model's segment, or the requested model itself.
        served = f"{answer.get('model_name', self.model)} v{answer.get('model_version')}"
        self.counts.scored += 1
        self.counts.by_version[served] += 1
        self.counts.latencies_ms.append((time.perf_counter() - started) * 1000)
        score = float(answer["score"])
        if truth is not None:
            self.counts.outcomes.append((served, score, truth))
        return score

    def _fail(self, status: int, message: str) -> None:
        self.counts.failures[status] += 1
        if not self.counts.first_failure:
            self.counts.first_failure = f"{status}: {message}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
