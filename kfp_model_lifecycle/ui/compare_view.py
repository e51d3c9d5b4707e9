"""What the Compare page shows: the leaderboard of ``kml models compare`` (same ranking, table and charts).

The table's headings and cells come from :mod:`kfp_model_lifecycle.comparison.report.leaderboard_text` and the
charts from :func:`~kfp_model_lifecycle.comparison.report.leaderboard_svg`, as in the leaderboard's HTML report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kfp_model_lifecycle.comparison.report import leaderboard_svg
from kfp_model_lifecycle.comparison.report.leaderboard_html import MAX_CHARTS
from kfp_model_lifecycle.comparison.report.leaderboard_text import Cell, detail_lines, headings, row_cells, title
from kfp_model_lifecycle.ui.links import version_url

if TYPE_CHECKING:
    from kfp_model_lifecycle.comparison.leaderboard import Leaderboard
    from kfp_model_lifecycle.lifecycle.catalog import VersionRow

DIRECTIONS = ("min", "max", "lower", "higher")
VERSION_COLUMN = 1
"""The table column holding the version's reference (it links to the version's page)."""


def rank_metrics(items: Iterable[str]) -> list[str | tuple[str, str]]:
    """``metric`` parameters as ``Lifecycle.compare`` takes them: ``name``, ``-name``, ``name:min``/``name:max``.

    Args:
        items: The parameters.

    Returns:
        Names, and ``(name, direction)`` pairs for ``name:min`` and the like.
    """
    parsed: list[str | tuple[str, str]] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, sep, direction = item.rpartition(":")
        parsed.append((name, direction.lower()) if sep and name and direction.lower() in DIRECTIONS else item)
    return parsed


@dataclass(frozen=True)
class BoardLine:
    """One row of the leaderboard table.

    Attributes:
        cells: Its cells, matching the headings (``best`` marks the best value of a metric).
        href: The page of its version.
        best: Whether it ranks first.
    """

    cells: list[Cell]
    href: str
    best: bool


@dataclass(frozen=True)
class BoardView:
    """The leaderboard for the page.

    Attributes:
        title: e.g. ``Model leaderboard: iris``.
        headings: The table's column headings.
        lines: Its rows, best first.
        reason: One sentence: which version ranks first, on what.
        details: How to read the table.
        notes: Things worth reading.
        charts: One SVG dot plot per ranking metric (at most six).
    """

    title: str
    headings: list[str]
    lines: list[BoardLine]
    reason: str
    details: list[str]
    notes: list[str]
    charts: list[str]


def board_view(board: Leaderboard) -> BoardView:
    """The leaderboard as the Compare page shows it.

    Args:
        board: From ``Lifecycle.compare``.

    Returns:
        The view.
    """
    lines = [
        BoardLine(
            row_cells(board, row),
            version_url(row.version.model_name, row.version.version_name),
            best=row.rank == 1,
        )
        for row in board.rows
    ]
    charts = [svg for metric in board.metrics[:MAX_CHARTS] if (svg := leaderboard_svg(board, metric))]
    return BoardView(
        title=title(board),
        headings=headings(board),
        lines=lines,
        reason=board.reason,
        details=detail_lines(board),
        notes=list(board.notes),
        charts=charts,
    )


@dataclass(frozen=True)
class Choice:
    """A version one can tick on the Compare page.

    Attributes:
        reference: ``model:version``.
        row: The version.
        checked: Whether it is compared now.
    """

    reference: str
    row: VersionRow
    checked: bool


def version_choices(rows: Iterable[VersionRow], selected: Sequence[str]) -> list[Choice]:
    """The versions to pick from, newest first, the compared ones ticked.

    Args:
        rows: The versions of the models being compared.
        selected: The references compared now.

    Returns:
        The choices.
    """
    chosen = set(selected)
    ordered = sorted(rows, key=lambda r: (r.model, -(int(r.version_id) if r.version_id.isdigit() else 0)))
    return [Choice(r.reference, r, r.reference in chosen) for r in ordered]


def metric_choices(rows: Iterable[VersionRow], selected: Iterable[str]) -> list[tuple[str, bool]]:
    """The metrics one can rank on (any the selected versions record), the chosen ones ticked.

    Args:
        rows: The versions being compared.
        selected: The ``metric`` parameters.

    Returns:
        ``(name, ticked)`` pairs, by name.
    """
    chosen = {m if isinstance(m, str) else m[0] for m in rank_metrics(selected)}
    chosen = {m.lstrip("+-") for m in chosen}
    names = sorted({name for row in rows for name in row.metrics})
    return [(name, name in chosen) for name in names]
