"""A model's lifecycle policy: whether production needs an approval, the allowed transitions, where demoted versions go.

The policy lives in the RegisteredModel's ``kml_requires_approval``, ``kml_allowed_transitions`` and
``kml_demote_to`` properties (people may also edit them in the registry UI); :func:`lifecycle_policy` reads it with
the defaults, :func:`set_lifecycle_policy` changes it and records a ``policy`` event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, update_with_retry
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.commit import commit_lifecycle_event
from kfp_model_lifecycle.lifecycle.conventions import (
    DEFAULT_DEMOTE_TO,
    DEFAULT_TRANSITIONS,
    MODEL_ALLOWED_TRANSITIONS,
    MODEL_DEMOTE_TO,
    MODEL_REQUIRES_APPROVAL,
    EventType,
)
from kfp_model_lifecycle.lifecycle.inputs import check_flag, check_optional_flag, check_text, described
from kfp_model_lifecycle.lifecycle.names import check_demote_to, check_stage_name
from kfp_model_lifecycle.lifecycle.properties import lifecycle_property, plain_properties, same_properties
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_common_fields
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name, get_registered_model
from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view

_EXAMPLE = '{"development": ["staging"], "staging": ["production", "development"]}'


@dataclass(frozen=True)
class LifecyclePolicy:
    """A model's lifecycle policy (with defaults filled in).

    Attributes:
        requires_approval: Whether ``production`` needs an ``approved`` version.
        allowed_transitions: Stage -> the stages it may move to.
        demote_to: The stage a displaced production version goes to.
        custom_transitions: Whether the model sets its own transitions (else the default rules apply).
    """

    requires_approval: bool
    allowed_transitions: dict[str, list[str]]
    demote_to: str
    custom_transitions: bool

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-ready data (``kml models policy --json``).

        Returns:
            The four fields.
        """
        return asdict(self)

    def event_text(self) -> str:
        """The policy as recorded in ``policy`` events (compact JSON; ``"default"`` for the default transitions).

        Returns:
            e.g. ``{"allowed_transitions": "default", "demote_to": "archived", "requires_approval": true}``.
        """
        transitions: Any = self.allowed_transitions if self.custom_transitions else "default"
        return json.dumps(
            {
                "requires_approval": self.requires_approval,
                "demote_to": self.demote_to,
                "allowed_transitions": transitions,
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class PolicyChange:
    """What :func:`set_lifecycle_policy` did.

    Attributes:
        model: The registered model's name.
        policy: The policy after.
        previous: The policy before.
        changed: Whether it changed.
        event_seq: The ``policy`` event recorded (0 when unchanged or in a dry run).
    """

    model: str
    policy: LifecyclePolicy
    previous: LifecyclePolicy
    changed: bool
    event_seq: int


def _load_transitions(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise InvalidInputError(
            f"allowed transitions {value[:200]!r} is not valid JSON ({exc}): write an object such as {_EXAMPLE}"
        ) from None


def parse_allowed_transitions(value: Any) -> dict[str, list[str]]:
    """The allowed stage transitions: a JSON object (or dict) mapping a stage to the stages it may move to.

    Args:
        value: e.g. ``'{"development": ["staging"], "staging": ["production", "development"]}'``; stages missing
            from the object may not move at all. Empty/None means the default (``DEFAULT_TRANSITIONS`` in
            :mod:`~kfp_model_lifecycle.lifecycle.conventions`).

    Returns:
        stage -> allowed target stages.

    Raises:
        InvalidInputError: For invalid JSON or unknown stage names (a ``ValueError``).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return {str(k): [str(t) for t in v] for k, v in DEFAULT_TRANSITIONS.items()}
    data = _load_transitions(value) if isinstance(value, str) else value
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            "allowed transitions must be a JSON object mapping a stage to a list of stages, e.g."
            ' {"development": ["staging"], "staging": ["production"]}'
        )
    result: dict[str, list[str]] = {}
    for source, targets in data.items():
        src = check_stage_name(str(source), "stage in allowed transitions")
        if targets is not None and not isinstance(targets, str | list | tuple):
            raise InvalidInputError(
                f"allowed transitions from {src!r} must be a list of stages, got {described(targets)}: e.g. {_EXAMPLE}"
            )
        listed = [targets] if isinstance(targets, str) else list(targets or [])
        result[src] = [check_stage_name(str(t), f"target of {src!r} in allowed transitions") for t in listed]
    return result


def lifecycle_policy(model: Mapping[str, Any] | None) -> LifecyclePolicy:
    """The model's lifecycle policy from its ``customProperties`` (with defaults).

    Args:
        model: The RegisteredModel in wire form.

    Returns:
        The policy.

    Raises:
        InvalidInputError: When the model's policy properties are invalid (a ``ValueError``; the message names the
            property to fix).
    """
    props = plain_properties(model)
    raw_required = props.get(MODEL_REQUIRES_APPROVAL)
    if isinstance(raw_required, str):
        requires = raw_required.strip().lower() in ("true", "1", "yes")
    else:
        requires = bool(raw_required)
    raw_transitions = props.get(MODEL_ALLOWED_TRANSITIONS)
    try:
        transitions = parse_allowed_transitions(raw_transitions)
    except ValueError as exc:
        raise InvalidInputError(
            f"registered model {(model or {}).get('name')!r} has an invalid {MODEL_ALLOWED_TRANSITIONS} property: {exc}"
        ) from None
    demote_to = str(props.get(MODEL_DEMOTE_TO) or "").strip() or DEFAULT_DEMOTE_TO
    demote_to = check_stage_name(demote_to, f"{MODEL_DEMOTE_TO} of the registered model")
    return LifecyclePolicy(
        requires_approval=requires,
        allowed_transitions=transitions,
        demote_to=demote_to,
        custom_transitions=bool(raw_transitions),
    )


def _policy_updates(
    require_approval: bool | None, allowed_transitions: Any, demote_to: str | None
) -> dict[str, Any | None]:
    """Property -> new value (None: remove the property, i.e. back to the default)."""
    updates: dict[str, Any | None] = {}
    require_approval = check_optional_flag(require_approval, "require_approval")
    if require_approval is not None:
        updates[MODEL_REQUIRES_APPROVAL] = require_approval
    if allowed_transitions is not None:
        if isinstance(allowed_transitions, str) and not allowed_transitions.strip():
            updates[MODEL_ALLOWED_TRANSITIONS] = None
        else:
            parsed = parse_allowed_transitions(allowed_transitions)
            updates[MODEL_ALLOWED_TRANSITIONS] = json.dumps(parsed, sort_keys=True)
    if demote_to is not None:
        demote_to = check_text(demote_to, "demote_to", example="'archived'")
        updates[MODEL_DEMOTE_TO] = check_demote_to(demote_to) if demote_to.strip() else None
    return updates


def _updated_properties(model: Mapping[str, Any], updates: Mapping[str, Any | None]) -> dict[str, Any]:
    props = dict(model.get("customProperties") or {})
    for key, value in updates.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = lifecycle_property(value)
    return props


def _record_policy_change(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    updates: Mapping[str, Any | None],
    change: tuple[LifecyclePolicy, LifecyclePolicy],
    common: Mapping[str, Any],
) -> int:
    """PATCH the model's properties, append the ``policy`` event and update the view; returns the event's seq.

    The PATCH re-reads the model and re-applies ``updates`` when the registry answers 409 (``update_with_retry``).
    """
    previous, policy = change
    model_id = str(model["id"])
    update_with_retry(
        conn,
        f"update the lifecycle policy of registered model {model.get('name')!r}",
        read=lambda: get_registered_model(conn, model),
        modify=lambda fresh: _policy_patch(fresh, updates),
        write=lambda api, body: api.update_registered_model(model_id, models.RegisteredModelUpdate.from_dict(body)),
    )
    event = {"type": EventType.POLICY.value, "version_id": "", "from": previous.event_text(), "to": policy.event_text()}
    outcome = commit_lifecycle_event(conn, model, lambda state: {"event": dict(event), "error": ""}, common)
    sync_lifecycle_view(conn, model, events=outcome.events)
    return int((outcome.event or {}).get("seq") or 0)


def _policy_patch(model: Mapping[str, Any], updates: Mapping[str, Any | None]) -> dict[str, Any] | None:
    """The PATCH body applying ``updates`` to the model as it is now, or None when it has them already."""
    props = _updated_properties(model, updates)
    return None if same_properties(props, model.get("customProperties")) else {"customProperties": props}


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
) -> PolicyChange:
    """Set a model's lifecycle policy and record the change as a ``policy`` event.

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
        The policy before and after, whether it changed and the event recorded.

    Raises:
        InvalidInputError: For invalid transitions or ``demote_to`` (a ``ValueError``).
        NotFoundError: For an unknown model (a ``LookupError``).
    """
    updates = _policy_updates(require_approval, allowed_transitions, demote_to)
    dry_run = check_flag(dry_run, "dry_run")
    common = lifecycle_common_fields(actor, reason, None)
    model = find_model_by_name(conn, model_name)
    previous = lifecycle_policy(model)
    fresh = get_registered_model(conn, model)
    props = _updated_properties(fresh, updates)
    policy = lifecycle_policy({**fresh, "customProperties": props})
    changed = policy.event_text() != previous.event_text()
    seq = 0
    if changed and not dry_run:
        seq = _record_policy_change(conn, model, updates, (previous, policy), common)
    return PolicyChange(model=model_name, policy=policy, previous=previous, changed=changed, event_seq=seq)
