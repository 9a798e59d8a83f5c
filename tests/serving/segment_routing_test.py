"""Partitioned models on the real server: a transaction for the parent goes to its segment's model while that model
has a version loaded, and to the parent otherwise; each model encodes with its own FeatureSpec (serving.json)."""

import dataclasses
import json
import shutil

import numpy as np

from features.spec import encode_categorical
from serving import model_repository
from serving.model_config import contract_config
from serving.ort_session import session
from tests.serving.fake_online_features import features
from tests.serving.serving_harness import SPEC, ServerProcess, add_version, wait_until

PARENT = "scorer"
SMALL = dataclasses.replace(
    SPEC, numeric=SPEC.numeric[:3], categorical={"c2": SPEC.categorical["c2"], "c0": SPEC.categorical["c0"]}
)
"""The segments' own spec: three numeric inputs and two categorical ones in other than sorted order (a different
contract from the parent, whose column order must survive serving.json)."""


def _segment(root, name: str, value: str, version: int | None) -> None:
    config = contract_config(name, SMALL, max_batch_size=8)
    if version is not None:
        add_version(root, version, config=config)
    else:
        (root / name).mkdir(parents=True)
        (root / name / model_repository.CONFIG_FILE).write_text(config.to_pbtxt())
    segment = {"parent": PARENT, "column": "c0", "values": [value]}
    model_repository.write_serving_metadata(root, name, {"feature_spec": SMALL.to_dict(), "segment": segment})


def _score(server, c0: str) -> dict:
    transaction = {"event_id": f"tx-{c0}", "amount": 40.0, "hour": 2, "c0": c0, "c1": "v1", "c2": "v3"}
    status, body, _ = server.request("POST", f"/models/{PARENT}/score", json.dumps(transaction).encode())
    assert status == 200, body
    return body


def test_requests_go_to_their_segment_and_fall_back_to_the_parent(tmp_path):
    root = tmp_path / "models"
    add_version(root, 1, config=contract_config(PARENT, SPEC, max_batch_size=8))
    _segment(root, "scorer_v1", "v1", version=1)
    _segment(root, "scorer_v2", "v2", version=None)  # declared and published, no champion yet
    args = (
        "--feature-function",
        "tests.serving.fake_online_features:features",
        "--feature-spec",
        "serving.synthetic_data:reference_spec",
    )
    with ServerProcess(root, tmp_path, *args, wait_for="/v2/health/live") as server:
        assert wait_until(lambda: _score(server, "v1")["model_name"] == "scorer_v1")
        body = _score(server, "v1")
        assert body["requested_model"] == PARENT
        values = features({"amount": 40.0, "hour": 2, "c0": "v1", "c1": "v1", "c2": "v3"})
        numeric = np.asarray([[values[n] for n in SMALL.numeric]], dtype=np.float32)
        categorical = np.asarray([[encode_categorical(v, [values[n]])[0] for n, v in SMALL.categorical.items()]])
        inputs = {"numeric": numeric, "categorical": categorical}
        expected = session(root / "scorer_v1" / "1" / "model.onnx").run(None, inputs)[0]
        assert abs(body["score"] - float(expected[0, 0])) < 1e-6, "encoded with the segment's own spec"

        assert _score(server, "v2")["model_name"] == PARENT, "a segment without a version falls back to the parent"
        assert _score(server, "v5")["model_name"] == PARENT, "a value no segment claims goes to the parent"

        add_version(root, 1, config=contract_config("scorer_v2", SMALL, max_batch_size=8))
        assert wait_until(lambda: _score(server, "v2")["model_name"] == "scorer_v2"), "its first version takes over"

        shutil.rmtree(root / "scorer_v1")
        assert wait_until(lambda: _score(server, "v1")["model_name"] == PARENT), "a removed segment falls back"
        metrics = server.metrics()
        assert 'flywheel_segment_requests_total{model="scorer",served_by="scorer_v1"}' in metrics
        assert 'flywheel_segment_requests_total{model="scorer",served_by="scorer"}' in metrics
        status, body, _ = server.request("POST", "/models/nobody/score", json.dumps({"amount": 1.0}).encode())
        assert status == 404 and "served models" in body["error"]
