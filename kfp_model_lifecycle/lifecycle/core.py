"""The model lifecycle on the Kubeflow Model Registry: stages, aliases, approvals, audit trail, promotion.

The registry itself only knows ``LIVE``/``ARCHIVED``. Everything here is stored in the registry's own records, so
any client and the registry UI see it; every key starts with ``kml`` (see :func:`lifecycle_conventions`):

* **Audit trail (the source of truth)**: one ``doc-artifact`` per transition, linked to the model version it is
  about, with ``externalId`` ``kml-event:<model id>:<seq>``. ExternalIds are unique in the registry (a database
  constraint on both the real server and the embedded one), so creating event ``seq = N + 1`` is an atomic
  compare-and-set: of two writers that both read ``N``, one gets 409, re-reads and re-decides. The log is
  append-only and totally ordered by ``seq``.
* **Materialized view**: the state the log implies is written to ``customProperties`` (version: ``kml_stage``,
  approvals, UI labels ``kml:stage=<stage>``, ``kml:@<alias>``; model: ``kml_alias_<alias>`` -> version id,
  ``kml_production_version_id``, ``kml_event_seq``). Writers re-read the whole map before every PATCH (a PATCH
  replaces the whole map) and keep every key they do not own. A writer that died between its event and the view,
  or wrote a stale view, is repaired by the next writer or reader (:func:`sync_lifecycle_view`), which compares
  the view with the log.

Every function here is embedded into component pods with ``@dsl.component(additional_funcs=...)``: each is a
plain ``def`` that imports what it needs inside its body, uses no module-level names and only annotations that
resolve after ``from typing import *``. Pass :data:`LIFECYCLE_FUNCTIONS` (with ``REGISTRY_CLIENT_FUNCTIONS`` and
``LINEAGE_FUNCTIONS``) to ``additional_funcs``.
"""

from __future__ import annotations

import base64
import difflib
import getpass
import json
import logging
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lineage.context import RunContext, collect_run_context, is_missing_value


@dataclass
class ResolvedVersion:
    """The model version a reference points at (entities in wire form, as the registry returns them).

    Attributes:
        model: The RegisteredModel.
        version: The ModelVersion.
        artifact: Its ModelArtifact, or None (not looked up, or none linked).
        reference: The canonical ``name:version``.
        selector: How it was found, e.g. ``alias champion`` or ``stage production``.
    """

    model: dict[str, Any]
    version: dict[str, Any]
    artifact: dict[str, Any] | None
    reference: str
    selector: str


@dataclass
class CommitOutcome:
    """What :func:`commit_lifecycle_event` did.

    Attributes:
        event: The stored (or, in a dry run, planned) event; None when nothing had to change.
        decision: The last ``decide`` result.
        events: The audit trail including the new event.
        conflicts: Races lost to other writers.
    """

    event: dict[str, Any] | None
    decision: dict[str, Any]
    events: list[dict[str, Any]]
    conflicts: int


# ---------------------------------------------------------------------------------------------------------------
# Conventions (pure)
# ---------------------------------------------------------------------------------------------------------------


def lifecycle_conventions() -> dict[str, Any]:
    """The lifecycle's conventions in the registry: stages, default rules, key names.

    Returns:
        ``stages`` (in lifecycle order), ``default_transitions`` (stage -> stages it may move to),
        ``default_demote_to``, ``approval_statuses``, ``reserved_aliases`` (stage names and ``latest``: they are
        pseudo-aliases in references), ``prefix`` and the key names used on versions, models and events.
    """
    return {
        "prefix": "kml",
        "stages": ["development", "staging", "production", "archived"],
        "initial_stage": "development",
        "default_transitions": {
            "development": ["staging", "production", "archived"],
            "staging": ["development", "production", "archived"],
            "production": ["staging", "archived"],
            "archived": ["staging", "production"],
        },
        "default_demote_to": "archived",
        "approval_statuses": ["pending", "approved", "rejected"],
        "reserved_aliases": ["development", "staging", "production", "archived", "latest"],
        # ModelVersion customProperties
        "version_stage": "kml_stage",
        "version_stage_time": "kml_stage_time",
        "version_approval_status": "kml_approval_status",
        "version_approval_by": "kml_approval_by",
        "version_approval_comment": "kml_approval_comment",
        "version_approval_time": "kml_approval_time",
        "label_stage": "kml:stage={stage}",
        "label_alias": "kml:@{alias}",
        "label_approval": "kml:approval={status}",
        # RegisteredModel customProperties
        "model_alias": "kml_alias_{alias}",
        "model_production_version_id": "kml_production_version_id",
        "model_event_seq": "kml_event_seq",
        "model_requires_approval": "kml_requires_approval",
        "model_allowed_transitions": "kml_allowed_transitions",
        "model_demote_to": "kml_demote_to",
        # Audit events (doc-artifacts)
        "event_external_id": "kml-event:{model_id}:{seq}",
        "event_name": "kml-event-{model_id}-{seq:08d}",
        "event_types": ["stage", "alias", "approval", "rejection", "policy", "deployment"],
    }


def utc_timestamp() -> str:
    """The current time in UTC as ISO 8601 with milliseconds, e.g. ``2026-05-04T10:20:30.123Z``.

    Times are stored as strings: they read well in the registry UI and sort correctly as text (the registry
    client accepts only 32-bit integers, too small for epoch milliseconds).

    Returns:
        The timestamp.
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_lifecycle_key(key: str) -> bool:
    """Whether a ``customProperties`` key belongs to the lifecycle (``kml_...`` data or a ``kml:...`` label).

    Args:
        key: A custom property name.

    Returns:
        True for keys this module owns and rewrites; all other keys are preserved on every write.
    """
    return isinstance(key, str) and (key.startswith("kml_") or key.startswith("kml:"))


def lifecycle_property(value: Any) -> dict[str, Any]:
    """A Python value in the registry's ``MetadataValue`` wire form.

    Args:
        value: bool, int, float or str (anything else is stored as its JSON text).

    Returns:
        e.g. ``{"string_value": "production", "metadataType": "MetadataStringValue"}``.
    """
    if isinstance(value, bool):
        return {"bool_value": value, "metadataType": "MetadataBoolValue"}
    if isinstance(value, int):
        return {"int_value": str(value), "metadataType": "MetadataIntValue"}
    if isinstance(value, float):
        return {"double_value": value, "metadataType": "MetadataDoubleValue"}
    if isinstance(value, str):
        return {"string_value": value, "metadataType": "MetadataStringValue"}
    return {"string_value": json.dumps(value, sort_keys=True, default=str), "metadataType": "MetadataStringValue"}


def lifecycle_property_value(meta: Any) -> Any:
    """The Python value of a ``MetadataValue`` in wire form (the inverse of :func:`lifecycle_property`).

    Args:
        meta: e.g. ``{"int_value": "3", "metadataType": "MetadataIntValue"}``.

    Returns:
        str, int, float, bool, a dict for struct values, or None when unknown.
    """
    if not isinstance(meta, Mapping):
        return None
    kind = meta.get("metadataType")
    if kind == "MetadataStringValue" or (kind is None and "string_value" in meta):
        return meta.get("string_value")
    if kind == "MetadataIntValue":
        try:
            return int(meta.get("int_value"))
        except (TypeError, ValueError):
            return None
    if kind == "MetadataDoubleValue":
        return meta.get("double_value")
    if kind == "MetadataBoolValue":
        return bool(meta.get("bool_value"))
    if kind == "MetadataStructValue":
        try:
            return json.loads(base64.b64decode(meta.get("struct_value") or ""))
        except ValueError:
            return None
    return None


def plain_properties(entity: Mapping[str, Any] | None) -> dict[str, Any]:
    """An entity's ``customProperties`` as plain Python values.

    Args:
        entity: A RegisteredModel, ModelVersion or Artifact in wire form (or None).

    Returns:
        Property name -> value (see :func:`lifecycle_property_value`).
    """
    props = (entity or {}).get("customProperties") or {}
    return {str(k): lifecycle_property_value(v) for k, v in props.items()}


def check_stage_name(stage: str, what: str = "stage") -> str:
    """Validate a stage name.

    Args:
        stage: e.g. ``production`` (case-insensitive, surrounding white space ignored).
        what: The input it came from, for the message.

    Returns:
        The stage in lower case.

    Raises:
        ValueError: For an unknown stage; the message lists the stages.
    """
    stages = lifecycle_conventions()["stages"]
    name = (stage or "").strip().lower()
    if name not in stages:
        raise ValueError(f"{what} {stage!r} is not a lifecycle stage: use one of {', '.join(stages)}")
    return name


def check_alias_name(alias: str) -> str:
    """Validate an alias name.

    Aliases are like MLflow's: letters, digits, ``_`` and ``-``, at most 64 characters, starting with a letter or
    digit; stage names and ``latest`` are reserved because ``name@production`` and ``name@latest`` already mean
    something in references.

    Args:
        alias: e.g. ``champion`` (a leading ``@`` is accepted and dropped).

    Returns:
        The alias.

    Raises:
        ValueError: For an invalid or reserved name.
    """
    name = (alias or "").strip()
    if name.startswith("@"):
        name = name[1:]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise ValueError(
            f"alias {alias!r} is not a valid alias name: use 1-64 letters, digits, '_' or '-', starting with a"
            " letter or digit, e.g. 'champion' or 'challenger-2'"
        )
    if name.lower() in lifecycle_conventions()["reserved_aliases"]:
        raise ValueError(
            f"alias {name!r} is reserved: stage names and 'latest' already resolve in references (name@{name});"
            " pick another alias name, e.g. 'champion'"
        )
    return name


def parse_model_reference(reference: str, default_model: str = "") -> dict[str, str]:
    """Split a model reference into model name and selector.

    Forms: ``name`` (the production version), ``name:VERSION`` (a version name), ``name@ALIAS`` (an alias),
    ``name@production``/``@staging``/``@development``/``@archived`` (the newest version in that stage),
    ``name@latest`` (the newest version). With ``default_model``, the name may be left out: ``:1.0.3``,
    ``@champion``, ``""``. Model names containing ``:`` or ``@`` cannot be written as references: pass the model
    name and version separately.

    Args:
        reference: The reference.
        default_model: Model name used when the reference has none.

    Returns:
        ``model``, ``kind`` (``default``, ``version``, ``alias``, ``stage`` or ``latest``) and ``value`` (the
        version name, alias or stage; "" for ``default``).

    Raises:
        ValueError: For an empty reference without ``default_model``, or an empty version or alias.
    """
    text = (reference or "").strip()
    stages = lifecycle_conventions()["stages"]
    model, kind, value = text, "default", ""
    if "@" in text:
        model, _, value = text.rpartition("@")
        value = value.strip()
        if not value:
            raise ValueError(f"model reference {reference!r} ends with '@': write name@ALIAS, e.g. 'iris@champion'")
        if value.lower() in stages:
            kind, value = "stage", value.lower()
        elif value.lower() == "latest":
            kind, value = "latest", "latest"
        else:
            kind = "alias"
    elif ":" in text:
        model, _, value = text.partition(":")
        value = value.strip()
        if not value:
            raise ValueError(f"model reference {reference!r} ends with ':': write name:VERSION, e.g. 'iris:1.0.3'")
        kind = "version"
    model = model.strip() or (default_model or "").strip()
    if not model:
        raise ValueError(
            f"model reference {reference!r} names no model: write 'name', 'name:VERSION' or 'name@ALIAS'"
            " (e.g. 'iris-classifier@champion')"
        )
    return {"model": model, "kind": kind, "value": value}


def format_model_reference(model_name: str, version_name: str) -> str:
    """The canonical reference ``name:version`` of a model version.

    Args:
        model_name: Registered model name.
        version_name: Version name.

    Returns:
        ``name:version`` ("" when either is empty).
    """
    if not model_name or not version_name:
        return ""
    return f"{model_name}:{version_name}"


def parse_allowed_transitions(value: Any) -> dict[str, list[str]]:
    """The allowed stage transitions: a JSON object (or dict) mapping a stage to the stages it may move to.

    Args:
        value: e.g. ``'{"development": ["staging"], "staging": ["production", "development"]}'``; stages missing
            from the object may not move at all. Empty/None means the default (see
            :func:`lifecycle_conventions`).

    Returns:
        stage -> allowed target stages.

    Raises:
        ValueError: For invalid JSON or unknown stage names.
    """
    conventions = lifecycle_conventions()
    if value is None or (isinstance(value, str) and not value.strip()):
        return {k: list(v) for k, v in conventions["default_transitions"].items()}
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ValueError(
                f"allowed transitions {value[:200]!r} is not valid JSON ({exc}): write an object such as"
                ' {"development": ["staging"], "staging": ["production", "development"]}'
            ) from None
    if not isinstance(data, Mapping):
        raise ValueError(
            "allowed transitions must be a JSON object mapping a stage to a list of stages, e.g."
            ' {"development": ["staging"], "staging": ["production"]}'
        )
    result: dict[str, list[str]] = {}
    for source, targets in data.items():
        src = check_stage_name(str(source), "stage in allowed transitions")
        if isinstance(targets, str):
            targets = [targets]
        result[src] = [check_stage_name(str(t), f"target of {src!r} in allowed transitions") for t in targets or []]
    return result


def lifecycle_policy(model: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model's lifecycle policy from its ``customProperties`` (with defaults).

    Args:
        model: The RegisteredModel in wire form.

    Returns:
        ``requires_approval`` (bool), ``allowed_transitions`` (stage -> stages), ``demote_to`` (stage),
        ``custom_transitions`` (True when the model sets its own).

    Raises:
        ValueError: When the model's policy properties are invalid (the message names the property to fix).
    """
    conventions = lifecycle_conventions()
    props = plain_properties(model)
    raw_required = props.get(conventions["model_requires_approval"])
    if isinstance(raw_required, str):
        requires = raw_required.strip().lower() in ("true", "1", "yes")
    else:
        requires = bool(raw_required)
    raw_transitions = props.get(conventions["model_allowed_transitions"])
    try:
        transitions = parse_allowed_transitions(raw_transitions)
    except ValueError as exc:
        raise ValueError(
            f"registered model {(model or {}).get('name')!r} has an invalid"
            f" {conventions['model_allowed_transitions']} property: {exc}"
        ) from None
    demote_to = str(props.get(conventions["model_demote_to"]) or "").strip() or conventions["default_demote_to"]
    demote_to = check_stage_name(demote_to, f"{conventions['model_demote_to']} of the registered model")
    return {
        "requires_approval": requires,
        "allowed_transitions": transitions,
        "demote_to": demote_to,
        "custom_transitions": bool(raw_transitions),
    }


# ---------------------------------------------------------------------------------------------------------------
# Reading the registry
# ---------------------------------------------------------------------------------------------------------------


def find_model_by_name(conn: RegistryConnection, model_name: str) -> dict[str, Any]:
    """The RegisteredModel named ``model_name``.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The model's name.

    Returns:
        The RegisteredModel in wire form.

    Raises:
        LookupError: When there is no such model; the message lists similar names.
    """
    found = conn.call(
        f"find registered model {model_name!r}",
        lambda api: api.find_registered_model(name=model_name),
        tolerate=(404,),
    )
    if found:
        return found
    names = [
        str(m.get("name") or "")
        for m in conn.list_all(
            "list registered models",
            lambda api, token: api.get_registered_models(page_size="500", next_page_token=token),
        )
    ]
    close = difflib.get_close_matches(model_name, names, n=5, cutoff=0.6)
    lowered = [n for n in names if n.lower() == model_name.lower() and n not in close]
    hint = close + lowered
    if hint:
        suggestion = f"did you mean {', '.join(repr(n) for n in hint)}?"
    elif names:
        suggestion = "`kml models list` shows the registered models"
    else:
        suggestion = "the registry has no models yet: register one first (register_model component)"
    raise LookupError(f"no registered model named {model_name!r} in the Model Registry at {conn.url}: {suggestion}")


def list_model_versions(conn: RegistryConnection, model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All versions of a registered model, oldest first.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.

    Returns:
        ModelVersions in wire form, by id.
    """
    model_id = str(model["id"])
    items = conn.list_all(
        f"list versions of model {model.get('name')!r}",
        lambda api, token: api.get_registered_model_versions(
            model_id, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    return sorted(items, key=lambda v: int(v.get("id") or 0))


def find_model_version(conn: RegistryConnection, model: Mapping[str, Any], version_name: str) -> dict[str, Any]:
    """The version named ``version_name`` of ``model``.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        version_name: The version's name.

    Returns:
        The ModelVersion in wire form.

    Raises:
        LookupError: When there is no such version; the message lists similar and recent version names.
    """
    model_id = str(model["id"])
    found = conn.call(
        f"find version {version_name!r} of model {model.get('name')!r}",
        lambda api: api.find_model_version(name=version_name, parent_resource_id=model_id),
        tolerate=(404,),
    )
    if found:
        return found
    names = [str(v.get("name") or "") for v in list_model_versions(conn, model)]
    close = difflib.get_close_matches(version_name, names, n=5, cutoff=0.5)
    if close:
        hint = f"did you mean {', '.join(repr(n) for n in close)}?"
    elif names:
        hint = f"its newest versions are {', '.join(repr(n) for n in names[-5:])}"
    else:
        hint = "it has no versions yet"
    raise LookupError(f"registered model {model.get('name')!r} has no version named {version_name!r}: {hint}")


def get_model_version_by_id(conn: RegistryConnection, version_id: str) -> dict[str, Any] | None:
    """The ModelVersion with this id, or None.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The version id.

    Returns:
        The ModelVersion in wire form, or None when it does not exist.
    """
    if not version_id:
        return None
    return conn.call(
        f"get model version {version_id}",
        lambda api: api.get_model_version(str(version_id)),
        tolerate=(404,),
    )


def find_model_artifact(conn: RegistryConnection, version: Mapping[str, Any]) -> dict[str, Any] | None:
    """The version's model artifact (the first ``model-artifact`` linked to it), or None.

    Args:
        conn: From ``connect_model_registry``.
        version: The ModelVersion in wire form.

    Returns:
        The ModelArtifact in wire form, or None.
    """
    version_id = str(version["id"])
    items = conn.list_all(
        f"list artifacts of model version {version_id}",
        lambda api, token: api.get_model_version_artifacts(version_id, page_size="500", next_page_token=token),
    )
    models = [a for a in items if a.get("artifactType") == "model-artifact"]
    return sorted(models, key=lambda a: int(a.get("id") or 0))[0] if models else None


# ---------------------------------------------------------------------------------------------------------------
# The audit trail (events)
# ---------------------------------------------------------------------------------------------------------------


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
    props = plain_properties(artifact)
    event: dict[str, Any] = {"artifact_id": str(artifact.get("id") or ""), "uri": artifact.get("uri") or ""}
    for key, value in props.items():
        if key.startswith("kml_event_"):
            event[key[len("kml_event_") :]] = value
    try:
        event["seq"] = int(event.get("seq") or 0)
    except (TypeError, ValueError):
        event["seq"] = 0
    raw = event.get("evidence")
    if isinstance(raw, str) and raw.strip():
        try:
            event["evidence"] = json.loads(raw)
        except ValueError:
            event["evidence"] = {"text": raw}
    elif not isinstance(raw, dict):
        event["evidence"] = {}
    for key in ("rollback",):
        event[key] = bool(event.get(key))
    for key in ("type", "model_id", "version_id", "version", "from", "to", "actor", "reason", "token", "time"):
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
        The request body (``artifactType: doc-artifact``) for ``POST /model_versions/{id}/artifacts`` or
        ``POST /artifacts``; its ``uri`` is the evidence's report URI when there is one.
    """
    conventions = lifecycle_conventions()
    model_id = str(model["id"])
    evidence = dict(event.get("evidence") or {})
    props: dict[str, Any] = {
        "kml_event_model_id": model_id,
        "kml_event_model": str(model.get("name") or ""),
        "kml_event_seq": int(seq),
    }
    for key, value in event.items():
        if value is None or key in ("evidence", "seq", "model_id", "model"):
            continue
        props[f"kml_event_{key}"] = value
    props["kml_event_evidence"] = json.dumps(evidence, sort_keys=True, default=str)
    body = {
        "artifactType": "doc-artifact",
        "name": conventions["event_name"].format(model_id=model_id, seq=int(seq)),
        "externalId": conventions["event_external_id"].format(model_id=model_id, seq=int(seq)),
        "description": describe_lifecycle_event({**event, "seq": seq, "model": model.get("name")})[:1000],
        "state": "LIVE",
        "customProperties": {k: lifecycle_property(v) for k, v in props.items()},
    }
    uri = str(evidence.get("report_uri") or evidence.get("uri") or "").strip()
    if uri:
        body["uri"] = uri
    return body


def describe_lifecycle_event(event: Mapping[str, Any]) -> str:
    """One line describing an event, for logs, the UI (the doc-artifact's description) and ``kml models history``.

    Args:
        event: A decoded event (see :func:`decode_lifecycle_event`) or an event being built.

    Returns:
        e.g. ``#12 stage 1.0.3: staging -> production (demoted 1.0.2 to archived) by kfp-run:train-x: better``.
    """
    kind = event.get("type") or "?"
    version = event.get("version") or event.get("version_id") or "-"
    src, dst = event.get("from") or "", event.get("to") or ""
    if kind == "stage":
        what = f"stage {version}: {src or '(none)'} -> {dst}"
        if event.get("demoted_version"):
            what += f" (demoted {event['demoted_version']} to {event.get('demoted_to') or '?'})"
        if event.get("rollback"):
            what += " [rollback]"
    elif kind == "alias":
        alias = event.get("alias") or "?"
        if dst:
            what = f"alias @{alias}: {src or '(unset)'} -> {dst}"
        else:
            what = f"alias @{alias}: removed from {src or version}"
    elif kind == "approval":
        what = f"approval {version}: {src or 'none'} -> {dst}"
    elif kind == "rejection" and (event.get("requested") or event.get("refusal")):
        refusal = str(event.get("refusal") or "").split(". ")[0].strip()
        what = f"refused {event.get('requested') or dst} for {version}" + (f" ({refusal})" if refusal else "")
    elif kind == "rejection":  # e.g. a challenger that lost its comparison (record_model_event)
        what = f"rejected {version}" + (f": {src or '-'} -> {dst}" if src or dst else "")
    elif kind == "policy":
        what = f"policy: {src or '(default)'} -> {dst}"
    elif kind == "deployment":
        target = event.get("target") or (dst if dst not in ("", "deployed", "undeployed") else "?")
        if dst == "undeployed":
            what = f"undeployed {version} from {target}"
        else:
            what = f"deployed {version} to {target}" + (f" (replacing {src})" if src and src != version else "")
            what += " [rollback]" if event.get("rollback") else ""
    else:
        what = f"{kind} {version}" + (f": {src or '-'} -> {dst}" if src or dst else "")
    seq = event.get("seq")
    head = f"#{seq} " if seq else ""
    actor = event.get("actor") or "unknown"
    reason = (event.get("reason") or "").strip()
    return f"{head}{what} by {actor}" + (f": {reason}" if reason else "")


def find_lifecycle_event(conn: RegistryConnection, model_id: str, seq: int) -> dict[str, Any] | None:
    """Event number ``seq`` of the model's log, or None when it does not exist (yet).

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        seq: The event number.

    Returns:
        The decoded event (see :func:`decode_lifecycle_event`), or None.
    """
    external_id = lifecycle_conventions()["event_external_id"].format(model_id=model_id, seq=int(seq))
    found = conn.call(
        f"find lifecycle event {external_id!r}",
        lambda api: api.find_artifact(external_id=external_id),
        tolerate=(404,),
    )
    return decode_lifecycle_event(found) if found else None


def read_lifecycle_events(conn: RegistryConnection, model_id: str, *, after_seq: int = 0) -> list[dict[str, Any]]:
    """The model's audit trail, in order.

    Lists ``/artifacts`` with ``filterQuery`` on ``kml_event_model_id`` (and ``kml_event_seq > after_seq``),
    keeps the model's events (also when a server ignores the filter), sorts them by ``seq`` and fills any gap, and
    looks past the end, by ``externalId`` -- so the result is complete and contiguous.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        after_seq: Return only events after this one (0: all).

    Returns:
        Decoded events (see :func:`decode_lifecycle_event`) with seq ``after_seq + 1 .. N``.
    """
    model_id = str(model_id)
    query = f'kml_event_model_id = "{model_id}"'
    if after_seq:
        query += f" AND kml_event_seq > {int(after_seq)}"
    items = conn.list_all(
        f"list lifecycle events of registered model {model_id}",
        lambda api, token: api.get_artifacts(filter_query=query, page_size="500", order_by="ID", next_page_token=token),
    )
    by_seq: dict[int, dict[str, Any]] = {}
    for item in items:
        if item.get("artifactType") != "doc-artifact":
            continue
        event = decode_lifecycle_event(item)
        if event.get("model_id") == model_id and event["seq"] > after_seq:
            by_seq.setdefault(event["seq"], event)
    last = max(by_seq) if by_seq else after_seq
    for seq in range(after_seq + 1, last + 1):
        if seq not in by_seq:
            missing = find_lifecycle_event(conn, model_id, seq)
            if missing:
                by_seq[seq] = missing
    seq = last + 1
    while True:  # events appended since the listing
        newer = find_lifecycle_event(conn, model_id, seq)
        if not newer:
            break
        by_seq[seq] = newer
        seq += 1
    ordered = [by_seq[s] for s in sorted(by_seq)]
    return [e for i, e in enumerate(ordered) if e["seq"] == after_seq + 1 + i]


def append_lifecycle_event(
    conn: RegistryConnection, model: Mapping[str, Any], seq: int, event: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Append an event at position ``seq``, if that position is still free (an atomic compare-and-set).

    The event is created already linked to its model version (``POST /model_versions/{id}/artifacts``; one
    request), or standalone (``POST /artifacts``) when it has no version. Its ``externalId``
    ``kml-event:<model id>:<seq>`` is unique in the registry, so of concurrent writers for one ``seq`` exactly
    one succeeds. A writer whose answer was lost recognises its own event by its ``token``.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        seq: The position: one more than the last event the caller decided on.
        event: The event (see :func:`build_lifecycle_event_artifact`); must carry a unique ``token``.

    Returns:
        The stored event (decoded) when this writer got ``seq``; None when another writer took it first.
    """
    model_id = str(model["id"])
    body = build_lifecycle_event_artifact(model, seq, event)
    version_id = str(event.get("version_id") or "")
    action = f"append lifecycle event #{seq} to registered model {model.get('name')!r}"
    try:
        if version_id:
            created = conn.call(
                action,
                lambda api: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(body)),
                tolerate=(409,),
            )
        else:
            created = conn.call(
                action,
                lambda api: api.create_artifact(models.ArtifactCreate.from_dict(body)),
                tolerate=(409,),
            )
    except (ConnectionError, RuntimeError):
        created = None  # the answer may have been lost: look below whether the event is ours
        holder = find_lifecycle_event(conn, model_id, seq)
        if holder is None:
            raise
        return holder if holder.get("token") == event.get("token") else None
    if created:
        return decode_lifecycle_event(created)
    holder = find_lifecycle_event(conn, model_id, seq)
    if holder is not None and holder.get("token") == event.get("token"):
        return holder  # our own earlier attempt (a retried request whose first answer was lost)
    return None


# ---------------------------------------------------------------------------------------------------------------
# State: the fold of the log, and the view written from it
# ---------------------------------------------------------------------------------------------------------------


def fold_lifecycle_events(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The lifecycle state implied by a model's events (applied in ``seq`` order).

    Args:
        events: Decoded events (see :func:`decode_lifecycle_event`), in order.

    Returns:
        ``last_seq``; ``versions``: version id -> ``{"version", "stage", "stage_time", "stage_seq", "approval"
        (dict or None), "rolled_back"}``; ``aliases``: alias -> version id; ``production``: the production version
        id or ""; ``production_history``: ``[{"version_id", "version", "seq", "time", "rollback"}]`` each time a
        version became production.
    """
    conventions = lifecycle_conventions()
    state: dict[str, Any] = {
        "last_seq": 0,
        "versions": {},
        "aliases": {},
        "production": "",
        "production_history": [],
    }

    def entry(version_id: str, name: str = "") -> dict[str, Any]:
        item = state["versions"].setdefault(
            version_id,
            {"version": name, "stage": "", "stage_time": "", "stage_seq": 0, "approval": None, "rolled_back": False},
        )
        if name:
            item["version"] = name
        return item

    for event in events:
        seq = int(event.get("seq") or 0)
        state["last_seq"] = max(state["last_seq"], seq)
        kind = event.get("type")
        vid = str(event.get("version_id") or "")
        when = str(event.get("time") or "")
        if kind == "stage" and vid:
            target = str(event.get("to") or "")
            if target not in conventions["stages"]:
                continue
            item = entry(vid, str(event.get("version") or ""))
            if target == "production":
                demoted = str(event.get("demoted_version_id") or "")
                holder = state["production"]
                for old in {d for d in (demoted, holder) if d and d != vid}:
                    old_item = entry(old, str(event.get("demoted_version") or "") if old == demoted else "")
                    if old_item["stage"] == "production" or old == holder:
                        old_item.update(
                            stage=str(event.get("demoted_to") or conventions["default_demote_to"]),
                            stage_time=when,
                            stage_seq=seq,
                        )
                        if event.get("rollback"):
                            old_item["rolled_back"] = True
                state["production"] = vid
                item["rolled_back"] = False
                state["production_history"].append(
                    {
                        "version_id": vid,
                        "version": item["version"],
                        "seq": seq,
                        "time": when,
                        "rollback": bool(event.get("rollback")),
                    }
                )
            elif state["production"] == vid:
                state["production"] = ""
            item.update(stage=target, stage_time=when, stage_seq=seq)
        elif kind == "alias":
            alias = str(event.get("alias") or "")
            if not alias:
                continue
            if event.get("to") and vid:
                entry(vid, str(event.get("version") or ""))
                state["aliases"][alias] = vid
            else:
                state["aliases"].pop(alias, None)
        elif kind == "approval" and vid:
            entry(vid, str(event.get("version") or ""))["approval"] = {
                "status": str(event.get("to") or ""),
                "by": str(event.get("actor") or ""),
                "comment": str(event.get("reason") or ""),
                "time": when,
                "seq": seq,
            }
    return state


def version_lifecycle(state: Mapping[str, Any], version_id: str) -> dict[str, Any]:
    """One version's lifecycle in a folded state.

    Args:
        state: From :func:`fold_lifecycle_events`.
        version_id: The version id.

    Returns:
        ``stage`` (``development`` when it never moved), ``stage_time``, ``aliases`` (sorted), ``approval``
        (dict or None), ``is_production``.
    """
    item = (state.get("versions") or {}).get(str(version_id)) or {}
    return {
        "stage": item.get("stage") or lifecycle_conventions()["initial_stage"],
        "stage_time": str(item.get("stage_time") or ""),
        "aliases": sorted(a for a, v in (state.get("aliases") or {}).items() if v == str(version_id)),
        "approval": item.get("approval"),
        "is_production": state.get("production") == str(version_id),
    }


def version_view_properties(version: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The version's ``customProperties`` with its lifecycle keys set from ``state`` (wire form).

    Keys that are not lifecycle keys (see :func:`is_lifecycle_key`) are kept as they are.

    Args:
        version: The ModelVersion in wire form (its current properties).
        state: From :func:`fold_lifecycle_events`.

    Returns:
        The complete new ``customProperties`` map.
    """
    conventions = lifecycle_conventions()
    current = dict(version.get("customProperties") or {})
    props = {k: v for k, v in current.items() if not is_lifecycle_key(k)}
    vid = str(version["id"])
    item = (state.get("versions") or {}).get(vid)
    if item and item.get("stage"):
        props[conventions["version_stage"]] = lifecycle_property(item["stage"])
        props[conventions["version_stage_time"]] = lifecycle_property(str(item.get("stage_time") or ""))
        props[conventions["label_stage"].format(stage=item["stage"])] = lifecycle_property("")
    for alias, holder in (state.get("aliases") or {}).items():
        if holder == vid:
            props[conventions["label_alias"].format(alias=alias)] = lifecycle_property("")
    approval = (item or {}).get("approval")
    if approval:
        props[conventions["version_approval_status"]] = lifecycle_property(approval["status"])
        props[conventions["version_approval_by"]] = lifecycle_property(approval.get("by") or "")
        props[conventions["version_approval_comment"]] = lifecycle_property(approval.get("comment") or "")
        props[conventions["version_approval_time"]] = lifecycle_property(str(approval.get("time") or ""))
        props[conventions["label_approval"].format(status=approval["status"])] = lifecycle_property("")
    return props


def version_view_state(version: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """The version's registry ``state`` (LIVE/ARCHIVED) as the lifecycle wants it.

    ``archived`` sets ARCHIVED. A version leaving ``archived`` goes back to LIVE, and so does a production version;
    otherwise the state is left alone (an ARCHIVED set by a person in the UI stays).

    Args:
        version: The ModelVersion in wire form.
        state: From :func:`fold_lifecycle_events`.

    Returns:
        ``ARCHIVED``, ``LIVE`` or the current state.
    """
    current = str(version.get("state") or "LIVE")
    item = (state.get("versions") or {}).get(str(version["id"])) or {}
    stage = item.get("stage") or ""
    if stage == "archived":
        return "ARCHIVED"
    shown = plain_properties(version).get(lifecycle_conventions()["version_stage"])
    if current == "ARCHIVED" and (shown == "archived" or stage == "production"):
        return "LIVE"
    return current


def is_model_view_key(key: str) -> bool:
    """Whether a RegisteredModel property is written by :func:`sync_lifecycle_view` (policy keys are not).

    Args:
        key: A custom property name.

    Returns:
        True for ``kml_alias_*``, ``kml_production_version_id`` and ``kml_event_seq``.
    """
    conventions = lifecycle_conventions()
    return key.startswith("kml_alias_") or key in (
        conventions["model_production_version_id"],
        conventions["model_event_seq"],
    )


def model_view_properties(model: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The model's ``customProperties`` with its view keys set from ``state`` (wire form); other keys are kept.

    Args:
        model: The RegisteredModel in wire form.
        state: From :func:`fold_lifecycle_events`.

    Returns:
        The complete new ``customProperties`` map.
    """
    conventions = lifecycle_conventions()
    props = {k: v for k, v in dict(model.get("customProperties") or {}).items() if not is_model_view_key(k)}
    for alias, holder in sorted((state.get("aliases") or {}).items()):
        props[conventions["model_alias"].format(alias=alias)] = lifecycle_property(str(holder))
    if state.get("production"):
        props[conventions["model_production_version_id"]] = lifecycle_property(str(state["production"]))
    props[conventions["model_event_seq"]] = lifecycle_property(int(state.get("last_seq") or 0))
    return props


def same_properties(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two ``customProperties`` maps hold the same values (wire-form details like int-as-string ignored).

    Args:
        a: A map in wire form.
        b: Another one.

    Returns:
        True when they have the same keys and values.
    """
    a, b = dict(a or {}), dict(b or {})
    if set(a) != set(b):
        return False
    return all(lifecycle_property_value(a[k]) == lifecycle_property_value(b[k]) for k in a)


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
        ``state`` (the fold), ``events`` (the log), ``model`` (as written), ``patched`` (version ids written) and
        ``rounds``.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    model_id = str(model["id"])
    patched: list[str] = []
    log_events = list(events) if events is not None else read_lifecycle_events(conn, model_id)
    current_model = dict(model)
    state = fold_lifecycle_events(log_events)
    for round_no in range(1, max_rounds + 1):
        state = fold_lifecycle_events(log_events)
        for listed in list_model_versions(conn, current_model):
            if same_properties(
                version_view_properties(listed, state), listed.get("customProperties")
            ) and version_view_state(listed, state) == (listed.get("state") or "LIVE"):
                continue
            fresh = get_model_version_by_id(conn, str(listed["id"])) or listed
            props = version_view_properties(fresh, state)
            new_state = version_view_state(fresh, state)
            if same_properties(props, fresh.get("customProperties")) and new_state == (fresh.get("state") or "LIVE"):
                continue
            body = {"customProperties": props, "state": new_state}
            vid = str(fresh["id"])
            conn.call(
                f"update lifecycle properties of model version {vid}",
                lambda api, b=body, v=vid: api.update_model_version(v, models.ModelVersionUpdate.from_dict(b)),
            )
            patched.append(vid)
        fresh_model = (
            conn.call(
                f"get registered model {model_id}",
                lambda api: api.get_registered_model(model_id),
            )
            or current_model
        )
        props = model_view_properties(fresh_model, state)
        current_model = fresh_model
        if not same_properties(props, fresh_model.get("customProperties")):
            body = {"customProperties": props}
            current_model = (
                conn.call(
                    f"update lifecycle properties of registered model {model.get('name')!r}",
                    lambda api, b=body: api.update_registered_model(
                        model_id, models.RegisteredModelUpdate.from_dict(b)
                    ),
                )
                or fresh_model
            )
        newer = read_lifecycle_events(conn, model_id, after_seq=state["last_seq"])
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


def repair_lifecycle_view_if_stale(conn: RegistryConnection, model: Mapping[str, Any]) -> dict[str, Any]:
    """Cheap check that the model's view includes the whole log; repair it when it does not.

    One request when all is well: whether event ``kml_event_seq + 1`` exists.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.

    Returns:
        The (possibly updated) RegisteredModel.
    """
    seen = plain_properties(model).get(lifecycle_conventions()["model_event_seq"])
    try:
        seen = int(seen or 0)
    except (TypeError, ValueError):
        seen = 0
    if find_lifecycle_event(conn, str(model["id"]), seen + 1) is None:
        return dict(model)
    logging.getLogger("kfp_model_lifecycle").info(
        "the lifecycle view of %r is behind its log (view at #%d): repairing it", model.get("name"), seen
    )
    return sync_lifecycle_view(conn, model)["model"]


# ---------------------------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------------------------


def resolve_model_reference(
    conn: RegistryConnection,
    reference: str,
    *,
    default_model: str = "",
    repair: bool = True,
    with_artifact: bool = True,
) -> ResolvedVersion:
    """Find the model version a reference points at.

    References: ``name`` (the production version), ``name:VERSION``, ``name@ALIAS``, ``name@production`` (same as
    ``name``), ``name@staging``/``@development``/``@archived`` (the version most recently moved to that stage),
    ``name@latest`` (the newest version). Aliases and the production pointer are read from the model's properties
    after checking they include the whole audit trail (``repair``).

    Args:
        conn: From ``connect_model_registry``.
        reference: The reference.
        default_model: Model name for references without one (``@champion``, ``:1.0.3``, "").
        repair: Repair a stale lifecycle view first (one extra request when it is current). False reads only.
        with_artifact: Also look up the version's model artifact.

    Returns:
        The model, version and (with ``with_artifact``) model artifact, with the canonical reference.

    Raises:
        LookupError: Unknown model (similar names listed), version, alias (existing aliases listed), or no
            version in the requested stage.
        ValueError: For a malformed reference.
    """
    conventions = lifecycle_conventions()
    ref = parse_model_reference(reference, default_model)
    model = find_model_by_name(conn, ref["model"])
    if repair:
        model = repair_lifecycle_view_if_stale(conn, model)
    props = plain_properties(model)
    name = str(model.get("name") or ref["model"])
    kind, value = ref["kind"], ref["value"]
    version: dict[str, Any] | None = None
    if kind == "version":
        version = find_model_version(conn, model, value)
        selector = f"version {value}"
    elif kind == "alias":
        alias = check_alias_name(value)
        holder = str(props.get(conventions["model_alias"].format(alias=alias)) or "")
        existing = sorted(k[len("kml_alias_") :] for k in props if k.startswith("kml_alias_"))
        if not holder:
            hint = f"its aliases are {', '.join('@' + a for a in existing)}" if existing else "it has no aliases yet"
            raise LookupError(
                f"registered model {name!r} has no alias {alias!r}: {hint}; set one with promote_model (aliases=...)"
                f" or `kml models promote {name}:VERSION --alias {alias}`"
            )
        version = get_model_version_by_id(conn, holder)
        if version is None:
            raise LookupError(
                f"alias {name}@{alias} points at model version id {holder}, which does not exist: set the alias"
                f" again (`kml models promote {name}:VERSION --alias {alias}`)"
            )
        selector = f"alias {alias}"
    elif kind in ("default", "stage") and (value or "production") == "production":
        holder = str(props.get(conventions["model_production_version_id"]) or "")
        if not holder:
            raise LookupError(
                f"registered model {name!r} has no version in production, so {reference!r} points at nothing:"
                f" reference a version ({name}:VERSION) or an alias ({name}@ALIAS), or promote a version first"
                f" (`kml models promote {name}:VERSION --stage production`)"
            )
        version = get_model_version_by_id(conn, holder)
        if version is None:
            raise LookupError(
                f"the production pointer of {name!r} names model version id {holder}, which does not exist:"
                f" promote a version to production again"
            )
        selector = "stage production"
    elif kind == "stage":
        candidates = [
            v
            for v in list_model_versions(conn, model)
            if plain_properties(v).get(conventions["version_stage"]) == value
        ]
        if not candidates:
            raise LookupError(
                f"registered model {name!r} has no version in stage {value!r}: `kml models show {name}` lists its"
                " versions and stages"
            )
        version = max(
            candidates,
            key=lambda v: (str(plain_properties(v).get(conventions["version_stage_time"]) or ""), int(v["id"])),
        )
        selector = f"stage {value}"
    else:  # latest
        versions = list_model_versions(conn, model)
        if not versions:
            raise LookupError(f"registered model {name!r} has no versions yet: register one first")
        version = versions[-1]
        selector = "latest"
    if str(version.get("registeredModelId") or model["id"]) != str(model["id"]):
        raise LookupError(
            f"{reference!r} resolved to model version id {version.get('id')}, which belongs to another registered"
            f" model (id {version.get('registeredModelId')}): repair the lifecycle view with `kml models repair {name}`"
        )
    artifact = find_model_artifact(conn, version) if with_artifact else None
    return ResolvedVersion(
        model=model,
        version=version,
        artifact=artifact,
        reference=format_model_reference(name, str(version.get("name") or "")),
        selector=selector,
    )


# ---------------------------------------------------------------------------------------------------------------
# Deciding transitions (pure)
# ---------------------------------------------------------------------------------------------------------------


def plan_stage_change(
    state: Mapping[str, Any],
    version: Mapping[str, Any],
    stage: str,
    policy: Mapping[str, Any],
    *,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    model_name: str = "",
) -> dict[str, Any]:
    """Decide a stage transition of one version against the current state and the model's policy.

    Promoting to ``production`` demotes the current holder (to ``demote_to``, else the policy's, default
    ``archived``) in the same event, so there is never a moment with two production versions. Rules: the
    transition must be allowed (the model's ``kml_allowed_transitions`` or the default); ``production`` needs an
    ``approved`` version when the model requires approval (or ``require_approval``); a rollback skips the approval
    check (the version was in production before).

    Args:
        state: From :func:`fold_lifecycle_events`.
        version: The ModelVersion in wire form.
        stage: Target stage.
        policy: From :func:`lifecycle_policy`.
        demote_to: Stage for the displaced production version ("" for the policy's).
        require_approval: Require approval for this promotion even if the model does not.
        rollback: Mark the event as a rollback.
        model_name: For messages.

    Returns:
        ``event`` (the event to append, or None when the version is already in ``stage``), ``error`` ("" or why
        the transition is refused, with the fix), ``error_type`` (``transition`` or ``approval``), ``from`` and
        ``previous_holder`` (``{"version_id", "version"}`` or None).
    """
    target = check_stage_name(stage)
    vid = str(version["id"])
    vname = str(version.get("name") or vid)
    ref = format_model_reference(model_name, vname) or vname
    current = version_lifecycle(state, vid)
    source = current["stage"]
    holder = str(state.get("production") or "")
    holder_name = ((state.get("versions") or {}).get(holder) or {}).get("version") or holder
    previous = {"version_id": holder, "version": holder_name} if holder and holder != vid else None
    result: dict[str, Any] = {"event": None, "error": "", "error_type": "", "from": source, "previous_holder": previous}
    if source == target:
        return result
    allowed = list((policy.get("allowed_transitions") or {}).get(source) or [])
    if target not in allowed:
        rules = "the model's kml_allowed_transitions" if policy.get("custom_transitions") else "the default rules"
        options = ", ".join(allowed) if allowed else "nothing (it may not move)"
        result.update(
            error=(
                f"moving {ref} from {source} to {target} is not allowed by {rules}: from {source} it may move to"
                f" {options}. Fix: move it to an allowed stage first, or change the rules"
                f" (`kml models policy {model_name or 'NAME'} --transitions JSON`)"
            ),
            error_type="transition",
        )
        return result
    if target == "production" and not rollback and (policy.get("requires_approval") or require_approval):
        approval = current["approval"] or {}
        status = approval.get("status") or "none"
        if status != "approved":
            why = (
                "the model requires approval before production"
                if policy.get("requires_approval")
                else ("this promotion requires approval (require_approval=True)")
            )
            detail = ""
            if status == "rejected":
                detail = f" It was rejected by {approval.get('by') or 'unknown'}"
                detail += f": {approval['comment']}." if approval.get("comment") else "."
            result.update(
                error=(
                    f"{ref} cannot go to production: {why} and its approval status is {status!r}.{detail} Fix: approve"
                    f" it (`kml models approve {ref} --comment TEXT` or the approve_model component), then promote"
                    " again"
                ),
                error_type="approval",
            )
            return result
    event: dict[str, Any] = {"type": "stage", "version_id": vid, "version": vname, "from": source, "to": target}
    if rollback:
        event["rollback"] = True
    if target == "production" and previous:
        demote = check_stage_name(demote_to or policy.get("demote_to") or "archived", "demote_to")
        if demote == "production":
            raise ValueError("demote_to cannot be 'production': use staging, development or archived")
        event.update(demoted_version_id=previous["version_id"], demoted_version=previous["version"], demoted_to=demote)
    result["event"] = event
    return result


def plan_alias_change(
    state: Mapping[str, Any], version: Mapping[str, Any] | None, alias: str, *, remove: bool = False
) -> dict[str, Any]:
    """Decide setting (or removing) an alias.

    An alias names one version per model; setting it on a version moves it from its previous holder.

    Args:
        state: From :func:`fold_lifecycle_events`.
        version: The version to point the alias at (ignored for ``remove``).
        alias: The alias name.
        remove: Remove the alias from whichever version holds it.

    Returns:
        ``event`` (None when nothing changes) and ``previous_holder`` (``{"version_id", "version"}`` or None).
    """
    name = check_alias_name(alias)
    holder = str((state.get("aliases") or {}).get(name) or "")
    holder_name = ((state.get("versions") or {}).get(holder) or {}).get("version") or holder
    previous = {"version_id": holder, "version": holder_name} if holder else None
    if remove:
        if not holder:
            return {"event": None, "previous_holder": None}
        event = {
            "type": "alias",
            "alias": name,
            "version_id": holder,
            "version": holder_name,
            "from": holder_name,
            "to": "",
            "previous_version_id": holder,
        }
        return {"event": event, "previous_holder": previous}
    if version is None:
        raise ValueError(f"setting alias {name!r} needs a model version")
    vid = str(version["id"])
    if holder == vid:
        return {"event": None, "previous_holder": previous}
    event = {
        "type": "alias",
        "alias": name,
        "version_id": vid,
        "version": str(version.get("name") or vid),
        "from": holder_name if holder else "",
        "to": str(version.get("name") or vid),
        "previous_version_id": holder,
    }
    return {"event": event, "previous_holder": previous}


def plan_rollback(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The version a rollback re-promotes: the most recent former production version.

    Versions that were rolled back *from* are skipped (until promoted normally again), so repeated rollbacks walk
    back through the production history instead of flipping between two versions.

    Args:
        state: From :func:`fold_lifecycle_events`.

    Returns:
        ``{"version_id", "version", "seq"}`` of the target, or None when there is none.
    """
    current = str(state.get("production") or "")
    versions = state.get("versions") or {}
    for entry in reversed(list(state.get("production_history") or [])):
        vid = str(entry.get("version_id") or "")
        if not vid or vid == current or (versions.get(vid) or {}).get("rolled_back"):
            continue
        return {"version_id": vid, "version": entry.get("version") or vid, "seq": entry.get("seq")}
    return None


# ---------------------------------------------------------------------------------------------------------------
# Committing transitions
# ---------------------------------------------------------------------------------------------------------------


def commit_lifecycle_event(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    decide: Callable[[dict[str, Any]], dict[str, Any]],
    common: Mapping[str, Any],
    *,
    events: list[dict[str, Any]] | None = None,
    dry_run: bool = False,
    record_rejections: bool = True,
    max_attempts: int = 60,
) -> CommitOutcome:
    """Decide a transition on the current state and append it to the log, retrying when another writer wins.

    Each attempt folds the log up to its last event ``N``, calls ``decide`` and tries to append at ``N + 1``
    (:func:`append_lifecycle_event`). When another writer got ``N + 1`` first, the new events are read and
    ``decide`` runs again on the new state (so a promotion that lost a race demotes the winner, and a forbidden
    transition is re-checked). A refused transition is recorded as a ``rejection`` event (unless ``dry_run``) and
    raised.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        decide: ``state -> {"event": dict or None, "error": str, "error_type": str, ...}`` (see
            :func:`plan_stage_change`).
        common: Fields added to the event: ``actor``, ``reason``, ``evidence``.
        events: The log as already read (extended in place); None to read it here.
        dry_run: Decide only: the planned event is added to the returned log with the next ``seq``, nothing is
            written.
        record_rejections: Record refused transitions as ``rejection`` events.
        max_attempts: Bound on lost races.

    Returns:
        The stored or planned event (None when nothing had to change), the last decision, the log including the
        new event, and the number of races lost.

    Raises:
        ValueError: For a forbidden transition. PermissionError: For a missing approval.
        RuntimeError: When ``max_attempts`` races were lost.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    model_id = str(model["id"])
    log_events = events if events is not None else read_lifecycle_events(conn, model_id)
    conflicts = 0
    for attempt in range(1, max(1, int(max_attempts)) + 1):
        state = fold_lifecycle_events(log_events)
        decision = decide(state)
        seq = len(log_events) + 1
        error = decision.get("error") or ""
        planned = decision.get("event")
        if error:
            if dry_run or not record_rejections:
                raise (PermissionError if decision.get("error_type") == "approval" else ValueError)(error)
            planned = {
                "type": "rejection",
                "version_id": decision.get("version_id") or "",
                "version": decision.get("version") or "",
                "from": decision.get("from") or "",
                "to": decision.get("requested_to") or "",
                "requested": decision.get("requested") or "",
                "refusal": error[:2000],
            }
        if planned is None:
            return CommitOutcome(None, decision, log_events, conflicts)
        event = {
            **{k: v for k, v in dict(common).items() if v not in (None, "")},
            **planned,
            "time": utc_timestamp(),
            "token": uuid.uuid4().hex,
        }
        if conflicts:
            event["conflicts"] = conflicts
        if dry_run:
            planned_event = {**event, "seq": seq, "model_id": model_id, "model": str(model.get("name") or "")}
            log_events.append(planned_event)
            return CommitOutcome(planned_event, decision, log_events, conflicts)
        stored = append_lifecycle_event(conn, model, seq, event)
        if stored is not None:
            log_events.append(stored)
            log.info("%s", describe_lifecycle_event(stored))
            if error:
                raise (PermissionError if decision.get("error_type") == "approval" else ValueError)(error)
            return CommitOutcome(stored, decision, log_events, conflicts)
        conflicts += 1
        newer = read_lifecycle_events(conn, model_id, after_seq=len(log_events))
        log.info(
            "another writer appended lifecycle event #%d of %r first (%s): deciding again on the new state",
            seq,
            model.get("name"),
            describe_lifecycle_event(newer[0]) if newer else "not visible yet",
        )
        log_events.extend(newer)
        time.sleep(random.uniform(0, min(0.25, 0.01 * attempt)))
    raise RuntimeError(
        f"could not record the change of registered model {model.get('name')!r}: {conflicts} other changes won the"
        " race for the next audit-trail position. Fix: re-run (nothing was changed by this attempt); if this"
        " persists, fewer concurrent promotions of the same model"
    )


def lifecycle_common_fields(actor: str = "", reason: str = "", evidence: Mapping[str, Any] | None = None) -> dict:
    """The who/why/evidence fields of an event.

    Args:
        actor: Who: e.g. ``kfp-run:<run name>`` or ``user:alice`` ("" -> the local user name).
        reason: Why, in words.
        evidence: Run id, report URI, links... (empty values dropped).

    Returns:
        ``actor``, ``reason`` and ``evidence``.
    """
    who = (actor or "").strip()
    if not who:
        try:
            who = f"user:{getpass.getuser()}"
        except Exception:  # no user name in some containers
            who = "unknown"
    clean = {k: v for k, v in dict(evidence or {}).items() if v not in (None, "", [], {})}
    return {"actor": who, "reason": (reason or "").strip(), "evidence": clean}


def promote_model_version(
    conn: RegistryConnection,
    reference: str,
    *,
    stage: str = "",
    aliases: Iterable[str] | None = None,
    remove_aliases: Iterable[str] | None = None,
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    default_model: str = "",
    record_rejections: bool = True,
    max_attempts: int = 60,
) -> dict[str, Any]:
    """Move a model version to a stage and/or set aliases, recording each transition in the audit trail.

    Steps, each one event decided on the newest state (see :func:`commit_lifecycle_event`): the stage change
    (a promotion to ``production`` demotes the previous holder in the same event), removed aliases, set aliases.
    Then the view (properties, labels, ARCHIVED state) is brought in line with the log. Idempotent: steps that are
    already true append nothing. With ``rollback``, ``reference`` names the model and the most recent former
    production version (see :func:`plan_rollback`) is re-promoted.

    Args:
        conn: From ``connect_model_registry``.
        reference: ``name:VERSION``, ``name@ALIAS``, ``name`` ... (see :func:`resolve_model_reference`); for a
            rollback, the model name.
        stage: Target stage ("" to leave it).
        aliases: Aliases to point at the version (moved from their previous holders).
        remove_aliases: Aliases to remove from the model (whichever version holds them).
        reason: Why (recorded in every event).
        evidence: Run id, comparison report URI (``report_uri``), links... recorded as JSON.
        actor: Who (default: the local user).
        dry_run: Check and plan only; write nothing (no events, no repairs).
        demote_to: Stage for a displaced production version (default: the model's ``kml_demote_to``, else
            ``archived``).
        require_approval: Require an approval for this promotion to production even if the model does not.
        rollback: Re-promote the previous production version.
        default_model: Model name for references without one.
        record_rejections: Record refused transitions as ``rejection`` events.
        max_attempts: Bound on lost races per step.

    Returns:
        ``model``, ``model_id``, ``version``, ``version_id``, ``reference`` (``name:version``), ``stage`` and
        ``previous_stage`` of the version, ``aliases`` (the version's, after), ``new_holder`` and
        ``previous_holder`` (references of the version that now holds the stage/alias and the one that held it
        before, "" when none), ``events`` (appended or, in a dry run, planned), ``event_seq`` (of the last one, 0
        when nothing changed), ``changed``, ``dry_run``, ``rollback``, ``conflicts`` and ``summary`` (one line per
        event).

    Raises:
        ValueError: Invalid input or forbidden transition. PermissionError: Missing approval.
        LookupError: Unknown model, version or alias; nothing to roll back to.
    """
    stage_name = check_stage_name(stage) if (stage or "").strip() else ""
    set_aliases = [check_alias_name(a) for a in (aliases or []) if str(a or "").strip()]
    drop_aliases = [check_alias_name(a) for a in (remove_aliases or []) if str(a or "").strip()]
    both = sorted(set(set_aliases) & set(drop_aliases))
    if both:
        raise ValueError(f"alias(es) {both} are both set and removed: choose one")
    if demote_to and check_stage_name(demote_to, "demote_to") == "production":
        raise ValueError("demote_to cannot be 'production': use staging, development or archived")
    if rollback:
        if stage_name and stage_name != "production":
            raise ValueError(f"rollback re-promotes to production: leave stage empty (got {stage!r})")
        stage_name = "production"
    elif not (stage_name or set_aliases or drop_aliases):
        raise ValueError("nothing to do: give a stage, aliases to set or remove, or rollback=True")
    common = lifecycle_common_fields(actor, reason, evidence)

    if rollback:
        ref = parse_model_reference(reference, default_model)
        if ref["kind"] != "default":
            raise ValueError(
                f"rollback takes the model name, not {reference!r}: it re-promotes the previous production version"
                f" from the history (e.g. rollback of {ref['model']!r})"
            )
        model = find_model_by_name(conn, ref["model"])
        version = None
    else:
        resolved = resolve_model_reference(
            conn, reference, default_model=default_model, repair=not dry_run, with_artifact=False
        )
        model, version = resolved.model, resolved.version
    model_name = str(model.get("name") or "")
    model_id = str(model["id"])
    policy = lifecycle_policy(model)
    events = read_lifecycle_events(conn, model_id)
    versions_by_id: dict[str, dict[str, Any]] = {}
    if version is not None:
        versions_by_id[str(version["id"])] = dict(version)
    start_state = fold_lifecycle_events(events)
    appended: list[dict[str, Any]] = []
    conflicts = 0
    holder_before: dict[str, Any] | None = None
    target_box: dict[str, Any] = {"version": version}

    def version_for(vid: str) -> dict[str, Any]:
        if vid not in versions_by_id:
            found = get_model_version_by_id(conn, vid)
            if found is None:
                raise LookupError(f"model version id {vid} of {model_name!r} (from the history) no longer exists")
            versions_by_id[vid] = found
        return versions_by_id[vid]

    if stage_name:

        def decide_stage(state: dict[str, Any]) -> dict[str, Any]:
            target = target_box["version"]
            if rollback:
                choice = plan_rollback(state)
                if choice is None:
                    history = [h.get("version") for h in state.get("production_history") or []]
                    raise LookupError(
                        f"nothing to roll back to: {model_name!r} has no earlier production version"
                        + (f" (production history: {', '.join(map(str, history))})" if history else "")
                        + ". Fix: promote a specific version instead (`kml models promote NAME:VERSION --stage"
                        " production`)"
                    )
                target = version_for(choice["version_id"])
                target_box["version"] = target
            decision = plan_stage_change(
                state,
                target,
                stage_name,
                policy,
                demote_to=demote_to,
                require_approval=require_approval,
                rollback=rollback,
                model_name=model_name,
            )
            decision.update(
                version_id=str(target["id"]),
                version=str(target.get("name") or ""),
                requested=f"stage {stage_name}" + (" (rollback)" if rollback else ""),
                requested_to=stage_name,
            )
            return decision

        try:
            outcome = commit_lifecycle_event(
                conn,
                model,
                decide_stage,
                common,
                events=events,
                dry_run=dry_run,
                record_rejections=record_rejections,
                max_attempts=max_attempts,
            )
        except (ValueError, PermissionError):
            if not dry_run and record_rejections:
                sync_lifecycle_view(conn, model, events=events)  # the view includes the rejection event
            raise
        conflicts += outcome.conflicts
        holder_before = outcome.decision.get("previous_holder") if stage_name == "production" else None
        if outcome.event is not None:
            appended.append(outcome.event)
    version = target_box["version"]
    assert version is not None
    for alias in drop_aliases:
        outcome = commit_lifecycle_event(
            conn,
            model,
            lambda state, a=alias: plan_alias_change(state, None, a, remove=True),
            common,
            events=events,
            dry_run=dry_run,
            max_attempts=max_attempts,
        )
        conflicts += outcome.conflicts
        if holder_before is None and stage_name != "production":
            holder_before = outcome.decision.get("previous_holder")
        if outcome.event is not None:
            appended.append(outcome.event)
    for alias in set_aliases:
        outcome = commit_lifecycle_event(
            conn,
            model,
            lambda state, a=alias: plan_alias_change(state, version, a),
            common,
            events=events,
            dry_run=dry_run,
            max_attempts=max_attempts,
        )
        conflicts += outcome.conflicts
        if holder_before is None and stage_name != "production":
            previous = outcome.decision.get("previous_holder")
            if previous and previous.get("version_id") != str(version["id"]):
                holder_before = previous
        if outcome.event is not None:
            appended.append(outcome.event)
    final_state = fold_lifecycle_events(events) if dry_run else sync_lifecycle_view(conn, model, events=events)["state"]
    vid = str(version["id"])
    vname = str(version.get("name") or vid)
    before = version_lifecycle(start_state, vid)
    after = version_lifecycle(final_state, vid)
    previous_ref = ""
    if holder_before and holder_before.get("version_id") and holder_before.get("version_id") != vid:
        previous_ref = format_model_reference(model_name, str(holder_before.get("version") or ""))
    return {
        "model": model_name,
        "model_id": model_id,
        "version": vname,
        "version_id": vid,
        "reference": format_model_reference(model_name, vname),
        "stage": after["stage"],
        "previous_stage": before["stage"],
        "aliases": after["aliases"],
        "new_holder": format_model_reference(model_name, vname),
        "previous_holder": previous_ref,
        "events": appended,
        "event_seq": int(appended[-1]["seq"]) if appended else 0,
        "changed": bool(appended),
        "dry_run": bool(dry_run),
        "rollback": bool(rollback),
        "conflicts": conflicts,
        "summary": [("(dry run) " if dry_run else "") + describe_lifecycle_event(e) for e in appended],
    }


def approve_model_version(
    conn: RegistryConnection,
    reference: str,
    *,
    status: str = "approved",
    approver: str = "",
    comment: str = "",
    evidence: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    default_model: str = "",
    max_attempts: int = 60,
) -> dict[str, Any]:
    """Record an approval decision (approved, rejected or pending) for a model version.

    Args:
        conn: From ``connect_model_registry``.
        reference: The version (see :func:`resolve_model_reference`).
        status: ``approved``, ``rejected`` or ``pending`` (a request for review).
        approver: Who decides (default: the local user).
        comment: Why; required for ``rejected``.
        evidence: Review ticket, report URI... recorded as JSON.
        dry_run: Check only; write nothing.
        default_model: Model name for references without one.
        max_attempts: Bound on lost races.

    Returns:
        ``model``, ``model_id``, ``version``, ``version_id``, ``reference``, ``status``, ``previous_status``
        (``none`` when never set), ``approver``, ``event_seq`` (0 when unchanged), ``events``, ``changed``,
        ``dry_run`` and ``summary``.

    Raises:
        ValueError: For an unknown status or a rejection without comment.
    """
    statuses = lifecycle_conventions()["approval_statuses"]
    wanted = (status or "").strip().lower()
    if wanted not in statuses:
        raise ValueError(f"approval status {status!r} is not one of {', '.join(statuses)}")
    if wanted == "rejected" and not (comment or "").strip():
        raise ValueError("a rejection needs a comment saying why (comment=...), so the team knows what to fix")
    resolved = resolve_model_reference(
        conn, reference, default_model=default_model, repair=not dry_run, with_artifact=False
    )
    model, version = resolved.model, resolved.version
    common = lifecycle_common_fields(approver, comment, evidence)
    vid = str(version["id"])
    events = read_lifecycle_events(conn, str(model["id"]))
    before = version_lifecycle(fold_lifecycle_events(events), vid)["approval"] or {}

    def decide(state: dict[str, Any]) -> dict[str, Any]:
        current = version_lifecycle(state, vid)["approval"] or {}
        same = (
            current.get("status") == wanted
            and current.get("by") == common["actor"]
            and (current.get("comment") or "") == common["reason"]
        )
        event = None
        if not same:
            event = {
                "type": "approval",
                "version_id": vid,
                "version": str(version.get("name") or vid),
                "from": current.get("status") or "none",
                "to": wanted,
            }
        return {"event": event, "error": ""}

    outcome = commit_lifecycle_event(
        conn, model, decide, common, events=events, dry_run=dry_run, max_attempts=max_attempts
    )
    if not dry_run:
        sync_lifecycle_view(conn, model, events=events)
    appended = [outcome.event] if outcome.event is not None else []
    return {
        "model": str(model.get("name") or ""),
        "model_id": str(model["id"]),
        "version": str(version.get("name") or vid),
        "version_id": vid,
        "reference": resolved.reference,
        "status": wanted,
        "previous_status": before.get("status") or "none",
        "approver": common["actor"],
        "events": appended,
        "event_seq": int(appended[-1]["seq"]) if appended else 0,
        "changed": bool(appended),
        "dry_run": bool(dry_run),
        "summary": [("(dry run) " if dry_run else "") + describe_lifecycle_event(e) for e in appended],
    }


def set_lifecycle_policy(
    conn: RegistryConnection,
    model_name: str,
    *,
    require_approval: bool | None = None,
    allowed_transitions: Any = None,
    demote_to: str | None = None,
    actor: str = "",
    reason: str = "",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Set a model's lifecycle policy and record the change as a ``policy`` event.

    The policy lives in the model's ``kml_requires_approval``, ``kml_allowed_transitions`` and ``kml_demote_to``
    properties (which people may also edit in the registry UI); the event records who changed it and why.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The registered model.
        require_approval: Whether ``production`` needs an approved version (None: unchanged).
        allowed_transitions: JSON object or dict stage -> stages; "" restores the default (None: unchanged).
        demote_to: Stage for displaced production versions; "" restores ``archived`` (None: unchanged).
        actor: Who.
        reason: Why.
        dry_run: Validate only.

    Returns:
        ``model``, ``policy`` (after, see :func:`lifecycle_policy`), ``previous`` (before), ``changed`` and
        ``event_seq``.
    """
    conventions = lifecycle_conventions()
    model = find_model_by_name(conn, model_name)
    previous = lifecycle_policy(model)
    updates: dict[str, Any] = {}
    if require_approval is not None:
        updates[conventions["model_requires_approval"]] = bool(require_approval)
    if allowed_transitions is not None:
        if isinstance(allowed_transitions, str) and not allowed_transitions.strip():
            updates[conventions["model_allowed_transitions"]] = None
        else:
            parsed = parse_allowed_transitions(allowed_transitions)
            updates[conventions["model_allowed_transitions"]] = json.dumps(parsed, sort_keys=True)
    if demote_to is not None:
        if demote_to.strip():
            if check_stage_name(demote_to, "demote_to") == "production":
                raise ValueError("demote_to cannot be 'production': use staging, development or archived")
            updates[conventions["model_demote_to"]] = demote_to.strip().lower()
        else:
            updates[conventions["model_demote_to"]] = None

    def summary(policy: Mapping[str, Any]) -> str:
        return json.dumps(
            {
                "requires_approval": policy["requires_approval"],
                "demote_to": policy["demote_to"],
                "allowed_transitions": policy["allowed_transitions"] if policy.get("custom_transitions") else "default",
            },
            sort_keys=True,
        )

    fresh = (
        conn.call(f"get registered model {model_name!r}", lambda api: api.get_registered_model(str(model["id"])))
        or model
    )
    props = dict(fresh.get("customProperties") or {})
    for key, value in updates.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = lifecycle_property(value)
    after_model = {**fresh, "customProperties": props}
    policy = lifecycle_policy(after_model)
    changed = summary(policy) != summary(previous)
    seq = 0
    if changed and not dry_run:
        body = {"customProperties": props}
        conn.call(
            f"update the lifecycle policy of registered model {model_name!r}",
            lambda api: api.update_registered_model(str(model["id"]), models.RegisteredModelUpdate.from_dict(body)),
        )
        common = lifecycle_common_fields(actor, reason, None)
        outcome = commit_lifecycle_event(
            conn,
            model,
            lambda state: {
                "event": {"type": "policy", "version_id": "", "from": summary(previous), "to": summary(policy)},
                "error": "",
            },
            common,
        )
        seq = int((outcome.event or {}).get("seq") or 0)
        sync_lifecycle_view(conn, model, events=outcome.events)
    return {"model": model_name, "policy": policy, "previous": previous, "changed": changed, "event_seq": seq}


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
        reference: The version (see :func:`resolve_model_reference`).
        event_type: e.g. ``deployment``; not ``stage``, ``alias``, ``approval`` (use the functions for those).
        from_state: The state before, e.g. ``undeployed``.
        to_state: The state after, e.g. ``serving in kserve-prod/iris``.
        actor: Who.
        reason: Why.
        evidence: Run id, URLs, manifests... recorded as JSON.
        details: More scalar fields, stored as ``kml_event_<key>`` (keys: letters, digits, ``_``).
        default_model: Model name for references without one.

    Returns:
        The stored event (see :func:`decode_lifecycle_event`).

    Raises:
        ValueError: For a reserved or malformed event type or detail key.
    """
    kind = (event_type or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind) or kind in ("stage", "alias", "approval", "policy"):
        raise ValueError(
            f"event type {event_type!r} cannot be recorded here: use a lower-case word such as 'deployment'"
            " (stage, alias, approval and policy changes go through promote/approve/policy)"
        )
    extra = dict(details or {})
    for key in extra:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", str(key)) or key in ("seq", "type", "model_id", "token"):
            raise ValueError(f"detail key {key!r} is not allowed: use lower-case letters, digits and '_'")
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
        lifecycle_common_fields(actor, reason, evidence),
    )
    sync_lifecycle_view(conn, model, events=outcome.events)
    return outcome.event


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
        ``model`` (wire form) and ``events`` (decoded, see :func:`decode_lifecycle_event`).
    """
    model = find_model_by_name(conn, model_name)
    events = read_lifecycle_events(conn, str(model["id"]))
    if version:
        events = [e for e in events if version in (e.get("version"), e.get("demoted_version"))]
    if event_type:
        events = [e for e in events if e.get("type") == event_type]
    return {"model": model, "events": events}


# ---------------------------------------------------------------------------------------------------------------
# The component jobs
# ---------------------------------------------------------------------------------------------------------------


def lifecycle_run_evidence(
    context: RunContext, *, evidence_uri: str = "", evidence: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evidence recorded with an event from a pipeline run: run id, name, link, task and report URI.

    Args:
        context: From ``collect_run_context``.
        evidence_uri: URI of the comparison report (or any evidence document).
        evidence: More evidence (links, metrics...), merged in.

    Returns:
        The evidence dict (empty values dropped).
    """
    data = {
        "run_id": context.run_id or "",
        "run_name": context.run_name or "",
        "run_url": context.run_url or "",
        "pipeline_name": context.pipeline_name or "",
        "task_name": context.task_name or "",
        "namespace": context.namespace or "",
        "report_uri": "" if is_missing_value(evidence_uri) else (evidence_uri or "").strip(),
    }
    data.update(dict(evidence or {}))
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def lifecycle_run_actor(context: RunContext, actor: str = "") -> str:
    """Who acts, seen from a pipeline run: the actor given, else ``kfp-run:<run name or id>``, else the pod.

    Args:
        context: From ``collect_run_context``.
        actor: Explicit actor ("" or a placeholder for none).

    Returns:
        The actor ("" when nothing is known: then the local user name is used).
    """
    if actor and not is_missing_value(actor):
        return actor.strip()
    run = context.run_name or context.run_id or ""
    if run:
        return f"kfp-run:{run}"
    pod = (os.environ.get("KFP_POD_NAME") or "").strip()
    return f"kfp-pod:{pod}" if pod else ""


def lifecycle_summary_markdown(result: Mapping[str, Any], title: str) -> str:
    """A Markdown report of a promotion or approval, for the KFP UI.

    Args:
        result: From :func:`promote_model_version` or :func:`approve_model_version`.
        title: Heading.

    Returns:
        GitHub-flavoured Markdown.
    """

    def cell(value: Any) -> str:
        return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")

    lines = [f"# {title}", ""]
    if result.get("dry_run"):
        lines += ["**Dry run**: nothing was written to the registry.", ""]
    rows = [("Model version", result.get("reference")), ("Version id", result.get("version_id"))]
    if "stage" in result:
        rows += [
            ("Stage", f"{result.get('previous_stage')} -> {result.get('stage')}"),
            ("Aliases", ", ".join("@" + a for a in result.get("aliases") or []) or "-"),
            ("Previous holder", result.get("previous_holder")),
        ]
    if "status" in result:
        rows += [
            ("Approval", f"{result.get('previous_status')} -> {result.get('status')}"),
            ("Approver", result.get("approver")),
        ]
    rows.append(("Changed", "yes" if result.get("changed") else "no (already so)"))
    lines += ["| | |", "| --- | --- |"] + [f"| {cell(k)} | {cell(v)} |" for k, v in rows]
    events = result.get("events") or []
    if events:
        lines += ["", "## Audit trail entries", "", "| # | Event | Actor | Reason |", "| --- | --- | --- | --- |"]
        for event in events:
            text = describe_lifecycle_event({**dict(event), "seq": None, "actor": "", "reason": ""})
            text = text.rsplit(" by ", 1)[0]
            cells = [event.get("seq"), text, event.get("actor"), event.get("reason")]
            lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
        evidence = dict(events[-1].get("evidence") or {})
        if evidence:
            lines += ["", "## Evidence", ""] + [f"- **{cell(k)}**: {cell(v)}" for k, v in sorted(evidence.items())]
    return "\n".join(lines) + "\n"


def run_promote_model(
    *,
    model_reference: str,
    stage: str = "",
    aliases: Iterable[str] | None = None,
    remove_aliases: Iterable[str] | None = None,
    reason: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    summary_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """The whole ``promote_model`` job on plain values: collect the run context, connect, promote, report.

    Args:
        model_reference: See :func:`promote_model_version` (the model name for a rollback).
        stage: Target stage ("" to leave it).
        aliases: Aliases to set.
        remove_aliases: Aliases to remove.
        reason: Why.
        evidence_uri: Comparison report URI (recorded as the events' ``uri`` and ``report_uri``).
        evidence: More evidence.
        actor: Who (default ``kfp-run:<run name>``).
        dry_run: Plan only.
        demote_to: Stage for the displaced production version.
        require_approval: Require approval for this promotion to production.
        rollback: Re-promote the previous production version.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        summary_path: Where to write the Markdown report ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests).

    Returns:
        The :func:`promote_model_version` result plus ``registry_url``.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, env=env)
    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        result = promote_model_version(
            conn,
            model_reference,
            stage=stage,
            aliases=[str(a) for a in (aliases or [])],
            remove_aliases=[str(a) for a in (remove_aliases or [])],
            reason=reason,
            evidence=lifecycle_run_evidence(context, evidence_uri=evidence_uri, evidence=evidence),
            actor=lifecycle_run_actor(context, actor),
            dry_run=dry_run,
            demote_to=demote_to,
            require_approval=require_approval,
            rollback=rollback,
        )
    finally:
        conn.close()
    if result.get("dry_run") or not result["summary"]:  # written events were logged as they were appended
        for line in result["summary"] or ["nothing to change: " + result["reference"] + " is already so"]:
            log.info("%s", line)
    if summary_path:
        title = ("Rollback of " if rollback else "Promotion of ") + result["reference"]
        write_text_atomically(summary_path, lifecycle_summary_markdown(result, title))
    result["registry_url"] = conn.url
    return result


def run_approve_model(
    *,
    model_reference: str,
    status: str = "approved",
    approver: str = "",
    comment: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    summary_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """The whole ``approve_model`` job on plain values: collect the run context, connect, approve, report.

    Args:
        model_reference: The version (see :func:`resolve_model_reference`).
        status: ``approved``, ``rejected`` or ``pending``.
        approver: Who decides (default ``kfp-run:<run name>``).
        comment: Why (required for ``rejected``).
        evidence_uri: Review or report URI.
        evidence: More evidence.
        dry_run: Check only.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        summary_path: Where to write the Markdown report ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests).

    Returns:
        The :func:`approve_model_version` result plus ``registry_url``.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, env=env)
    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        result = approve_model_version(
            conn,
            model_reference,
            status=status,
            approver=lifecycle_run_actor(context, approver),
            comment=comment,
            evidence=lifecycle_run_evidence(context, evidence_uri=evidence_uri, evidence=evidence),
            dry_run=dry_run,
        )
    finally:
        conn.close()
    if result.get("dry_run") or not result["summary"]:  # written events were logged as they were appended
        for line in result["summary"] or [f"approval of {result['reference']} is already {result['status']}"]:
            log.info("%s", line)
    if summary_path:
        write_text_atomically(summary_path, lifecycle_summary_markdown(result, f"Approval of {result['reference']}"))
    result["registry_url"] = conn.url
    return result


def write_text_atomically(path: str, text: str) -> None:
    """Write text through a temporary file and a rename, so readers never see half a file.

    Args:
        path: Destination file (parent directories are created).
        text: The content.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------------------------
# Embedding (host side; not a pod function)
# ---------------------------------------------------------------------------------------------------------------
