"""The materialized view: the state the audit trail implies, written into the registry's own properties.

Versions get ``kml_stage``, approvals and the UI labels ``kml:stage=<stage>``, ``kml:@<alias>``; the model gets
``kml_alias_<alias>`` -> version id, ``kml_production_version_id`` and ``kml_event_seq``. A PATCH replaces the
whole ``customProperties`` map, so writers re-read it first and keep every key they do not own, and re-read and
re-apply when the registry answers a PATCH with 409 (two concurrent PATCHes adding the same new key collide on the
real server, see ``client.update_with_retry``). A writer that died
between its event and the view, or wrote a stale view, is repaired by the next writer or reader
(:func:`sync_lifecycle_view`, :func:`repair_lifecycle_view_if_stale`), which compare the view with the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, Wire, update_with_retry
from kfp_model_lifecycle.lifecycle.conventions import (
    LABEL_ALIAS,
    LABEL_APPROVAL,
    LABEL_STAGE,
    MODEL_ALIAS,
    MODEL_ALIAS_PREFIX,
    MODEL_EVENT_SEQ,
    MODEL_PRODUCTION_VERSION_ID,
    VERSION_APPROVAL_BY,
    VERSION_APPROVAL_COMMENT,
    VERSION_APPROVAL_STATUS,
    VERSION_APPROVAL_TIME,
    VERSION_STAGE,
    VERSION_STAGE_TIME,
    Stage,
    is_lifecycle_key,
)
from kfp_model_lifecycle.lifecycle.events import find_lifecycle_event, read_lifecycle_events
from kfp_model_lifecycle.lifecycle.properties import lifecycle_property, plain_properties, same_properties
from kfp_model_lifecycle.lifecycle.registry import get_model_version_by_id, get_registered_model, list_model_versions
from kfp_model_lifecycle.lifecycle.state import LifecycleState, fold_lifecycle_events
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)


def version_view_properties(version: Mapping[str, Any], state: LifecycleState) -> dict[str, Any]:
    """The version's ``customProperties`` with its lifecycle keys set from ``state`` (wire form).

    Keys that are not lifecycle keys (see ``is_lifecycle_key``) are kept as they are.

    Args:
        version: The ModelVersion in wire form (its current properties).
        state: From ``fold_lifecycle_events``.

    Returns:
        The complete new ``customProperties`` map.
    """
    current = dict(version.get("customProperties") or {})
    props = {k: v for k, v in current.items() if not is_lifecycle_key(k)}
    vid = str(version["id"])
    item = state.versions.get(vid)
    if item and item.stage:
        props[VERSION_STAGE] = lifecycle_property(item.stage)
        props[VERSION_STAGE_TIME] = lifecycle_property(item.stage_time)
        props[LABEL_STAGE.format(stage=item.stage)] = lifecycle_property("")
    for alias, holder in state.aliases.items():
        if holder == vid:
            props[LABEL_ALIAS.format(alias=alias)] = lifecycle_property("")
    approval = item.approval if item else None
    if approval:
        props[VERSION_APPROVAL_STATUS] = lifecycle_property(approval.status)
        props[VERSION_APPROVAL_BY] = lifecycle_property(approval.by)
        props[VERSION_APPROVAL_COMMENT] = lifecycle_property(approval.comment)
        props[VERSION_APPROVAL_TIME] = lifecycle_property(approval.time)
        props[LABEL_APPROVAL.format(status=approval.status)] = lifecycle_property("")
    return props


def version_view_state(version: Mapping[str, Any], state: LifecycleState) -> str:
    """The version's registry ``state`` (LIVE/ARCHIVED) as the lifecycle wants it.

    ``archived`` sets ARCHIVED. A version leaving ``archived`` goes back to LIVE, and so does a production version;
    otherwise the state is left alone (an ARCHIVED set by a person in the UI stays).

    Args:
        version: The ModelVersion in wire form.
        state: From ``fold_lifecycle_events``.

    Returns:
        ``ARCHIVED``, ``LIVE`` or the current state.
    """
    current = str(version.get("state") or "LIVE")
    item = state.versions.get(str(version["id"]))
    stage = item.stage if item else ""
    if stage == Stage.ARCHIVED:
        return "ARCHIVED"
    shown = plain_properties(version).get(VERSION_STAGE)
    if current == "ARCHIVED" and (shown == Stage.ARCHIVED or stage == Stage.PRODUCTION):
        return "LIVE"
    return current


def is_model_view_key(key: str) -> bool:
    """Whether a RegisteredModel property is written by :func:`sync_lifecycle_view` (policy keys are not).

    Args:
        key: A custom property name.

    Returns:
        True for ``kml_alias_*``, ``kml_production_version_id`` and ``kml_event_seq``.
    """
    return key.startswith(MODEL_ALIAS_PREFIX) or key in (MODEL_PRODUCTION_VERSION_ID, MODEL_EVENT_SEQ)


def model_view_properties(model: Mapping[str, Any], state: LifecycleState) -> dict[str, Any]:
    """The model's ``customProperties`` with its view keys set from ``state`` (wire form); other keys are kept.

    Args:
        model: The RegisteredModel in wire form.
        state: From ``fold_lifecycle_events``.

    Returns:
        The complete new ``customProperties`` map.
    """
    props = {k: v for k, v in dict(model.get("customProperties") or {}).items() if not is_model_view_key(k)}
    for alias, holder in sorted(state.aliases.items()):
        props[MODEL_ALIAS.format(alias=alias)] = lifecycle_property(str(holder))
    if state.production:
        props[MODEL_PRODUCTION_VERSION_ID] = lifecycle_property(state.production)
    props[MODEL_EVENT_SEQ] = lifecycle_property(state.last_seq)
    return props


def _version_is_current(version: Mapping[str, Any], state: LifecycleState) -> bool:
    return same_properties(
        version_view_properties(version, state), version.get("customProperties")
    ) and version_view_state(version, state) == (version.get("state") or "LIVE")


def _sync_versions(conn: RegistryConnection, model: Mapping[str, Any], state: LifecycleState) -> list[str]:
    """PATCH every version whose view differs from ``state`` (re-read first, again after a 409); returns the ids."""
    patched: list[str] = []
    for listed in list_model_versions(conn, model):
        if _version_is_current(listed, state):
            continue
        vid = str(listed["id"])
        written = update_with_retry(
            conn,
            f"update lifecycle properties of model version {vid}",
            read=lambda v=vid, fallback=listed: get_model_version_by_id(conn, v) or dict(fallback),
            modify=lambda fresh: _version_patch(fresh, state),
            write=lambda api, body, v=vid: api.update_model_version(v, models.ModelVersionUpdate.from_dict(body)),
        )
        if written is not None:
            patched.append(vid)
    return patched


def _version_patch(version: Mapping[str, Any], state: LifecycleState) -> dict[str, Any] | None:
    """The PATCH body that brings a version's view to ``state``, or None when it is current."""
    if _version_is_current(version, state):
        return None
    return {"customProperties": version_view_properties(version, state), "state": version_view_state(version, state)}


def _model_patch(model: Mapping[str, Any], state: LifecycleState) -> dict[str, Any] | None:
    """The PATCH body that brings a model's view keys to ``state``, or None when they are current."""
    props = model_view_properties(model, state)
    return None if same_properties(props, model.get("customProperties")) else {"customProperties": props}


def _sync_model(conn: RegistryConnection, model: Mapping[str, Any], state: LifecycleState) -> Wire:
    """PATCH the model's view keys when they differ from ``state`` (re-read first, again after a 409)."""
    model_id = str(model["id"])
    fresh: list[Wire] = []

    def read() -> Wire:
        fresh.append(get_registered_model(conn, model))
        return fresh[-1]

    written = update_with_retry(
        conn,
        f"update lifecycle properties of registered model {model.get('name')!r}",
        read=read,
        modify=lambda current: _model_patch(current, state),
        write=lambda api, body: api.update_registered_model(model_id, models.RegisteredModelUpdate.from_dict(body)),
    )
    return written or fresh[-1]


def sync_lifecycle_view(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    *,
    events: list[dict[str, Any]] | None = None,
    max_rounds: int = 20,
) -> dict[str, Any]:
    """Write the state the log implies into the version and model properties (repair a stale or partial view).

    For every version whose lifecycle keys or state differ from the log, re-read it and PATCH its whole
    ``customProperties`` map (keeping every other key); then the model (aliases, production pointer, last seq).
    Afterwards look whether the log grew meanwhile; if so, do it again: a writer that raced with a newer one
    always ends with the newest state.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        events: The full log when the caller has just read it (else it is read here).
        max_rounds: Bound on repeats while other writers keep appending.

    Returns:
        ``state`` (the fold, a ``LifecycleState``), ``events`` (the log), ``model`` (as written), ``patched``
        (version ids written) and ``rounds``.
    """
    model_id = str(model["id"])
    patched: list[str] = []
    log_events = list(events) if events is not None else read_lifecycle_events(conn, model_id)
    current_model: Wire = dict(model)
    state = fold_lifecycle_events(log_events)
    for round_no in range(1, max_rounds + 1):
        state = fold_lifecycle_events(log_events)
        patched += _sync_versions(conn, current_model, state)
        current_model = _sync_model(conn, current_model, state)
        newer = read_lifecycle_events(conn, model_id, after_seq=state.last_seq)
        if not newer:
            return {
                "state": state,
                "events": log_events,
                "model": current_model,
                "patched": patched,
                "rounds": round_no,
            }
        log.info(
            "the lifecycle log of %r grew during the update (now #%d): updating again",
            model.get("name"),
            newer[-1]["seq"],
        )
        log_events = log_events + newer
    log.warning(
        "the lifecycle view of %r may lag behind its log: other writers kept appending; the next promotion or"
        " `kml models show` repairs it",
        model.get("name"),
    )
    return {"state": state, "events": log_events, "model": current_model, "patched": patched, "rounds": max_rounds}


def repair_lifecycle_view_if_stale(conn: RegistryConnection, model: Mapping[str, Any]) -> Wire:
    """Cheap check that the model's view includes the whole log; repair it when it does not.

    One request when all is well: whether event ``kml_event_seq + 1`` exists.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.

    Returns:
        The (possibly updated) RegisteredModel.
    """
    try:
        seen = int(plain_properties(model).get(MODEL_EVENT_SEQ) or 0)
    except (TypeError, ValueError):
        seen = 0
    if find_lifecycle_event(conn, str(model["id"]), seen + 1) is None:
        return dict(model)
    log.info("the lifecycle view of %r is behind its log (view at #%d): repairing it", model.get("name"), seen)
    return sync_lifecycle_view(conn, model, events=None)["model"]
