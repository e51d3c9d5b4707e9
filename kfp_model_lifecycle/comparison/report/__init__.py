"""The comparison reports: Markdown (GFM, no raw HTML) and a self-contained HTML page with an inline SVG chart.

Both render a :class:`~kfp_model_lifecycle.comparison.result.ComparisonResult`: decision and reason, both
versions side by side, metric deltas, every gate check with its numbers, the significance test, the lineage of
both versions and the trend of the primary metric across versions. The KFP UI renders ``system.Markdown`` (GFM
tables; raw HTML is shown as text) and ``system.HTML`` (in a sandboxed iframe).
"""

from kfp_model_lifecycle.comparison.report.chart import trend_svg
from kfp_model_lifecycle.comparison.report.html import render_html
from kfp_model_lifecycle.comparison.report.markdown import markdown_text, render_markdown
from kfp_model_lifecycle.comparison.report.output import report_summary, write_comparison_reports

__all__ = ["markdown_text", "render_html", "render_markdown", "report_summary", "trend_svg", "write_comparison_reports"]
