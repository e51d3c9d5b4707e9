"""Asking the registry about models: list, search, show one model or version, read its history.

The Python API behind ``kml models list/search/show/history/policy``::

    from kfp_model_lifecycle.client import connect_model_registry
    from kfp_model_lifecycle.lifecycle.queries import list_models, show_model

    with connect_model_registry("http://127.0.0.1:8080") as conn:
        for row in list_models(conn):
            print(row.name, row.production, row.aliases)
        print(show_model(conn, "iris@champion").to_dict())
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.lifecycle.audit import lifecycle_history
from kfp_model_lifecycle.lifecycle.catalog import (
    HYPERPARAMETER_PREFIX,
    LINEAGE_KEYS,
    LINEAGE_PREFIXES,
    HistoryEvent,
    VersionRow,
    aliases_by_version,
    event_row,
    format_ms,
    get_timed_model,
    get_timed_version,
    list_all_models,
    list_all_versions,
    list_versions_of,
    version_metrics,
    version_row,
)
from kfp_model_lifecycle.lifecycle.completeness import complete_version_ids, newest_complete
from kfp_model_lifecycle.lifecycle.conventions import (
    INITIAL_STAGE,
    MODEL_PRODUCTION_VERSION_ID,
    VERSION_APPROVAL_BY,
    VERSION_APPROVAL_COMMENT,
    VERSION_APPROVAL_STATUS,
    VERSION_APPROVAL_TIME,
    VERSION_STAGE,
    VERSION_STAGE_TIME,
    is_lifecycle_key,
)
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.lifecycle.freshness import CurrentView, current_version, current_view, current_views
from kfp_model_lifecycle.lifecycle.inputs import check_flag, check_text
from kfp_model_lifecycle.lifecycle.policy import LifecyclePolicy, lifecycle_policy
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.references import (
    ReferenceKind,
    model_aliases,
    parse_model_reference,
    resolve_model_reference,
)
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name
from kfp_model_lifecycle.lifecycle.search import has_stage_helper, translate_search_query, unmoved_versions_query
from kfp_model_lifecycle.lifecycle.summaries import (
    ModelInfo,
    ModelOverview,
    ModelSummary,
    ShownApproval,
    VersionDetails,
    VersionInfo,
)

__all__ = [
    "ModelInfo",
    "ModelOverview",
    "ModelSummary",
    "ShownApproval",
    "VersionDetails",
    "VersionInfo",
    "list_models",
    "model_events",
    "model_history",
    "model_policy",
    "search_models",
    "show_model",
    "show_version",
]

# Model artifact fields shown by `kml models show NAME:VERSION`.
_ARTIFACT_FIELDS = (
    "uri",
    "modelFormatName",
    "modelFormatVersion",
    "storageKey",
    "storagePath",
    "serviceAccountName",
    "modelSourceKind",
    "modelSourceClass",
    "modelSourceGroup",
    "modelSourceId",
    "modelSourceName",
)


def _model_summary(
    model: Wire, own: list[Wire], names: Mapping[str, str], latest: tuple[str, list[str]]
) -> ModelSummary:
    production = str(plain_properties(model).get(MODEL_PRODUCTION_VERSION_ID) or "")
    try:
        requires_approval = lifecycle_policy(model).requires_approval
    except ValueError:
        requires_approval = False
    return ModelSummary(
        name=str(model.get("name") or ""),
        id=str(model["id"]),
        state=str(model.get("state") or ""),
        owner=str(model.get("owner") or ""),
        versions=len(own),
        production=names.get(production, production),
        aliases={a: names.get(v, v) for a, v in model_aliases(model).items()},
        requires_approval=requires_approval,
        latest=latest[0],
        updated=format_ms(model.get("lastUpdateTimeSinceEpoch")),
        incomplete=latest[1],
    )


def _latest_complete(conn: RegistryConnection, by_model: Mapping[str, list[Wire]]) -> dict[str, tuple[str, list[str]]]:
    """Model id -> (its newest complete version's name, the newer incomplete ones): one batch for the newest."""
    newest = {mid: max(own, key=lambda v: int(v["id"])) for mid, own in by_model.items() if own}
    complete = complete_version_ids(conn, newest.values())
    found: dict[str, tuple[str, list[str]]] = {}
    for mid, top in newest.items():
        if str(top["id"]) in complete:
            found[mid] = (str(top.get("name") or ""), [])
            continue
        older = [v for v in by_model[mid] if v is not top]
        version, skipped = newest_complete(conn, older)
        incomplete = [str(v.get("name") or "") for v in [top, *skipped]]
        found[mid] = (str((version or {}).get("name") or ""), incomplete)
    return found


def list_models(conn: RegistryConnection) -> list[ModelSummary]:
    """All registered models with their lifecycle at a glance, as their audit trails say (a stale view is repaired).

    Args:
        conn: A registry connection.

    Returns:
        One summary per model, by name; ``latest`` is the newest complete version.
    """
    by_model: dict[str, list[Wire]] = {}
    names: dict[str, str] = {}
    for version in list_all_versions(conn):
        by_model.setdefault(str(version.get("registeredModelId")), []).append(version)
        names[str(version.get("id"))] = str(version.get("name") or "")
    models = sorted(list_all_models(conn), key=lambda m: str(m.get("name") or ""))
    views = current_views(conn, models)
    latest = _latest_complete(conn, by_model)
    return [
        _model_summary(
            views[str(m["id"])].model, by_model.get(str(m["id"]), []), names, latest.get(str(m["id"]), ("", []))
        )
        for m in models
    ]


def _matching_versions(query: str, fetch: Callable[[str | None], list[Wire]]) -> list[Wire]:
    """The versions a search matches, those that never moved (no ``kml_stage``: development) included.

    The registry decides the query for versions that carry ``kml_stage``; for the others every stage test is
    decided here (see ``unmoved_versions_query``) and the rest is asked of the registry in a second list.
    """
    if not query.strip():
        return fetch(None)
    matched = fetch(translate_search_query(query))
    if not has_stage_helper(query):
        return matched
    moved = [v for v in matched if VERSION_STAGE in (v.get("customProperties") or {})]
    unmoved_filter = unmoved_versions_query(query)
    if unmoved_filter is False:
        return moved
    candidates = fetch(None if unmoved_filter is True else str(unmoved_filter))
    return moved + [v for v in candidates if VERSION_STAGE not in (v.get("customProperties") or {})]


def _searched_views(conn: RegistryConnection, model: str) -> dict[str, CurrentView]:
    """The current views of the models a search covers (stale ones repaired BEFORE the registry filters)."""
    scope = [find_model_by_name(conn, model)] if model else list_all_models(conn)
    return current_views(conn, scope)


def search_models(
    conn: RegistryConnection,
    query: str = "",
    *,
    model: str = "",
    models_only: bool = False,
    include_incomplete: bool = False,
) -> list[VersionRow] | list[ModelSummary]:
    """Find model versions (or registered models) by criteria, with the registry's ``filterQuery``.

    Stages, aliases and approvals are matched against a view that includes the whole audit trail: a view left
    behind by a writer that died is repaired first.

    Args:
        conn: A registry connection.
        query: A filterQuery with lifecycle helpers (see ``translate_search_query``); "" matches everything.
            ``stage`` tests include the versions that never moved (no ``kml_stage``: ``development``).
        model: Only versions of this registered model.
        models_only: Search registered models instead of versions (the query applies to model properties, e.g.
            ``kml_requires_approval = true`` or ``name LIKE "iris%"``; no helpers).
        include_incomplete: Also return versions whose registration did not finish (``complete`` False); by
            default they are left out, as they cannot be used.

    Returns:
        For versions: their rows, by model and id; for models: the :func:`list_models` rows that match.

    Raises:
        InvalidInputError: For a query, model or flag of the wrong type, or a query the helpers cannot read.
    """
    query = check_text(query, "query", example="'accuracy > 0.9'")
    model = check_text(model, "model", example="'iris'").strip()
    include_incomplete = check_flag(include_incomplete, "include_incomplete")
    if check_flag(models_only, "models_only"):
        wanted = {str(m["id"]) for m in list_all_models(conn, query.strip() or None)}
        return [row for row in list_models(conn) if row.id in wanted]
    if query.strip():
        translate_search_query(query)  # a malformed query fails before anything is read
    views = _searched_views(conn, model)
    if model:
        only = next(iter(views.values())).model
        versions = _matching_versions(query, lambda f: list_versions_of(conn, only, f))
    else:
        versions = _matching_versions(query, lambda f: list_all_versions(conn, f))
    aliases = aliases_by_version(view.model for view in views.values())
    complete = complete_version_ids(conn, versions)
    rows = []
    for version in versions:
        view = views.get(str(version.get("registeredModelId")))
        if include_incomplete or str(version["id"]) in complete:
            shown = current_version(version, view)
            owner = view.model if view else {"name": "?"}
            rows.append(version_row(owner, shown, aliases, complete=str(version["id"]) in complete))
    return sorted(rows, key=lambda r: (r.model, int(r.version_id or 0)))


def model_policy(conn: RegistryConnection, model_name: str) -> LifecyclePolicy:
    """A registered model's lifecycle policy.

    Args:
        conn: A registry connection.
        model_name: The registered model.

    Returns:
        The policy (with defaults).
    """
    return lifecycle_policy(find_model_by_name(conn, model_name))


def _model_overview(conn: RegistryConnection, model_name: str) -> ModelOverview:
    view = current_view(conn, find_model_by_name(conn, model_name))
    timed = get_timed_model(conn, str(view.model["id"]))
    model = {**timed, "customProperties": view.model.get("customProperties") or {}} if timed else view.model
    versions = [current_version(v, view) for v in list_versions_of(conn, model)]
    complete = complete_version_ids(conn, versions)
    names = {str(v["id"]): str(v.get("name") or "") for v in versions}
    production = str(plain_properties(model).get(MODEL_PRODUCTION_VERSION_ID) or "")
    events = read_lifecycle_events(conn, str(model["id"]))
    aliases = aliases_by_version([model])
    info = ModelInfo(
        name=str(model.get("name") or ""),
        id=str(model["id"]),
        state=str(model.get("state") or ""),
        owner=str(model.get("owner") or ""),
        description=str(model.get("description") or ""),
        created=format_ms(model.get("createTimeSinceEpoch")),
        updated=format_ms(model.get("lastUpdateTimeSinceEpoch")),
    )
    return ModelOverview(
        model=info,
        policy=lifecycle_policy(model),
        production=names.get(production, production),
        aliases={a: names.get(v, v) for a, v in model_aliases(model).items()},
        versions=[version_row(model, v, aliases, complete=str(v["id"]) in complete) for v in versions],
        events=len(events),
        recent_events=[event_row(e) for e in events[-10:]],
    )


def _shown_approval(props: Mapping[str, Any]) -> ShownApproval | None:
    if not props.get(VERSION_APPROVAL_STATUS):
        return None
    return ShownApproval(
        status=props[VERSION_APPROVAL_STATUS],
        by=props.get(VERSION_APPROVAL_BY) or "",
        comment=props.get(VERSION_APPROVAL_COMMENT) or "",
        time=props.get(VERSION_APPROVAL_TIME) or "",
    )


def _property_groups(props: Mapping[str, Any]) -> dict[str, Any]:
    """A version's properties by kind: metrics, hyperparameters, lineage, labels and the rest."""
    metrics = version_metrics(props)
    hyper = {k[len(HYPERPARAMETER_PREFIX) :]: v for k, v in props.items() if k.startswith(HYPERPARAMETER_PREFIX)}
    lineage = {k: v for k, v in props.items() if k.startswith(LINEAGE_PREFIXES) or k in LINEAGE_KEYS}
    labels = sorted(k for k, v in props.items() if v == "" and not is_lifecycle_key(k))
    used = set(metrics) | {f"{HYPERPARAMETER_PREFIX}{k}" for k in hyper} | set(lineage) | set(labels)
    rest = {k: v for k, v in sorted(props.items()) if k not in used and not is_lifecycle_key(k)}
    return {
        "metrics": metrics,
        "hyperparameters": dict(sorted(hyper.items())),
        "lineage": dict(sorted(lineage.items())),
        "labels": labels,
        "properties": rest,
    }


def _version_details(conn: RegistryConnection, reference: str) -> VersionDetails:
    resolved = resolve_model_reference(conn, reference, allow_incomplete=True)
    model, artifact = resolved.model, resolved.artifact or {}
    timed = get_timed_version(conn, str(resolved.version["id"]))
    version = current_version(timed, CurrentView(model, resolved.state)) if timed else resolved.version
    vid = str(version["id"])
    props = plain_properties(version)
    events = read_lifecycle_events(conn, str(model["id"]))
    info = VersionInfo(
        name=str(version.get("name") or ""),
        id=vid,
        state=str(version.get("state") or ""),
        author=str(version.get("author") or ""),
        description=str(version.get("description") or ""),
        created=format_ms(version.get("createTimeSinceEpoch")),
        updated=format_ms(version.get("lastUpdateTimeSinceEpoch")),
    )
    return VersionDetails(
        reference=resolved.reference,
        resolved_by=resolved.selector,
        model=str(model.get("name") or ""),
        model_id=str(model["id"]),
        version=info,
        stage=props.get(VERSION_STAGE) or INITIAL_STAGE,
        stage_time=props.get(VERSION_STAGE_TIME) or "",
        aliases=sorted(a for a, v in model_aliases(model).items() if v == vid),
        approval=_shown_approval(props),
        artifact={k: artifact[k] for k in _ARTIFACT_FIELDS if artifact.get(k)},
        history=[event_row(e) for e in events if vid in (e.get("version_id"), e.get("demoted_version_id"))],
        complete=bool(resolved.complete),
        **_property_groups(props),
    )


def show_version(conn: RegistryConnection, reference: str) -> VersionDetails:
    """One version in full; a bare ``NAME`` means the model's production version.

    Args:
        conn: A registry connection.
        reference: ``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``, ``NAME@staging``, ``NAME@latest``.

    Returns:
        The version's details (``model_uri``, ``metrics``, ``lineage``, ``stage``, ``aliases``, ``approval``...).

    Raises:
        NotFoundError: When the model, the version or the alias does not exist, or a bare name has no production
            version (a ``LookupError``; the message names what exists).
    """
    return _version_details(conn, reference)


def show_model(conn: RegistryConnection, reference: str) -> ModelOverview | VersionDetails:
    """Details of a registered model (``NAME``) or of one version (``NAME:VERSION``, ``NAME@ALIAS``...).

    Args:
        conn: A registry connection.
        reference: ``NAME`` for the model overview; a version reference for the version.

    Returns:
        The model overview, or the version's details.
    """
    ref = parse_model_reference(reference)
    if ref.kind == ReferenceKind.DEFAULT:
        return _model_overview(conn, ref.model)
    return _version_details(conn, reference)


def model_history(
    conn: RegistryConnection, model_name: str, *, version: str = "", event_type: str = ""
) -> list[dict[str, Any]]:
    """The model's audit trail, oldest first.

    Args:
        conn: A registry connection.
        model_name: The registered model.
        version: Only events about this version name.
        event_type: Only ``stage``, ``alias``, ``approval``, ``rejection``, ``policy`` or ``deployment`` events.

    Returns:
        One row per event (see ``event_row``).
    """
    history = lifecycle_history(conn, model_name, version=version, event_type=event_type)
    return [event_row(e) for e in history["events"]]


def model_events(
    conn: RegistryConnection, model_name: str, *, version: str = "", event_type: str = ""
) -> list[HistoryEvent]:
    """The model's audit trail, oldest first, as typed events (:func:`model_history` gives the same as rows).

    Args:
        conn: A registry connection.
        model_name: The registered model.
        version: Only events about this version name.
        event_type: Only events of this type.

    Returns:
        One event per entry; ``to_dict()`` of each is its history row.
    """
    return [
        HistoryEvent.from_row(row) for row in model_history(conn, model_name, version=version, event_type=event_type)
    ]
