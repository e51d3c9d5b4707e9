"""Reading the lifecycle as the audit trail says it is, even right after a writer died before updating the view.

The stages, aliases and production pointer stored in the registry's properties are a view of the audit trail. A
promotion that appended its event and died before the view write leaves the view behind; until the next writer,
``stage = "production"`` would find nothing while the trail says there is a production version. Readers therefore
check the view first -- cheaply: the model's view records the last event it includes (``kml_event_seq``), and the
view is current when event ``kml_event_seq + 1`` does not exist -- and when it is behind, repair it (so searches,
which the registry evaluates on the stored view, answer right), or, when this caller may not write (401/403), read
through it: fold the trail and show the state it implies without storing it.

:func:`current_view` checks one model (one request); :func:`current_views` checks many with one filtered list
per :data:`MODELS_PER_QUERY` models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import RegistryAuthError
from kfp_model_lifecycle.lifecycle.conventions import EVENT_ARTIFACT_TYPE, EVENT_PROPERTY_PREFIX, MODEL_EVENT_SEQ
from kfp_model_lifecycle.lifecycle.events import decode_lifecycle_event, find_lifecycle_event, read_lifecycle_events
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.state import LifecycleState, fold_lifecycle_events
from kfp_model_lifecycle.lifecycle.view import (
    model_view_properties,
    sync_lifecycle_view,
    version_view_properties,
    version_view_state,
)
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)

MODELS_PER_QUERY = 40


@dataclass(frozen=True)
class CurrentView:
    """A registered model whose lifecycle properties include its whole audit trail.

    Attributes:
        model: The RegisteredModel in wire form, its view keys current.
        state: The fold of the trail when the stored view was behind (then versions read before need
            :func:`current_version`); None when the stored view was current.
        repaired: Whether the stored view was rewritten (False when it was current or could only be read through).
    """

    model: Wire
    state: LifecycleState | None = None
    repaired: bool = False


def view_seq(model: Mapping[str, Any]) -> int:
    """The last audit-trail event the model's stored view includes (0 when none).

    Args:
        model: The RegisteredModel in wire form.

    Returns:
        Its ``kml_event_seq``.
    """
    try:
        return int(plain_properties(model).get(MODEL_EVENT_SEQ) or 0)
    except (TypeError, ValueError):
        return 0


def _caught_up(conn: RegistryConnection, model: Mapping[str, Any], repair: bool) -> CurrentView:
    """The view of a model whose stored view is behind: repaired, or (read-only) read through."""
    if repair:
        try:
            synced = sync_lifecycle_view(conn, model)
            return CurrentView(synced["model"], synced["state"], repaired=True)
        except RegistryAuthError as exc:
            log.warning(
                "the lifecycle view of %r is behind its audit trail and cannot be repaired with these credentials"
                " (%s): showing the trail's state; `kml models repair %s` with write access stores it",
                model.get("name"),
                exc.status,
                model.get("name"),
            )
    state = fold_lifecycle_events(read_lifecycle_events(conn, str(model["id"])))
    return CurrentView({**model, "customProperties": model_view_properties(model, state)}, state)


def current_view(conn: RegistryConnection, model: Mapping[str, Any], *, repair: bool = True) -> CurrentView:
    """The model with a lifecycle view that includes its whole audit trail (one request when it does).

    Args:
        conn: A registry connection.
        model: The RegisteredModel in wire form.
        repair: Store the view when it is behind (else, and when the credentials cannot write, only read through).

    Returns:
        The current view.
    """
    if find_lifecycle_event(conn, str(model["id"]), view_seq(model) + 1) is None:
        return CurrentView(dict(model))
    log.info("the lifecycle view of %r is behind its audit trail (at #%d)", model.get("name"), view_seq(model))
    return _caught_up(conn, model, repair)


def _behind(conn: RegistryConnection, models: list[Mapping[str, Any]]) -> set[str]:
    """The ids of the models whose trail has an event after their view's (one filtered list)."""
    seen = {str(m["id"]): view_seq(m) for m in models}
    terms = [
        f'({EVENT_PROPERTY_PREFIX}model_id = "{mid}" AND {EVENT_PROPERTY_PREFIX}seq > {seq})'
        for mid, seq in seen.items()
    ]
    items = conn.list_all(
        f"look for audit-trail events after the lifecycle views of {len(models)} model(s)",
        lambda api, token: api.get_artifacts(
            filter_query=" OR ".join(terms),
            artifact_type=ArtifactTypeQueryParam(EVENT_ARTIFACT_TYPE),
            page_size="500",
            next_page_token=token,
        ),
    )
    behind = set()
    for item in items:
        event = decode_lifecycle_event(item)
        mid = str(event.get("model_id") or "")
        if mid in seen and event["seq"] > seen[mid]:
            behind.add(mid)
    return behind


def current_views(
    conn: RegistryConnection, models: Iterable[Mapping[str, Any]], *, repair: bool = True
) -> dict[str, CurrentView]:
    """:func:`current_view` for many models, with one filtered list per :data:`MODELS_PER_QUERY` models.

    Args:
        conn: A registry connection.
        models: RegisteredModels in wire form.
        repair: Store the views that are behind.

    Returns:
        Model id -> its current view.
    """
    listed = list(models)
    behind: set[str] = set()
    for start in range(0, len(listed), MODELS_PER_QUERY):
        behind |= _behind(conn, listed[start : start + MODELS_PER_QUERY])
    views = {}
    for model in listed:
        mid = str(model["id"])
        views[mid] = _caught_up(conn, model, repair) if mid in behind else CurrentView(dict(model))
    return views


def current_version(version: Mapping[str, Any], view: CurrentView | None) -> Wire:
    """A version as the current view shows it (its lifecycle properties and state from the trail when read through).

    Args:
        version: The ModelVersion in wire form, as listed.
        view: Its model's current view (None: as it is).

    Returns:
        The version with current lifecycle properties.
    """
    if view is None or view.state is None:
        return dict(version)
    return {
        **version,
        "customProperties": version_view_properties(version, view.state),
        "state": version_view_state(version, view.state),
    }
