"""One line of text per audit-trail event: for logs, the registry UI (the event's description) and ``kml models``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kfp_model_lifecycle.lifecycle.conventions import EventType

_Describe = Callable[[Mapping[str, Any], str, str, str], str]


def _stage(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    what = f"stage {version}: {src or '(none)'} -> {dst}"
    if event.get("demoted_version"):
        what += f" (demoted {event['demoted_version']} to {event.get('demoted_to') or '?'})"
    if event.get("rollback"):
        what += " [rollback]"
    return what


def _alias(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    alias = event.get("alias") or "?"
    if dst:
        return f"alias @{alias}: {src or '(unset)'} -> {dst}"
    return f"alias @{alias}: removed from {src or version}"


def _approval(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    return f"approval {version}: {src or 'none'} -> {dst}"


def _change(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    kind = event.get("type") or "?"
    return f"{kind} {version}" + (f": {src or '-'} -> {dst}" if src or dst else "")


def _rejection(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    if event.get("requested") or event.get("refusal"):  # a refused transition
        refusal = str(event.get("refusal") or "").split(". ")[0].strip()
        return f"refused {event.get('requested') or dst} for {version}" + (f" ({refusal})" if refusal else "")
    # e.g. a challenger that lost its comparison (record_model_event)
    return f"rejected {version}" + (f": {src or '-'} -> {dst}" if src or dst else "")


def _policy(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    return f"policy: {src or '(default)'} -> {dst}"


def _deployment(event: Mapping[str, Any], version: str, src: str, dst: str) -> str:
    target = event.get("target") or (dst if dst not in ("", "deployed", "undeployed") else "?")
    if dst == "undeployed":
        return f"undeployed {version} from {target}"
    what = f"deployed {version} to {target}" + (f" (replacing {src})" if src and src != version else "")
    return what + (" [rollback]" if event.get("rollback") else "")


_DESCRIBE: dict[str, _Describe] = {
    EventType.STAGE: _stage,
    EventType.ALIAS: _alias,
    EventType.APPROVAL: _approval,
    EventType.REJECTION: _rejection,
    EventType.POLICY: _policy,
    EventType.DEPLOYMENT: _deployment,
}


def describe_lifecycle_event(event: Mapping[str, Any]) -> str:
    """One line describing an event, for logs, the UI (the doc-artifact's description) and ``kml models history``.

    Args:
        event: A decoded event (see ``decode_lifecycle_event``) or an event being built.

    Returns:
        e.g. ``#12 stage 1.0.3: staging -> production (demoted 1.0.2 to archived) by kfp-run:train-x: better``.
    """
    describe = _DESCRIBE.get(str(event.get("type") or ""), _change)
    version = event.get("version") or event.get("version_id") or "-"
    what = describe(event, str(version), str(event.get("from") or ""), str(event.get("to") or ""))
    seq = event.get("seq")
    head = f"#{seq} " if seq else ""
    actor = event.get("actor") or "unknown"
    reason = (event.get("reason") or "").strip()
    return f"{head}{what} by {actor}" + (f": {reason}" if reason else "")


def describe_change(event: Mapping[str, Any]) -> str:
    """What an event changed, without its number, actor and reason (for tables that show those in columns).

    Args:
        event: A decoded event.

    Returns:
        e.g. ``stage 1.0.3: staging -> production``.
    """
    return describe_lifecycle_event({**dict(event), "seq": None, "actor": "", "reason": ""}).rsplit(" by ", 1)[0]
