"""The Version page's lineage graph: datasets -> run -> version -> deployments, as an inline SVG.

Four columns of boxes joined by arrows. Each box is a ``<g class="node" data-kind="..." data-state="...">`` with
its label, a second line, a ``<title>`` tooltip with the full text, and a link when there is somewhere to go (the
dataset, the run in the KFP UI, the model server). A column with nothing recorded shows one muted box saying so.
No scripts; every text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.ui.version_view import Lineage, VersionDeployment

COLUMNS = ("datasets", "run", "version", "deployments")
NODE_W, NODE_H, GAP_X, GAP_Y = 210, 48, 40, 14
PAD_X, PAD_TOP, PAD_BOTTOM = 12, 30, 12
MAX_LABEL, MAX_DETAIL = 24, 31
"""Box lines longer than these are shortened (the tooltip has them in full)."""
FILLS = {
    "dataset": "#e3f2fd",
    "run": "#fff3e0",
    "version": "#e8f5e9",
    "deployment": "#f3e5f5",
}
STATE_STROKES = {"serving": "#2e7d32", "failed": "#c62828", "missing": "#bdbdbd"}
DEFAULT_STROKE = "#78909c"


@dataclass(frozen=True)
class GraphNode:
    """One box of the lineage graph.

    Attributes:
        kind: ``dataset``, ``run``, ``version`` or ``deployment``.
        label: Its first line.
        detail: Its second line.
        tooltip: Its full description.
        href: Where clicking it goes ("" for nowhere).
        state: ``serving``, ``replaced``, ``failed``, ``undeployed``... for deployments; ``missing`` for a box
            saying nothing is recorded; "" otherwise.
    """

    kind: str
    label: str
    detail: str = ""
    tooltip: str = ""
    href: str = ""
    state: str = ""


@dataclass(frozen=True)
class LineageGraph:
    """The graph's boxes, column by column.

    Attributes:
        datasets: The datasets.
        run: The run.
        version: The version.
        deployments: Where it was deployed.
    """

    datasets: tuple[GraphNode, ...]
    run: GraphNode
    version: GraphNode
    deployments: tuple[GraphNode, ...]

    def columns(self) -> list[tuple[GraphNode, ...]]:
        """The columns, left to right."""
        return [self.datasets, (self.run,), (self.version,), self.deployments]


def lineage_graph(
    reference: str, stage: str, lineage: Lineage, deployments: Sequence[VersionDeployment]
) -> LineageGraph:
    """The lineage graph of a version.

    Args:
        reference: ``model:version``.
        stage: Its stage.
        lineage: From :func:`.version_view.lineage_of`.
        deployments: From :func:`.version_view.version_deployments`.

    Returns:
        The graph.
    """
    datasets = tuple(
        GraphNode(
            "dataset",
            d.role or f"dataset {d.index}",
            f"sha256 {d.sha256[:12]}…" if d.sha256 else d.uri,
            f"{d.role or 'dataset'}: {d.uri}" + (f"\nsha256 {d.sha256}" if d.sha256 else ""),
            d.href,
        )
        for d in lineage.datasets
    ) or (GraphNode("dataset", "no datasets recorded", state="missing"),)
    run = lineage.run
    how = {"kfp": f"pipeline {lineage.pipeline}" if lineage.pipeline else "KFP run", "manual": "registered by hand"}
    run_node = (
        GraphNode("run", run.text, how.get(lineage.source, ""), run.text, run.href)
        if run.text
        else GraphNode("run", "no run recorded", state="missing")
    )
    version = GraphNode("version", reference, f"stage {stage}", f"{reference} ({stage})")
    targets = tuple(
        GraphNode("deployment", d.target, f"{d.state} {d.when}".strip(), f"{d.target}: {d.state} ({d.when})",
                  d.url, d.state)
        for d in deployments
    ) or (GraphNode("deployment", "not deployed", state="missing"),)  # fmt: skip
    return LineageGraph(datasets, run_node, version, targets)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node(node: GraphNode, x: float, y: float) -> str:
    esc = html.escape
    stroke = STATE_STROKES.get(node.state, DEFAULT_STROKE)
    fill = "#fafafa" if node.state == "missing" else FILLS.get(node.kind, "#ffffff")
    dash = ' stroke-dasharray="4,3"' if node.state in ("missing", "replaced", "undeployed") else ""
    text_fill = "#9e9e9e" if node.state == "missing" else "#212121"
    box = (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}"'
        f' stroke-width="{2 if node.state == "serving" or node.kind == "version" else 1.2}"{dash}/>'
        f'<text class="label" x="{x + 10:.0f}" y="{y + 20:.0f}" font-size="13" fill="{text_fill}"'
        f' font-weight="bold">{esc(_short(node.label, MAX_LABEL))}</text>'
        f'<text class="detail" x="{x + 10:.0f}" y="{y + 37:.0f}" font-size="11" fill="#616161">'
        f"{esc(_short(node.detail, MAX_DETAIL))}</text>"
    )
    title = f"<title>{esc(node.tooltip or node.label)}</title>"
    inner = f'<a href="{esc(node.href)}">{box}</a>' if node.href else box
    state = f' data-state="{esc(node.state)}"' if node.state else ""
    return f'<g class="node" data-kind="{esc(node.kind)}"{state}>{title}{inner}</g>'


def _edge(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return (
        f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2 - 4:.0f},{y2:.0f}"'
        ' fill="none" stroke="#90a4ae" stroke-width="1.5" marker-end="url(#kml-arrow)"/>'
    )


def lineage_graph_svg(graph: LineageGraph) -> str:
    """The graph as an inline SVG, left to right.

    Args:
        graph: From :func:`lineage_graph`.

    Returns:
        The ``<svg>`` element.
    """
    columns = graph.columns()
    rows = max(len(c) for c in columns)
    width = PAD_X * 2 + len(columns) * NODE_W + (len(columns) - 1) * GAP_X
    height = PAD_TOP + rows * NODE_H + (rows - 1) * GAP_Y + PAD_BOTTOM
    positions: list[list[tuple[float, float]]] = []
    for i, column in enumerate(columns):
        x = PAD_X + i * (NODE_W + GAP_X)
        span = len(column) * NODE_H + (len(column) - 1) * GAP_Y
        top = PAD_TOP + (rows * NODE_H + (rows - 1) * GAP_Y - span) / 2
        positions.append([(x, top + j * (NODE_H + GAP_Y)) for j in range(len(column))])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="lineage: datasets, run, version, deployments">',
        '<defs><marker id="kml-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
        ' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/></marker></defs>',
    ]
    for i, name in enumerate(COLUMNS):
        x = PAD_X + i * (NODE_W + GAP_X)
        parts.append(f'<text x="{x}" y="18" font-size="11" fill="#757575" letter-spacing="1">{name.upper()}</text>')
    for i in range(len(columns) - 1):
        for x1, y1 in positions[i]:
            for x2, y2 in positions[i + 1]:
                parts.append(_edge(x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2))
    for column, places in zip(columns, positions, strict=True):
        parts += [_node(node, x, y) for node, (x, y) in zip(column, places, strict=True)]
    parts.append("</svg>")
    return "".join(parts)
