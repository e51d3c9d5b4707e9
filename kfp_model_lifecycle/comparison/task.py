"""The ``compare_models`` component's job: unpack the KFP artifacts, compare, write the reports and outputs.

The component (``components/compare_models/component.py``) declares the inputs, outputs and their documentation
and calls :func:`compare_models_task` with all of its arguments; the component's defaults are the only ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import HTML, Dataset, Markdown, Metrics, Model

from kfp_model_lifecycle.comparison.report import write_comparison_reports
from kfp_model_lifecycle.comparison.run import run_compare_models
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.log import component_log


class CompareModelsOutputs(NamedTuple):
    """The component's parameter outputs (``Output`` is the decision; see the component)."""

    Output: bool
    winner: str
    reason: str
    report_uri: str


def candidate_version_id(candidate_model: Model | None) -> str:
    """The version id recorded on ``register_model``'s ``registered_model`` output ("" without one).

    Args:
        candidate_model: The artifact, or None.

    Returns:
        The id.

    Raises:
        InvalidInputError: When the artifact carries no version id.
    """
    if candidate_model is None:
        return ""
    meta = dict(candidate_model.metadata or {})
    entries = meta.get("registered_models") or [{}]
    version_id = str(meta.get("version_id") or entries[0].get("versionID") or "")
    if not version_id:
        raise InvalidInputError(
            "candidate_model has no version id in its metadata: pass the registered_model output of"
            " register_model, or name the candidate with a reference (candidate='model:version')"
        )
    return version_id


def _local(artifact: Dataset | None, field: str) -> str:
    return str(getattr(artifact, field)) if artifact is not None else ""


def compare_models_task(
    *,
    comparison: Metrics,
    report_markdown: Markdown,
    report_html: HTML,
    candidate_model: Model | None,
    candidate_metrics: Metrics | None,
    candidate_predictions: Dataset | None,
    baseline_predictions: Dataset | None,
    **parameters: Any,
) -> CompareModelsOutputs:
    """Run ``compare_models``: decide, write both reports, log the scalars and return the decision.

    Args:
        comparison: Output Metrics for the KFP UI.
        report_markdown: Output Markdown report.
        report_html: Output HTML report.
        candidate_model: ``register_model``'s output for the candidate, or None.
        candidate_metrics: The candidate's Metrics, or None.
        candidate_predictions: The candidate's predictions CSV, or None.
        baseline_predictions: The baseline's predictions CSV, or None.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The decision, winner, reason and the HTML report's URI.
    """
    with component_log("compare_models"):
        result = run_compare_models(
            candidate_version_id=candidate_version_id(candidate_model),
            candidate_metrics=dict(candidate_metrics.metadata or {}) if candidate_metrics is not None else None,
            candidate_predictions_path=_local(candidate_predictions, "path"),
            candidate_predictions_uri=_local(candidate_predictions, "uri"),
            candidate_predictions_name=_local(candidate_predictions, "name"),
            baseline_predictions_path=_local(baseline_predictions, "path"),
            **parameters,
        )
        summary = write_comparison_reports(result, report_markdown.path, report_html.path)
        for name, value in result.scalars.items():
            comparison.log_metric(name, value)
        report_markdown.metadata.update({**summary, "html_report_uri": report_html.uri})
        report_html.metadata.update({**summary, "markdown_report_uri": report_markdown.uri})
        print(f"decision: {'promote' if result.decision else 'keep'} -- {result.reason}")
    return CompareModelsOutputs(bool(result.decision), str(result.winner), str(result.reason), str(report_html.uri))
