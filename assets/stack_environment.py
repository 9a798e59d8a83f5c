"""Where the running stack is: state folder and service endpoints, read from FLYWHEEL_* environment variables.

The code location's resources and the defaults of its run configs come from here, so one process environment
points Dagster (webserver, daemon, run workers) at a stack: `tools/flywheel run` exports these for the stack it
starts; unset, they name the embedded defaults on 127.0.0.1. A deployment sets them in its Helm values.
"""

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

EXECUTORS = ("multiprocess", "in_process")


@dataclass(frozen=True)
class StackEnvironment:
    """The stack the code location talks to."""

    state_dir: str = ".flywheel"
    """Folder of the lake, model repositories and monitoring files (FLYWHEEL_STATE_DIR)."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka brokers (FLYWHEEL_KAFKA_BOOTSTRAP_SERVERS)."""
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    """MLflow tracking server (FLYWHEEL_MLFLOW_TRACKING_URI)."""
    server_url: str = "http://127.0.0.1:8000"
    """Inference server base URL the deployment waits on (FLYWHEEL_SERVER_URL)."""
    training_config: str = "full"
    """Training config of runs launched without run config, i.e. by sensors and schedules (FLYWHEEL_TRAINING_CONFIG)."""
    executor: str = "multiprocess"
    """How a run executes its steps: multiprocess (one process per step) or in_process (FLYWHEEL_EXECUTOR; a small
    machine saves the per-step start-up of Python, torch and Dagster)."""
    sensor_interval_seconds: int = 30
    """Minimum seconds between two ticks of the loop's sensors (FLYWHEEL_SENSOR_INTERVAL_S; demos use less)."""
    retrain_settle_seconds: int = 1800
    """How long a drift or quality episode must be open before its retraining is requested (FLYWHEEL_RETRAIN_SETTLE_S;
    the new regime must reach the training split, not only the holdout; demos compress time and use less)."""
    models: str = "domain.models:MODELS"
    """The model declarations the definitions are built from, as module:ATTRIBUTE (FLYWHEEL_MODELS)."""
    history_start: str = "2025-01-01"
    """First day (YYYY-MM-DD) of the history's daily partitions (FLYWHEEL_HISTORY_START; the generator's default
    start; a lake sets its own first day)."""

    VARIABLES = {
        "state_dir": "FLYWHEEL_STATE_DIR",
        "kafka_bootstrap_servers": "FLYWHEEL_KAFKA_BOOTSTRAP_SERVERS",
        "mlflow_tracking_uri": "FLYWHEEL_MLFLOW_TRACKING_URI",
        "server_url": "FLYWHEEL_SERVER_URL",
        "training_config": "FLYWHEEL_TRAINING_CONFIG",
        "executor": "FLYWHEEL_EXECUTOR",
        "sensor_interval_seconds": "FLYWHEEL_SENSOR_INTERVAL_S",
        "retrain_settle_seconds": "FLYWHEEL_RETRAIN_SETTLE_S",
        "history_start": "FLYWHEEL_HISTORY_START",
        "models": "FLYWHEEL_MODELS",
    }

    @classmethod
    def from_environ(cls, environ=None) -> "StackEnvironment":
        """The defaults, overridden by each FLYWHEEL_* variable that is set and not empty."""
        environ = os.environ if environ is None else environ
        values = {field: environ[name] for field, name in cls.VARIABLES.items() if environ.get(name)}
        for field, name in (
            ("sensor_interval_seconds", "FLYWHEEL_SENSOR_INTERVAL_S"),
            ("retrain_settle_seconds", "FLYWHEEL_RETRAIN_SETTLE_S"),
        ):
            if field in values:
                if not values[field].isdigit():
                    raise ValueError(f"{name} must be a whole number of seconds, got {values[field]!r}")
                values[field] = int(values[field])
        if "history_start" in values:
            try:
                date.fromisoformat(values["history_start"])
            except ValueError as error:
                text = values["history_start"]
                raise ValueError(f"FLYWHEEL_HISTORY_START must be a date (YYYY-MM-DD), got {text!r}") from error
        if values.get("executor", "multiprocess") not in EXECUTORS:
            raise ValueError(f"FLYWHEEL_EXECUTOR must be one of {EXECUTORS}, got {values['executor']!r}")
        return cls(**values)

    def as_environ(self) -> dict[str, str]:
        """The FLYWHEEL_* variables that point a process at this stack."""
        return {name: str(getattr(self, field)) for field, name in self.VARIABLES.items()}

    def path(self, *parts: str) -> str:
        """A path under the state folder."""
        return str(Path(self.state_dir, *parts))


STACK = StackEnvironment.from_environ()
"""The stack of this process, read once when the code location is imported."""
