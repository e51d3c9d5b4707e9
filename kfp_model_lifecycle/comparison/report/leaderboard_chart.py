"""The leaderboard's charts: one inline SVG dot plot per ranking metric, versions in rank order.

Each version is a row with a dot at its value on an axis with round ticks (never outside [0, 1] for bounded
metrics such as accuracy or AUC); the best value is green; every dot has a ``<title>`` tooltip. No scripts, no
external resources; all text escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from kfp_model_lifecycle.comparison.directions import RankMetric
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, LeaderboardRow
from kfp_model_lifecycle.comparison.metrics import is_unit_interval_metric
from kfp_model_lifecycle.comparison.report.axis import Axis, nice_axis

BEST_COLOR = "#2e7d32"
OTHER_COLOR = "#607d8b"
MISSING_COLOR = "#9e9e9e"
LEFT, RIGHT, TOP, BOTTOM = 220, 30, 34, 34
ROW_HEIGHT = 22
MAX_LABEL = 30
"""References longer than this are shortened in the chart (the tooltip has them in full)."""


@dataclass(frozen=True)
class _Plot:
    """Where the dots go."""

    width: int
    rows: int
    axis: Axis

    @property
    def plot_w(self) -> int:
        return self.width - LEFT - RIGHT

    @property
    def height(self) -> int:
        return TOP + self.rows * ROW_HEIGHT + BOTTOM

    def x_of(self, value: float) -> float:
        return LEFT + self.plot_w * self.axis.fraction(value)

    def y_of(self, i: int) -> float:
        return TOP + ROW_HEIGHT * (i + 0.5)


def leaderboard_svg(board: Leaderboard, metric: RankMetric, width: int = 760) -> str:
    """A dot plot of one ranking metric across the leaderboard's versions (rank order, top to bottom).

    Args:
        board: From ``compare_versions``.
        metric: One of its ranking metrics.
        width: Width in pixels.

    Returns:
        The ``<svg>`` element ("" when no version has the metric).
    """
    values = [v for row in board.rows if (v := row.values.get(metric.name)) is not None]
    if not values:
        return ""
    esc = html.escape
    bounded = is_unit_interval_metric(metric.name) and all(0 <= v <= 1 for v in values)
    plot = _Plot(width, len(board.rows), nice_axis(values, unit_interval=bounded))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{plot.height}"'
        f' viewBox="0 0 {width} {plot.height}" role="img" aria-label="{esc(metric.name)} by version">',
        f'<text x="{LEFT}" y="{TOP - 14}" font-size="13" font-weight="bold">{esc(metric.name)}'
        f" ({esc(metric.direction)})</text>",
    ]
    parts += _ticks(plot)
    for i, row in enumerate(board.rows):
        parts += _row(plot, i, row, metric)
    parts.append("</svg>")
    return "".join(parts)


def _ticks(plot: _Plot) -> list[str]:
    """A vertical grid line with its value under the plot at every tick."""
    bottom = TOP + plot.rows * ROW_HEIGHT
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot.plot_w}" height="{bottom - TOP}" fill="#fafafa" stroke="#ddd"/>']
    for tick in plot.axis.ticks:
        x = plot.x_of(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#e0e0e0"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" font-size="11" text-anchor="middle" fill="#555">'
            f"{html.escape(plot.axis.label(tick))}</text>"
        )
    return parts


def _row(plot: _Plot, i: int, row: LeaderboardRow, metric: RankMetric) -> list[str]:
    """One version: its rank and reference on the left, its dot (or ``n/a``) in the plot."""
    esc = html.escape
    y = plot.y_of(i)
    name = row.reference if len(row.reference) <= MAX_LABEL else row.reference[: MAX_LABEL - 3] + "..."
    parts = [
        f'<text x="{LEFT - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{row.rank}. {esc(name)}</text>',
        f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot.plot_w}" y2="{y:.1f}" stroke="#eeeeee"/>',
    ]
    value = row.values.get(metric.name)
    if value is None:
        parts.append(
            f'<text x="{LEFT + 6}" y="{y + 4:.1f}" font-size="11" fill="{MISSING_COLOR}">n/a: no {esc(metric.name)}'
            "</text>"
        )
        return parts
    best = metric.name in row.best_on
    tip = f"{row.reference}: {metric.name} = {format_number(value)} (rank {row.rank}{', best' if best else ''})"
    parts.append(
        f'<circle cx="{plot.x_of(value):.1f}" cy="{y:.1f}" r="{7 if best else 5}"'
        f' fill="{BEST_COLOR if best else OTHER_COLOR}"><title>{esc(tip)}</title></circle>'
    )
    return parts
