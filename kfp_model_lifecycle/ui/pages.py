"""The pages: each reads the registry through the ``Lifecycle`` API only and returns its template's context.

A page function raises what the API raises (``NotFoundError`` for an unknown model, ``RegistryUnavailableError``
when the registry does not answer...): :mod:`.app` turns those into error pages. Problems with what the reader
typed (a search the registry refuses, versions that cannot be compared) are shown on the page itself, with a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle.catalog import HistoryEvent
from kfp_model_lifecycle.ui.charts import metric_trend_svg, trend_dots
from kfp_model_lifecycle.ui.compare_view import board_view, metric_choices, rank_metrics, version_choices
from kfp_model_lifecycle.ui.graph import lineage_graph, lineage_graph_svg
from kfp_model_lifecycle.ui.links import model_url, version_url
from kfp_model_lifecycle.ui.version_view import comparison_reports, lineage_of, value_text, version_deployments
from kfp_model_lifecycle.ui.views import (
    RunCell,
    deployment_lines,
    key_metrics,
    models_with_matches,
    newest_versions,
    readable_time,
    run_cell,
    sort_models,
    timeline,
    version_lines,
)

if TYPE_CHECKING:
    from kfp_model_lifecycle.api import Lifecycle
    from kfp_model_lifecycle.lifecycle.catalog import VersionRow

OK = HTTPStatus.OK
BAD_REQUEST = HTTPStatus.BAD_REQUEST
MIN_COMPARED = 2


@dataclass(frozen=True)
class Page:
    """A page to render.

    Attributes:
        template: The template's file name.
        context: What it shows.
        status: The HTTP status.
    """

    template: str
    context: dict[str, Any]
    status: int = OK


def user_error(exc: Exception) -> str:
    """The message of an error in what the reader asked for (a bad search, an unknown metric).

    Args:
        exc: The error.

    Returns:
        Its message.
    """
    return str(exc.args[0]) if exc.args else str(exc)


def models_page(lc: Lifecycle, query: str = "", sort: str = "") -> Page:
    """Models: every registered model at a glance; a search narrows it to the models with matching versions.

    Args:
        lc: The API.
        query: A search in the ``kml models search`` filter language ("" for none).
        sort: The table's sort key.

    Returns:
        The page.
    """
    models = lc.models()
    rows, order = sort_models(models, sort)
    matches: list[VersionRow] | None = None
    error, status = "", OK
    if query.strip():
        try:
            matches = lc.search(query)
        except ValueError as exc:  # the registry refused the filter: say why, on the page
            error, status, matches = user_error(exc), BAD_REQUEST, []
        rows = models_with_matches(rows, matches)
    context = {
        "title": "Models",
        "total": len(models),
        "models": rows,
        "order": order,
        "query": query,
        "matches": matches,
        "match_metrics": key_metrics(matches or []),
        "error": error,
    }
    return Page("models.html", context, status)


def model_page(lc: Lifecycle, name: str, sort: str = "", metric: str = "", kfp_ui_url: str = "") -> Page:
    """Model: sortable versions, a metric's trend (production marked), the audit timeline, the deployments.

    Args:
        lc: The API.
        name: The registered model.
        sort: The versions table's sort key.
        metric: The trend chart's metric (default: the one most versions record).
        kfp_ui_url: The KFP UI's base URL, to link runs.

    Returns:
        The page.

    Raises:
        NotFoundError: When there is no such model.
        InvalidInputError: When the name cannot be read as a model name.
    """
    if not name.strip():
        raise InvalidInputError("no model named: open a model from the Models page (/model?name=NAME)")
    overview = lc.model(name)
    if getattr(overview, "kind", "") != "model":
        raise InvalidInputError(f"{name!r} names a version, not a model: model names cannot contain ':' or '@' here")
    runs = _runs(lc, overview.versions, kfp_ui_url)
    lines, order, metrics = version_lines(overview.versions, overview.production, sort, runs)
    recorded = sorted({m for row in overview.versions for m in row.metrics})
    chosen = metric if metric in recorded else (metrics[0] if metrics else "")
    dots = trend_dots(overview.versions, chosen, overview.production, lambda r: version_url(r.model, r.version))
    services, rollouts = deployment_lines(name, lc.deployments(name), kfp_ui_url)
    context = {
        "title": name,
        "overview": overview,
        "lines": lines,
        "order": order,
        "metrics": metrics,
        "all_metrics": recorded,
        "metric": chosen,
        "trend": metric_trend_svg(dots, chosen) if chosen else "",
        "timeline": timeline(name, lc.history(name), kfp_ui_url),
        "services": services,
        "rollouts": rollouts,
        "runs_read": len(runs),
        "sort": order.param,
    }
    return Page("model.html", context)


def _runs(lc: Lifecycle, rows: Sequence[VersionRow], kfp_ui_url: str) -> dict[str, RunCell]:
    """The run of each of the newest versions (one ``Lifecycle.get`` each); a version that cannot be read has none."""
    runs = {}
    for row in newest_versions(rows):
        try:
            runs[row.version_id] = run_cell(lc.get(row.reference), kfp_ui_url)
        except (NotFoundError, ValueError):  # e.g. a name no reference can spell (':' or '@' in the model's name)
            runs[row.version_id] = RunCell()
    return runs


def version_page(lc: Lifecycle, model: str, version: str, kfp_ui_url: str = "") -> Page:
    """Version: its lineage for a reader, the lineage graph, its audit events and comparison reports.

    Args:
        lc: The API.
        model: The registered model.
        version: The version's name.
        kfp_ui_url: The KFP UI's base URL, to link runs.

    Returns:
        The page.

    Raises:
        NotFoundError: When there is no such model or version.
        InvalidInputError: When either name is missing.
    """
    if not model.strip() or not version.strip():
        raise InvalidInputError("name a model and a version: /version?model=NAME&version=VERSION")
    details = lc.get(f"{model}:{version}")
    lineage = lineage_of(details, run_cell(details, kfp_ui_url))
    deployments = version_deployments(details.id, lc.deployments(model))
    graph = lineage_graph(details.reference, details.stage, lineage, deployments)
    context = {
        "title": details.reference,
        "details": details,
        "model_href": model_url(model),
        "lineage": lineage,
        "metrics": {k: value_text(v) for k, v in details.metrics.items()},
        "hyperparameters": {k: value_text(v) for k, v in details.hyperparameters.items()},
        "properties": {k: value_text(v) for k, v in details.properties.items()},
        "graph": lineage_graph_svg(graph),
        "deployments": deployments,
        "reports": comparison_reports(details.history),
        "history": timeline(model, _events(details.history), kfp_ui_url),
        "stage_time": readable_time(details.stage_time),
    }
    return Page("version.html", context)


def _events(rows: Sequence[dict[str, Any]]) -> list[HistoryEvent]:
    """A version's history rows as the events ``Lifecycle.history`` returns."""
    return [HistoryEvent.from_row(row) for row in rows]


def _compared_rows(lc: Lifecycle, references: Sequence[str], model: str) -> list[VersionRow]:
    """The versions of every model named in the references (and ``model``), to pick from."""
    names = list(dict.fromkeys([*(r.split(":", 1)[0] for r in references if ":" in r), *([model] if model else [])]))
    rows: list[VersionRow] = []
    for name in names:
        rows += lc.search("", model=name)
    return rows


def compare_page(lc: Lifecycle, references: Sequence[str], metrics: Sequence[str], model: str = "") -> Page:
    """Compare: pick versions, see their metrics side by side with the best marked, and a chart per metric.

    Args:
        lc: The API.
        references: The versions compared (``model:version``...).
        metrics: The ranking metrics (``name``, ``-name``, ``name:min``...); none: every metric they all record.
        model: A model whose versions to offer when none are picked yet.

    Returns:
        The page.
    """
    references = list(dict.fromkeys(r.strip() for r in references if r.strip()))
    rows = _compared_rows(lc, references, model)
    board, error, status = None, "", OK
    if len(references) >= MIN_COMPARED:
        try:
            board = board_view(lc.compare(references, metrics=rank_metrics(metrics) or None))
        except (NotFoundError, ValueError) as exc:  # an unknown version or metric: say so, on the page
            error, status = user_error(exc), BAD_REQUEST
    elif references:
        error = "pick two or more versions to compare"
    chosen = [r for r in rows if r.reference in set(references)]
    context = {
        "title": "Compare",
        "board": board,
        "references": references,
        "choices": version_choices(rows, references),
        "metric_choices": metric_choices(chosen or rows, metrics),
        "models": [] if rows else [m.name for m in lc.models()],
        "model": model,
        "error": error,
    }
    return Page("compare.html", context, status)


__all__ = ["Page", "RunCell", "compare_page", "model_page", "models_page", "version_page"]
