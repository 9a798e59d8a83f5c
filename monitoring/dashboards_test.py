"""The generated Grafana dashboards are well-formed, and the committed copies equal what the code generates."""

from pathlib import Path

import pytest

from monitoring.dashboards import DASHBOARDS, build_dashboards, dashboard_text

COMMITTED = Path(__file__).resolve().parent / "grafana"


@pytest.fixture(scope="module")
def dashboards():
    return build_dashboards()


def test_every_dashboard_is_generated(dashboards):
    assert set(dashboards) == {"flywheel-serving", "flywheel-model-quality", "flywheel-data-drift", "flywheel-pipeline"}


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_dashboard_json_is_well_formed(dashboards, uid):
    model = dashboards[uid]
    assert model["uid"] == uid and model["title"] == DASHBOARDS[uid][0]
    assert [v["name"] for v in model["templating"]["list"]] == ["datasource"]
    panels = model["panels"]
    assert len(panels) == len(DASHBOARDS[uid][1]) and len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat") and panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and (grid["x"], grid["y"]) not in cells
        cells.add((grid["x"], grid["y"]))
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs) and all(t["expr"].strip() for t in panel["targets"])


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_committed_dashboard_is_up_to_date(dashboards, uid):
    path = COMMITTED / f"{uid}.json"
    assert path.exists(), f"{path} is missing: run python -m monitoring.dashboards monitoring/grafana"
    assert path.read_text() == dashboard_text(dashboards[uid]), (
        f"{path.name} differs from the code: run python -m monitoring.dashboards monitoring/grafana"
    )
