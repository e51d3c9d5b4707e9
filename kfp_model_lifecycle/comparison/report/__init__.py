"""The comparison reports: Markdown (GFM, no raw HTML) and a self-contained HTML page with inline SVG charts.

The comparison report renders a :class:`~kfp_model_lifecycle.comparison.result.ComparisonResult`: decision and
reason, both versions side by side, metric deltas, every gate check with its numbers, the significance test, the
lineage of both versions and the trend of the primary metric across versions. The leaderboard report renders a
:class:`~kfp_model_lifecycle.comparison.leaderboard.Leaderboard`: versions ranked on chosen metrics, the best
value of each marked, a dot plot per metric. The KFP UI renders ``system.Markdown`` (GFM tables; raw HTML is
shown as text) and ``system.HTML`` (in a sandboxed iframe).
"""

from kfp_model_lifecycle.comparison.report.chart import trend_svg
from kfp_model_lifecycle.comparison.report.html import render_html
from kfp_model_lifecycle.comparison.report.leaderboard_chart import leaderboard_svg
from kfp_model_lifecycle.comparison.report.leaderboard_html import render_leaderboard_html
from kfp_model_lifecycle.comparison.report.leaderboard_markdown import render_leaderboard_markdown
from kfp_model_lifecycle.comparison.report.markdown import markdown_text, render_markdown
from kfp_model_lifecycle.comparison.report.output import (
    leaderboard_summary,
    report_summary,
    write_comparison_reports,
    write_leaderboard_reports,
)

__all__ = [
    "leaderboard_summary",
    "leaderboard_svg",
    "markdown_text",
    "render_html",
    "render_leaderboard_html",
    "render_leaderboard_markdown",
    "render_markdown",
    "report_summary",
    "trend_svg",
    "write_comparison_reports",
    "write_leaderboard_reports",
]
