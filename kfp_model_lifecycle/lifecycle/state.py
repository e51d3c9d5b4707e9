"""The lifecycle state a model's audit trail implies: the fold of its events, applied in ``seq`` order.

The state is what the materialized view shows (stages, aliases, approvals, the production pointer) and what
every transition is decided on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.lifecycle.conventions import DEFAULT_DEMOTE_TO, INITIAL_STAGE, STAGES, EventType, Stage


@dataclass(frozen=True)
class Approval:
    """A version's last approval decision.

    Attributes:
        status: ``approved``, ``rejected`` or ``pending``.
        by: Who decided.
        comment: Why.
        time: When (UTC, ISO 8601).
        seq: The event that recorded it.
    """

    status: str
    by: str
    comment: str
    time: str
    seq: int


@dataclass
class VersionState:
    """One version's lifecycle in the fold.

    Attributes:
        version: The version name ("" when no event named it).
        stage: Its stage ("" when it never moved).
        stage_time: When it got there.
        stage_seq: The event that moved it there.
        approval: Its last approval decision, or None.
        rolled_back: Whether a rollback displaced it from production (and it was not promoted normally since).
    """

    version: str = ""
    stage: str = ""
    stage_time: str = ""
    stage_seq: int = 0
    approval: Approval | None = None
    rolled_back: bool = False


@dataclass(frozen=True)
class ProductionEntry:
    """A time a version became the production version.

    Attributes:
        version_id: The version id.
        version: The version name.
        seq: The event.
        time: When.
        rollback: Whether it was a rollback.
    """

    version_id: str
    version: str
    seq: int
    time: str
    rollback: bool


@dataclass
class LifecycleState:
    """The state a model's audit trail implies.

    Attributes:
        last_seq: The last event folded in.
        versions: Version id -> its lifecycle (only versions some event is about).
        aliases: Alias -> version id.
        production: The production version id, or "".
        production_history: Each time a version became production, oldest first.
    """

    last_seq: int = 0
    versions: dict[str, VersionState] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    production: str = ""
    production_history: list[ProductionEntry] = field(default_factory=list)

    def entry(self, version_id: str, name: str = "") -> VersionState:
        """The version's entry, created when missing; ``name`` (when given) updates its name.

        Args:
            version_id: The version id.
            name: The version name, if the event carries it.

        Returns:
            The (mutable) entry.
        """
        item = self.versions.setdefault(version_id, VersionState(version=name))
        if name:
            item.version = name
        return item

    def version_name(self, version_id: str) -> str:
        """The name of a version the state knows, else its id.

        Args:
            version_id: The version id.

        Returns:
            The name or the id.
        """
        item = self.versions.get(version_id)
        return (item.version if item else "") or version_id


@dataclass(frozen=True)
class VersionLifecycle:
    """One version's lifecycle as people see it.

    Attributes:
        stage: Its stage (``development`` when it never moved).
        stage_time: When it got there ("" when it never moved).
        aliases: The aliases pointing at it, sorted.
        approval: Its last approval decision, or None.
        is_production: Whether it is the production version.
    """

    stage: str
    stage_time: str
    aliases: list[str]
    approval: Approval | None
    is_production: bool


def _demote_displaced(state: LifecycleState, event: Mapping[str, Any], vid: str, seq: int, when: str) -> None:
    demoted = str(event.get("demoted_version_id") or "")
    holder = state.production
    for old in {d for d in (demoted, holder) if d and d != vid}:
        old_item = state.entry(old, str(event.get("demoted_version") or "") if old == demoted else "")
        if old_item.stage == Stage.PRODUCTION or old == holder:
            old_item.stage = str(event.get("demoted_to") or DEFAULT_DEMOTE_TO)
            old_item.stage_time, old_item.stage_seq = when, seq
            if event.get("rollback"):
                old_item.rolled_back = True


def _apply_stage(state: LifecycleState, event: Mapping[str, Any], vid: str, seq: int, when: str) -> None:
    target = str(event.get("to") or "")
    if not vid or target not in STAGES:
        return
    item = state.entry(vid, str(event.get("version") or ""))
    if target == Stage.PRODUCTION:
        _demote_displaced(state, event, vid, seq, when)
        state.production = vid
        item.rolled_back = False
        entry = ProductionEntry(vid, item.version, seq, when, bool(event.get("rollback")))
        state.production_history.append(entry)
    elif state.production == vid:
        state.production = ""
    item.stage, item.stage_time, item.stage_seq = target, when, seq


def _apply_alias(state: LifecycleState, event: Mapping[str, Any], vid: str, seq: int, when: str) -> None:
    alias = str(event.get("alias") or "")
    if not alias:
        return
    if event.get("to") and vid:
        state.entry(vid, str(event.get("version") or ""))
        state.aliases[alias] = vid
    else:
        state.aliases.pop(alias, None)


def _apply_approval(state: LifecycleState, event: Mapping[str, Any], vid: str, seq: int, when: str) -> None:
    if not vid:
        return
    state.entry(vid, str(event.get("version") or "")).approval = Approval(
        status=str(event.get("to") or ""),
        by=str(event.get("actor") or ""),
        comment=str(event.get("reason") or ""),
        time=when,
        seq=seq,
    )


_Apply = Callable[[LifecycleState, Mapping[str, Any], str, int, str], None]
# Other event types (rejection, policy, deployment...) do not change the state.
_APPLY: dict[str, _Apply] = {
    EventType.STAGE: _apply_stage,
    EventType.ALIAS: _apply_alias,
    EventType.APPROVAL: _apply_approval,
}


def fold_lifecycle_events(events: Iterable[Mapping[str, Any]]) -> LifecycleState:
    """The lifecycle state implied by a model's events (applied in ``seq`` order).

    A promotion to production demotes the previous holder even when the event does not name it, so the state
    always has at most one production version.

    Args:
        events: Decoded events (see ``decode_lifecycle_event``), in order.

    Returns:
        The state.
    """
    state = LifecycleState()
    for event in events:
        seq = int(event.get("seq") or 0)
        state.last_seq = max(state.last_seq, seq)
        apply = _APPLY.get(str(event.get("type") or ""))
        if apply:
            apply(state, event, str(event.get("version_id") or ""), seq, str(event.get("time") or ""))
    return state


def version_lifecycle(state: LifecycleState, version_id: str) -> VersionLifecycle:
    """One version's lifecycle in a folded state.

    Args:
        state: From :func:`fold_lifecycle_events`.
        version_id: The version id.

    Returns:
        Its stage, stage time, aliases, approval and whether it is in production.
    """
    vid = str(version_id)
    item = state.versions.get(vid) or VersionState()
    return VersionLifecycle(
        stage=item.stage or INITIAL_STAGE,
        stage_time=item.stage_time,
        aliases=sorted(a for a, v in state.aliases.items() if v == vid),
        approval=item.approval,
        is_production=state.production == vid,
    )
