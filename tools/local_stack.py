"""flywheel run: the main job, the whole loop on one machine with embedded defaults.

1. starts Kafka, MLflow, Prometheus (the repository's alert rules, scraping the server and the pipeline exporter),
   Alertmanager and its pager, and the inference server (on 127.0.0.1),
2. generates a card-transaction history and streams a little live traffic and late labels through Kafka,
3. materialises the asset graph from raw data to the gated champion, its engine and its deployment,
4. starts Dagster (webserver and daemon: sensors, automation) and sends live traffic through the server,
5. injects a drift scenario (unless --drift none) and waits while the sensors retrain, gate, promote,
   rebuild the engine and redeploy without anyone's help, then
6. prints a summary: model versions, what triggered what, the rollout's decisions, which alerts went pending and
   firing and what reached the pager, latencies and quality per served version.

Everything it starts keeps running (look around in the UIs) until `tools/flywheel down`; Ctrl-C while it runs,
or --stop-after, stops it all. --short is the CI size (small data, fast sensor ticks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from features.references import load_reference
from tools.services.cli import DEFAULT_PORTS, SERVICES, down, stack_environment, up
from tools.services.dagster_dev import DAGSTER_YAML
from tools.services.process import ServiceError, ServiceRecord, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def declared_models() -> tuple:
    """The model declarations the stack's code location builds (FLYWHEEL_MODELS, default the worked example's)."""
    return tuple(load_reference(os.environ.get("FLYWHEEL_MODELS", "domain.models:MODELS")))


MODELS = declared_models()
PRIMARY = MODELS[0]
"""The model whose answers the demo compares with the generator's ground truth (the first declared one)."""
ENTRY_MODELS = tuple(m.served_name for m in MODELS if m.segment is None)
"""Serving names the demo traffic is sent to: every whole model (the server routes a parent's requests to its
segments)."""
SERVED_MODEL = PRIMARY.served_name
REGISTERED_MODEL = PRIMARY.registered_model
RETRAINING_TRIGGERS = ("drift sensor", "performance sensor")
"""Triggers (runs_table's names) of the runs a model's own sensors request to retrain it."""
MODEL_STAGES = ("training_set", "model", "model_evaluation", "drift_reference", "serving_engine", "deployment")
"""Each declared model's stages up to its deployment (assets/model_stages.py names them `<model>_<stage>`)."""

HISTORY_ASSETS = ("raw_transactions",)
"""Daily-partitioned: the first materialisation registers every day of the generated history in one run."""
INITIAL_ASSETS = (
    "build_info",
    "streamed_transactions",
    "validated_transactions",
    "chargeback_labels",
    "transaction_features",
    "online_features",
    *(f"{model.name}_{stage}" for model in MODELS for stage in MODEL_STAGES),
)
"""What the first materialisation builds next: the history's days and the stream to every model's first champion's
deployment."""


def training_run_config(training_config: str) -> dict:
    """Run config that trains every declared model with `training_config`."""
    return {"ops": {f"{model.name}_model": {"config": {"training_config": training_config}} for model in MODELS}}


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def note(message: str) -> None:
    print(f"    {message}", flush=True)


@dataclass
class Stack:
    """The running stack: where its state is and how to reach each part."""

    state_dir: Path
    ports: dict[str, int]
    records: list[ServiceRecord] = field(default_factory=list)

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['server']}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @staticmethod
    def demo_settings(training_config: str, sensor_interval: int) -> dict[str, str]:
        """The FLYWHEEL_* settings of this demo for every Dagster process (CLI, webserver, daemon, run workers)."""
        return {
            "FLYWHEEL_TRAINING_CONFIG": training_config,
            "FLYWHEEL_SENSOR_INTERVAL_S": str(sensor_interval),
            # a simulated day passes in seconds here: four ticks of drifted traffic put the new regime into the
            # training split of the retraining run, not only into its holdout
            "FLYWHEEL_RETRAIN_SETTLE_S": str(4 * sensor_interval),
            "FLYWHEEL_EXECUTOR": "in_process",  # one process per run: no per-step start-up on a small machine
        }

    def environment(self, training_config: str, sensor_interval: int) -> dict[str, str]:
        """The process environment of Dagster and the CLI materialisation: FLYWHEEL_* point them at this stack."""
        env = dict(os.environ, **stack_environment(self.state_dir, self.ports))
        env.update(self.demo_settings(training_config, sensor_interval))
        env["DAGSTER_HOME"] = str(self.dagster_home)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        return env


def merchants_for(cards: int) -> int:
    """Merchants of a generated world with `cards` cards (the generator needs one per category and country)."""
    return max(cards // 10, 100)


def generate_history(lake: Path, cards: int, days: int, seed: int) -> int:
    """Writes the generator's history under lake/history unless it is there already; returns its row count.

    Chargebacks arrive a day after the payment on average (the generator's default is two weeks), so a short demo
    history still has positive labels up to near its end; the world is the demo's (DEMO_WORLD: richer in positive
    labels, so that every segment of a small history can train a model of its own)."""
    from domain.generator import DEMO_WORLD, GeneratorConfig, write_history

    history = lake / "history"
    if (history / "transactions").exists():
        return -1
    config = GeneratorConfig(
        n_cards=cards, n_merchants=merchants_for(cards), days=days, seed=seed, label_delay_days=1, **DEMO_WORLD
    )
    return write_history(config, history).transactions


class TrafficStream:
    """Live traffic continuing the history (same world, next days), optionally scored through the server."""

    def __init__(self, stack: Stack, cards: int, days: int, seed: int, rate: float) -> None:
        self.stack, self.cards, self.seed, self.rate = stack, cards, seed, rate
        self.state_file = stack.state_dir / "stream_state.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"next_day": days}
        self.first_day, self.resume_after = state["next_day"], state.get("resume_after")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.counts = None
        self.error: BaseException | None = None

    def _stream(self, seconds: float, scenario: str, knobs: dict, score: bool):
        """The live stream continuing from the last streamed day."""
        from domain.generator import DEMO_WORLD
        from domain.live_stream import LiveStream

        return LiveStream(
            bootstrap_servers=self.stack.bootstrap_servers,
            rate=self.rate,
            seconds=seconds,
            scenario=scenario,
            seed=self.seed,
            n_cards=self.cards,
            n_merchants=merchants_for(self.cards),
            first_day=self.first_day,
            resume_after=self.resume_after,
            label_delay_compression=1440,
            scenario_knobs=knobs,
            score_url=self.stack.server_url if score else None,
            score_model=SERVED_MODEL,
            also_score=tuple(m for m in ENTRY_MODELS if m != SERVED_MODEL),
            world=DEMO_WORLD,
        )

    def _continue_after(self, counts) -> None:
        self.first_day, self.resume_after = counts.resume_day, counts.last_event_time
        self.state_file.write_text(json.dumps({"next_day": self.first_day, "resume_after": self.resume_after}))

    def run(self, seconds: float, scenario: str = "normal", knobs: dict | None = None, score: bool = False):
        """Streams for `seconds` in this thread and returns the counts."""
        from domain.live_stream import run_live_stream

        counts = run_live_stream(self._stream(seconds, scenario, knobs or {}, score))
        self._continue_after(counts)
        return counts

    def start(self, scenario: str, knobs: dict) -> None:
        """Streams scored traffic in the background until `stop()`."""
        from domain.live_stream import run_live_stream

        stream = self._stream(24 * 3600, scenario, knobs, score=True)

        def progress(counts) -> None:
            self.counts = counts

        def target() -> None:
            try:
                self.counts = run_live_stream(stream, progress, self._stop)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                self.error = error

        self._thread = threading.Thread(target=target, name="live-traffic", daemon=True)
        self._thread.start()

    def stop(self):
        """Stops the background stream and returns its counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.error is not None:
            raise ServiceError(f"the live traffic stream failed: {self.error}")
        if self.counts is not None:
            self._continue_after(self.counts)
        return self.counts


def materialize(
    stack: Stack, env: dict[str, str], selection: tuple[str, ...], run_config: dict, days: list[str] | None = None
) -> None:
    """Materialises `selection` through the stack's Dagster instance (the run shows in the UI); `days` is the range
    of daily partitions of a partitioned selection (one run: its assets have a single-run backfill policy)."""
    stack.dagster_home.mkdir(parents=True, exist_ok=True)
    if not (stack.dagster_home / "dagster.yaml").exists():
        (stack.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    config_file = stack.state_dir / "main_job_config.json"
    config_file.write_text(json.dumps(run_config))
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "--select", ",".join(selection)]
    cmd += ["-m", "assets.definitions", "-c", str(config_file)]
    if days:
        cmd += ["--partition-range", f"{days[0]}...{days[-1]}"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    log = stack.state_dir / "materialize.log"
    with log.open("a") as out:
        out.write(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ServiceError(f"materialising the asset graph failed (full log: {log}):\n{tail}")


def served_version(server_url: str, model: str = SERVED_MODEL) -> int | None:
    """The version the server reports for `model` (a serving name), or None."""
    try:
        with urllib.request.urlopen(f"{server_url}/v2/models/{model}", timeout=2) as reply:
            return int(json.loads(reply.read())["versions"][0])
    except (OSError, ValueError, KeyError, IndexError):
        return None


def served_versions(server_url: str) -> dict[str, int | None]:
    """The version the server serves of every declared model, by model name (None: not served)."""
    return {m.name: served_version(server_url, m.served_name) for m in MODELS}


def champion_version(tracking_uri: str, registered_model: str = REGISTERED_MODEL) -> int | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return int(MlflowClient(tracking_uri).get_model_version_by_alias(registered_model, "champion").version)
    except MlflowException:
        return None


def runs_table(dagster_home: Path, since: float = 0.0) -> list[dict]:
    """Runs of the stack's Dagster instance started after `since`: who triggered them, what they built, how it went."""
    import dagster as dg

    created_after = datetime.fromtimestamp(since, UTC) if since else None
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(created_after=created_after), order_by="create_timestamp", ascending=True
        )
    rows = []
    for record in records:
        run = record.dagster_run
        tags = run.tags
        if "flywheel/trigger" in tags:
            trigger = f"{tags['flywheel/trigger']} sensor" if tags["flywheel/trigger"] != "schedule" else "schedule"
        elif "dagster/automation_condition_evaluation_id" in tags or tags.get("dagster/from_automation_condition"):
            trigger = "automation (new champion)"
        elif "dagster/sensor_name" in tags:
            trigger = tags["dagster/sensor_name"]
        else:
            trigger = "main job"
        assets = sorted(k.to_user_string() for k in (run.asset_selection or []))
        started = record.start_time or record.create_timestamp.timestamp()
        rows.append(
            {
                "run_id": run.run_id,
                "trigger": trigger,
                "episode": tags.get("flywheel/episode", ""),
                "model": tags.get("flywheel/model", ""),
                "status": run.status.value,
                "assets": assets,
                "created": record.create_timestamp.timestamp(),
                "started": record.start_time,
                "ended": record.end_time,
                "seconds": round((record.end_time or time.time()) - started, 1),
            }
        )
    return rows


def drift_snapshot(state_dir: Path) -> dict:
    """The drift sensor's last evaluation as it exported it for Prometheus ({} before the first)."""
    files = sorted((state_dir / "monitoring" / "snapshots").glob("drift*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else {}


def step_seconds(dagster_home: Path, run_id: str) -> dict[str, float]:
    """Seconds each step of a run took (STEP_START to STEP_SUCCESS/FAILURE), by step key."""
    import dagster as dg

    starts, seconds = {}, {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for event in instance.all_logs(run_id):
            kind = event.dagster_event.event_type_value if event.is_dagster_event else None
            if kind == "STEP_START":
                starts[event.step_key] = event.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
                seconds[event.step_key] = round(event.timestamp - starts[event.step_key], 1)
    return seconds


def rollout_decisions(dagster_home: Path, model: str, since: float) -> list[dict]:
    """The rollout sensor's and deployment's recorded decisions for `model` after `since`, oldest first."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.fetch_observations(dg.AssetKey(f"{model}_deployment"), limit=100, ascending=True).records
    decisions = []
    for record in records:
        if record.timestamp < since or record.asset_observation is None:
            continue
        metadata = record.asset_observation.metadata
        decisions.append(
            {
                "at": round(record.timestamp, 1),
                "decision": metadata["decision"].value if "decision" in metadata else "?",
                "weights": metadata["weights"].value if "weights" in metadata else {},
                "shadow": metadata["shadow"].value if "shadow" in metadata else "none",
                "reasons": str(metadata["reasons"].value) if "reasons" in metadata else "",
            }
        )
    return decisions


ROLLOUT_ENDS = ("complete", "rollback")
"""serving.rollout_controller's COMPLETE and serving.rollout_policy's ROLLBACK: a rollout's last decision."""


def settled_rollout_decisions(dagster_home: Path, model: str, since: float, timeout_s: float = 120.0) -> list[dict]:
    """rollout_decisions once the rollout has ended (or after `timeout_s`): the server serves a new version at 100%
    as soon as the rollout sensor's tick sets its weights, a moment before Dagster records that tick's "complete"."""
    deadline = time.monotonic() + timeout_s
    while True:
        decisions = rollout_decisions(dagster_home, model, since)
        if (decisions and decisions[-1]["decision"] in ROLLOUT_ENDS) or time.monotonic() > deadline:
            return decisions
        time.sleep(2)


MONITORING_ALERTS = ("FlywheelFeatureDrift", "FlywheelLabeledQualityDrop", "FlywheelAutomaticRollback")
"""The model alerts the main job reports: how each went in the stack's Prometheus, and what reached the pager."""


def alerts_seen(stack: Stack, since: float, step: float = 5.0) -> dict[str, list[dict]]:
    """The model alerts since `since`: each (alert, model) with the first time Prometheus held it pending and firing
    (from its ALERTS series), and each notification the pager received from Alertmanager."""
    from tools.services.pager import read_notifications
    from tools.services.prometheus import PrometheusService

    prometheus = PrometheusService(stack.state_dir / "prometheus", port=stack.ports["prometheus"])
    names = "|".join(MONITORING_ALERTS)
    series = prometheus.query_range(f'ALERTS{{alertname=~"{names}"}}', since, time.time(), step)
    states: dict[tuple[str, str], dict[str, float]] = {}
    for one in series:
        labels = one["metric"]
        first = min(float(t) for t, _ in one["values"])
        seen = states.setdefault((labels["alertname"], labels.get("model", "")), {})
        seen[labels["alertstate"]] = min(first, seen.get(labels["alertstate"], first))
    prometheus_alerts = [
        {"alert": alert, "model": model, **{state: round(t - since, 1) for state, t in sorted(seen.items())}}
        for (alert, model), seen in sorted(states.items())
    ]
    paged = [
        {
            "receiver": n["path_receiver"],
            "status": n["status"],
            "at": round(n["received_at"] - since, 1),
            "alerts": sorted({f"{a['labels']['alertname']} {a['labels'].get('model', '')}" for a in n["alerts"]}),
        }
        for n in read_notifications(stack.state_dir / "pager")
        if n["received_at"] >= since
    ]
    return {"prometheus": prometheus_alerts, "pager": paged}


def loop_timeline(
    dagster_home: Path, runs: list[dict], drift_started: float, served_at: float, model: str | None = None
) -> dict[str, float]:
    """Drift onset to the new version serving all traffic, in phases: detection (onset to the sensor's run request),
    run start, ingest + features, training, gate, engine build, deployment (automation ticks included) and the
    rollout's shadow and canary stages."""
    drift = next((r for r in runs if r["trigger"] in RETRAINING_TRIGGERS and model in (None, r["model"])), None)
    if drift is None:
        return {}
    steps = step_seconds(dagster_home, drift["run_id"])
    data = ("streamed_transactions", "chargeback_labels", "validated_transactions", "transaction_features")
    name = drift["model"] or PRIMARY.name
    engine_asset, deployment_asset = f"{name}_serving_engine", f"{name}_deployment"
    engine = [r for r in runs if r["trigger"].startswith("automation") and engine_asset in r["assets"]]
    deploy = [r for r in runs if r["trigger"].startswith("automation") and deployment_asset in r["assets"]]
    timeline = {
        "detection": drift["created"] - drift_started,
        "run start": (drift["started"] or drift["created"]) - drift["created"],
        "ingest and features": sum(steps.get(k, 0.0) for k in (*data, f"{name}_training_set")),
        "training": steps.get(f"{name}_model", 0.0),
        "gate": steps.get(f"{name}_model_evaluation", 0.0),
        "drift reference": steps.get(f"{name}_drift_reference", 0.0),
    }
    if engine and deploy:
        timeline["engine build (from the end of the retraining run)"] = engine[0]["ended"] - drift["ended"]
        timeline["deployment (publish, load, shadow starts)"] = deploy[0]["ended"] - engine[0]["ended"]
        timeline["rollout (shadow and canary stages to 100%)"] = served_at - deploy[0]["ended"]
    timeline["total"] = served_at - drift_started
    return {k: round(v, 1) for k, v in timeline.items()}


def latest_drift_snapshot(state_dir: Path) -> str:
    """The drift sensor's last verdict per model, with the strongest statistic of any alarming one, as one line."""
    files = sorted((state_dir / "monitoring" / "snapshots").glob("drift*.json"))
    if not files:
        return "drift_sensor: no evaluation yet"
    verdicts, worst_line = [], ""
    for path in files:
        data = json.loads(path.read_text())
        verdicts.append(f"{data.get('key', path.stem)} {data.get('status', '?')}")
        statistics = [s for s in data.get("statistics", []) if s.get("threshold")]
        if data.get("alarm") and statistics and not worst_line:
            worst = max(statistics, key=lambda s: s["value"] / s["threshold"])
            worst_line = (
                f"; strongest of {data.get('key')}: {worst['statistic']}({worst['feature']}) = {worst['value']:.3g} "
                f"vs limit {worst['threshold']:.3g} on {data.get('rows', '?')} rows"
            )
    return f"drift_sensor: {', '.join(verdicts)}{worst_line}"


def wait_for_the_loop(
    stack: Stack,
    traffic: TrafficStream,
    before: dict[str, int | None],
    since: float,
    timeout_s: float,
    wait_for: str | None = None,
) -> dict:
    """Waits until a retrained champion of `wait_for` (default: of any model) is served; prints progress; returns
    the timings it saw."""
    started = time.monotonic()
    seen_runs: dict[str, str] = {}
    while time.monotonic() - started < timeout_s:
        time.sleep(5)
        if traffic.error is not None:
            raise ServiceError(f"the live traffic stream failed: {traffic.error}")
        rows = runs_table(stack.dagster_home, since)
        for row in rows:
            key = row["run_id"]
            if seen_runs.get(key) != row["status"]:
                seen_runs[key] = row["status"]
                note(f"run {key[:8]} [{row['trigger']}] {row['status'].lower()}: {', '.join(row['assets'])}")
        sent = traffic.counts.transactions if traffic.counts else 0
        served = served_versions(stack.server_url)
        elapsed = time.monotonic() - started
        serving = ", ".join(f"{name} v{version}" for name, version in served.items() if version is not None)
        drift = latest_drift_snapshot(stack.state_dir)
        note(f"[{elapsed:5.0f} s] {sent:,} drifted transactions sent; serving {serving}; {drift}")
        newer = [name for name, version in served.items() if version is not None and version > (before.get(name) or 0)]
        newer = [name for name in newer if wait_for in (None, name)]
        if newer:
            model = newer[0]
            result = {"closed": True, "seconds": round(elapsed, 1), "runs": rows, "at": time.time()}
            return {**result, "model": model, "served": served[model]}
    return {
        "closed": False,
        "seconds": round(time.monotonic() - started, 1),
        "runs": runs_table(stack.dagster_home, since),
    }


def scoring_summary(counts) -> dict:
    if counts is None or counts.scoring is None:
        return {}
    scoring = counts.scoring
    return {
        "transactions": counts.transactions,
        "scored": scoring.scored,
        "by_version": dict(scoring.by_version),
        "failures": {str(k): v for k, v in scoring.failures.items()},
        "first_failure": scoring.first_failure,
        "quality_by_version": scoring.quality_by_version(),
        **scoring.latency_quantiles(),
        "also_scored": {
            model: {
                "scored": also.scored,
                "by_version": dict(also.by_version),
                "failures": {str(k): v for k, v in also.failures.items()},
                "first_failure": also.first_failure,
            }
            for model, also in counts.also_scored.items()
        },
    }


def model_versions(tracking_uri: str, registered_model: str = REGISTERED_MODEL) -> list[dict]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    versions = client.search_model_versions(f"name='{registered_model}'")
    return sorted(
        (
            {
                "version": int(v.version),
                "gate": v.tags.get("gate_decision", "-"),
                "reasons": v.tags.get("gate_reasons", ""),
                "aliases": list(v.aliases),
            }
            for v in versions
        ),
        key=lambda row: row["version"],
    )


def print_summary(summary: dict) -> None:
    step("summary")
    note("per model: versions in MLflow (gate decision, aliases), served before the drift -> now:")
    for name, versions in summary["model_versions"].items():
        before = (summary.get("served_before") or {}).get(name)
        now = summary["served_versions"].get(name)
        changed = "  RETRAINED AND REDEPLOYED" if before is not None and now != before else ""
        note(f"  {name}: served v{before} -> v{now}, champion v{summary['champion_versions'].get(name)}{changed}")
        for row in versions:
            aliases = "  <- " + ", ".join(row["aliases"]) if row["aliases"] else ""
            note(f"    v{row['version']}: gate {row['gate']}{aliases}")
            if row["gate"] == "reject":
                note(f"       why: {row['reasons'][:300]}")
    if "retrained_models" in summary:
        note(f"models retrained by their sensors since normal traffic began: {summary['retrained_models'] or 'none'}")
    note("what triggered what (Dagster runs):")
    for row in summary["runs"]:
        note(
            f"  {row['run_id'][:8]} {row['trigger']:<26} {row['status']:<8} {row['seconds']:>6.1f} s  "
            + ", ".join(row["assets"])
        )
    for phase in ("normal_traffic", "drifted_traffic"):
        scoring = summary.get(phase) or {}
        if not scoring:
            continue
        note(
            f"{phase.replace('_', ' ')}: {scoring['scored']:,} scored by versions {scoring['by_version']}, "
            f"client latency p50 {scoring.get('p50_ms', '-')} ms / p99 {scoring.get('p99_ms', '-')} ms, "
            f"failures {scoring['failures'] or 'none'}"
        )
        for version, quality in scoring["quality_by_version"].items():
            note(
                f"  {version}: PR-AUC {quality['pr_auc']} on {quality['rows']:,} transactions "
                f"({quality['positives']} positives)"
            )
        for model, also in (scoring.get("also_scored") or {}).items():
            note(f"  {model}: {also['scored']:,} scored by {also['by_version']}, failures {also['failures'] or 'none'}")
    loop = summary.get("loop") or {}
    if loop:
        note(f"loop closed: {loop['closed']} after {loop['seconds']} s of drifted traffic")
        for phase, seconds in (loop.get("timeline") or {}).items():
            note(f"  {phase:<52} {seconds:7.1f} s")
        for decision in loop.get("rollout") or []:
            weights = ", ".join(f"v{v} {w}%" for v, w in decision["weights"].items())
            note(f"  rollout: {decision['decision']:<8} -> {weights}; shadow {decision['shadow']}")
            if decision["decision"] == "rollback":
                note(f"    {decision['reasons']}")


def print_alerts(alerts: dict[str, list[dict]]) -> None:
    """One line per alert Prometheus evaluated and per notification the pager received (seconds since drift)."""
    for alert in alerts["prometheus"]:
        states = ", ".join(f"{state} at +{alert[state]:.0f} s" for state in ("pending", "firing") if state in alert)
        note(f"alert {alert['alert']} {alert['model']}: {states}")
    for page in alerts["pager"]:
        note(f"pager {page['receiver']} got {page['status']} at +{page['at']:.0f} s: {', '.join(page['alerts'])}")
    if not any(alerts.values()):
        note("no model alert went pending in Prometheus since the drift began")


def print_where_to_look(records: list[ServiceRecord]) -> None:
    for record in records:
        for kind, url in record.urls.items():
            note(f"{record.name:<12} {kind:<18} {url}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/flywheel run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_argument_group("size and speed")
    size.add_argument("--cards", type=int, default=2000, help="cards in the generated history (default 2000)")
    size.add_argument("--days", type=int, default=14, help="days of generated history (default 14)")
    size.add_argument("--rate", type=float, default=300, help="live transactions per second (default 300)")
    size.add_argument("--warmup-seconds", type=float, default=10, help="live traffic before training (default 10)")
    size.add_argument("--serve-seconds", type=float, default=30, help="normal traffic through the server (default 30)")
    size.add_argument(
        "--training-config", default="tiny", help="training config name or YAML path (default tiny; full for real)"
    )
    size.add_argument("--sensor-interval", type=int, default=15, help="seconds between sensor ticks (default 15)")
    size.add_argument(
        "--short", action="store_true", help="CI size: 2000 cards, 14 days, 5 s warm-up, 30 s normal traffic"
    )
    scenario = parser.add_argument_group("drift")
    from domain.generator import DEMO_KNOBS

    drifts = list(DEMO_KNOBS)
    scenario.add_argument(
        "--drift",
        default=drifts[0],
        help=f"scenario injected after normal traffic: {', '.join(drifts)} (default: {drifts[0]}), or none",
    )
    scenario.add_argument(
        "--knob", action="append", default=[], metavar="NAME=VALUE", help="override a scenario knob (repeatable)"
    )
    scenario.add_argument(
        "--loop-timeout", type=float, default=900, help="seconds to wait for the retrained model (default 900)"
    )
    scenario.add_argument(
        "--wait-for",
        metavar="MODEL",
        choices=[m.name for m in MODELS],
        help="declared model whose retrained version closes the loop (default: the first model served anew)",
    )
    stack = parser.add_argument_group("stack")
    stack.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    stack.add_argument(
        "--state-dir", type=Path, default=REPO_ROOT / ".flywheel", help="state folder (default .flywheel)"
    )
    stack.add_argument("--fresh", action="store_true", help="delete the state of earlier runs before starting")
    stack.add_argument("--free-ports", action="store_true", help="pick free ports instead of the defaults")
    stack.add_argument("--stop-after", action="store_true", help="stop everything at the end (CI)")
    stack.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    if args.short:
        args.cards, args.days, args.warmup_seconds, args.serve_seconds = 2000, 14, 5, 30
        args.sensor_interval = min(args.sensor_interval, 10)
    if args.drift not in {"none", *DEMO_KNOBS}:
        parser.error(f"--drift must be one of {sorted(DEMO_KNOBS)} or none, not {args.drift!r}")
    try:
        from domain.live_stream import parse_knobs

        args.knobs = {**DEMO_KNOBS.get(args.drift, {}), **parse_knobs(args.knob)}
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state_dir = args.state_dir.resolve()
    if args.fresh:
        down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() if args.free_ports else port for name, port in DEFAULT_PORTS.items()}
    stack = Stack(state_dir, ports)
    env = stack.environment(args.training_config, args.sensor_interval)
    started = time.monotonic()
    summary: dict = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        step("starting Kafka, MLflow, Prometheus with its alerting path, and the inference server")
        stack.records = up(state_dir, [*SERVICES, "server"], ports)
        stack.ports.update({r.name: r.port for r in stack.records if r.port})
        print_where_to_look(stack.records)
        env = stack.environment(args.training_config, args.sensor_interval)
        step(f"generating {args.days} days of history for {args.cards} cards")
        rows = generate_history(state_dir / "lake", args.cards, args.days, args.seed)
        note("kept the existing history" if rows < 0 else f"{rows:,} transactions")
        traffic = TrafficStream(stack, args.cards, args.days, args.seed, args.rate)
        step(f"streaming {args.warmup_seconds:.0f} s of live transactions and late labels through Kafka")
        counts = traffic.run(args.warmup_seconds)
        note(f"{counts.transactions:,} transactions, {counts.chargebacks:,} chargebacks")
        from dataplane.lake_stages import history_days

        days = history_days(state_dir / "lake" / "history" / "transactions")
        step(f"materialising the history's {len(days)} daily partitions ({days[0]}...{days[-1]})")
        materialize(stack, env, HISTORY_ASSETS, {}, days=days)
        step("materialising validated data -> features -> model -> gate -> engine -> deployment")
        materialize(stack, env, INITIAL_ASSETS, training_run_config(args.training_config))
        before = served_versions(stack.server_url)
        serving = ", ".join(f"{name} v{version}" for name, version in before.items())
        note(f"the server at {stack.server_url} serves {serving}")
        step("starting Dagster (webserver and daemon: sensors and automation)")
        dagster = up(state_dir, ["dagster"], ports, Stack.demo_settings(args.training_config, args.sensor_interval))
        stack.records += dagster
        print_where_to_look(dagster)
        note("watch the runs, sensor ticks and the asset lineage there while the loop runs")
        since = time.time()
        step(f"scoring {args.serve_seconds:.0f} s of normal traffic through the server")
        counts = traffic.run(args.serve_seconds, score=True)
        summary["normal_traffic"] = scoring_summary(counts)
        verdict = drift_snapshot(state_dir)
        retrained = [r for r in runs_table(stack.dagster_home, since) if "sensor" in r["trigger"] and r["assets"]]
        summary["normal_traffic"]["drift_verdict"] = (
            verdict.get("status") if verdict.get("written_at", 0) > since else None
        )
        trained = {f"{model.name}_model" for model in MODELS}
        summary["normal_traffic"]["retraining_runs"] = len([r for r in retrained if trained & set(r["assets"])])
        failures = dict(counts.scoring.failures) or "none"
        note(f"{counts.scoring.scored:,} scored, failures {failures}; {latest_drift_snapshot(state_dir)}")
        if args.drift != "none":
            step(f"injecting {args.drift} {args.knobs}; the sensors take it from here")
            drift_started = time.time()
            traffic.start(args.drift, args.knobs)
            loop = wait_for_the_loop(stack, traffic, before, since, args.loop_timeout, args.wait_for)
            loop["drift_started"] = drift_started
            if loop["closed"]:
                loop["timeline"] = loop_timeline(
                    stack.dagster_home, loop["runs"], drift_started, loop["at"], loop["model"]
                )

            watched = loop.get("model") or args.wait_for
            if watched and loop["closed"]:
                loop["rollout"] = settled_rollout_decisions(stack.dagster_home, watched, drift_started)
            elif watched:  # the loop did not close: a rollback or a held stage says why
                loop["rollout"] = rollout_decisions(stack.dagster_home, watched, drift_started)
            try:
                summary["alerts"] = alerts_seen(stack, drift_started)
                print_alerts(summary["alerts"])
            except (OSError, RuntimeError, ValueError) as error:  # a report, not the loop: say so and go on
                summary["alerts"] = {"error": f"{type(error).__name__}: {error}"}
                note(f"could not read the alerts from Prometheus and the pager: {summary['alerts']['error']}")
            if loop["closed"]:
                note(f"{loop['model']} v{loop['served']} is live; scoring a little more drifted traffic with it")
                time.sleep(max(10.0, args.serve_seconds))
            counts = traffic.stop()
            summary["drifted_traffic"] = scoring_summary(counts)
            summary["loop"] = {k: v for k, v in loop.items() if k != "runs"}
        summary["runs"] = runs_table(stack.dagster_home)
        summary["model_versions"] = {m.name: model_versions(stack.mlflow_uri, m.registered_model) for m in MODELS}
        summary["served_before"] = before
        sensor_runs = [r for r in summary["runs"] if r["model"] and r["trigger"] in RETRAINING_TRIGGERS]
        summary["retrained_models"] = sorted({r["model"] for r in sensor_runs if r["created"] > since})
        summary["served_versions"] = served_versions(stack.server_url)
        summary["champion_versions"] = {m.name: champion_version(stack.mlflow_uri, m.registered_model) for m in MODELS}
        summary["seconds"] = round(time.monotonic() - started, 1)
        summary["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        down(state_dir)
        return 1
    except Exception:  # noqa: BLE001 - whatever broke, never leave half the stack running
        traceback.print_exc()
        print("error: the main job failed (traceback above); stopping everything it started", file=sys.stderr)
        down(state_dir)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything that was started", file=sys.stderr)
        down(state_dir)
        return 130
    print_summary(summary)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2, default=str))
    step(f"done in {summary['seconds']:.0f} s; where to look:")
    print_where_to_look(ServiceRecord.load_all(state_dir / "services"))
    if args.stop_after:
        down(state_dir)
    else:
        note("stop everything with: tools/flywheel down")
    loop_failed = args.drift != "none" and not summary.get("loop", {}).get("closed")
    if loop_failed:
        print(
            f"error: no retrained model was served within {args.loop_timeout:.0f} s of drift; the runs above and the "
            "Dagster UI (Runs, Sensors) say where it stopped",
            file=sys.stderr,
        )
    return 1 if loop_failed else 0


if __name__ == "__main__":
    sys.exit(main())
