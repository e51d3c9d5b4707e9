"""What the Models and Model pages show, from the ``Lifecycle`` API's results: rows, tables, the timeline.

Pure functions of the API's dataclasses (no registry calls, no HTML): the pages call the API, these shape what it
returned for the templates, and the unit tests call them directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.lifecycle.conventions import STAGES
from kfp_model_lifecycle.ui.links import outside_href, run_href, version_url, web_href
from kfp_model_lifecycle.ui.sorting import SortOrder, parse_sort, sort_rows

if TYPE_CHECKING:
    from kfp_model_lifecycle.deployment.history import DeploymentHistory, RolloutEntry, ServiceEntry
    from kfp_model_lifecycle.lifecycle.catalog import HistoryEvent, VersionRow
    from kfp_model_lifecycle.lifecycle.queries import ModelSummary, VersionDetails

KEY_METRICS = 4
"""The versions table shows this many metrics: those most versions record."""
DETAIL_LIMIT = 30
"""The run of a version is read for the newest this-many versions of a model (one registry read each)."""
METRIC_SORT_PREFIX = "metric:"
MODEL_SORTS: dict[str, Callable[[ModelSummary], Any]] = {
    "name": lambda m: m.name.lower(),
    "production": lambda m: m.production or None,
    "latest": lambda m: m.latest or None,
    "versions": lambda m: m.versions,
    "updated": lambda m: m.updated or None,
}
DEFAULT_MODEL_SORT = SortOrder("name")
DEFAULT_VERSION_SORT = SortOrder("version", descending=True)
# evidence shown first, in this order, with these labels
EVIDENCE_LABELS = {"report_uri": "report", "run_name": "run", "url": "serving URL"}
EVIDENCE_HIDDEN = ("run_id", "run_url", "uri")  # shown with the run / the report instead


def sort_models(models: Iterable[ModelSummary], sort: str) -> tuple[list[ModelSummary], SortOrder]:
    """The Models table in the order ``?sort=`` asks for (by name by default).

    Args:
        models: From ``Lifecycle.models()``.
        sort: The ``sort`` parameter.

    Returns:
        The rows and the order used.
    """
    order = parse_sort(sort, MODEL_SORTS, DEFAULT_MODEL_SORT)
    return sort_rows(models, order, MODEL_SORTS), order


def models_with_matches(models: Iterable[ModelSummary], matches: Iterable[VersionRow]) -> list[ModelSummary]:
    """The models that have at least one matching version (a search narrows the Models table to them).

    Args:
        models: Every model.
        matches: The versions a search matched.

    Returns:
        The models, in their order.
    """
    names = {row.model for row in matches}
    return [m for m in models if m.name in names]


def key_metrics(rows: Iterable[VersionRow], limit: int = KEY_METRICS) -> list[str]:
    """The metrics worth a column: the ones most versions record (ties by name).

    Args:
        rows: The versions.
        limit: How many.

    Returns:
        Metric names.
    """
    counts = Counter(name for row in rows for name in row.metrics)
    return [name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]]


def stage_rank(stage: str) -> int:
    """Where a stage sorts: development, staging, production, archived, then anything else.

    Args:
        stage: The stage.

    Returns:
        Its position.
    """
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


@dataclass(frozen=True)
class RunCell:
    """Who or what made a version, for a table cell.

    Attributes:
        text: The KFP run's name, or ``manual (user@host)``.
        href: Link to the run in the KFP UI ("" when unknown).
    """

    text: str = ""
    href: str = ""


@dataclass(frozen=True)
class VersionLine:
    """One row of a model's versions table.

    Attributes:
        row: The version (from ``Lifecycle.model``).
        href: Its page.
        production: Whether it is the production version.
        run: The run that made it (empty when not read, see :data:`DETAIL_LIMIT`).
    """

    row: VersionRow
    href: str
    production: bool
    run: RunCell = field(default_factory=RunCell)

    def metric(self, name: str) -> str:
        """A metric's value as text ("" when the version has none)."""
        value = self.row.metrics.get(name)
        return "" if value is None else format_number(value)


def run_cell(details: VersionDetails, kfp_ui_url: str = "") -> RunCell:
    """The run that made a version, from its lineage.

    Args:
        details: From ``Lifecycle.get``.
        kfp_ui_url: The KFP UI's base URL, to link runs that recorded none.

    Returns:
        The run's name and link; ``manual (user@host)`` for a version registered by hand.
    """
    lineage = details.lineage
    name = str(lineage.get("kfp_run_name") or lineage.get("kfp_run_id") or "")
    if name:
        return RunCell(name, run_href(lineage.get("kfp_run_url"), lineage.get("kfp_run_id"), kfp_ui_url))
    if lineage.get("model_meta_source") == "manual":
        who = "@".join(str(lineage[k]) for k in ("model_meta_user", "model_meta_host") if lineage.get(k))
        return RunCell(f"manual ({who})" if who else "manual")
    return RunCell()


def version_sorts(metrics: Sequence[str]) -> dict[str, Callable[[VersionLine], Any]]:
    """The sortable columns of the versions table: its own columns and one per metric.

    Args:
        metrics: The metric columns.

    Returns:
        Column -> value of a line.
    """
    sorts: dict[str, Callable[[VersionLine], Any]] = {
        "version": lambda v: int(v.row.version_id) if v.row.version_id.isdigit() else None,
        "name": lambda v: v.row.version,
        "stage": lambda v: stage_rank(v.row.stage),
        "approval": lambda v: v.row.approval or None,
        "created": lambda v: v.row.created or None,
        "author": lambda v: v.row.author or None,
        "run": lambda v: v.run.text or None,
    }
    for name in metrics:
        sorts[METRIC_SORT_PREFIX + name] = lambda v, name=name: v.row.metrics.get(name)
    return sorts


def version_lines(
    rows: Sequence[VersionRow],
    production: str,
    sort: str,
    runs: Mapping[str, RunCell] | None = None,
) -> tuple[list[VersionLine], SortOrder, list[str]]:
    """A model's versions table: one line per version, sorted, with the key metric columns.

    Args:
        rows: From ``Lifecycle.model(name).versions``.
        production: The production version's name.
        sort: The ``sort`` parameter (newest first by default).
        runs: Version id -> the run that made it.

    Returns:
        The lines, the order used and the metric columns.
    """
    metrics = key_metrics(rows)
    runs = runs or {}
    lines = [
        VersionLine(
            row,
            version_url(row.model, row.version),
            production=bool(production) and row.version == production,
            run=runs.get(row.version_id, RunCell()),
        )
        for row in rows
    ]
    sorts = version_sorts(metrics)
    order = parse_sort(sort, sorts, DEFAULT_VERSION_SORT)
    return sort_rows(lines, order, sorts), order, metrics


def newest_versions(rows: Iterable[VersionRow], limit: int = DETAIL_LIMIT) -> list[VersionRow]:
    """The newest versions (by id), whose details the Model page reads.

    Args:
        rows: The versions.
        limit: How many.

    Returns:
        The versions, newest first.
    """
    return sorted(rows, key=lambda r: int(r.version_id) if r.version_id.isdigit() else -1, reverse=True)[:limit]


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence of an audit event.

    Attributes:
        label: What it is, e.g. ``report`` or ``run``.
        text: The value as recorded.
        href: A link when it is safe to make one ("" otherwise).
    """

    label: str
    text: str
    href: str = ""


def evidence_items(evidence: Mapping[str, Any], kfp_ui_url: str = "") -> list[EvidenceItem]:
    """An event's evidence for a reader: the report, the run and the serving URL first, then the rest by name.

    Args:
        evidence: The event's ``evidence``.
        kfp_ui_url: The KFP UI's base URL, to link runs.

    Returns:
        The items (empty values left out).
    """
    items = []
    for key, label in EVIDENCE_LABELS.items():
        value = str(evidence.get(key) or "")
        if key == "run_name":
            value = value or str(evidence.get("run_id") or "")
            href = run_href(evidence.get("run_url"), evidence.get("run_id"), kfp_ui_url)
        else:
            href = web_href(value) if key == "url" else outside_href(value)
        if value:
            items.append(EvidenceItem(label, value, href))
    report = str(evidence.get("report_uri") or "")
    uri = str(evidence.get("uri") or "")
    if uri and uri != report:
        items.append(EvidenceItem("uri", uri, outside_href(uri)))
    for key in sorted(evidence):
        if key in EVIDENCE_LABELS or key in EVIDENCE_HIDDEN or evidence[key] in (None, "", [], {}):
            continue
        items.append(EvidenceItem(key.replace("_", " "), _text(evidence[key])))
    return items


def _text(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value)
    return str(value)


@dataclass(frozen=True)
class TimelineEntry:
    """One audit-trail event for the timeline.

    Attributes:
        event: The event (from ``Lifecycle.history``).
        when: Its time for a reader (``YYYY-MM-DD HH:MM:SS``, UTC).
        version_href: The page of the version it is about ("" for model-level events).
        evidence: Its evidence.
    """

    event: HistoryEvent
    when: str
    version_href: str
    evidence: list[EvidenceItem]


def readable_time(iso: str) -> str:
    """An ISO 8601 UTC time (``2026-11-30T23:11:45.541Z``) as ``2026-11-30 23:11:45``.

    Args:
        iso: The time as recorded.

    Returns:
        The time (as given when it is not ISO 8601).
    """
    text = (iso or "").strip()
    if len(text) >= 19 and text[10] == "T":
        return text[:10] + " " + text[11:19]
    return text


def timeline(model: str, events: Iterable[HistoryEvent], kfp_ui_url: str = "") -> list[TimelineEntry]:
    """A model's audit trail in order (oldest first, by sequence number).

    Args:
        model: The registered model.
        events: From ``Lifecycle.history``.
        kfp_ui_url: The KFP UI's base URL.

    Returns:
        The entries.
    """
    return [
        TimelineEntry(
            event=e,
            when=readable_time(e.time),
            version_href=version_url(model, e.version) if e.version else "",
            evidence=evidence_items(e.evidence, kfp_ui_url),
        )
        for e in sorted(events, key=lambda e: e.seq)
    ]


@dataclass(frozen=True)
class ServiceLine:
    """Where a model is (or was) deployed.

    Attributes:
        service: The InferenceService record.
        version_href: The page of the version it serves.
        url_href: Its URL when it is a web address.
        since: When the version was deployed, for a reader.
        until: When it was undeployed ("" when it was not).
    """

    service: ServiceEntry
    version_href: str
    url_href: str
    since: str = ""
    until: str = ""

    @property
    def serving(self) -> bool:
        """Whether it serves now."""
        return self.service.state == "DEPLOYED"


@dataclass(frozen=True)
class RolloutLine:
    """One recorded rollout.

    Attributes:
        rollout: The rollout.
        when: Its time for a reader.
        version_href: The page of the version rolled out.
        run: The run that did it.
    """

    rollout: RolloutEntry
    when: str
    version_href: str
    run: RunCell


def deployment_lines(
    model: str, history: DeploymentHistory, kfp_ui_url: str = ""
) -> tuple[list[ServiceLine], list[RolloutLine]]:
    """A model's deployments: where it serves (or served), and every rollout, oldest first.

    Args:
        model: The registered model.
        history: From ``Lifecycle.deployments``.
        kfp_ui_url: The KFP UI's base URL.

    Returns:
        The services and the rollouts.
    """
    services = [
        ServiceLine(
            s,
            version_url(model, s.version) if s.version else "",
            web_href(s.url),
            readable_time(s.deployed_time),
            readable_time(s.undeployed_time),
        )
        for s in history.services
    ]
    rollouts = [
        RolloutLine(
            r,
            readable_time(r.time),
            version_url(model, r.version) if r.version else "",
            RunCell(r.run_name or r.run_id, run_href(r.run_url, r.run_id, kfp_ui_url)),
        )
        for r in history.rollouts
    ]
    return services, rollouts
