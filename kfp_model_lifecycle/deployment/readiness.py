"""Where an InferenceService stands for one generation of its spec, and waiting until it is Ready.

Ready means condition ``Ready`` is ``"True"`` and ``status.observedGeneration`` has caught up with the generation
the create/patch returned (an older Ready is stale). Failed means, for that generation, ``modelStatus.
transitionStatus`` is ``BlockedByFailedLoad`` or ``InvalidSpec``: waiting stops at once instead of running into
the timeout.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_PROGRESS_SECONDS,
    ENV_POLL_SECONDS,
    ENV_PROGRESS_SECONDS,
    FAILED_TRANSITIONS,
)
from kfp_model_lifecycle.deployment.kube import env_float
from kfp_model_lifecycle.log import logger as log


class Readiness(StrEnum):
    """Where an InferenceService stands with respect to one generation."""

    READY = "ready"
    FAILED = "failed"
    PROGRESSING = "progressing"
    DELETED = "deleted"
    TIMEOUT = "timeout"
    """Still progressing when the wait's bound passed."""


@dataclass(frozen=True)
class ServiceState:
    """One reading of an InferenceService's status.

    Attributes:
        state: Where it stands.
        reason: Why (e.g. ``BlockedByFailedLoad: ModelLoadFailed``; "" when ready).
        message: The controller's message ("" when none).
        url: ``status.url`` ("" when not known yet).
        observed_generation: ``status.observedGeneration``.
        summary: One line for the log, e.g. ``Ready=True, observedGeneration=3/3``.
        elapsed: Seconds waited (set by :func:`wait_for_inference_service`).
        object: The object read (None when it does not exist).
    """

    state: Readiness
    reason: str = ""
    message: str = ""
    url: str = ""
    observed_generation: int = 0
    summary: str = ""
    elapsed: float = 0.0
    object: dict[str, Any] | None = None


def inference_service_state(obj: Mapping[str, Any] | None, generation: int) -> ServiceState:
    """Where an InferenceService stands with respect to one generation of its spec.

    Args:
        obj: The live object (None when it does not exist).
        generation: The generation the caller's create/patch returned.

    Returns:
        The state (``ready``, ``failed``, ``progressing`` or ``deleted``), without ``elapsed`` and ``object``.
    """
    if obj is None:
        return ServiceState(Readiness.DELETED, "NotFound", "the InferenceService does not exist", summary="not found")
    status = obj.get("status") or {}
    try:
        observed = int(status.get("observedGeneration") or 0)
    except (TypeError, ValueError):
        observed = 0
    conditions = {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}
    ready = conditions.get("Ready") or {}
    model_status = status.get("modelStatus") or {}
    transition = str(model_status.get("transitionStatus") or "")
    failure = model_status.get("lastFailureInfo") or {}
    base = ServiceState(
        Readiness.PROGRESSING,
        url=str(status.get("url") or (status.get("address") or {}).get("url") or ""),
        observed_generation=observed,
        summary=_summary(status, ready, transition, observed, generation),
    )
    current = observed >= int(generation)
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return dataclasses.replace(
            base, state=Readiness.DELETED, reason="Deleting", message="the InferenceService is being deleted"
        )
    if current and transition in FAILED_TRANSITIONS:
        reason = str(failure.get("reason") or ready.get("reason") or transition)
        message = str(failure.get("message") or ready.get("message") or "")
        return dataclasses.replace(base, state=Readiness.FAILED, reason=f"{transition}: {reason}", message=message)
    if current and str(ready.get("status")) == "True":
        return dataclasses.replace(base, state=Readiness.READY)
    return dataclasses.replace(base, reason=str(ready.get("reason") or ""), message=str(ready.get("message") or ""))


def _summary(
    status: Mapping[str, Any], ready: Mapping[str, Any], transition: str, observed: int, generation: int
) -> str:
    parts = [f"Ready={ready.get('status') or 'Unknown'}"]
    if ready.get("reason"):
        parts[0] += f" ({ready['reason']})"
    if transition:
        parts.append(f"transitionStatus={transition}")
    parts.append(f"observedGeneration={observed}/{generation}")
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    if traffic:
        parts.append("traffic=" + ",".join(f"{t.get('revisionName')}:{t.get('percent')}%" for t in traffic))
    return ", ".join(parts)


def wait_for_inference_service(
    get_object: Callable[[], Any],
    generation: int,
    *,
    timeout_seconds: float,
    what: str,
    poll_seconds: float | None = None,
    progress_seconds: float | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServiceState:
    """Poll an InferenceService until it is ready for ``generation``, has failed, or the time is up.

    Args:
        get_object: Returns the live object (or None when gone); errors propagate.
        generation: The generation to wait for.
        timeout_seconds: The bound.
        what: What is awaited, for the log (e.g. ``kubeflow-user/iris generation 3``).
        poll_seconds: Poll interval (default env ``KML_DEPLOY_POLL_SECONDS`` or 2).
        progress_seconds: Progress log interval (default env ``KML_DEPLOY_PROGRESS_SECONDS`` or 10); a change of
            state is logged at once.
        clock: Monotonic clock (tests).
        sleep: Sleep function (tests).
        env: Environment (default ``os.environ``).

    Returns:
        The state of the last read with ``elapsed`` and ``object``; ``timeout`` when the bound passed first.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    poll = _interval(poll_seconds, env, ENV_POLL_SECONDS, DEFAULT_POLL_SECONDS)
    progress = _interval(progress_seconds, env, ENV_PROGRESS_SECONDS, DEFAULT_PROGRESS_SECONDS)
    started = clock()
    deadline = started + max(0.0, float(timeout_seconds))
    last_logged, last_summary = started, ""
    log.info("waiting up to %.0fs for %s to become Ready", float(timeout_seconds), what)
    while True:
        obj = get_object()
        now = clock()
        state = dataclasses.replace(inference_service_state(obj, generation), elapsed=now - started, object=obj)
        if state.state != Readiness.PROGRESSING:
            log.info("%s: %s after %.1fs (%s)", what, state.state.value, state.elapsed, state.summary)
            return state
        if state.summary != last_summary or now - last_logged >= progress:
            detail = f" - {state.message[:300]}" if state.message else ""
            log.info("%s: %s [%.0fs of %.0fs]%s", what, state.summary, state.elapsed, timeout_seconds, detail)
            last_logged, last_summary = now, state.summary
        if now >= deadline:
            log.warning("%s: not Ready within %.0fs (%s)", what, float(timeout_seconds), state.summary)
            return dataclasses.replace(state, state=Readiness.TIMEOUT, reason=state.reason or "Timeout")
        sleep(max(0.0, min(poll, deadline - now)))


def _interval(given: float | None, env: Mapping[str, str] | None, name: str, default: float) -> float:
    """An interval in seconds: the one given, else the environment knob ``name`` (at least 0.05), else ``default``."""
    return float(given) if given is not None else env_float(env, name, default, 0.05)
