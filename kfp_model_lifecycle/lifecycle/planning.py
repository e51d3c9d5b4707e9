"""Deciding transitions on a folded state (pure): stage changes, alias changes and the target of a rollback.

A plan is decided again on the newest state every time a writer loses the race for the next audit-trail position
(see ``commit_lifecycle_event``); :meth:`StagePlan.decision` and :meth:`AliasPlan.decision` are what its
``decide`` callback returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.commit import Refusal
from kfp_model_lifecycle.lifecycle.conventions import DEFAULT_DEMOTE_TO, EventType, Stage
from kfp_model_lifecycle.lifecycle.names import check_alias_name, check_demote_to, check_stage_name
from kfp_model_lifecycle.lifecycle.policy import LifecyclePolicy
from kfp_model_lifecycle.lifecycle.references import format_model_reference
from kfp_model_lifecycle.lifecycle.state import LifecycleState, version_lifecycle


@dataclass(frozen=True)
class Holder:
    """The version that holds a stage or alias.

    Attributes:
        version_id: Its id.
        version: Its name (its id when the audit trail never named it).
    """

    version_id: str
    version: str


@dataclass(frozen=True)
class StagePlan:
    """A decided stage transition of one version.

    Attributes:
        event: The event to append, or None when the version is already in the stage (or the move is refused).
        error: Why the transition is refused, with the fix ("" when allowed).
        error_type: ``transition`` (not allowed by the rules) or ``approval`` (missing approval); "" when allowed.
        source: The version's stage before.
        target: The stage requested.
        previous_holder: The production version it displaces, if any.
        version_id: The version's id.
        version: The version's name.
        rollback: Whether this is a rollback.
    """

    event: dict[str, Any] | None
    error: str
    error_type: str
    source: str
    target: str
    previous_holder: Holder | None
    version_id: str
    version: str
    rollback: bool = False

    def decision(self) -> dict[str, Any]:
        """The decision for ``commit_lifecycle_event``; a refusal carries what its rejection event records.

        Returns:
            ``event``, ``error``, ``error_type``, ``version_id``, ``version``, ``from``, ``requested`` and
            ``requested_to``.
        """
        return {
            "event": self.event,
            "error": self.error,
            "error_type": self.error_type,
            "version_id": self.version_id,
            "version": self.version,
            "from": self.source,
            "requested": f"stage {self.target}" + (" (rollback)" if self.rollback else ""),
            "requested_to": self.target,
        }


@dataclass(frozen=True)
class AliasPlan:
    """A decided alias change.

    Attributes:
        event: The event to append, or None when nothing changes.
        previous_holder: The version that held the alias before, if any.
    """

    event: dict[str, Any] | None
    previous_holder: Holder | None

    def decision(self) -> dict[str, Any]:
        """The decision for ``commit_lifecycle_event``.

        Returns:
            ``event`` and ``error`` ("").
        """
        return {"event": self.event, "error": ""}


@dataclass(frozen=True)
class RollbackTarget:
    """The version a rollback re-promotes.

    Attributes:
        version_id: Its id.
        version: Its name.
        seq: The event that last made it the production version.
    """

    version_id: str
    version: str
    seq: int


def _holder(state: LifecycleState, version_id: str) -> Holder | None:
    return Holder(version_id, state.version_name(version_id)) if version_id else None


def _transition_error(policy: LifecyclePolicy, ref: str, source: str, target: str, model_name: str) -> str:
    allowed = list(policy.allowed_transitions.get(source) or [])
    if target in allowed:
        return ""
    rules = "the model's kml_allowed_transitions" if policy.custom_transitions else "the default rules"
    options = ", ".join(allowed) if allowed else "nothing (it may not move)"
    return (
        f"moving {ref} from {source} to {target} is not allowed by {rules}: from {source} it may move to"
        f" {options}. Fix: move it to an allowed stage first, or change the rules"
        f" (`kml models policy {model_name or 'NAME'} --transitions JSON`)"
    )


def _approval_error(state: LifecycleState, vid: str, ref: str, policy: LifecyclePolicy) -> str:
    approval = version_lifecycle(state, vid).approval
    status = (approval.status if approval else "") or "none"
    if status == "approved":
        return ""
    if policy.requires_approval:
        why = "the model requires approval before production"
    else:
        why = "this promotion requires approval (require_approval=True)"
    detail = ""
    if approval and status == "rejected":
        detail = f" It was rejected by {approval.by or 'unknown'}"
        detail += f": {approval.comment}." if approval.comment else "."
    return (
        f"{ref} cannot go to production: {why} and its approval status is {status!r}.{detail} Fix: approve"
        f" it (`kml models approve {ref} --comment TEXT` or the approve_model component), then promote"
        " again"
    )


def plan_stage_change(
    state: LifecycleState,
    version: Mapping[str, Any],
    stage: str,
    policy: LifecyclePolicy,
    *,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    model_name: str = "",
) -> StagePlan:
    """Decide a stage transition of one version against the current state and the model's policy.

    Promoting to ``production`` demotes the current holder (to ``demote_to``, else the policy's, default
    ``archived``) in the same event, so there is never a moment with two production versions. Rules: the
    transition must be allowed (the model's ``kml_allowed_transitions`` or the default); ``production`` needs an
    ``approved`` version when the model requires approval (or ``require_approval``); a rollback skips the approval
    check (the version was in production before).

    Args:
        state: From ``fold_lifecycle_events``.
        version: The ModelVersion in wire form.
        stage: Target stage.
        policy: From ``lifecycle_policy``.
        demote_to: Stage for the displaced production version ("" for the policy's).
        require_approval: Require approval for this promotion even if the model does not.
        rollback: Mark the event as a rollback.
        model_name: For messages.

    Returns:
        The plan: the event to append (None when already so), or why the transition is refused.

    Raises:
        InvalidInputError: For an unknown stage, or ``production`` as the stage to demote to (a ``ValueError``).
    """
    target = check_stage_name(stage)
    vid = str(version["id"])
    vname = str(version.get("name") or vid)
    source = version_lifecycle(state, vid).stage
    previous = _holder(state, state.production if state.production != vid else "")
    plan = StagePlan(None, "", "", source, target, previous, vid, vname, rollback)
    if source == target:
        return plan
    ref = format_model_reference(model_name, vname) or vname
    error = _transition_error(policy, ref, source, target, model_name)
    if error:
        return replace(plan, error=error, error_type=Refusal.TRANSITION)
    if target == Stage.PRODUCTION and not rollback and (policy.requires_approval or require_approval):
        error = _approval_error(state, vid, ref, policy)
        if error:
            return replace(plan, error=error, error_type=Refusal.APPROVAL)
    event: dict[str, Any] = {
        "type": EventType.STAGE.value,
        "version_id": vid,
        "version": vname,
        "from": source,
        "to": target,
    }
    if rollback:
        event["rollback"] = True
    if target == Stage.PRODUCTION and previous:
        demote = check_demote_to(demote_to or policy.demote_to or DEFAULT_DEMOTE_TO)
        event.update(demoted_version_id=previous.version_id, demoted_version=previous.version, demoted_to=demote)
    return replace(plan, event=event)


def _alias_event(alias: str, subject: Holder, to: str, previous: Holder | None) -> dict[str, Any]:
    """An alias event about ``subject``: pointing the alias at it (``to`` its name) or removing it (``to`` "")."""
    return {
        "type": EventType.ALIAS.value,
        "alias": alias,
        "version_id": subject.version_id,
        "version": subject.version,
        "from": previous.version if previous else "",
        "to": to,
        "previous_version_id": previous.version_id if previous else "",
    }


def plan_alias_change(
    state: LifecycleState, version: Mapping[str, Any] | None, alias: str, *, remove: bool = False
) -> AliasPlan:
    """Decide setting (or removing) an alias.

    An alias names one version per model; setting it on a version moves it from its previous holder.

    Args:
        state: From ``fold_lifecycle_events``.
        version: The version to point the alias at (ignored for ``remove``).
        alias: The alias name.
        remove: Remove the alias from whichever version holds it.

    Returns:
        The plan: the event to append (None when nothing changes) and the previous holder.

    Raises:
        InvalidInputError: For an invalid alias, or setting one without a version (a ``ValueError``).
    """
    name = check_alias_name(alias)
    previous = _holder(state, state.aliases.get(name) or "")
    if remove:
        if previous is None:
            return AliasPlan(None, None)
        return AliasPlan(_alias_event(name, previous, "", previous), previous)
    if version is None:
        raise InvalidInputError(f"setting alias {name!r} needs a model version")
    vid = str(version["id"])
    if previous and previous.version_id == vid:
        return AliasPlan(None, previous)
    vname = str(version.get("name") or vid)
    return AliasPlan(_alias_event(name, Holder(vid, vname), vname, previous), previous)


def plan_rollback(state: LifecycleState) -> RollbackTarget | None:
    """The version a rollback re-promotes: the most recent former production version.

    Versions that were rolled back *from* are skipped (until promoted normally again), so repeated rollbacks walk
    back through the production history instead of flipping between two versions.

    Args:
        state: From ``fold_lifecycle_events``.

    Returns:
        The target, or None when there is none.
    """
    for entry in reversed(state.production_history):
        vid = entry.version_id
        item = state.versions.get(vid)
        if not vid or vid == state.production or (item is not None and item.rolled_back):
            continue
        return RollbackTarget(version_id=vid, version=entry.version or vid, seq=entry.seq)
    return None
