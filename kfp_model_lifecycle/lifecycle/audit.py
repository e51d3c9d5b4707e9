"""The audit trail for other components and for people: append an event of another kind, read the history."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.commit import commit_lifecycle_event
from kfp_model_lifecycle.lifecycle.conventions import TRANSITION_EVENT_TYPES
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.lifecycle.inputs import check_mapping, check_text, shown
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_common_fields
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name
from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view

_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,40}")
# Detail keys that would overwrite what every event has.
_RESERVED_DETAIL_KEYS = ("seq", "type", "model_id", "token")


def _check_event_type(event_type: str) -> str:
    kind = check_text(event_type, "event_type", example="'rejection'").strip().lower()
    if not _EVENT_TYPE.fullmatch(kind) or kind in TRANSITION_EVENT_TYPES:
        raise InvalidInputError(
            f"event type {shown(event_type)} cannot be recorded here: use a lower-case word such as 'deployment'"
            " (stage, alias, approval and policy changes go through promote/approve/policy)"
        )
    return kind


def _check_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = check_mapping(details, "details", example="{'serving_namespace': 'prod'}")
    for key in extra:
        if not _DETAIL_KEY.fullmatch(str(key)) or key in _RESERVED_DETAIL_KEYS:
            raise InvalidInputError(f"detail key {shown(key)} is not allowed: use lower-case letters, digits and '_'")
    return extra


def record_lifecycle_event(
    conn: RegistryConnection,
    reference: str,
    event_type: str,
    *,
    from_state: str = "",
    to_state: str = "",
    actor: str = "",
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    default_model: str = "",
) -> dict[str, Any]:
    """Append an event of another kind (e.g. ``deployment``) about a model version to its audit trail.

    For components other than promote/approve (deploy_model...): the event gets the next ``seq`` with the same
    compare-and-set as every transition, is linked to the version and shows in ``kml models history``. It does
    not change stages, aliases or approvals.

    Args:
        conn: From ``connect_model_registry``.
        reference: The version (see ``resolve_model_reference``).
        event_type: e.g. ``deployment``; not ``stage``, ``alias``, ``approval`` (use the functions for those).
        from_state: The state before, e.g. ``undeployed``.
        to_state: The state after, e.g. ``serving in kserve-prod/iris``.
        actor: Who.
        reason: Why.
        evidence: Run id, URLs, manifests... recorded as JSON.
        details: More scalar fields, stored as ``kml_event_<key>`` (keys: letters, digits, ``_``).
        default_model: Model name for references without one.

    Returns:
        The stored event (see ``decode_lifecycle_event``).

    Raises:
        InvalidInputError: For a reserved or malformed event type or detail key (a ``ValueError``).
    """
    kind = _check_event_type(event_type)
    extra = _check_details(details)
    from_state = check_text(from_state, "from_state", example="'undeployed'")
    to_state = check_text(to_state, "to_state", example="'serving in prod/iris'")
    common = lifecycle_common_fields(actor, reason, evidence)
    resolved = resolve_model_reference(conn, reference, default_model=default_model, with_artifact=False)
    model, version = resolved.model, resolved.version
    event = {
        **extra,
        "type": kind,
        "version_id": str(version["id"]),
        "version": str(version.get("name") or ""),
        "from": from_state,
        "to": to_state,
    }
    outcome = commit_lifecycle_event(
        conn,
        model,
        lambda state: {"event": dict(event), "error": ""},
        common,
    )
    sync_lifecycle_view(conn, model, events=outcome.events)
    return dict(outcome.event or {})


def lifecycle_history(
    conn: RegistryConnection, model_name: str, *, version: str = "", event_type: str = ""
) -> dict[str, Any]:
    """A model's audit trail, oldest first.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The registered model.
        version: Only events about this version name ("" for all; a displaced production version counts).
        event_type: Only this event type ("" for all).

    Returns:
        ``model`` (wire form) and ``events`` (decoded, see ``decode_lifecycle_event``).
    """
    version = check_text(version, "version", example="'1.0.3'")
    event_type = check_text(event_type, "event_type", example="'stage'")
    model = find_model_by_name(conn, model_name)
    events = read_lifecycle_events(conn, str(model["id"]))
    if version:
        events = [e for e in events if version in (e.get("version"), e.get("demoted_version"))]
    if event_type:
        events = [e for e in events if e.get("type") == event_type]
    return {"model": model, "events": events}
