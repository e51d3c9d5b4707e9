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
from dataclasses import asdict, dataclass, field
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
from kfp_model_lifecycle.lifecycle.view import repair_lifecycle_view_if_stale

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


@dataclass(frozen=True)
class ModelSummary:
    """A registered model's lifecycle at a glance.

    Attributes:
        name: The model's name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        owner: Its owner.
        versions: How many versions it has.
        production: The production version's name ("" when none).
        aliases: Alias -> version name.
        requires_approval: Whether production needs an approval.
        latest: The newest version's name.
        updated: When it was last updated (UTC).
    """

    name: str
    id: str
    state: str
    owner: str
    versions: int
    production: str
    aliases: dict[str, str]
    requires_approval: bool
    latest: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """A registered model's own fields.

    Attributes:
        name: Its name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        owner: Its owner.
        description: Its description.
        created: When it was created (UTC).
        updated: When it was last updated (UTC).
    """

    name: str
    id: str
    state: str
    owner: str
    description: str
    created: str
    updated: str


@dataclass(frozen=True)
class VersionInfo:
    """A model version's own fields.

    Attributes:
        name: Its name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        author: Its author.
        description: Its description.
        created: When it was created (UTC).
        updated: When it was last updated (UTC).
    """

    name: str
    id: str
    state: str
    author: str
    description: str
    created: str
    updated: str


@dataclass(frozen=True)
class ShownApproval:
    """A version's approval as its view shows it.

    Attributes:
        status: ``approved``, ``rejected`` or ``pending``.
        by: Who decided.
        comment: Why.
        time: When (UTC, ISO 8601).
    """

    status: str
    by: str
    comment: str
    time: str


@dataclass(frozen=True)
class ModelOverview:
    """``kml models show NAME``: a registered model, its policy, versions and recent history.

    Attributes:
        model: The model's own fields.
        policy: Its lifecycle policy.
        production: The production version's name ("" when none).
        aliases: Alias -> version name.
        versions: One row per version.
        events: How many events its audit trail has.
        recent_events: The last ten, as history rows.
        kind: ``model``.
    """

    model: ModelInfo
    policy: LifecyclePolicy
    production: str
    aliases: dict[str, str]
    versions: list[VersionRow]
    events: int
    recent_events: list[dict[str, Any]]
    kind: str = field(default="model", init=False)

    def to_dict(self) -> dict[str, Any]:
        """The overview as JSON-ready data.

        Returns:
            Every field, nested ones as dicts.
        """
        return asdict(self)


@dataclass(frozen=True)
class VersionDetails:
    """``kml models show NAME:VERSION`` (or any version reference): one version in full.

    Attributes:
        reference: ``name:version``.
        resolved_by: How the reference was resolved, e.g. ``alias champion``.
        model: The registered model's name.
        model_id: Its id.
        version: The version's own fields.
        stage: Its stage.
        stage_time: When it got there.
        aliases: Its aliases, sorted.
        approval: Its approval, or None.
        metrics: Its metrics.
        hyperparameters: Its hyperparameters (``hp_*`` properties, without the prefix).
        lineage: Run, datasets, code and artifact source properties.
        artifact: Its model artifact's uri, format and storage fields.
        labels: Its labels (properties with empty values that are not the lifecycle's).
        properties: Its other properties.
        history: The events about it, as history rows.
        kind: ``version``.
    """

    reference: str
    resolved_by: str
    model: str
    model_id: str
    version: VersionInfo
    stage: str
    stage_time: str
    aliases: list[str]
    approval: ShownApproval | None
    metrics: dict[str, float]
    hyperparameters: dict[str, Any]
    lineage: dict[str, Any]
    artifact: dict[str, Any]
    labels: list[str]
    properties: dict[str, Any]
    history: list[dict[str, Any]]
    kind: str = field(default="version", init=False)

    @property
    def name(self) -> str:
        """The registered model's name."""
        return self.model

    @property
    def version_name(self) -> str:
        """The version's name, e.g. ``1.0.3``."""
        return self.version.name

    @property
    def id(self) -> str:
        """The version's id."""
        return self.version.id

    @property
    def model_uri(self) -> str:
        """The model artifact's URI ("" when the version has no model artifact)."""
        return str(self.artifact.get("uri") or "")

    def to_dict(self) -> dict[str, Any]:
        """The details as JSON-ready data.

        Returns:
            Every field, nested ones as dicts.
        """
        return asdict(self)


def _model_summary(model: Wire, own: list[Wire], names: Mapping[str, str]) -> ModelSummary:
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
        latest=str(max(own, key=lambda v: int(v["id"])).get("name") or "") if own else "",
        updated=format_ms(model.get("lastUpdateTimeSinceEpoch")),
    )


def list_models(conn: RegistryConnection) -> list[ModelSummary]:
    """All registered models with their lifecycle at a glance.

    Args:
        conn: A registry connection.

    Returns:
        One summary per model, by name.
    """
    by_model: dict[str, list[Wire]] = {}
    names: dict[str, str] = {}
    for version in list_all_versions(conn):
        by_model.setdefault(str(version.get("registeredModelId")), []).append(version)
        names[str(version.get("id"))] = str(version.get("name") or "")
    models = sorted(list_all_models(conn), key=lambda m: str(m.get("name") or ""))
    return [_model_summary(m, by_model.get(str(m["id"]), []), names) for m in models]


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


def search_models(
    conn: RegistryConnection, query: str = "", *, model: str = "", models_only: bool = False
) -> list[VersionRow] | list[ModelSummary]:
    """Find model versions (or registered models) by criteria, with the registry's ``filterQuery``.

    Args:
        conn: A registry connection.
        query: A filterQuery with lifecycle helpers (see ``translate_search_query``); "" matches everything.
            ``stage`` tests include the versions that never moved (no ``kml_stage``: ``development``).
        model: Only versions of this registered model.
        models_only: Search registered models instead of versions (the query applies to model properties, e.g.
            ``kml_requires_approval = true`` or ``name LIKE "iris%"``; no helpers).

    Returns:
        For versions: their rows, by model and id; for models: the :func:`list_models` rows that match.
    """
    if models_only:
        wanted = {str(m["id"]) for m in list_all_models(conn, query.strip() or None)}
        return [row for row in list_models(conn) if row.id in wanted]
    if model:
        found = find_model_by_name(conn, model)
        versions = _matching_versions(query, lambda f: list_versions_of(conn, found, f))
        models = {str(found["id"]): found}
    else:
        versions = _matching_versions(query, lambda f: list_all_versions(conn, f))
        models = {str(m["id"]): m for m in list_all_models(conn)}
    aliases = aliases_by_version(models.values())
    rows = [version_row(models.get(str(v.get("registeredModelId")), {"name": "?"}), v, aliases) for v in versions]
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
    model = repair_lifecycle_view_if_stale(conn, find_model_by_name(conn, model_name))
    model = get_timed_model(conn, str(model["id"])) or model
    versions = list_versions_of(conn, model)
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
        versions=[version_row(model, v, aliases) for v in versions],
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
    resolved = resolve_model_reference(conn, reference)
    model, artifact = resolved.model, resolved.artifact or {}
    version = get_timed_version(conn, str(resolved.version["id"])) or resolved.version
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
