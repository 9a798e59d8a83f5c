"""A real MLflow tracking server over HTTP: a run logged and a model version registered."""

from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient


def test_run_and_model_version_round_trip(mlflow_service, tmp_path):
    mlflow.set_tracking_uri(mlflow_service.tracking_uri)
    mlflow.set_experiment("foundation-roundtrip")
    model_file = tmp_path / "model.txt"
    model_file.write_text("weights")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        for step, loss in enumerate([0.9, 0.5, 0.3]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_artifact(str(model_file), artifact_path="model")

    client = MlflowClient(tracking_uri=mlflow_service.tracking_uri)
    fetched = client.get_run(run.info.run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.data.params == {"lr": "0.01"}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [0.9, 0.5, 0.3]

    client.create_registered_model("roundtrip-model")
    version = client.create_model_version("roundtrip-model", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("roundtrip-model", "champion", version.version)
    champion = client.get_model_version_by_alias("roundtrip-model", "champion")
    assert champion.version == version.version and champion.run_id == run.info.run_id

    downloaded = mlflow.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/model/model.txt", dst_path=tmp_path / "d"
    )
    assert Path(downloaded).read_text() == "weights"
