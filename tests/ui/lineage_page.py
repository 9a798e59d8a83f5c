"""The Dagster UI's global asset lineage page: its URL with every group open, and the asset nodes it drew."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser

import dagster as dg

from tests.ui.headless_chromium import Viewport

LINEAGE_PATH = "/asset-groups"
"""Dagster 1.13's global asset lineage page (the "Lineage" entry of the UI's navigation)."""

LINEAGE_VIEW = Viewport(width=5120, height=4800, scale=0.5)
"""The lineage graph is zoomed to fit the window, and below 60 % zoom the UI draws nodes as minimal boxes with names
shortened in the middle ("stre…_transactions"). A 5120 x 4800 layout keeps full nodes for today's graph (the data
plane and five model groups, 42 assets); drawing it at 0.5 gives a 2560 x 2400 PNG for the docs (headless Chromium
draws no smaller than half scale). A full node still shortens a name longer than itself (DrawnNodes.names resolves
it)."""

_CLASS_NAME = "AssetNode_assetName__"
_CLASS_MINIMAL = "AssetNode_minimalName__"
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})

_WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on PythonError { message }
  ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class CodeLocationError(RuntimeError):
    """The webserver could not load the code location."""


def expected_asset_groups(definitions: dg.Definitions) -> dict[str, str]:
    """Every asset of the code location (as the UI names it) -> its group."""
    graph = definitions.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}


def lineage_url(base_url: str, groups: set[str], location: str = "assets.definitions") -> str:
    """The global lineage page with `groups` expanded, so each asset is drawn as its own node (not a group box)."""
    # The UI names a group `global@global:<group>`, or `<repository>@<location>:<group>` behind its
    # per-code-location feature flag; naming both expands the groups whichever is on (unknown ids are ignored).
    ids = [gid for group in sorted(groups) for gid in (f"global@global:{group}", f"__repository__@{location}:{group}")]
    return f"{base_url.rstrip('/')}{LINEAGE_PATH}?{urllib.parse.urlencode({'expanded': ','.join(ids)})}"


@dataclass
class DrawnNodes:
    """Asset node labels found in the rendered lineage page."""

    full: list[str] = field(default_factory=list)
    """Labels of full nodes: the asset's whole name."""
    minimal: list[str] = field(default_factory=list)
    """Labels of minimal (zoomed-out) nodes, whose long names the UI shortens."""

    def names(self, expected: set[str]) -> list[str]:
        """The full nodes' asset names. A full node shortens a name longer than it is wide in the middle
        ("fraud_digi…_labeled_predictions"); such a label stands for the one expected name it abbreviates."""
        names = []
        for label in self.full:
            head, ellipsis, tail = label.partition("…")
            candidates = [n for n in expected if n.startswith(head) and n.endswith(tail) and len(n) > len(label)]
            names.append(candidates[0] if ellipsis and len(candidates) == 1 else label)
        return names


class _AssetNodeParser(HTMLParser):
    """Collects the text of every element whose CSS-module class is the asset node's name."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes = DrawnNodes()
        self._open: list[tuple[str, str | None, list[str]]] = []  # (tag, "full"/"minimal"/None, text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            return
        classes = (dict(attrs).get("class") or "").split()
        kind = None
        if any(c.startswith(_CLASS_NAME) for c in classes):
            kind = "minimal" if any(c.startswith(_CLASS_MINIMAL) for c in classes) else "full"
        self._open.append((tag, kind, []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, kind, text = self._open.pop()
            if kind:
                getattr(self.nodes, kind).append("".join(text).strip())
            if self._open:
                self._open[-1][2].extend(text)
            if open_tag == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)


def drawn_asset_nodes(dom: str) -> DrawnNodes:
    """The asset nodes a rendered lineage page drew (see DrawnNodes)."""
    parser = _AssetNodeParser()
    parser.feed(dom)
    parser.close()
    return parser.nodes


def _graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def wait_for_code_locations(base_url: str, timeout: float = 180.0) -> None:
    """Returns once the webserver has loaded every code location; CodeLocationError with its error if one failed."""
    deadline = time.monotonic() + timeout
    status = "no answer from the webserver"
    while time.monotonic() < deadline:
        try:
            workspace = _graphql(base_url, _WORKSPACE_QUERY)["workspaceOrError"]
        except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
            status = f"GraphQL query failed: {exc}"
        else:
            if workspace["__typename"] == "PythonError":
                raise CodeLocationError(f"Dagster workspace failed to load: {workspace['message']}")
            entries = workspace["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise CodeLocationError(f"code location {entry['name']} failed to load:\n{error['message']}")
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
            status = ", ".join(f"{e['name']}: {e['loadStatus']}" for e in entries) or "no code locations yet"
        time.sleep(1)
    raise CodeLocationError(f"code locations at {base_url} not loaded after {timeout:.0f} s ({status})")


def lineage_problems(drawn: DrawnNodes, expected: set[str]) -> list[str]:
    """What is wrong with the drawn nodes against the expected asset names (empty when every asset is drawn once)."""
    problems = []
    if drawn.minimal:
        problems.append(
            f"{len(drawn.minimal)} asset nodes are drawn zoomed out, with shortened names ({sorted(drawn.minimal)}): "
            "the graph outgrew the window; widen LINEAGE_VIEW in tests/ui/lineage_page.py"
        )
    names = drawn.names(expected)
    if missing := sorted(expected - set(names)):
        problems.append(f"assets of the code location missing from the lineage page: {missing}")
    if unexpected := sorted(set(names) - expected):
        problems.append(f"nodes on the lineage page that are not assets of the code location: {unexpected}")
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"assets drawn more than once: {repeated}")
    return problems
