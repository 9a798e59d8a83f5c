"""A deployment is validated whole, routes sticky per entity, and a growing canary keeps the entities it had."""

import json

import pytest

from serving.deployment_plan import Deployment, DeploymentError, read_deployment, write_deployment


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"weights": {"1": 60, "2": 30}}, "weights must sum to 100, got 90"),
        ({"weights": {}}, "non-empty object"),
        ({"weights": {"0": 100}}, "versions are positive integers"),
        ({"weights": {"1": 120, "2": -20}}, "percentages in [0, 100]"),
        ({"weights": {"1": 99.5, "2": 0.5}}, "whole percentage"),
        ({"weights": {"1": 100}, "shadow": [1]}, "cannot both answer traffic and shadow it"),
        ({"weights": {"1": 100}, "shadow": [2, 2]}, "shadow versions repeat"),
        ({"weights": {"x": 100}}, "whole numbers"),
        ({"weights": {"1": 100}, "canary": 5}, "unknown fields ['canary']"),
        ({"weights": {"1": 100}, "shadow": [2], "shadow_percent": 0}, "shadow_percent must be a whole percentage"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_deployment_is_refused_naming_the_problem(document, message):
    with pytest.raises(DeploymentError) as error:
        Deployment.from_dict(document)
    assert message in str(error.value)


def test_round_trip_and_the_primary_version():
    deployment = Deployment(
        {3: 75, 4: 25}, shadow=(5,), shadow_percent=25, sequence=7, sticky_key="card_id", rollbacks=1
    )
    again = Deployment.from_dict(json.loads(json.dumps(deployment.to_dict())))
    assert again == deployment
    assert deployment.primary == 3 and deployment.versions == (3, 4, 5)
    assert Deployment({3: 50, 4: 50}).primary == 3, "a tie goes to the older version"


def test_routing_is_sticky_and_follows_the_weights():
    canary = Deployment({1: 95, 2: 5})
    cards = [f"card-{i}" for i in range(20_000)]
    first = {card: canary.route("m", card) for card in cards}
    assert all(canary.route("m", card) == first[card] for card in cards[:500]), "same entity, same version"
    share = sum(v == 2 for v in first.values()) / len(cards)
    assert 0.04 < share < 0.06
    grown = Deployment({1: 75, 2: 25})
    assert all(grown.route("m", card) == 2 for card, v in first.items() if v == 2), "canary entities stay"
    assert 0.23 < sum(grown.route("m", c) == 2 for c in cards) / len(cards) < 0.27
    assert {Deployment({1: 100, 2: 0}).route("m", c) for c in cards[:100]} == {1}


def test_files_are_written_whole_and_a_broken_one_names_its_path(tmp_path):
    assert read_deployment(tmp_path, "m") is None
    write_deployment(tmp_path, "m", Deployment({2: 100}, sequence=3))
    assert read_deployment(tmp_path, "m") == Deployment({2: 100}, sequence=3)
    (tmp_path / "m" / "deployment.json").write_text("{not json")
    with pytest.raises(DeploymentError, match="deployment.json is not JSON"):
        read_deployment(tmp_path, "m")
