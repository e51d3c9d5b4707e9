"""compare_models: should a candidate model version replace the baseline? Gates, significance test, reports.

``compare_models`` is the KFP component. The plain functions the pod runs (gates with MLflow ``MetricThreshold``
semantics, the exact McNemar test, the paired bootstrap, ranking versions in the registry, the reports) are
re-exported for tests and for reuse.
"""

from kfp_model_lifecycle.components.compare_models.comparison import (
    assess_significance,
    binomial_tail,
    decide,
    evaluate_gate,
    evaluate_gates,
    mcnemar_exact,
    metric_from_predictions,
    metric_trend,
    pair_predictions,
    paired_bootstrap,
    parse_gates,
    rank_model_versions,
    read_predictions,
    run_compare_models,
)
from kfp_model_lifecycle.components.compare_models.component import compare_models
from kfp_model_lifecycle.components.compare_models.report import render_html, render_markdown, report_summary

__all__ = [
    "assess_significance",
    "binomial_tail",
    "compare_models",
    "decide",
    "evaluate_gate",
    "evaluate_gates",
    "mcnemar_exact",
    "metric_from_predictions",
    "metric_trend",
    "pair_predictions",
    "paired_bootstrap",
    "parse_gates",
    "rank_model_versions",
    "read_predictions",
    "render_html",
    "render_markdown",
    "report_summary",
    "run_compare_models",
]
