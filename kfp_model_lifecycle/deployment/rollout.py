"""Rolling a manifest out safely: Serverless canary, then promotion; on failure the previous state comes back.

Serverless with a canary percent in 1..99 and an existing, changed predictor: the new revision first gets that
share of traffic (``canaryTrafficPercent``); once Ready it is promoted (the percent removed). Otherwise the
manifest rolls out at once. When the new revision fails (``BlockedByFailedLoad``, ``InvalidSpec``, not Ready in
time), the canary percent is set to 0 and the previous spec restored, so the old version keeps serving; a first
deployment that fails is deleted.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.deployment.conventions import DeploymentMode
from kfp_model_lifecycle.deployment.inference_service import (
    ApplyResult,
    apply_inference_service,
    delete_inference_service,
    get_inference_service,
    object_generation,
    patch_live_object,
    set_canary_percent,
    wait_until_deleted,
)
from kfp_model_lifecycle.deployment.kube import KubeClient
from kfp_model_lifecycle.deployment.manifest import manifest_deployment_mode, predictor_template
from kfp_model_lifecycle.deployment.patch import inference_service_patch, managed_metadata_keys
from kfp_model_lifecycle.deployment.readiness import (
    Readiness,
    ServiceState,
    inference_service_state,
    wait_for_inference_service,
)
from kfp_model_lifecycle.deployment.validation import check_canary_percent
from kfp_model_lifecycle.log import logger as log

_RESTORE_ATTEMPTS = 10


class RestoreAction(StrEnum):
    """What an automatic rollback did."""

    DELETED = "deleted"
    """The rollout had created the InferenceService: it was deleted."""
    RESTORED = "restored"
    """The previous spec, labels and annotations were put back."""
    GONE = "gone"
    """The InferenceService disappeared meanwhile."""
    CONFLICT = "conflict"
    """Other writers kept changing it."""
    ERROR = "error"
    """The rollback itself failed (e.g. RBAC without delete)."""


@dataclass(frozen=True)
class RestoreResult:
    """The outcome of an automatic rollback.

    Attributes:
        ok: The previous state is back and Ready, or the created object is deleted.
        action: What was done.
        state: The wait for the restored spec (when restored).
        error: The failure, when the rollback itself failed.
    """

    ok: bool
    action: RestoreAction
    state: ServiceState | None = None
    error: str = ""


@dataclass(frozen=True)
class RolloutFailure:
    """Why a rollout failed.

    Attributes:
        reason: e.g. ``BlockedByFailedLoad: ModelLoadFailed`` or ``timeout``.
        message: The controller's message.
        phase: ``rollout``, ``canary`` or ``promotion``.
        state: The readiness the wait ended with (``failed``, ``timeout``, ``deleted``).
        summary: The last status line.
    """

    reason: str
    message: str
    phase: str
    state: Readiness
    summary: str


@dataclass(frozen=True)
class RolloutResult:
    """What :func:`rollout_inference_service` did.

    Attributes:
        ok: The new spec is Ready and takes all traffic.
        created: The InferenceService did not exist before.
        changed: Anything was written.
        spec_changed: The spec changed (a new revision).
        canary: The canary percent used (0 when none).
        phases: What happened, in order (``created``/``updated``/``unchanged``, ``canary 10%``, ``promoted``,
            ``failed``, ``rolled back``/``rollback failed``).
        url: Where it serves ("" when it does not).
        object: The final live object (None when deleted).
        previous: The object before the rollout (None when created).
        failure: Why it failed (None when ok).
        rollback: The automatic rollback (None when none ran).
    """

    ok: bool
    created: bool
    changed: bool
    spec_changed: bool
    canary: int
    phases: list[str]
    url: str
    object: dict[str, Any] | None
    previous: dict[str, Any] | None
    failure: RolloutFailure | None = None
    rollback: RestoreResult | None = None


def restore_inference_service(
    k8s: KubeClient,
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    *,
    canary_used: bool,
    timeout_seconds: float,
    namespace: str,
    name: str,
) -> RestoreResult:
    """Undo a failed rollout: all traffic back to the previous revision, then the previous spec restored.

    Args:
        k8s: The client.
        previous: The live object before the rollout (None when the rollout created it: it is deleted).
        current: The object as the failed rollout left it (its managed keys tell which labels to remove).
        canary_used: A canary was set (Serverless): first set its percent to 0.
        timeout_seconds: Bound for the restored spec to become Ready.
        namespace: The namespace.
        name: The InferenceService.

    Returns:
        What was done and whether the previous state is back.
    """
    if previous is None:
        log.warning("rolling back: deleting InferenceService %s/%s, which this rollout created", namespace, name)
        delete_inference_service(k8s, namespace, name)
        gone = wait_until_deleted(k8s, namespace, name, timeout_seconds)
        return RestoreResult(gone, RestoreAction.DELETED)
    if canary_used:
        log.warning("rolling back: sending all traffic of %s/%s back to the previous revision", namespace, name)
        set_canary_percent(k8s, namespace, name, 0)
    action, generation = _restore_previous_spec(k8s, previous, current, namespace, name)
    if action != RestoreAction.RESTORED:
        return RestoreResult(False, action)
    log.warning("rolling back: restored the previous spec of %s/%s (generation %d)", namespace, name, generation)
    state = wait_for_inference_service(
        lambda: get_inference_service(k8s, namespace, name),
        generation,
        timeout_seconds=timeout_seconds,
        what=f"{namespace}/{name} (rollback) generation {generation}",
    )
    return RestoreResult(state.state == Readiness.READY, RestoreAction.RESTORED, state)


def _restore_previous_spec(
    k8s: KubeClient, previous: Mapping[str, Any], current: Mapping[str, Any] | None, namespace: str, name: str
) -> tuple[RestoreAction, int]:
    """Patch the previous spec, labels and annotations back; returns what happened and the new generation."""
    desired = {
        "metadata": {
            "labels": dict((previous.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((previous.get("metadata") or {}).get("annotations") or {}),
        },
        "spec": previous.get("spec") or {},
    }
    for _ in range(_RESTORE_ATTEMPTS):
        live = get_inference_service(k8s, namespace, name)
        if live is None:
            return RestoreAction.GONE, 0
        patch = inference_service_patch(live, desired, previously_managed=managed_metadata_keys(current or live))
        if not patch:
            return RestoreAction.RESTORED, object_generation(live)
        action = f"restore the previous spec of InferenceService {namespace}/{name}"
        patched = patch_live_object(k8s, live, patch, action)
        if patched is not None:
            return RestoreAction.RESTORED, object_generation(patched)
    return RestoreAction.CONFLICT, 0


@dataclass(frozen=True)
class _Rollout:
    """One rollout in progress: where, and the time it has (canary and promotion share one bound)."""

    k8s: KubeClient
    manifest: Mapping[str, Any]
    timeout_seconds: float
    started: float

    @property
    def namespace(self) -> str:
        return str(self.manifest["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def wait(self, generation: int, label: str) -> ServiceState:
        remaining = max(1.0, self.timeout_seconds - (time.monotonic() - self.started))
        return wait_for_inference_service(
            lambda: get_inference_service(self.k8s, self.namespace, self.name),
            generation,
            timeout_seconds=remaining,
            what=f"{self.namespace}/{self.name} ({label}) generation {generation}",
        )

    def restore(
        self, previous: Mapping[str, Any] | None, current: Mapping[str, Any] | None, canary: int
    ) -> RestoreResult:
        return restore_inference_service(
            self.k8s, previous, current, canary_used=bool(canary), timeout_seconds=self.timeout_seconds,
            namespace=self.namespace, name=self.name,
        )  # fmt: skip


def rollout_inference_service(
    k8s: KubeClient,
    manifest: Mapping[str, Any],
    *,
    canary_percent: int = 0,
    timeout_seconds: float = 600.0,
) -> RolloutResult:
    """Apply a manifest and see it through: canary, promotion, or automatic rollback on failure.

    Serverless with ``canary_percent`` in 1..99 and an existing, changed predictor: the new revision first gets
    that share of traffic (``canaryTrafficPercent``); once Ready it is promoted (the percent removed). Otherwise the
    manifest rolls out at once. When the new revision fails (``BlockedByFailedLoad``, ``InvalidSpec``, not Ready
    within ``timeout_seconds``), the canary percent is set to 0 and the previous spec restored (RawDeployment: the
    previous spec restored); a first deployment that fails is deleted. The rollback gets its own
    ``timeout_seconds``.

    Args:
        k8s: The client.
        manifest: The InferenceService to deploy.
        canary_percent: 0..100 (0 and 100: no canary).
        timeout_seconds: Bound for the rollout (canary and promotion together).

    Returns:
        What happened; ``ok`` is False after a failure that was rolled back (or whose rollback failed).

    Raises:
        Exception: An API error during the rollout, after the previous state was put back (as far as possible).
    """
    percent = check_canary_percent(canary_percent)
    rollout = _Rollout(k8s, manifest, float(timeout_seconds), time.monotonic())
    live = get_inference_service(k8s, rollout.namespace, rollout.name)
    canary = percent if _use_canary(manifest, live, percent) else 0
    first = copy.deepcopy(dict(manifest))
    if canary:
        first["spec"]["predictor"]["canaryTrafficPercent"] = canary
    applied = apply_inference_service(k8s, first)
    phases = ["created" if applied.created else ("updated" if applied.spec_changed else "unchanged")]
    if canary:
        phases.append(f"canary {canary}%")
    state, phase = _roll_forward(rollout, applied, canary, phases)
    if state.state == Readiness.READY:
        return _result(applied, canary, phases, ok=True, url=state.url, obj=state.object)
    return _roll_back(rollout, applied, canary, phases, state, phase)


def _use_canary(manifest: Mapping[str, Any], live: Mapping[str, Any] | None, percent: int) -> bool:
    if not 0 < percent < 100:
        return False
    mode = manifest_deployment_mode(manifest) or DeploymentMode.SERVERLESS
    if mode != DeploymentMode.SERVERLESS:
        why = "RawDeployment ignores canaryTrafficPercent"
    elif live is None:
        why = "there is no previous revision to share traffic with"
    elif predictor_template(live) == predictor_template(manifest):
        why = "the predictor is unchanged"
    else:
        return True
    log.info("canary_percent=%d not used: %s; rolling out at once", percent, why)
    return False


def _roll_forward(rollout: _Rollout, applied: ApplyResult, canary: int, phases: list[str]) -> tuple[ServiceState, str]:
    """Wait for the new revision (and promote a Ready canary); an API error restores the previous state first."""
    phase = "canary" if canary else "rollout"
    try:
        state = rollout.wait(applied.generation, f"canary {canary}%" if canary else "rollout")
        if state.state == Readiness.READY and canary:
            log.info("canary of %s/%s is Ready with %d%% of the traffic: promoting it", rollout.namespace,
                     rollout.name, canary)  # fmt: skip
            promoted = apply_inference_service(rollout.k8s, rollout.manifest)
            phases.append("promoted")
            phase = "promotion"
            state = rollout.wait(promoted.generation, "promotion")
    except Exception as exc:  # an API error mid-rollout: put the previous state back, then report the error
        log.error("the %s of %s/%s was interrupted (%s): rolling back", phase, rollout.namespace, rollout.name, exc)
        try:
            rollout.restore(applied.previous, None, canary)
        except Exception as restore_error:
            log.error("the automatic rollback failed too: %s", restore_error)
        raise
    return state, phase


def _roll_back(
    rollout: _Rollout, applied: ApplyResult, canary: int, phases: list[str], state: ServiceState, phase: str
) -> RolloutResult:
    """Record why the rollout failed, put the previous state back, and report both."""
    failure = RolloutFailure(state.reason or state.state.value, state.message, phase, state.state, state.summary)
    log.error(
        "%s of %s/%s failed: %s%s", phase, rollout.namespace, rollout.name, failure.reason,
        f" - {failure.message[:500]}" if failure.message else "",
    )  # fmt: skip
    phases.append("failed")
    try:
        rollback = rollout.restore(applied.previous, state.object or applied.object, canary)
    except Exception as exc:  # e.g. RBAC without delete: report it with the failure instead of losing both
        log.error("the automatic rollback of %s/%s failed: %s", rollout.namespace, rollout.name, exc)
        rollback = RestoreResult(False, RestoreAction.ERROR, error=str(exc))
    phases.append("rolled back" if rollback.ok else "rollback failed")
    final = get_inference_service(rollout.k8s, rollout.namespace, rollout.name)
    url = inference_service_state(final, 0).url if final else ""
    return _result(applied, canary, phases, ok=False, url=url, obj=final, failure=failure, rollback=rollback)


def _result(
    applied: ApplyResult,
    canary: int,
    phases: list[str],
    *,
    ok: bool,
    url: str,
    obj: dict[str, Any] | None,
    failure: RolloutFailure | None = None,
    rollback: RestoreResult | None = None,
) -> RolloutResult:
    return RolloutResult(
        ok=ok, created=applied.created, changed=applied.changed, spec_changed=applied.spec_changed, canary=canary,
        phases=phases, url=url, object=obj, previous=applied.previous, failure=failure, rollback=rollback,
    )  # fmt: skip
