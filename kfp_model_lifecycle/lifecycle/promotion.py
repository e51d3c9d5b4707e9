"""Promoting a model version: move it to a stage and/or point aliases at it, or roll production back.

Each step is one audit-trail event decided on the newest state (see ``commit_lifecycle_event``): the stage
change (a promotion to ``production`` demotes the previous holder in the same event), removed aliases, set
aliases. Then the view is brought in line with the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle.commit import CommitOutcome, Decide, commit_lifecycle_event
from kfp_model_lifecycle.lifecycle.completeness import incomplete_version_error, is_complete
from kfp_model_lifecycle.lifecycle.conventions import Stage
from kfp_model_lifecycle.lifecycle.describe import describe_lifecycle_event
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.lifecycle.inputs import check_flag, check_number, check_text, check_text_list
from kfp_model_lifecycle.lifecycle.names import check_alias_name, check_demote_to, check_stage_name
from kfp_model_lifecycle.lifecycle.planning import (
    AliasPlan,
    Holder,
    StagePlan,
    plan_alias_change,
    plan_rollback,
    plan_stage_change,
)
from kfp_model_lifecycle.lifecycle.policy import lifecycle_policy
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_common_fields
from kfp_model_lifecycle.lifecycle.references import (
    ReferenceKind,
    format_model_reference,
    parse_model_reference,
    resolve_model_reference,
)
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name, get_model_version_by_id
from kfp_model_lifecycle.lifecycle.results import PromotionResult
from kfp_model_lifecycle.lifecycle.state import LifecycleState, fold_lifecycle_events, version_lifecycle
from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view


@dataclass(frozen=True)
class PromotionRequest:
    """The checked inputs of a promotion (see :func:`promote_model_version`).

    Attributes:
        stage: Target stage ("" to leave it; ``production`` for a rollback).
        set_aliases: Aliases to point at the version.
        drop_aliases: Aliases to remove.
        demote_to: Stage for a displaced production version ("" for the model's).
        require_approval: Require an approval for production even if the model does not.
        rollback: Re-promote the previous production version.
        dry_run: Plan only.
        record_rejections: Record refused transitions as ``rejection`` events.
        max_attempts: Bound on lost races per step.
    """

    stage: str
    set_aliases: tuple[str, ...]
    drop_aliases: tuple[str, ...]
    demote_to: str = ""
    require_approval: bool = False
    rollback: bool = False
    dry_run: bool = False
    record_rejections: bool = True
    max_attempts: int = 60

    @property
    def needs_model_artifact(self) -> bool:
        """Whether the version must be complete: anything but archiving it or removing aliases needs its model."""
        return bool(self.set_aliases) or self.stage not in ("", Stage.ARCHIVED)


def check_promotion_request(
    stage: str,
    aliases: Iterable[str] | None,
    remove_aliases: Iterable[str] | None,
    *,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    dry_run: bool = False,
    record_rejections: bool = True,
    max_attempts: int = 60,
) -> PromotionRequest:
    """Validate what a promotion is asked to do.

    Args:
        stage: Target stage ("" to leave it).
        aliases: Aliases to set.
        remove_aliases: Aliases to remove.
        demote_to: Stage for a displaced production version ("" for the model's).
        require_approval: Require an approval for production even if the model does not.
        rollback: Re-promote the previous production version (``stage`` must be empty or ``production``).
        dry_run: Plan only.
        record_rejections: Record refused transitions as ``rejection`` events.
        max_attempts: Bound on lost races per step.

    Returns:
        The request.

    Raises:
        InvalidInputError: For values of the wrong type, invalid names, an alias both set and removed, a rollback
            to another stage, or nothing to do (a ``ValueError``).
    """
    stage_text = check_text(stage, "stage", example="'production'")
    stage_name = check_stage_name(stage_text) if stage_text.strip() else ""
    set_aliases = tuple(check_alias_name(a) for a in check_text_list(aliases, "aliases", example="['champion']"))
    drop_aliases = tuple(
        check_alias_name(a) for a in check_text_list(remove_aliases, "remove_aliases", example="['challenger']")
    )
    both = sorted(set(set_aliases) & set(drop_aliases))
    if both:
        raise InvalidInputError(f"alias(es) {both} are both set and removed: choose one")
    demote_to = check_text(demote_to, "demote_to", example="'archived'").strip()
    if demote_to:
        check_demote_to(demote_to)
    require_approval, rollback = check_flag(require_approval, "require_approval"), check_flag(rollback, "rollback")
    dry_run, record_rejections = check_flag(dry_run, "dry_run"), check_flag(record_rejections, "record_rejections")
    max_attempts = int(check_number(max_attempts, "max_attempts", minimum=1, whole=True, example="60"))
    if rollback:
        if stage_name and stage_name != Stage.PRODUCTION:
            raise InvalidInputError(f"rollback re-promotes to production: leave stage empty (got {stage_text!r})")
        stage_name = Stage.PRODUCTION.value
    elif not (stage_name or set_aliases or drop_aliases):
        raise InvalidInputError("nothing to do: give a stage, aliases to set or remove, or rollback=True")
    return PromotionRequest(
        stage_name,
        set_aliases,
        drop_aliases,
        demote_to=demote_to,
        require_approval=require_approval,
        rollback=rollback,
        dry_run=dry_run,
        record_rejections=record_rejections,
        max_attempts=max_attempts,
    )


def _subject(
    conn: RegistryConnection, reference: str, default_model: str, request: PromotionRequest
) -> tuple[Wire, Wire | None]:
    """The model and version to promote (no version yet for a rollback: it comes from the history)."""
    if not request.rollback:
        resolved = resolve_model_reference(
            conn,
            reference,
            default_model=default_model,
            repair=not request.dry_run,
            with_artifact=request.needs_model_artifact,
            purpose="promoted",
        )
        return resolved.model, resolved.version
    ref = parse_model_reference(reference, default_model)
    if ref.kind != ReferenceKind.DEFAULT:
        raise InvalidInputError(
            f"rollback takes the model name, not {reference!r}: it re-promotes the previous production version"
            f" from the history (e.g. rollback of {ref.model!r})"
        )
    return find_model_by_name(conn, ref.model), None


class _Promotion:
    """One promotion in progress: its steps share the log, the target version and what changed."""

    def __init__(
        self,
        conn: RegistryConnection,
        model: Wire,
        version: Wire | None,
        request: PromotionRequest,
        common: Mapping[str, Any],
    ) -> None:
        self.conn, self.model, self.version, self.request, self.common = conn, model, version, request, common
        self.model_name = str(model.get("name") or "")
        self.policy = lifecycle_policy(model)
        self.events = read_lifecycle_events(conn, str(model["id"]))
        self.start_state = fold_lifecycle_events(self.events)
        self.appended: list[dict[str, Any]] = []
        self.conflicts = 0
        self.holder_before: Holder | None = None
        self.stage_plan: StagePlan | None = None
        self.alias_plan: AliasPlan | None = None
        self._known: dict[str, Wire] = {str(version["id"]): dict(version)} if version is not None else {}

    def _commit(self, decide: Decide, *, record_rejections: bool = True) -> CommitOutcome:
        outcome = commit_lifecycle_event(
            self.conn,
            self.model,
            decide,
            self.common,
            events=self.events,
            dry_run=self.request.dry_run,
            record_rejections=record_rejections,
            max_attempts=self.request.max_attempts,
        )
        self.conflicts += outcome.conflicts
        if outcome.event is not None:
            self.appended.append(outcome.event)
        return outcome

    def _version_by_id(self, vid: str) -> Wire:
        if vid not in self._known:
            found = get_model_version_by_id(self.conn, vid)
            if found is None:
                raise NotFoundError(
                    f"model version id {vid} of {self.model_name!r} (from the history) no longer exists"
                )
            self._known[vid] = found
        return self._known[vid]

    def _rollback_target(self, state: LifecycleState) -> Wire:
        choice = plan_rollback(state)
        if choice is None:
            history = [h.version for h in state.production_history]
            raise NotFoundError(
                f"nothing to roll back to: {self.model_name!r} has no earlier production version"
                + (f" (production history: {', '.join(map(str, history))})" if history else "")
                + ". Fix: promote a specific version instead (`kml models promote NAME:VERSION --stage"
                " production`)"
            )
        target = self._version_by_id(choice.version_id)
        if not is_complete(self.conn, target):
            raise incomplete_version_error(format_model_reference(self.model_name, choice.version), "rolled back to")
        return target

    def _decide_stage(self, state: LifecycleState) -> dict[str, Any]:
        request = self.request
        if request.rollback:
            self.version = self._rollback_target(state)
        assert self.version is not None  # set unless this is a rollback
        self.stage_plan = plan_stage_change(
            state,
            self.version,
            request.stage,
            self.policy,
            demote_to=request.demote_to,
            require_approval=request.require_approval,
            rollback=request.rollback,
            model_name=self.model_name,
        )
        return self.stage_plan.decision()

    def move_stage(self) -> None:
        """The stage step; a refusal is recorded, the view updated to include it, and raised."""
        request = self.request
        try:
            self._commit(self._decide_stage, record_rejections=request.record_rejections)
        except (ValueError, PermissionError):
            if not request.dry_run and request.record_rejections:
                sync_lifecycle_view(self.conn, self.model, events=self.events)  # the view includes the rejection
            raise
        if request.stage == Stage.PRODUCTION and self.stage_plan is not None:
            self.holder_before = self.stage_plan.previous_holder

    def change_alias(self, alias: str, *, remove: bool) -> None:
        """One alias step: remove the alias from its holder, or point it at the version."""

        def decide(state: LifecycleState) -> dict[str, Any]:
            self.alias_plan = plan_alias_change(state, None if remove else self.version, alias, remove=remove)
            return self.alias_plan.decision()

        self._commit(decide)
        previous = self.alias_plan.previous_holder if self.alias_plan else None
        if self.holder_before is not None or self.request.stage == Stage.PRODUCTION:
            return
        if remove or (
            previous is not None and self.version is not None and previous.version_id != str(self.version["id"])
        ):
            self.holder_before = previous

    def result(self) -> PromotionResult:
        """Bring the view in line with the log (unless a dry run) and report what changed."""
        request, version = self.request, self.version
        assert version is not None  # every promotion has a version by now
        if request.dry_run:
            final = fold_lifecycle_events(self.events)
        else:
            final = sync_lifecycle_view(self.conn, self.model, events=self.events)["state"]
        vid = str(version["id"])
        vname = str(version.get("name") or vid)
        reference = format_model_reference(self.model_name, vname)
        holder = self.holder_before
        previous = ""
        if holder is not None and holder.version_id and holder.version_id != vid:
            previous = format_model_reference(self.model_name, holder.version)
        after = version_lifecycle(final, vid)
        prefix = "(dry run) " if request.dry_run else ""
        return PromotionResult(
            model=self.model_name,
            model_id=str(self.model["id"]),
            version=vname,
            version_id=vid,
            reference=reference,
            stage=after.stage,
            previous_stage=version_lifecycle(self.start_state, vid).stage,
            aliases=after.aliases,
            new_holder=reference,
            previous_holder=previous,
            events=self.appended,
            event_seq=int(self.appended[-1]["seq"]) if self.appended else 0,
            changed=bool(self.appended),
            dry_run=request.dry_run,
            rollback=request.rollback,
            conflicts=self.conflicts,
            summary=[prefix + describe_lifecycle_event(e) for e in self.appended],
        )


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
) -> PromotionResult:
    """Move a model version to a stage and/or set aliases, recording each transition in the audit trail.

    Steps, each one event decided on the newest state (see ``commit_lifecycle_event``): the stage change
    (a promotion to ``production`` demotes the previous holder in the same event), removed aliases, set aliases.
    Then the view (properties, labels, ARCHIVED state) is brought in line with the log. Idempotent: steps that are
    already true append nothing. With ``rollback``, ``reference`` names the model and the most recent former
    production version (see ``plan_rollback``) is re-promoted.

    Args:
        conn: From ``connect_model_registry``.
        reference: ``name:VERSION``, ``name@ALIAS``, ``name`` ... (see ``resolve_model_reference``); for a
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
        What changed: the version, its stage and aliases before and after, the new and previous holder, the
        events appended (or, in a dry run, planned).

    Raises:
        InvalidInputError: Invalid input (a ``ValueError``).
        TransitionRefusedError: A forbidden transition (a ``ValueError``).
        ApprovalRequiredError: A missing approval (a ``PermissionError``).
        NotFoundError: Unknown model, version or alias; nothing to roll back to (a ``LookupError``).
    """
    reference = check_text(reference, "model reference", example="'iris:1.0.3'")
    request = check_promotion_request(
        stage,
        aliases,
        remove_aliases,
        demote_to=demote_to,
        require_approval=require_approval,
        rollback=rollback,
        dry_run=dry_run,
        record_rejections=record_rejections,
        max_attempts=max_attempts,
    )
    common = lifecycle_common_fields(actor, reason, evidence)
    model, version = _subject(conn, reference, default_model, request)
    promotion = _Promotion(conn, model, version, request, common)
    if request.stage:
        promotion.move_stage()
    for alias in request.drop_aliases:
        promotion.change_alias(alias, remove=True)
    for alias in request.set_aliases:
        promotion.change_alias(alias, remove=False)
    return promotion.result()
