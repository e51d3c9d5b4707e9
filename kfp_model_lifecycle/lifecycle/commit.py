"""Committing a transition: decide it on the newest state and append it to the audit trail, retrying lost races.

The registry has no transactions. Each attempt folds the log up to its last event ``N``, asks the caller's
``decide`` callback what to append, and tries to create event ``N + 1`` (a compare-and-set on its unique
externalId, see :func:`~kfp_model_lifecycle.lifecycle.events.append_lifecycle_event`). A writer that lost reads the
new events and decides again, so a promotion that lost a race demotes the winner, and a forbidden transition is
checked again.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.errors import ApprovalRequiredError, ConcurrencyError, LifecycleError, TransitionRefusedError
from kfp_model_lifecycle.lifecycle.conventions import EventType
from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.events import append_lifecycle_event, read_lifecycle_events
from kfp_model_lifecycle.lifecycle.properties import utc_timestamp
from kfp_model_lifecycle.lifecycle.state import LifecycleState, fold_lifecycle_events
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)

# decide(state) -> {"event": dict or None, "error": str, "error_type": str, ...}; see commit_lifecycle_event.
Decide = Callable[[LifecycleState], Mapping[str, Any]]


class Refusal(StrEnum):
    """Why a decision refuses a transition (its ``error_type``)."""

    TRANSITION = "transition"  # not allowed by the model's rules
    APPROVAL = "approval"  # production needs an approval the version does not have


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


def _refusal(decision: Mapping[str, Any]) -> LifecycleError:
    """The exception for a refused transition: a missing approval or a forbidden move."""
    error = str(decision.get("error") or "")
    if decision.get("error_type") == Refusal.APPROVAL:
        return ApprovalRequiredError(error)
    return TransitionRefusedError(error)


def _rejection_event(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The ``rejection`` event that records a refused transition."""
    return {
        "type": EventType.REJECTION.value,
        "version_id": decision.get("version_id") or "",
        "version": decision.get("version") or "",
        "from": decision.get("from") or "",
        "to": decision.get("requested_to") or "",
        "requested": decision.get("requested") or "",
        "refusal": str(decision.get("error") or "")[:2000],
    }


def _stamped(common: Mapping[str, Any], planned: Mapping[str, Any], conflicts: int) -> dict[str, Any]:
    """The event to append: who/why/evidence, the planned change, the time and a unique token."""
    event = {
        **{k: v for k, v in dict(common).items() if v not in (None, "")},
        **planned,
        "time": utc_timestamp(),
        "token": uuid.uuid4().hex,
    }
    if conflicts:
        event["conflicts"] = conflicts
    return event


def _catch_up(conn: RegistryConnection, model: Mapping[str, Any], log_events: list[dict[str, Any]], seq: int) -> None:
    """After a lost race: read the events other writers appended meanwhile into ``log_events``."""
    newer = read_lifecycle_events(conn, str(model["id"]), after_seq=len(log_events))
    log.info(
        "another writer appended lifecycle event #%d of %r first (%s): deciding again on the new state",
        seq,
        model.get("name"),
        describe_lifecycle_event(newer[0]) if newer else "not visible yet",
    )
    log_events.extend(newer)


def _planned_event(decision: Mapping[str, Any], *, refusals_raise: bool) -> dict[str, Any] | None:
    """What to append for a decision: its event, or the rejection event of a refusal (or raise the refusal)."""
    if not decision.get("error"):
        event = decision.get("event")
        return dict(event) if event is not None else None
    if refusals_raise:
        raise _refusal(decision)
    return _rejection_event(decision)


def commit_lifecycle_event(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    decide: Decide,
    common: Mapping[str, Any],
    *,
    events: list[dict[str, Any]] | None = None,
    dry_run: bool = False,
    record_rejections: bool = True,
    max_attempts: int = 60,
) -> CommitOutcome:
    """Decide a transition on the current state and append it to the log, retrying when another writer wins.

    Each attempt folds the log up to its last event ``N``, calls ``decide`` and tries to append at ``N + 1``
    (``append_lifecycle_event``). When another writer got ``N + 1`` first, the new events are read and
    ``decide`` runs again on the new state (so a promotion that lost a race demotes the winner, and a forbidden
    transition is re-checked). A refused transition is recorded as a ``rejection`` event (unless ``dry_run``) and
    raised.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        decide: ``state -> {"event": dict or None, "error": str, "error_type": str, ...}`` (see
            ``StagePlan.decision``); the state is a ``LifecycleState``.
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
        TransitionRefusedError: For a forbidden transition (a ``ValueError``).
        ApprovalRequiredError: For a missing approval (a ``PermissionError``).
        ConcurrencyError: When ``max_attempts`` races were lost (a ``RuntimeError``).
    """
    log_events = events if events is not None else read_lifecycle_events(conn, str(model["id"]))
    conflicts = 0
    for attempt in range(1, max(1, int(max_attempts)) + 1):
        decision = dict(decide(fold_lifecycle_events(log_events)))
        planned = _planned_event(decision, refusals_raise=dry_run or not record_rejections)
        if planned is None:
            return CommitOutcome(None, decision, log_events, conflicts)
        event, seq = _stamped(common, planned, conflicts), len(log_events) + 1
        if dry_run:
            log_events.append(
                {**event, "seq": seq, "model_id": str(model["id"]), "model": str(model.get("name") or "")}
            )
            return CommitOutcome(log_events[-1], decision, log_events, conflicts)
        stored = append_lifecycle_event(conn, model, seq, event)
        if stored is not None:
            log_events.append(stored)
            log.info("%s", describe_lifecycle_event(stored))
            if decision.get("error"):
                raise _refusal(decision)
            return CommitOutcome(stored, decision, log_events, conflicts)
        conflicts += 1
        _catch_up(conn, model, log_events, seq)
        time.sleep(random.uniform(0, min(0.25, 0.01 * attempt)))
    raise ConcurrencyError(
        f"could not record the change of registered model {model.get('name')!r}: {conflicts} other changes won the"
        " race for the next audit-trail position. Fix: re-run (nothing was changed by this attempt); if this"
        " persists, fewer concurrent promotions of the same model"
    )
