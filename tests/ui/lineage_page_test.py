"""The lineage page's URL and the reading of its rendered DOM, on small hand-written pages."""

import urllib.parse

import dagster as dg
import pytest

from tests.ui.headless_chromium import Viewport, png_size
from tests.ui.lineage_page import DrawnNodes, drawn_asset_nodes, expected_asset_groups, lineage_problems, lineage_url

# The shape Dagster 1.13 renders: a full node's name element holds an icon and the name; a minimal node's holds
# the shortened name. CSS-module hashes change between releases, hence prefix matching.
PAGE = """<html><body><svg>
<foreignObject><div class="AssetNode_assetName__tnJ1t AssetNode_materializable__X_9jV">
  <span style="margin-top: 1px;"><div class="Icon_icon__4tLQ_" role="img" aria-label="asset"></div></span>
  <div data-tooltip="streamed_transactions">streamed_transactions</div></div></foreignObject>
<foreignObject><div class="AssetNode_assetName__zz AssetNode_minimalName__6CSqA">vali…_transactions</div>
</foreignObject>
<foreignObject><div class="AssetNode_box"><br><div class="AssetNode_assetName__tnJ1t">build_info</div></div>
</foreignObject></svg><div class="Sidebar">raw_transactions</div></body></html>"""


def test_drawn_nodes_are_split_into_full_and_minimal():
    drawn = drawn_asset_nodes(PAGE)
    assert drawn.full == ["streamed_transactions", "build_info"]
    assert drawn.minimal == ["vali…_transactions"]


def test_lineage_url_expands_every_group_under_both_group_id_forms():
    url = lineage_url("http://127.0.0.1:3000/", {"data", "training"})
    parsed = urllib.parse.urlsplit(url)
    assert parsed.path == "/asset-groups"
    expanded = urllib.parse.parse_qs(parsed.query)["expanded"][0].split(",")
    assert expanded == [
        "global@global:data",
        "__repository__@assets.definitions:data",
        "global@global:training",
        "__repository__@assets.definitions:training",
    ]


def test_problems_name_missing_unexpected_repeated_and_shortened_nodes():
    assert lineage_problems(DrawnNodes(full=["a", "b"]), {"a", "b"}) == []
    problems = lineage_problems(DrawnNodes(full=["a", "a", "z"], minimal=["lo…ng"]), {"a", "b"})
    assert len(problems) == 4
    assert "shortened names (['lo…ng'])" in problems[0]
    assert problems[1].endswith("missing from the lineage page: ['b']")
    assert problems[2].endswith("not assets of the code location: ['z']")
    assert problems[3] == "assets drawn more than once: ['a']"


def test_expected_asset_groups_come_from_the_definitions():
    @dg.asset(group_name="data")
    def rows():
        """Rows."""

    @dg.asset(group_name="training")
    def model(rows):
        """Model."""

    assert expected_asset_groups(dg.Definitions(assets=[rows, model])) == {"rows": "data", "model": "training"}


def test_viewport_png_size_and_png_header(tmp_path):
    assert Viewport(2880, 1760, 0.625).png_size == (1800, 1100)
    with pytest.raises(ValueError, match="positive"):
        Viewport(0, 10)
    png = tmp_path / "x.png"
    png.write_bytes(
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1800).to_bytes(4, "big") + (1100).to_bytes(4, "big")
    )
    assert png_size(png) == (1800, 1100)
    (tmp_path / "x.txt").write_text("not a png at all, definitely")
    with pytest.raises(ValueError, match="is not a PNG"):
        png_size(tmp_path / "x.txt")


def test_a_full_node_that_shortens_a_long_name_stands_for_that_name_only():
    drawn = DrawnNodes(full=["fraud_digi…_labeled_predictions", "model", "a…z"])
    expected = {"fraud_digital_labeled_predictions", "fraud_labeled_predictions", "model", "abz", "acz"}
    assert drawn.names(expected) == ["fraud_digital_labeled_predictions", "model", "a…z"], "ambiguous stays unresolved"
