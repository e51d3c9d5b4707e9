"""The trend chart: an inline SVG line chart of the primary metric across versions, for the HTML report.

Points are evenly spaced in creation order on an axis with round ticks (never outside [0, 1] for bounded metrics
such as accuracy or AUC); the primary gate's threshold (if any) is a dashed line; archived versions are hollow
circles; every point has a ``<title>`` tooltip; the legend lists only what is drawn. No scripts, no external
resources; all text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.metrics import is_unit_interval_metric
from kfp_model_lifecycle.comparison.ranking import TrendPoint
from kfp_model_lifecycle.comparison.report.axis import Axis, nice_axis
from kfp_model_lifecycle.comparison.report.sections import primary_threshold
from kfp_model_lifecycle.comparison.result import ComparisonResult

ROLE_COLORS = {"candidate": "#ef6c00", "baseline": "#1565c0"}
OTHER_COLOR = "#607d8b"
PRODUCTION_STROKE = ' stroke="#2e7d32" stroke-width="3"'
ARCHIVED_STYLE = ' fill-opacity="0.15" stroke-dasharray="2,2" stroke-width="2"'
THRESHOLD_COLOR = "#c62828"
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 30, 60
MAX_LABEL = 18
"""Version names longer than this are shortened under the chart."""


@dataclass(frozen=True)
class _Frame:
    """Where the plot sits in the SVG and which values it spans."""

    width: int
    height: int
    count: int
    axis: Axis

    @property
    def plot_w(self) -> int:
        return self.width - MARGIN_LEFT - MARGIN_RIGHT

    @property
    def plot_h(self) -> int:
        return self.height - MARGIN_TOP - MARGIN_BOTTOM

    def x_of(self, i: int) -> float:
        return MARGIN_LEFT + (self.plot_w / 2 if self.count == 1 else self.plot_w * i / (self.count - 1))

    def y_of(self, v: float) -> float:
        return MARGIN_TOP + self.plot_h * (1 - self.axis.fraction(v))


def _frame(trend: Sequence[TrendPoint], threshold: float | None, metric: str, width: int, height: int) -> _Frame:
    """The frame spanning every value and the threshold, on round ticks (within [0, 1] for bounded metrics)."""
    values = [p.value for p in trend] + ([threshold] if threshold is not None else [])
    bounded = is_unit_interval_metric(metric) and all(0 <= v <= 1 for v in values)
    return _Frame(width, height, len(trend), nice_axis(values, unit_interval=bounded))


def trend_svg(result: ComparisonResult, width: int = 760, height: int = 280) -> str:
    """An inline SVG line chart of the primary metric across versions; candidate and baseline highlighted.

    Args:
        result: From ``run_compare_models``.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The ``<svg>`` element ("" when there is no trend).
    """
    trend = result.trend
    if not trend:
        return ""
    esc = html.escape
    metric = result.primary_metric
    threshold = primary_threshold(result)
    frame = _frame(trend, threshold, metric, width, height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{esc(metric)} across versions">',
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{frame.plot_w}" height="{frame.plot_h}" fill="#fafafa"'
        ' stroke="#ddd"/>',
        f'<text x="{MARGIN_LEFT}" y="{MARGIN_TOP - 10}" font-size="13" font-weight="bold">{esc(metric)} by version'
        " (oldest to newest)</text>",
    ]
    parts += _grid(frame)
    if threshold is not None:
        parts.append(_threshold_line(frame, threshold))
    points = " ".join(f"{frame.x_of(i):.1f},{frame.y_of(p.value):.1f}" for i, p in enumerate(trend))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#90a4ae" stroke-width="2"/>')
    for i, point in enumerate(trend):
        parts += _point(frame, i, point, metric)
    parts.append(_legend(trend, height))
    parts.append("</svg>")
    return "".join(parts)


def _grid(frame: _Frame) -> list[str]:
    """A horizontal grid line with its value at every tick of the axis."""
    parts = []
    for tick in frame.axis.ticks:
        y = frame.y_of(tick)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{MARGIN_LEFT + frame.plot_w}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{html.escape(frame.axis.label(tick))}</text>"
        )
    return parts


def _threshold_line(frame: _Frame, threshold: float) -> str:
    y = frame.y_of(threshold)
    right = MARGIN_LEFT + frame.plot_w
    return (
        f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{THRESHOLD_COLOR}"'
        ' stroke-dasharray="5,4"/>'
        f'<text x="{right - 4}" y="{y - 4:.1f}" font-size="11" text-anchor="end" fill="{THRESHOLD_COLOR}">'
        f"threshold {html.escape(format_number(threshold))}</text>"
    )


def _point_style(point: TrendPoint) -> str:
    """The circle's extra attributes: a green ring in production, hollow and dashed when archived."""
    if point.stage == "production":
        return PRODUCTION_STROKE
    if point.archived:
        return f' stroke="{ROLE_COLORS.get(point.role, OTHER_COLOR)}"{ARCHIVED_STYLE}'
    return ""


def _point(frame: _Frame, i: int, point: TrendPoint, metric: str) -> list[str]:
    """One version's circle with its tooltip, and its name under the chart when highlighted or first/last."""
    esc = html.escape
    role = point.role
    color = ROLE_COLORS.get(role, OTHER_COLOR)
    label = f"{point.version}: {metric} = {format_number(point.value)}"
    label += f" ({role})" if role else ""
    label += f" [stage {point.stage}]" if point.stage else ""
    label += " [archived]" if point.state == "ARCHIVED" else ""
    parts = [
        f'<circle cx="{frame.x_of(i):.1f}" cy="{frame.y_of(point.value):.1f}" r="{7 if role else 4}" fill="{color}"'
        f"{_point_style(point)}><title>{esc(label)}</title></circle>"
    ]
    if role or i in (0, frame.count - 1):
        name = point.version if len(point.version) <= MAX_LABEL else point.version[: MAX_LABEL - 1] + "..."
        y = MARGIN_TOP + frame.plot_h + 16 + (14 if role == "baseline" else 0)
        parts.append(
            f'<text x="{frame.x_of(i):.1f}" y="{y}" font-size="11" text-anchor="middle" fill="{color}">'
            f"{esc(name)}</text>"
        )
    return parts


def _legend_entries(trend: Sequence[TrendPoint]) -> list[tuple[str, str]]:
    """``(label, circle attributes)`` for each kind of point the chart draws."""
    entries = []
    for role, color in ROLE_COLORS.items():
        if any(p.role == role for p in trend):
            entries.append((role, f'r="6" fill="{color}"'))
    if any(p.stage == "production" for p in trend):
        entries.append(("in production", f'r="5" fill="{OTHER_COLOR}"{PRODUCTION_STROKE}'))
    if any(p.archived and p.stage != "production" for p in trend):
        entries.append(("archived", f'r="5" fill="{OTHER_COLOR}" stroke="{OTHER_COLOR}"{ARCHIVED_STYLE}'))
    return entries


def _legend(trend: Sequence[TrendPoint], height: int) -> str:
    """One legend entry per kind of point drawn (none for a series that is not there)."""
    legend_y = height - 12
    x = MARGIN_LEFT
    parts = []
    for label, attributes in _legend_entries(trend):
        parts.append(f'<circle cx="{x}" cy="{legend_y - 4}" {attributes}/>')
        parts.append(f'<text x="{x + 10}" y="{legend_y}" font-size="12">{html.escape(label)}</text>')
        x += 24 + 7 * len(label)
    return "".join(parts)
