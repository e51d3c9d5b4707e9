"""Approving a model version for production: record an approval decision (approved, rejected, pending)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.commit import commit_lifecycle_event
from kfp_model_lifecycle.lifecycle.conventions import ApprovalStatus, EventType
from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.lifecycle.inputs import check_flag, check_number, check_text
from kfp_model_lifecycle.lifecycle.names import check_approval_status
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_common_fields
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lifecycle.results import ApprovalResult
from kfp_model_lifecycle.lifecycle.state import Approval, LifecycleState, fold_lifecycle_events, version_lifecycle
from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view


def _approval_event(
    current: Approval | None, wanted: str, common: Mapping[str, Any], version_id: str, version_name: str
) -> dict[str, Any] | None:
    """The approval event to append, or None when the same person already recorded the same decision and comment."""
    if current and (current.status, current.by, current.comment) == (wanted, common["actor"], common["reason"]):
        return None
    return {
        "type": EventType.APPROVAL.value,
        "version_id": version_id,
        "version": version_name,
        "from": (current.status if current else "") or "none",
        "to": wanted,
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
) -> ApprovalResult:
    """Record an approval decision (approved, rejected or pending) for a model version.

    Args:
        conn: From ``connect_model_registry``.
        reference: The version (see ``resolve_model_reference``).
        status: ``approved``, ``rejected`` or ``pending`` (a request for review).
        approver: Who decides (default: the local user).
        comment: Why; required for ``rejected``.
        evidence: Review ticket, report URI... recorded as JSON.
        dry_run: Check only; write nothing.
        default_model: Model name for references without one.
        max_attempts: Bound on lost races.

    Returns:
        The status before and after, who decided, and the event appended (or, in a dry run, planned).

    Raises:
        InvalidInputError: For values of the wrong type, an unknown status or a rejection without comment (a
            ``ValueError``).
        NotFoundError: For an unknown model or version, or a version whose registration did not finish (only a
            rejection may be recorded for it) (a ``LookupError``).
    """
    reference = check_text(reference, "model reference", example="'iris:1.0.3'")
    wanted = check_approval_status(status)
    comment = check_text(comment, "comment", example="'reviewed the report'")
    if wanted == ApprovalStatus.REJECTED and not comment.strip():
        raise InvalidInputError("a rejection needs a comment saying why (comment=...), so the team knows what to fix")
    dry_run = check_flag(dry_run, "dry_run")
    max_attempts = int(check_number(max_attempts, "max_attempts", minimum=1, whole=True, example="60"))
    common = lifecycle_common_fields(check_text(approver, "approver", example="'user:alice'"), comment, evidence)
    resolved = resolve_model_reference(
        conn,
        reference,
        default_model=default_model,
        repair=not dry_run,
        with_artifact=wanted != ApprovalStatus.REJECTED,
        purpose="approved",
    )
    model, version = resolved.model, resolved.version
    vid = str(version["id"])
    vname = str(version.get("name") or vid)
    events = read_lifecycle_events(conn, str(model["id"]))
    before = version_lifecycle(fold_lifecycle_events(events), vid).approval

    def decide(state: LifecycleState) -> dict[str, Any]:
        current = version_lifecycle(state, vid).approval
        return {"event": _approval_event(current, wanted, common, vid, vname), "error": ""}

    outcome = commit_lifecycle_event(
        conn, model, decide, common, events=events, dry_run=dry_run, max_attempts=max_attempts
    )
    if not dry_run:
        sync_lifecycle_view(conn, model, events=events)
    appended = [outcome.event] if outcome.event is not None else []
    return ApprovalResult(
        model=str(model.get("name") or ""),
        model_id=str(model["id"]),
        version=vname,
        version_id=vid,
        reference=resolved.reference,
        status=wanted,
        previous_status=(before.status if before else "") or "none",
        approver=common["actor"],
        events=appended,
        event_seq=int(appended[-1]["seq"]) if appended else 0,
        changed=bool(appended),
        dry_run=bool(dry_run),
        summary=[("(dry run) " if dry_run else "") + describe_lifecycle_event(e) for e in appended],
    )
