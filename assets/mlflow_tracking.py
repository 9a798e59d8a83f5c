"""MLflow for assets: dagster-mlflow's tracking class, wrapped so that every MLflow run ends FINISHED or FAILED.

dagster-mlflow (beta) opens one MLflow run per Dagster run and ends it only from a job hook, so with
assets its runs stay RUNNING forever. We keep its MlFlow class (experiment setup, dagster_run_id and
env tags, chunked log_params, every mlflow function as a method) and add what it lacks: a reachability
check that fails fast with the URI in the message, one fresh MLflow run per asset attempt (a retry
starts clean), and an end status that is always set, FINISHED or FAILED (KILLED on interrupt).
"""

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

import dagster as dg
import mlflow
from dagster_mlflow.resources import MlFlow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from pydantic import Field


class MlflowUnavailableError(RuntimeError):
    """The tracking server did not answer; the asset's retry policy will try again."""


class _AssetMlflowRun(MlFlow):
    """dagster-mlflow's MlFlow, but never resuming an earlier run of the same Dagster run: one run per attempt."""

    def _get_current_run_id(self, experiment=None, dagster_run_id=None):
        return None


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking server and experiment; `start_run` always ends the MLflow run it starts."""

    tracking_uri: str = Field(description="MLflow tracking URI, e.g. http://127.0.0.1:5000")
    experiment_name: str = Field(default="flywheel", description="Default experiment for runs started by assets")
    env_to_tag: list[str] = Field(default_factory=list, description="Environment variables logged as run tags")
    extra_tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every run")
    health_timeout_seconds: float = Field(default=5.0, description="How long the reachability check waits")

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri)

    def check_reachable(self) -> None:
        """Raises MlflowUnavailableError unless an HTTP tracking server answers /health (other URIs pass)."""
        if not self.tracking_uri.startswith(("http://", "https://")):
            return
        try:
            with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=self.health_timeout_seconds) as reply:
                if reply.status == 200:
                    return
                problem = f"HTTP {reply.status}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", error))
        raise MlflowUnavailableError(
            f"MLflow tracking server {self.tracking_uri} is unreachable ({problem}); start it "
            "(`python -m tools.services.cli up mlflow`) or fix the mlflow resource's tracking_uri"
        )

    @contextlib.contextmanager
    def start_run(
        self,
        context: dg.AssetExecutionContext,
        run_name: str,
        experiment_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Iterator[MlFlow]:
        """Starts an MLflow run tagged with the Dagster run id; ends it FINISHED, or FAILED if the body raises."""
        self.check_reachable()
        shim = SimpleNamespace(
            log=context.log,
            run_id=context.run.run_id,
            dagster_run=SimpleNamespace(job_name=run_name),
            resource_config={
                "mlflow_tracking_uri": self.tracking_uri,
                "experiment_name": experiment_name or self.experiment_name,
                "env_to_tag": self.env_to_tag,
                "extra_tags": {**self.extra_tags, **(tags or {})},
                "env": {},
            },
        )
        while mlflow.active_run():  # a run left active in this process by someone else must not absorb ours
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        tracker = _AssetMlflowRun(shim)
        try:
            yield tracker
        except KeyboardInterrupt:
            mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
            raise
        except BaseException:
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
            raise
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
