"""Writing the reports (comparison and leaderboard), and the summaries that go into the artifacts' metadata."""

from __future__ import annotations

import os
from typing import Any

from kfp_model_lifecycle.comparison.leaderboard import Leaderboard
from kfp_model_lifecycle.comparison.report.html import render_html
from kfp_model_lifecycle.comparison.report.leaderboard_html import render_leaderboard_html
from kfp_model_lifecycle.comparison.report.leaderboard_markdown import render_leaderboard_markdown
from kfp_model_lifecycle.comparison.report.markdown import render_markdown
from kfp_model_lifecycle.comparison.result import ComparisonResult


def report_summary(result: ComparisonResult) -> dict[str, Any]:
    """The comparison in a few JSON-able fields: the reports' artifact metadata, and evidence for a promotion.

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``decision``, ``winner``, ``winner_role``, ``reason``, ``candidate``, ``baseline`` (references),
        ``candidate_version_id``, ``baseline_version_id``, ``baseline_mode``, ``primary_metric``,
        ``significance`` (status), ``p_value``/``ci_low``/``ci_high`` when tested, ``gates_passed``,
        ``gates_total`` and ``registry_url``.
    """
    cand, base, sig = result.candidate, result.baseline, result.significance
    summary: dict[str, Any] = {
        "decision": bool(result.decision),
        "winner": result.winner or "",
        "winner_role": str(result.winner_role),
        "reason": result.reason or "",
        "candidate": cand.reference or "",
        "candidate_version_id": cand.version_id or "",
        "baseline": base.reference if base else "",
        "baseline_version_id": base.version_id if base else "",
        "baseline_mode": str(result.baseline_mode),
        "primary_metric": result.primary_metric,
        "significance": str(sig.status),
        "gates_passed": result.gates_passed,
        "gates_total": len(result.gates),
        "registry_url": result.registry_url or "",
    }
    if sig.mcnemar is not None:
        summary["p_value"] = sig.mcnemar.p_value
    if sig.bootstrap is not None and sig.bootstrap.ci_low is not None:
        summary["ci_low"] = sig.bootstrap.ci_low
        summary["ci_high"] = sig.bootstrap.ci_high
    return summary


def write_comparison_reports(result: ComparisonResult, markdown_path: str, html_path: str) -> dict[str, Any]:
    """Write both reports and return the summary to put into the report artifacts' metadata.

    Args:
        result: From ``run_compare_models``.
        markdown_path: Output path of the Markdown report.
        html_path: Output path of the HTML report.

    Returns:
        :func:`report_summary`.
    """
    write_report(markdown_path, render_markdown(result))
    write_report(html_path, render_html(result))
    return report_summary(result)


def write_report(path: str, text: str) -> None:
    """Write one report file (UTF-8), creating its directory.

    Args:
        path: The output path.
        text: The report.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def leaderboard_summary(board: Leaderboard) -> dict[str, Any]:
    """The leaderboard in a few JSON-able fields: the reports' artifact metadata, and evidence for a promotion.

    Args:
        board: From ``compare_versions``.

    Returns:
        ``best``, ``best_version_id``, ``ranked``, ``metrics`` (name and direction), ``best_values``,
        ``reason``, ``selection``, ``versions_compared`` and ``registry_url``.
    """
    data = board.to_dict()
    keep = ("best", "best_version_id", "ranked", "metrics", "best_values", "selection", "registry_url")
    return {**{key: data[key] for key in keep}, "reason": board.reason, "versions_compared": len(board.rows)}


def write_leaderboard_reports(board: Leaderboard, markdown_path: str, html_path: str) -> dict[str, Any]:
    """Write the leaderboard's Markdown and HTML reports and return the summary for their metadata.

    Args:
        board: From ``compare_versions``.
        markdown_path: Output path of the Markdown report.
        html_path: Output path of the HTML report.

    Returns:
        :func:`leaderboard_summary`.
    """
    write_report(markdown_path, render_leaderboard_markdown(board))
    write_report(html_path, render_leaderboard_html(board))
    return leaderboard_summary(board)
