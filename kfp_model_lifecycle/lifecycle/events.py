"""The audit trail in the registry: one ``doc-artifact`` per event, appended with an atomic compare-and-set.

Event ``seq`` of model ``M`` has ``externalId`` ``kml-event:M:seq``. ExternalIds are unique in the registry (a
database constraint on both the real server and the embedded one), so creating event ``N + 1`` is a
compare-and-set: of two writers that both read ``N``, one gets 409. The log is append-only and totally ordered by
``seq``. Every event field is stored as the property ``kml_event_<field>``; events are handled as plain dicts
(the decoded records, whose type-specific fields vary).

Events are created on their own (``POST /artifacts``), never linked to a model version: KServe's
``model-registry://`` storage initializer takes a version's NEWEST artifact and fails unless it is the model
artifact (kubeflow/hub ``cmd/csi``), so an event linked to a version would break its deployments. The version an
event is about is in ``kml_event_version_id``. Events that earlier releases linked to versions are still read:
the trail is listed from ``/artifacts``, which holds linked and unlinked artifacts alike, and found by externalId.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mr_openapi import models
from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.lifecycle.conventions import (
    EVENT_ARTIFACT_TYPE,
    EVENT_EXTERNAL_ID,
    EVENT_NAME,
    EVENT_PROPERTY_PREFIX,
)
from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.properties import lifecycle_property, plain_properties

# Fields every decoded event has as text.
_TEXT_FIELDS = ("type", "model_id", "version_id", "version", "from", "to", "actor", "reason", "token", "time")
# Fields of an event that are not stored as ``kml_event_<field>`` as they are.
_OWN_FIELDS = ("evidence", "seq", "model_id", "model")


def _decoded_evidence(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str) and raw.strip():
        try:
            return json.loads(raw)
        except ValueError:
            return {"text": raw}
    return raw if isinstance(raw, dict) else {}


def decode_lifecycle_event(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """An event doc-artifact as a plain dict.

    Args:
        artifact: The doc-artifact in wire form.

    Returns:
        ``seq``, ``type``, ``model_id``, ``model``, ``version_id``, ``version``, ``from``, ``to``, ``actor``,
        ``reason``, ``evidence`` (dict), ``time`` (UTC, ISO 8601), ``token`` and the type-specific fields (``alias``,
        ``demoted_version_id``, ``demoted_version``, ``demoted_to``, ``rollback``, ``previous_version_id``,
        ``requested``, ``conflicts``), plus ``artifact_id`` and ``uri``.
    """
    event: dict[str, Any] = {"artifact_id": str(artifact.get("id") or ""), "uri": artifact.get("uri") or ""}
    for key, value in plain_properties(artifact).items():
        if key.startswith(EVENT_PROPERTY_PREFIX):
            event[key[len(EVENT_PROPERTY_PREFIX) :]] = value
    try:
        event["seq"] = int(event.get("seq") or 0)
    except (TypeError, ValueError):
        event["seq"] = 0
    event["evidence"] = _decoded_evidence(event.get("evidence"))
    event["rollback"] = bool(event.get("rollback"))
    for key in _TEXT_FIELDS:
        event[key] = "" if event.get(key) is None else str(event.get(key))
    return event


def build_lifecycle_event_artifact(model: Mapping[str, Any], seq: int, event: Mapping[str, Any]) -> dict[str, Any]:
    """The doc-artifact body of an event.

    Args:
        model: The RegisteredModel in wire form.
        seq: The event's position in the model's log (1, 2, ...).
        event: ``type``, ``version_id``, ``version``, ``from``, ``to``, ``actor``, ``reason``, ``evidence`` (dict),
            ``time`` (UTC, ISO 8601), ``token`` and optional type-specific fields; None values are left out.

    Returns:
        The request body (``artifactType: doc-artifact``) for ``POST /artifacts``; its ``uri`` is the evidence's
        report URI when there is one.
    """
    model_id = str(model["id"])
    evidence = dict(event.get("evidence") or {})
    props: dict[str, Any] = {
        f"{EVENT_PROPERTY_PREFIX}model_id": model_id,
        f"{EVENT_PROPERTY_PREFIX}model": str(model.get("name") or ""),
        f"{EVENT_PROPERTY_PREFIX}seq": int(seq),
    }
    for key, value in event.items():
        if value is not None and key not in _OWN_FIELDS:
            props[f"{EVENT_PROPERTY_PREFIX}{key}"] = value
    props[f"{EVENT_PROPERTY_PREFIX}evidence"] = json.dumps(evidence, sort_keys=True, default=str)
    body = {
        "artifactType": EVENT_ARTIFACT_TYPE,
        "name": EVENT_NAME.format(model_id=model_id, seq=int(seq)),
        "externalId": EVENT_EXTERNAL_ID.format(model_id=model_id, seq=int(seq)),
        "description": describe_lifecycle_event({**event, "seq": seq, "model": model.get("name")})[:1000],
        "state": "LIVE",
        "customProperties": {k: lifecycle_property(v) for k, v in props.items()},
    }
    uri = str(evidence.get("report_uri") or evidence.get("uri") or "").strip()
    if uri:
        body["uri"] = uri
    return body


def find_lifecycle_event(conn: RegistryConnection, model_id: str, seq: int) -> dict[str, Any] | None:
    """Event number ``seq`` of the model's log, or None when it does not exist (yet).

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        seq: The event number.

    Returns:
        The decoded event (see :func:`decode_lifecycle_event`), or None.
    """
    external_id = EVENT_EXTERNAL_ID.format(model_id=model_id, seq=int(seq))
    found = conn.call(
        f"find lifecycle event {external_id!r}",
        lambda api: api.find_artifact(external_id=external_id),
        tolerate=(404,),
    )
    return decode_lifecycle_event(found) if found else None


def _listed_events(conn: RegistryConnection, model_id: str, after_seq: int) -> dict[int, dict[str, Any]]:
    """The model's events after ``after_seq`` that a filtered listing returns, by seq (possibly with gaps)."""
    query = f'{EVENT_PROPERTY_PREFIX}model_id = "{model_id}"'
    if after_seq:
        query += f" AND {EVENT_PROPERTY_PREFIX}seq > {int(after_seq)}"
    items = conn.list_all(
        f"list lifecycle events of registered model {model_id}",
        lambda api, token: api.get_artifacts(
            filter_query=query,
            artifact_type=ArtifactTypeQueryParam(EVENT_ARTIFACT_TYPE),
            page_size="500",
            order_by="ID",
            next_page_token=token,
        ),
    )
    by_seq: dict[int, dict[str, Any]] = {}
    for item in items:
        if item.get("artifactType") != EVENT_ARTIFACT_TYPE:
            continue
        event = decode_lifecycle_event(item)
        if event.get("model_id") == model_id and event["seq"] > after_seq:
            by_seq.setdefault(event["seq"], event)
    return by_seq


def read_lifecycle_events(conn: RegistryConnection, model_id: str, *, after_seq: int = 0) -> list[dict[str, Any]]:
    """The model's audit trail, in order.

    Lists ``/artifacts`` (``artifactType=doc-artifact``) with ``filterQuery`` on ``kml_event_model_id`` (and
    ``kml_event_seq > after_seq``), keeps the model's events (also when a server ignores the filter), sorts them by
    ``seq`` and fills any gap, and looks past the end, by ``externalId`` -- so the result is complete and
    contiguous. ``/artifacts`` lists every artifact, so events that earlier releases linked to versions are read
    as well (one per ``seq``: the externalId is unique).

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        after_seq: Return only events after this one (0: all).

    Returns:
        Decoded events (see :func:`decode_lifecycle_event`) with seq ``after_seq + 1 .. N``.
    """
    model_id = str(model_id)
    by_seq = _listed_events(conn, model_id, after_seq)
    last = max(by_seq) if by_seq else after_seq
    for seq in range(after_seq + 1, last + 1):
        if seq not in by_seq:
            missing = find_lifecycle_event(conn, model_id, seq)
            if missing:
                by_seq[seq] = missing
    seq = last + 1
    while newer := find_lifecycle_event(conn, model_id, seq):  # events appended since the listing
        by_seq[seq] = newer
        seq += 1
    ordered = [by_seq[s] for s in sorted(by_seq)]
    return [e for i, e in enumerate(ordered) if e["seq"] == after_seq + 1 + i]


def append_lifecycle_event(
    conn: RegistryConnection, model: Mapping[str, Any], seq: int, event: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Append an event at position ``seq``, if that position is still free (an atomic compare-and-set).

    The event is created on its own (``POST /artifacts``; one request), never linked to its model version (see
    the module docstring). Its ``externalId`` ``kml-event:<model id>:<seq>`` is unique in the registry, so of
    concurrent writers for one ``seq`` exactly one succeeds. A writer whose answer was lost recognises its own
    event by its ``token``.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        seq: The position: one more than the last event the caller decided on.
        event: The event (see :func:`build_lifecycle_event_artifact`); must carry a unique ``token``.

    Returns:
        The stored event (decoded) when this writer got ``seq``; None when another writer took it first.

    Raises:
        RegistryError: When the request failed and the event is not there either.
    """
    model_id = str(model["id"])
    body = build_lifecycle_event_artifact(model, seq, event)
    action = f"append lifecycle event #{seq} to registered model {model.get('name')!r}"
    try:
        created = conn.call(
            action, lambda api: api.create_artifact(models.ArtifactCreate.from_dict(body)), tolerate=(409,)
        )
    except (ConnectionError, RuntimeError):
        holder = find_lifecycle_event(conn, model_id, seq)  # the answer may have been lost: is the event ours?
        if holder is None:
            raise
        return holder if holder.get("token") == event.get("token") else None
    if created:
        return decode_lifecycle_event(created)
    holder = find_lifecycle_event(conn, model_id, seq)
    if holder is not None and holder.get("token") == event.get("token"):
        return holder  # our own earlier attempt (a retried request whose first answer was lost)
    return None
