"""Rolling a manifest out safely: Serverless canary, then promotion; on failure the previous state comes back.

Serverless with a canary percent in 1..99 and an existing, changed predictor: the new revision first gets that
share of traffic (``canaryTrafficPercent``); once Ready it is promoted (the percent removed). Otherwise the
manifest rolls out at once. Each wait checks what KServe really reports (:mod:`.readiness`): the new Knative
revision, or the predictor Deployment's rollout. When the new revision fails (``BlockedByFailedLoad``,
``InvalidSpec``, ``ProgressDeadlineExceeded``, not Ready in time) or an API call fails mid-rollout (the first
apply included), the canary percent is set to 0 and the previous spec restored, so the old version keeps serving;
a first deployment that fails is deleted -- but only an object this rollout created (its
:data:`~kfp_model_lifecycle.deployment.conventions.ANNOTATION_CREATED_BY` carries the rollout key).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.deployment.conventions import ANNOTATION_CREATED_BY, ANNOTATION_ROLLOUT, DeploymentMode
from kfp_model_lifecycle.deployment.inference_service import (
    ApplyResult,
    annotation,
    apply_inference_service,
    delete_inference_service,
    get_inference_service,
    get_predictor_deployment,
    patch_live_object,
    set_canary_percent,
    wait_until_deleted,
)
from kfp_model_lifecycle.deployment.kube import KubeClient
from kfp_model_lifecycle.deployment.manifest import predictor_template, revision_template
from kfp_model_lifecycle.deployment.patch import inference_service_patch, managed_metadata_keys
from kfp_model_lifecycle.deployment.readiness import (
    Expectation,
    Readiness,
    ServiceState,
    inference_service_state,
    live_mode,
    wait_for_inference_service,
)
from kfp_model_lifecycle.deployment.validation import check_canary_percent, normalize_deployment_mode
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
    NOT_OURS = "not ours"
    """There was nothing before, but the object there was not created by this rollout: it is left alone."""
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


@dataclass(frozen=True)
class EarlierAttempt:
    """An earlier attempt of the same rollout (a retried task) already applied the spec, and failed before the end.

    Attributes:
        previous: What to restore when this attempt fails too (None: delete it, the rollout created it).
    """

    previous: dict[str, Any] | None


@dataclass(frozen=True)
class _Rollout:
    """One rollout in progress: where, in which mode, and the time it has (canary and promotion share one bound)."""

    k8s: KubeClient
    manifest: Mapping[str, Any]
    mode: DeploymentMode
    timeout_seconds: float
    started: float

    @property
    def namespace(self) -> str:
        return str(self.manifest["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def key(self) -> str:
        return annotation(self.manifest, ANNOTATION_ROLLOUT)

    def read(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The InferenceService and (RawDeployment) its predictor Deployment, as they are now."""
        live = get_inference_service(self.k8s, self.namespace, self.name)
        raw = self.mode == DeploymentMode.RAW_DEPLOYMENT and live is not None
        return live, get_predictor_deployment(self.k8s, self.namespace, self.name) if raw else None

    def wait(self, expectation: Expectation, label: str, bound: float | None = None) -> ServiceState:
        remaining = bound if bound is not None else self.timeout_seconds - (time.monotonic() - self.started)
        return wait_for_inference_service(
            lambda: get_inference_service(self.k8s, self.namespace, self.name),
            expectation,
            timeout_seconds=max(1.0, remaining),
            what=f"{self.namespace}/{self.name} ({label})",
            get_deployment=lambda: get_predictor_deployment(self.k8s, self.namespace, self.name),
        )

    def restore(
        self, previous: Mapping[str, Any] | None, current: Mapping[str, Any] | None, canary: int
    ) -> RestoreResult:
        if previous is None:
            return self._delete_own()
        if canary:
            log.warning("rolling back: sending all traffic of %s/%s back to the previous revision", self.namespace,
                        self.name)  # fmt: skip
            set_canary_percent(self.k8s, self.namespace, self.name, 0)
        live, deployment = self.read()
        if live is None:
            return RestoreResult(False, RestoreAction.GONE)
        action = _restore_previous_spec(self.k8s, previous, current or live, self.namespace, self.name)
        if action != RestoreAction.RESTORED:
            return RestoreResult(False, action)
        log.warning("rolling back: restored the previous spec of %s/%s", self.namespace, self.name)
        expectation = Expectation.before_write(
            live, deployment, mode=self.mode, new_revision=False, rollout_key=annotation(previous, ANNOTATION_ROLLOUT)
        )
        state = self.wait(expectation, "rollback", bound=self.timeout_seconds)
        return RestoreResult(state.state == Readiness.READY, RestoreAction.RESTORED, state)

    def _delete_own(self) -> RestoreResult:
        """Delete the InferenceService this rollout created (and nothing else)."""
        live = get_inference_service(self.k8s, self.namespace, self.name)
        if live is None:
            return RestoreResult(True, RestoreAction.DELETED)
        if not self.key or annotation(live, ANNOTATION_CREATED_BY) != self.key:
            log.warning("rolling back: InferenceService %s/%s was not created by this rollout: left in place",
                        self.namespace, self.name)  # fmt: skip
            return RestoreResult(False, RestoreAction.NOT_OURS)
        log.warning("rolling back: deleting InferenceService %s/%s, which this rollout created", self.namespace,
                    self.name)  # fmt: skip
        delete_inference_service(self.k8s, self.namespace, self.name)
        gone = wait_until_deleted(self.k8s, self.namespace, self.name, self.timeout_seconds)
        return RestoreResult(gone, RestoreAction.DELETED)


def restore_inference_service(
    k8s: KubeClient,
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    *,
    canary_used: bool,
    timeout_seconds: float,
    namespace: str,
    name: str,
    rollout_key: str = "",
) -> RestoreResult:
    """Undo a failed rollout: all traffic back to the previous revision, then the previous spec restored.

    Args:
        k8s: The client.
        previous: The live object before the rollout (None when the rollout created it: it is deleted, if its
            :data:`ANNOTATION_CREATED_BY` is ``rollout_key``).
        current: The object as the failed rollout left it (its managed keys tell which labels to remove).
        canary_used: A canary was set (Serverless): first set its percent to 0.
        timeout_seconds: Bound for the restored spec to become Ready.
        namespace: The namespace.
        name: The InferenceService.
        rollout_key: The failed rollout's key.

    Returns:
        What was done and whether the previous state is back.
    """
    manifest = {"metadata": {"namespace": namespace, "name": name, "annotations": {ANNOTATION_ROLLOUT: rollout_key}}}
    mode = live_mode(current or previous)
    rollout = _Rollout(k8s, manifest, mode, float(timeout_seconds), time.monotonic())
    return rollout.restore(previous, current, 1 if canary_used else 0)


def _restore_previous_spec(
    k8s: KubeClient, previous: Mapping[str, Any], current: Mapping[str, Any], namespace: str, name: str
) -> RestoreAction:
    """Patch the previous spec, labels and annotations back."""
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
            return RestoreAction.GONE
        patch = inference_service_patch(live, desired, previously_managed=managed_metadata_keys(current))
        if not patch:
            return RestoreAction.RESTORED
        if patch_live_object(k8s, live, patch, f"restore the previous spec of InferenceService {namespace}/{name}"):
            return RestoreAction.RESTORED
    return RestoreAction.CONFLICT


def rollout_inference_service(
    k8s: KubeClient,
    manifest: Mapping[str, Any],
    *,
    canary_percent: int = 0,
    timeout_seconds: float = 600.0,
    earlier: EarlierAttempt | None = None,
) -> RolloutResult:
    """Apply a manifest and see it through: canary, promotion, or automatic rollback on failure.

    Serverless with ``canary_percent`` in 1..99 and an existing, changed predictor: the new revision first gets
    that share of traffic (``canaryTrafficPercent``); once Ready it is promoted (the percent removed). Otherwise the
    manifest rolls out at once. When the new revision fails (``BlockedByFailedLoad``, ``InvalidSpec``,
    ``ProgressDeadlineExceeded``, not Ready within ``timeout_seconds``), the canary percent is set to 0 and the
    previous spec restored (RawDeployment: the previous spec restored); a first deployment that fails is deleted.
    The rollback gets its own ``timeout_seconds``.

    Args:
        k8s: The client.
        manifest: The InferenceService to deploy (its :data:`ANNOTATION_ROLLOUT` names the rollout).
        canary_percent: 0..100 (0 and 100: no canary).
        timeout_seconds: Bound for the rollout (canary and promotion together).
        earlier: An earlier attempt of this rollout already applied the spec (a retried task): what it replaced.

    Returns:
        What happened; ``ok`` is False after a failure that was rolled back (or whose rollback failed).

    Raises:
        Exception: An API error during the rollout, after the previous state was put back (as far as possible).
    """
    percent = check_canary_percent(canary_percent)
    wanted_mode = normalize_deployment_mode(manifest_mode(manifest))
    probe = _Rollout(k8s, manifest, wanted_mode, float(timeout_seconds), time.monotonic())
    live, deployment = probe.read()
    rollout = dataclasses.replace(probe, mode=live_mode(live, wanted_mode))
    canary = percent if _use_canary(manifest, live, percent, rollout.mode) else 0
    first = copy.deepcopy(dict(manifest))
    if canary:
        first["spec"]["predictor"]["canaryTrafficPercent"] = canary
    applied = _apply(rollout, first, live, earlier)
    phases = ["created" if applied.created else ("updated" if applied.spec_changed else "unchanged")]
    if canary:
        phases.append(f"canary {canary}%")
    expectation = Expectation.before_write(
        live, deployment, mode=rollout.mode, new_revision=revision_template(live) != revision_template(applied.object),
        latest_percent=canary or 100, rollout_key=annotation(applied.object, ANNOTATION_ROLLOUT),
    )  # fmt: skip
    state, phase = _roll_forward(rollout, applied, canary, phases, expectation)
    if state.state == Readiness.READY:
        return _result(applied, canary, phases, ok=True, url=state.url, obj=state.object)
    return _roll_back(rollout, applied, canary, phases, state, phase)


def manifest_mode(manifest: Mapping[str, Any]) -> str:
    """The deployment mode a manifest asks for ("" for KServe's default)."""
    return str(
        ((manifest.get("metadata") or {}).get("annotations") or {}).get("serving.kserve.io/deploymentMode") or ""
    )


def _apply(
    rollout: _Rollout, first: Mapping[str, Any], live: dict[str, Any] | None, earlier: EarlierAttempt | None
) -> ApplyResult:
    """Apply the first spec; an error (its outcome unknown) puts back what was there, then propagates."""
    before = earlier.previous if earlier is not None else live
    try:
        applied = apply_inference_service(rollout.k8s, first)
    except Exception as exc:
        log.error("applying %s/%s failed (%s): putting back what was there", rollout.namespace, rollout.name, exc)
        try:
            rollout.restore(before, live, 0)
        except Exception as restore_error:
            log.error("the automatic rollback failed too: %s", restore_error)
        raise
    if earlier is None:
        return applied
    return dataclasses.replace(applied, previous=earlier.previous, created=earlier.previous is None, changed=True,
                               spec_changed=True)  # fmt: skip


def _use_canary(manifest: Mapping[str, Any], live: Mapping[str, Any] | None, percent: int, mode: str) -> bool:
    if not 0 < percent < 100:
        return False
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


def _roll_forward(
    rollout: _Rollout, applied: ApplyResult, canary: int, phases: list[str], expectation: Expectation
) -> tuple[ServiceState, str]:
    """Wait for the new revision (and promote a Ready canary); an API error restores the previous state first."""
    phase = "canary" if canary else "rollout"
    try:
        state = rollout.wait(expectation, f"canary {canary}%" if canary else "rollout")
        if state.state == Readiness.READY and canary:
            log.info("canary of %s/%s is Ready with %d%% of the traffic: promoting it", rollout.namespace,
                     rollout.name, canary)  # fmt: skip
            promoted = apply_inference_service(rollout.k8s, rollout.manifest)
            phases.append("promoted")
            phase = "promotion"
            promotion = Expectation.before_write(
                state.object, state.deployment, mode=rollout.mode, new_revision=False,
                rollout_key=annotation(promoted.object, ANNOTATION_ROLLOUT),
            )  # fmt: skip
            state = rollout.wait(promotion, "promotion")
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
    url = inference_service_state(final).url if final else ""
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
