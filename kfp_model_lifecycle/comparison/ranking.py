"""Versions of a model on one metric, filtered and paged by the registry: the best one, and the recent trend.

The trend keeps archived versions (marked): a champion demoted when a better one arrived is part of the history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mr_openapi.models.order_by_field import OrderByField
from mr_openapi.models.sort_order import SortOrder

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.comparison.versions import created_ms, numeric_property, version_stage, wire_with_timestamps

ARCHIVED_STATE = "ARCHIVED"
ARCHIVED_STAGE = "archived"

FILTER_KEYWORDS = frozenset({"and", "or", "in", "like", "ilike", "true", "false"})
"""Words of the ``filterQuery`` language that a property name must be backquoted to use."""


@dataclass(frozen=True)
class Ranking:
    """The best LIVE version of a model on a metric, and what finding it cost.

    Attributes:
        best_id: The best version's id, "" when no version qualified.
        value: Its metric value, or None.
        scanned: Matching versions seen.
        pages: Requests made.
        filter: The ``filterQuery`` used.
    """

    best_id: str
    value: float | None
    scanned: int
    pages: int
    filter: str


@dataclass(frozen=True)
class TrendPoint:
    """One version in the trend chart.

    Attributes:
        id: The version id.
        version: The version name.
        value: Its value of the metric.
        created: Creation time in epoch milliseconds.
        stage: Its lifecycle stage ("" for none).
        role: ``candidate``, ``baseline`` or "".
        state: Its registry state, ``LIVE`` or ``ARCHIVED`` ("" when unknown).
    """

    id: str
    version: str
    value: float
    created: int
    stage: str = ""
    role: str = ""
    state: str = ""

    @property
    def archived(self) -> bool:
        """Whether the version is archived (registry state or lifecycle stage)."""
        return self.state == ARCHIVED_STATE or self.stage == ARCHIVED_STAGE


def filter_property_name(name: str) -> str:
    """A custom property name as written in a ``filterQuery`` (backquoted unless it is a plain identifier).

    Args:
        name: The property name.

    Returns:
        e.g. ``accuracy`` or ```my.metric```.
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in FILTER_KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def metric_present_filter(metric: str) -> str:
    """A ``filterQuery`` matching versions (in any state) that have a numeric property ``metric``.

    ``(m >= 0 OR m < 0)`` with integer literals matches int and double properties on the upstream server and
    the embedded one (the Model Registry has no "exists" operator).

    Args:
        metric: The metric (custom property) name.

    Returns:
        The filter text.
    """
    ref = filter_property_name(metric)
    return f"({ref} >= 0 OR {ref} < 0)"


def metric_filter(metric: str) -> str:
    """A ``filterQuery`` matching LIVE versions that have a numeric property ``metric``.

    Args:
        metric: The metric (custom property) name.

    Returns:
        The filter text (see :func:`metric_present_filter`).
    """
    return f'state = "LIVE" AND {metric_present_filter(metric)}'


def list_model_versions_page(
    conn: RegistryConnection,
    model_id: str,
    *,
    filter_query: str = "",
    page_size: int = 100,
    order_by: str = "ID",
    descending: bool = False,
    token: str | None = None,
) -> dict[str, Any]:
    """One page of a registered model's versions (or of every model's), filtered and ordered by the server.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id; "" for the versions of every model.
        filter_query: A ``filterQuery`` ("" for none).
        page_size: Items per page.
        order_by: ``ID``, ``CREATE_TIME`` or ``LAST_UPDATE_TIME``.
        descending: Sort order.
        token: ``nextPageToken`` of the previous page (None for the first).

    Returns:
        The list response in wire form (``items``, ``nextPageToken``, ``size``).
    """
    options: dict[str, Any] = {
        "filter_query": filter_query or None,
        "page_size": str(int(page_size)),
        "order_by": OrderByField(order_by),
        "sort_order": SortOrder.DESC if descending else SortOrder.ASC,
        "next_page_token": token,
    }

    async def list_page(api: Any) -> dict[str, Any]:
        if model_id:
            return wire_with_timestamps(await api.get_registered_model_versions(model_id, **options))
        return wire_with_timestamps(await api.get_model_versions(**options))

    action = f"list versions of registered model {model_id}" if model_id else "list model versions"
    return conn.call(action + (f" matching {filter_query!r}" if filter_query else ""), list_page) or {}


def rank_model_versions(
    conn: RegistryConnection,
    model_id: str,
    metric: str,
    *,
    higher_is_better: bool = True,
    exclude_ids: Sequence[str] = (),
    page_size: int = 100,
) -> Ranking:
    """The best LIVE version of a model on ``metric``, scanning every version page by page.

    The server filters (LIVE versions that have the metric, :func:`metric_filter`) and pages (``pageSize``,
    ``nextPageToken``, ordered by id); only the best version so far is kept, so memory is one page whatever the
    number of versions, and the cost is ``ceil(matching versions / page_size)`` requests. Ties keep the
    earlier version (lower id): a challenger must beat the incumbent, not equal it.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        metric: The ranking metric.
        higher_is_better: Direction of the metric.
        exclude_ids: Version ids to leave out (the candidate).
        page_size: Versions per request.

    Returns:
        The ranking.
    """
    excluded = {str(i) for i in exclude_ids}
    query = metric_filter(metric)
    best_id, best_value, scanned, pages, token = "", None, 0, 0, None
    while True:
        page = list_model_versions_page(conn, model_id, filter_query=query, page_size=page_size, token=token)
        pages += 1
        items = page.get("items") or []
        scanned += len(items)
        for version in items:
            value = numeric_property(version.get("customProperties"), metric)
            if value is None or str(version.get("id")) in excluded:
                continue
            if best_value is None or (value > best_value if higher_is_better else value < best_value):
                best_id, best_value = str(version.get("id")), value
        token = page.get("nextPageToken") or None
        if not token or not items:
            break
    return Ranking(best_id, best_value, scanned, pages, query)


def metric_trend(
    conn: RegistryConnection,
    model_id: str,
    metric: str,
    *,
    limit: int = 30,
    extra: Sequence[Mapping[str, Any]] = (),
) -> list[TrendPoint]:
    """The latest ``limit`` versions having ``metric`` (archived ones too), oldest first, for the trend chart.

    One request: the newest ``limit`` versions that have the metric, in any state.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        metric: The metric.
        limit: How many versions (0 for none).
        extra: Versions (wire form) to include even when older than the last ``limit`` (candidate, baseline).

    Returns:
        The points (without roles), sorted by creation time, then id.
    """
    versions: dict[str, Mapping[str, Any]] = {}
    if limit > 0:
        page = list_model_versions_page(
            conn,
            model_id,
            filter_query=metric_present_filter(metric),
            page_size=limit,
            order_by="CREATE_TIME",
            descending=True,
        )
        for version in page.get("items") or []:
            versions[str(version.get("id"))] = version
    for version in extra:
        if version and str(version.get("registeredModelId") or "") == str(model_id):
            versions.setdefault(str(version.get("id")), version)
    points = []
    for vid, version in versions.items():
        value = numeric_property(version.get("customProperties"), metric)
        if value is None:
            continue
        name, state = str(version.get("name") or ""), str(version.get("state") or "")
        points.append(TrendPoint(vid, name, value, created_ms(version), version_stage(version), state=state))
    points.sort(key=lambda p: (p.created, int(p.id) if p.id.isdigit() else 0))
    return points
