"""The ``compare_models`` component: should the candidate model version replace the baseline?

A thin declaration: the signature and docstring are what KFP compiles into the YAML; the body imports
``kfp_model_lifecycle`` (installed in the pod at this package's own version) and calls
:func:`kfp_model_lifecycle.comparison.task.compare_models_task`. No ``from __future__ import annotations`` here:
KFP reads the component's annotations at runtime, and it understands ``Optional[...]`` but not ``X | None``.

The decision is the output named ``Output`` -- the name KFP gives a component's single return value -- so
pipelines branch with ``dsl.If(task.outputs["Output"] == True)``. KFP 2.17's local runner resolves a ``dsl.If``
condition only on an output of that name: any other name (``decision``, ``promote``) is silently evaluated False
when the ``dsl.If`` has no ``dsl.Else``. The other outputs (``winner``, ``reason``, ``report_uri``) are strings
that feed ``promote_model`` directly (see the README).
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs


@dsl.component(**component_kwargs())
def compare_models(
    gates: list,
    comparison: Output[Metrics],
    report_markdown: Output[Markdown],
    report_html: Output[HTML],
    candidate: str = "",
    candidate_model: Optional[Input[Model]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    candidate_metrics: Optional[Input[Metrics]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    candidate_predictions: Optional[Input[Dataset]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    baseline: str = "production",
    baseline_predictions: Optional[Input[Dataset]] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    model_name: str = "",
    significance_test: str = "auto",
    significance_level: float = 0.05,
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    require_significance: bool = False,
    record_predictions: bool = True,
    trend_versions: int = 30,
    page_size: int = 100,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
) -> NamedTuple("CompareModelsOutputs", [("Output", bool), ("winner", str), ("reason", str), ("report_uri", str)]):
    """Compare a candidate model version with a baseline on metric gates and a paired significance test.

    Gates follow MLflow's MetricThreshold: per metric a direction, an absolute floor/ceiling and a minimum
    absolute and relative improvement over the baseline; all must pass. With per-example predictions of both
    versions, a paired test on the first gate's metric (exact McNemar for accuracy, paired bootstrap otherwise)
    must find the candidate significantly better, otherwise the baseline is kept. Without a baseline only the
    thresholds apply. Branch on the decision with ``dsl.If(task.outputs["Output"] == True)``.

    Args:
        gates: List of gates, e.g. ``[{"metric": "accuracy", "higher_is_better": true, "threshold": 0.9,
            "min_absolute_change": 0.005, "min_relative_change": 0.0}]``; keys ``metric``, ``higher_is_better``
            (required), ``threshold``, ``min_absolute_change`` (> 0), ``min_relative_change`` (0..1). The first
            gate's metric is the primary metric (ranking, significance test, trend chart).
        candidate: Candidate reference, ``model:version`` or ``model@alias``; not needed with candidate_model.
        candidate_model: The ``registered_model`` output of register_model (the version just registered).
        candidate_metrics: The run's Metrics for the candidate; its values override the registry's.
        candidate_predictions: The candidate's per-example ``label,prediction[,score][,id]`` CSV; linked to the
            candidate version (role ``predictions``) so later comparisons can use it as the baseline's.
        baseline: ``production`` (the version in production), ``best`` (rank every LIVE version of the model on
            the primary metric, paged and filtered by the registry), ``none`` (thresholds only), or a reference
            ``model:version`` / ``model@alias``.
        baseline_predictions: The baseline's predictions CSV; default: the ones recorded on the baseline version,
            when this pod can read them.
        model_name: Model for references that name none (``:1.0.3``, ``@champion``).
        significance_test: ``auto`` (McNemar for accuracy, bootstrap otherwise), ``mcnemar``, ``bootstrap`` or
            ``none``.
        significance_level: Alpha of the two-sided test.
        bootstrap_resamples: Resamples of the paired bootstrap (100 to 100000).
        seed: Seed of the bootstrap: the same inputs give the same result.
        require_significance: Keep the baseline when no significance test could run (no predictions).
        record_predictions: Link candidate_predictions to the candidate version in the registry.
        trend_versions: Newest versions shown in the trend chart (0 for none).
        page_size: Versions per registry request when ranking.
        registry_url: Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod for https.

    Returns:
        comparison: Scalars for the KFP UI: decision (1/0), candidate/baseline/delta per gated metric,
            gates passed, p-value and bootstrap interval.
        report_markdown: Markdown report (metrics side by side, deltas, every gate check with its numbers,
            significance, lineage of both versions, metric trend); metadata holds the decision, winner and
            reason.
        report_html: The same report as a self-contained HTML page with an SVG chart of the metric across
            versions; its URI is the evidence to record when a promotion follows.
        Output: The decision: True to promote the candidate, False to keep the baseline. Named ``Output`` so
            that ``dsl.If(task.outputs["Output"] == True)`` also works in KFP's local runner without ``dsl.Else``.
        winner: ``model:version`` of the winner (the candidate when Output is True, else the baseline; "" when
            the candidate fails its thresholds and there is no baseline).
        reason: One sentence with the deciding numbers, e.g. for promote_model's ``reason``.
        report_uri: URI of the HTML report, e.g. for promote_model's ``evidence_uri``.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.comparison.task import compare_models_task

    return compare_models_task(**arguments)
