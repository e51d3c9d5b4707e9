"""The trend chart: an inline SVG line chart of the primary metric across versions, for the HTML report.

Points are evenly spaced in creation order; the primary gate's threshold (if any) is a dashed line; every point
has a ``<title>`` tooltip. No scripts, no external resources; all text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.ranking import TrendPoint
from kfp_model_lifecycle.comparison.report.sections import primary_threshold
from kfp_model_lifecycle.comparison.result import ComparisonResult

ROLE_COLORS = {"candidate": "#ef6c00", "baseline": "#1565c0"}
OTHER_COLOR = "#607d8b"
PRODUCTION_STROKE = ' stroke="#2e7d32" stroke-width="3"'
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
    low: float
    high: float

    @property
    def plot_w(self) -> int:
        return self.width - MARGIN_LEFT - MARGIN_RIGHT

    @property
    def plot_h(self) -> int:
        return self.height - MARGIN_TOP - MARGIN_BOTTOM

    def x_of(self, i: int) -> float:
        return MARGIN_LEFT + (self.plot_w / 2 if self.count == 1 else self.plot_w * i / (self.count - 1))

    def y_of(self, v: float) -> float:
        return MARGIN_TOP + self.plot_h * (1 - (v - self.low) / (self.high - self.low))


def _frame(trend: Sequence[TrendPoint], threshold: float | None, width: int, height: int) -> _Frame:
    """The frame spanning every value and the threshold, with 10% padding (5% of the value when all are equal)."""
    values = [p.value for p in trend] + ([threshold] if threshold is not None else [])
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 if high > low else (abs(high) * 0.05 or 0.05)
    return _Frame(width, height, len(trend), low - pad, high + pad)


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
    frame = _frame(trend, threshold, width, height)
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
    parts.append(_legend(height))
    return "".join(parts)


def _grid(frame: _Frame) -> list[str]:
    """Three horizontal grid lines (bottom, middle, top) with their values."""
    parts = []
    for frac in (0.0, 0.5, 1.0):
        v = frame.low + (frame.high - frame.low) * frac
        y = frame.y_of(v)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{MARGIN_LEFT + frame.plot_w}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{html.escape(format_number(v, 4))}</text>"
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


def _point(frame: _Frame, i: int, point: TrendPoint, metric: str) -> list[str]:
    """One version's circle with its tooltip, and its name under the chart when highlighted or first/last."""
    esc = html.escape
    role = point.role
    color = ROLE_COLORS.get(role, OTHER_COLOR)
    stroke = PRODUCTION_STROKE if point.stage == "production" else ""
    label = f"{point.version}: {metric} = {format_number(point.value)}"
    label += f" ({role})" if role else ""
    label += f" [stage {point.stage}]" if point.stage else ""
    parts = [
        f'<circle cx="{frame.x_of(i):.1f}" cy="{frame.y_of(point.value):.1f}" r="{7 if role else 4}" fill="{color}"'
        f"{stroke}><title>{esc(label)}</title></circle>"
    ]
    if role or i in (0, frame.count - 1):
        name = point.version if len(point.version) <= MAX_LABEL else point.version[: MAX_LABEL - 1] + "..."
        y = MARGIN_TOP + frame.plot_h + 16 + (14 if role == "baseline" else 0)
        parts.append(
            f'<text x="{frame.x_of(i):.1f}" y="{y}" font-size="11" text-anchor="middle" fill="{color}">'
            f"{esc(name)}</text>"
        )
    return parts


def _legend(height: int) -> str:
    legend_y = height - 12
    left = MARGIN_LEFT
    return (
        f'<circle cx="{left}" cy="{legend_y - 4}" r="6" fill="{ROLE_COLORS["candidate"]}"/>'
        f'<text x="{left + 10}" y="{legend_y}" font-size="12">candidate</text>'
        f'<circle cx="{left + 100}" cy="{legend_y - 4}" r="6" fill="{ROLE_COLORS["baseline"]}"/>'
        f'<text x="{left + 110}" y="{legend_y}" font-size="12">baseline</text>'
        f'<circle cx="{left + 190}" cy="{legend_y - 4}" r="5" fill="{OTHER_COLOR}"{PRODUCTION_STROKE}/>'
        f'<text x="{left + 200}" y="{legend_y}" font-size="12">in production</text>'
        "</svg>"
    )
