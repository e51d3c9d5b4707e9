"""The Model page's trend chart: one metric across a model's versions (oldest to newest), the production version marked.

An inline SVG in the comparison report's style (:mod:`kfp_model_lifecycle.comparison.report.chart`): the same
value axis with round ticks (never outside [0, 1] for bounded metrics), number format, colours, a green ring for
the production version and hollow dashed circles for archived ones. Each point links to its version's page and
has a ``<title>`` tooltip. No scripts; every text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.metrics import is_unit_interval_metric
from kfp_model_lifecycle.comparison.report.axis import Axis, nice_axis
from kfp_model_lifecycle.comparison.report.chart import ARCHIVED_STYLE, OTHER_COLOR, PRODUCTION_STROKE

if TYPE_CHECKING:
    from kfp_model_lifecycle.lifecycle.catalog import VersionRow

PRODUCTION_COLOR = "#2e7d32"
LEFT, RIGHT, TOP, BOTTOM = 70, 24, 34, 58
MAX_LABELS = 12
"""With more versions than this, only the first, the last and the production version are named under the chart."""
MAX_LABEL = 14


@dataclass(frozen=True)
class TrendDot:
    """One version on the trend chart.

    Attributes:
        version: The version's name.
        value: Its value of the metric.
        production: Whether it is the production version.
        archived: Whether it is archived.
        href: Its page.
    """

    version: str
    value: float
    production: bool = False
    archived: bool = False
    href: str = ""


def trend_dots(
    rows: Iterable[VersionRow], metric: str, production: str, href_of: Callable[[VersionRow], str]
) -> list[TrendDot]:
    """The versions that record ``metric``, oldest first (by id).

    Args:
        rows: A model's versions.
        metric: The metric.
        production: The production version's name.
        href_of: A version's page.

    Returns:
        The dots.
    """
    ordered = sorted(rows, key=lambda r: int(r.version_id) if r.version_id.isdigit() else 0)
    return [
        TrendDot(
            r.version,
            float(r.metrics[metric]),
            production=bool(production) and r.version == production,
            archived=r.stage == "archived" or r.state == "ARCHIVED",
            href=href_of(r),
        )
        for r in ordered
        if r.metrics.get(metric) is not None
    ]


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    count: int
    axis: Axis

    @property
    def plot_w(self) -> int:
        return self.width - LEFT - RIGHT

    @property
    def plot_h(self) -> int:
        return self.height - TOP - BOTTOM

    def x_of(self, i: int) -> float:
        return LEFT + (self.plot_w / 2 if self.count == 1 else self.plot_w * i / (self.count - 1))

    def y_of(self, value: float) -> float:
        return TOP + self.plot_h * (1 - self.axis.fraction(value))


def metric_trend_svg(dots: Sequence[TrendDot], metric: str, width: int = 760, height: int = 260) -> str:
    """A line chart of ``metric`` across versions, oldest to newest, the production version marked.

    Args:
        dots: From :func:`trend_dots`.
        metric: The metric's name.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The ``<svg>`` element ("" when no version records the metric).
    """
    if not dots:
        return ""
    esc = html.escape
    values = [d.value for d in dots]
    bounded = is_unit_interval_metric(metric) and all(0 <= v <= 1 for v in values)
    frame = _Frame(width, height, len(dots), nice_axis(values, unit_interval=bounded))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{esc(metric)} across versions">',
        f'<rect x="{LEFT}" y="{TOP}" width="{frame.plot_w}" height="{frame.plot_h}" fill="#fafafa" stroke="#ddd"/>',
        f'<text x="{LEFT}" y="{TOP - 12}" font-size="13" font-weight="bold">{esc(metric)} by version'
        " (oldest to newest)</text>",
    ]
    parts += _grid(frame)
    points = " ".join(f"{frame.x_of(i):.1f},{frame.y_of(d.value):.1f}" for i, d in enumerate(dots))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#90a4ae" stroke-width="2"/>')
    labelled = _labelled(dots)
    for i, dot in enumerate(dots):
        parts += _dot(frame, i, dot, metric, i in labelled)
    parts.append(_legend(dots, height))
    parts.append("</svg>")
    return "".join(parts)


def _grid(frame: _Frame) -> list[str]:
    parts = []
    for tick in frame.axis.ticks:
        y = frame.y_of(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + frame.plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{html.escape(frame.axis.label(tick))}</text>"
        )
    return parts


def _labelled(dots: Sequence[TrendDot]) -> set[int]:
    """Which versions are named under the chart: all of them, or the first, the last and the production one."""
    if len(dots) <= MAX_LABELS:
        return set(range(len(dots)))
    return {0, len(dots) - 1} | {i for i, d in enumerate(dots) if d.production}


def _dot(frame: _Frame, i: int, dot: TrendDot, metric: str, labelled: bool) -> list[str]:
    esc = html.escape
    x, y = frame.x_of(i), frame.y_of(dot.value)
    tip = f"{dot.version}: {metric} = {format_number(dot.value)}"
    tip += " (production)" if dot.production else (" (archived)" if dot.archived else "")
    if dot.production:
        style, css, radius = PRODUCTION_STROKE, "dot production", 7
    elif dot.archived:
        style, css, radius = f' stroke="{OTHER_COLOR}"{ARCHIVED_STYLE}', "dot archived", 5
    else:
        style, css, radius = "", "dot", 5
    circle = (
        f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{OTHER_COLOR}"{style}>'
        f"<title>{esc(tip)}</title></circle>"
    )
    parts = [f'<a href="{esc(dot.href)}">{circle}</a>' if dot.href else circle]
    if dot.production:
        parts.append(
            f'<text class="production-label" x="{x:.1f}" y="{y - 12:.1f}" font-size="11" text-anchor="middle"'
            f' fill="{PRODUCTION_COLOR}" font-weight="bold">production</text>'
        )
    if labelled:
        name = dot.version if len(dot.version) <= MAX_LABEL else dot.version[: MAX_LABEL - 1] + "…"
        color = PRODUCTION_COLOR if dot.production else "#555"
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + frame.plot_h + 16}" font-size="11" text-anchor="middle" fill="{color}">'
            f"{esc(name)}</text>"
        )
    return parts


def _legend(dots: Sequence[TrendDot], height: int) -> str:
    entries = []
    if any(d.production for d in dots):
        entries.append(("in production", f'r="5" fill="{OTHER_COLOR}"{PRODUCTION_STROKE}'))
    if any(d.archived and not d.production for d in dots):
        entries.append(("archived", f'r="5" fill="{OTHER_COLOR}" stroke="{OTHER_COLOR}"{ARCHIVED_STYLE}'))
    y, x, parts = height - 12, LEFT, []
    for label, attributes in entries:
        parts.append(f'<circle cx="{x}" cy="{y - 4}" {attributes}/>')
        parts.append(f'<text x="{x + 10}" y="{y}" font-size="12">{html.escape(label)}</text>')
        x += 24 + 7 * len(label)
    return "".join(parts)
