"""Every per-model stage of the graph, built from one model declaration (Dagster's asset-factory pattern).

For each declared model the lineage holds, in the model's own asset group: `<model>_training_set`, `<model>_model`,
`<model>_model_evaluation`, `<model>_drift_reference`, `<model>_serving_engine`, `<model>_deployment` and
`<model>_labeled_predictions`, with its `<model>_performance_sensor` and fallback schedule. One `drift_sensor`
watches every model (it reads the prediction log once per tick). The data plane (raw, streamed and validated
transactions, labels, the shared features and the online store) is one set of assets that every model reads.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from assets.closed_loop import LoopStages, loop_stages
from assets.data_assets import training_set_asset
from assets.deployment import deployment_asset
from assets.model_gate import evaluation_asset
from assets.model_training import model_asset
from assets.serving_engine import engine_asset
from features.model_declaration import ModelDeclaration, segment_route


@dataclass(frozen=True)
class ModelStages:
    """One declared model's assets, sensors and schedule."""

    model: ModelDeclaration
    training_set: dg.AssetsDefinition
    trained_model: dg.AssetsDefinition
    model_evaluation: dg.AssetsDefinition
    serving_engine: dg.AssetsDefinition
    deployment: dg.AssetsDefinition
    loop: LoopStages

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        return [
            self.training_set,
            self.trained_model,
            self.model_evaluation,
            self.loop.drift_reference,
            self.serving_engine,
            self.deployment,
            self.loop.labeled_predictions,
        ]

    @property
    def sensors(self) -> list[dg.SensorDefinition]:
        return [self.loop.performance_sensor]


def model_stages(model: ModelDeclaration, models: Sequence[ModelDeclaration] = ()) -> ModelStages:
    """Builds every per-model stage of `model`; `models` is the whole declared list (a segment's parent is in it)."""
    return ModelStages(
        model=model,
        training_set=training_set_asset(model),
        trained_model=model_asset(model),
        model_evaluation=evaluation_asset(model),
        serving_engine=engine_asset(model, segment_route(model, models) if model.segment else None),
        deployment=deployment_asset(model),
        loop=loop_stages(model),
    )
