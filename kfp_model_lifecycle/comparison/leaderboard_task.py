"""The ``compare_versions`` component's job: rank the versions, write the reports, log the scalars, name the best.

The component (``components/compare_versions/component.py``) declares the inputs, outputs and their
documentation and calls :func:`compare_versions_task` with all of its arguments; the component's defaults are the
only ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import HTML, Markdown, Metrics

from kfp_model_lifecycle.comparison.leaderboard import run_compare_versions
from kfp_model_lifecycle.comparison.report import write_leaderboard_reports
from kfp_model_lifecycle.log import component_log

__all__ = ["CompareVersionsOutputs", "compare_versions_task", "run_compare_versions"]


class CompareVersionsOutputs(NamedTuple):
    """The component's parameter outputs (see the component)."""

    best: str
    best_version_id: str
    ranked: list
    reason: str
    report_uri: str


def compare_versions_task(
    *,
    leaderboard: Metrics,
    report_markdown: Markdown,
    report_html: HTML,
    **parameters: Any,
) -> CompareVersionsOutputs:
    """Run ``compare_versions``: rank, write both reports, log the scalars and return the best version.

    Args:
        leaderboard: Output Metrics for the KFP UI.
        report_markdown: Output Markdown report.
        report_html: Output HTML report.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The best version's reference and id, every reference in rank order, the reason and the HTML report's URI.
    """
    with component_log("compare_versions"):
        board = run_compare_versions(**parameters)
        summary = write_leaderboard_reports(board, report_markdown.path, report_html.path)
        for name, value in board.scalars.items():
            leaderboard.log_metric(name, value)
        report_markdown.metadata.update({**summary, "html_report_uri": report_html.uri})
        report_html.metadata.update({**summary, "markdown_report_uri": report_markdown.uri})
        print(board.reason)
    best = board.best
    return CompareVersionsOutputs(
        best.reference, best.version.version_id, board.ranked, board.reason, str(report_html.uri)
    )
