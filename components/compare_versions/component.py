"""The ``compare_versions`` component: which of N model versions is best on the chosen metrics? A leaderboard.

A thin declaration: the signature and docstring are what KFP compiles into the YAML; the body imports
``kfp_model_lifecycle`` (installed in the pod at this package's own version) and calls
:func:`kfp_model_lifecycle.comparison.leaderboard_task.compare_versions_task`. No ``from __future__ import
annotations`` here: KFP reads the component's annotations at runtime, and it understands ``Optional[...]`` but not
``X | None``.
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs


@dsl.component(**component_kwargs())
def compare_versions(
    metrics: list,
    leaderboard: Output[Metrics],
    report_markdown: Output[Markdown],
    report_html: Output[HTML],
    references: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    version_ids: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    filter_query: str = "",
    latest: int = 0,
    model_name: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
) -> NamedTuple(
    "CompareVersionsOutputs",
    [("best", str), ("best_version_id", str), ("ranked", list), ("reason", str), ("report_uri", str)],
):
    """Rank model versions on chosen metrics: a leaderboard with the best version, reports and KFP metrics.

    Name the versions (references or ids, e.g. register_model's version_id collected from a ParallelFor with
    ``dsl.Collected``), or find them with a registry filterQuery and/or the newest N of a model. Versions of
    different models may be mixed. Ranking is by the first metric, ties broken by the next; versions equal on every
    metric share a rank and the oldest is listed first; a version without a metric ranks below those with it.

    Args:
        metrics: Metrics to rank on, in order, e.g. ``["accuracy", "-log_loss"]`` (a leading ``-`` means lower is
            better, ``+`` higher) or ``[{"metric": "log_loss", "higher_is_better": false}]``. Without a direction
            losses, errors, rmse/mse/mae and latency are lower-is-better, anything else higher-is-better.
        references: Versions to compare: ``model:version``, ``model@alias`` or ``model`` (its production version).
        version_ids: Model version ids to compare, e.g. ``dsl.Collected(register.outputs["version_id"])``.
        filter_query: Registry filterQuery finding the versions instead, e.g. ``accuracy > 0.9``; default
            ``state = "LIVE"`` when model_name or latest is given.
        latest: Compare only the newest N matching versions (0: every match, at most 500).
        model_name: Model whose versions are queried (empty: every model's); also the model of references that
            name none (``:1.0.3``, ``@champion``).
        registry_url: Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod for https.

    Returns:
        leaderboard: Scalars for the KFP UI: versions_compared, best_<metric>, worst_<metric> and
            rank<i>_<metric> per ranking metric.
        report_markdown: Markdown leaderboard (versions in rank order, every ranking metric, the best value of each
            in bold, stage, creation time, hyperparameters); metadata holds the best version and the ranking.
        report_html: The same leaderboard as a self-contained HTML page with an SVG dot plot per metric.
        best: ``model:version`` of the best version, e.g. for promote_model's ``model_reference``.
        best_version_id: Model version id of the best version.
        ranked: Every compared version's ``model:version``, best first.
        reason: One sentence naming the best version and its values, e.g. for promote_model's ``reason``.
        report_uri: URI of the HTML report, e.g. for promote_model's ``evidence_uri``.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.comparison.leaderboard_task import compare_versions_task

    return compare_versions_task(**arguments)
