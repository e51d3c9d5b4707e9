"""The leaderboard report's content as plain text, shared by its Markdown and HTML forms (each escapes it)."""

from __future__ import annotations

from dataclasses import dataclass

from kfp_model_lifecycle.comparison.directions import RankMetric
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, LeaderboardRow
from kfp_model_lifecycle.comparison.report.sections import format_time

HYPERPARAMETERS = "hyperparameters"
"""The lineage entry shown as a column when any version records hyperparameters."""


@dataclass(frozen=True)
class Cell:
    """One table cell as text.

    Attributes:
        text: The text (not escaped).
        number: Right-aligned.
        best: The best value of its metric.
    """

    text: str
    number: bool = False
    best: bool = False


def title(board: Leaderboard) -> str:
    """The report's title, e.g. ``Model leaderboard: iris`` or ``Model leaderboard: 3 models``.

    Args:
        board: The leaderboard.

    Returns:
        The title.
    """
    names = board.model_names
    return f"Model leaderboard: {names[0] if len(names) == 1 else f'{len(names)} models'}"


def metric_heading(metric: RankMetric) -> str:
    """A metric column's heading with its direction, e.g. ``accuracy ↑``.

    Args:
        metric: The ranking metric.

    Returns:
        The heading.
    """
    return f"{metric.name} {metric.arrow}"


def headings(board: Leaderboard) -> list[str]:
    """The table's column headings.

    Args:
        board: The leaderboard.

    Returns:
        Rank, Version, Stage, one per ranking metric, Created, and Hyperparameters when any version has them.
    """
    columns = ["Rank", "Version", "Stage", *(metric_heading(m) for m in board.metrics), "Created"]
    return columns + (["Hyperparameters"] if show_hyperparameters(board) else [])


def show_hyperparameters(board: Leaderboard) -> bool:
    """Whether any version records hyperparameters.

    Args:
        board: The leaderboard.

    Returns:
        True to show the column.
    """
    return any(HYPERPARAMETERS in row.version.lineage for row in board.rows)


def row_cells(board: Leaderboard, row: LeaderboardRow) -> list[Cell]:
    """One row of the table, matching :func:`headings`.

    Args:
        board: The leaderboard.
        row: The row.

    Returns:
        The cells; metric values with 4 significant digits, the best value of each metric marked.
    """
    version = row.version
    stage = ", ".join(s for s in (version.stage, "archived" if version.state == "ARCHIVED" else "") if s)
    cells = [Cell(str(row.rank), number=True), Cell(row.reference), Cell(stage)]
    cells += [
        Cell(format_number(row.values.get(m.name)), number=True, best=m.name in row.best_on) for m in board.metrics
    ]
    cells.append(Cell(format_time(version.created)))
    if show_hyperparameters(board):
        cells.append(Cell(version.lineage.get(HYPERPARAMETERS, "")))
    return cells


def detail_lines(board: Leaderboard) -> list[str]:
    """How to read the table: what was compared, the ranking order and the marks.

    Args:
        board: The leaderboard.

    Returns:
        Sentences.
    """
    order = ", then ".join(
        f"{m.name} ({m.direction}{'' if m.explicit else ', assumed from its name'})" for m in board.metrics
    )
    return [
        f"Compared: {board.selection}",
        f"Ranked on {order}; equal versions share a rank, the oldest listed first.",
        "The best value of each metric is marked; a version without a metric ranks below those that have it.",
    ]
