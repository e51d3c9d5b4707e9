"""Where an InferenceService stands after one write, and waiting until the write is rolled out.

``status.observedGeneration`` is not a sound signal (verified in kserve/kserve, ``inference_service_status.go``):
it is copied from the Knative Service (Serverless) or the first predictor Deployment (RawDeployment), not from the
InferenceService, and on ``InvalidSpec`` the controller returns before copying anything. What a wait checks
instead, against an :class:`Expectation` taken just before the write:

- Serverless (Knative): ``Ready`` is ``True``; ``components.predictor.latestCreatedRevision`` equals
  ``latestReadyRevision``, and when the write changed the revision template it is a new revision (not the one
  before the write); the latest revision gets the expected share of the traffic (the canary percent, else 100).
- RawDeployment (Standard): ``Ready`` is ``True`` (it stays ``True`` while old pods serve and new ones crash) and
  the predictor Deployment ``<name>-predictor`` has rolled out the write: its pod template carries this rollout's
  :data:`ANNOTATION_ROLLOUT` (or, when KServe was told not to copy it, its generation moved past the one before
  the write), ``observedGeneration`` caught up, all replicas are updated and available and no old ones remain.
  ``Progressing=False`` with ``ProgressDeadlineExceeded`` fails the wait.

``modelStatus.transitionStatus`` ``InvalidSpec`` or ``BlockedByFailedLoad`` (with ``lastFailureInfo``) fails the
wait at once -- unless it is exactly the failure that was there before the write (a stale status the controller
has not rewritten yet). The same holds for a Deployment's ``ProgressDeadlineExceeded``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    ANNOTATION_ROLLOUT,
    DEFAULT_POLL_SECONDS,
    DEFAULT_PROGRESS_SECONDS,
    ENV_POLL_SECONDS,
    ENV_PROGRESS_SECONDS,
    FAILED_TRANSITIONS,
    MODE_ALIASES,
    MODE_ANNOTATION,
    PROGRESS_DEADLINE_EXCEEDED,
    DeploymentMode,
)
from kfp_model_lifecycle.deployment.kube import env_float
from kfp_model_lifecycle.log import logger as log


class Readiness(StrEnum):
    """Where an InferenceService stands with respect to one write."""

    READY = "ready"
    FAILED = "failed"
    PROGRESSING = "progressing"
    DELETED = "deleted"
    TIMEOUT = "timeout"
    """Still progressing when the wait's bound passed."""


def live_mode(obj: Mapping[str, Any] | None, default: DeploymentMode = DeploymentMode.SERVERLESS) -> DeploymentMode:
    """The deployment mode of a live object: ``status.deploymentMode``, else the annotation (all four spellings).

    Args:
        obj: The InferenceService (or a manifest, or None).
        default: The mode when neither says.

    Returns:
        The mode.
    """
    obj = obj or {}
    for value in ((obj.get("status") or {}).get("deploymentMode"), _annotations(obj).get(MODE_ANNOTATION)):
        key = str(value or "").strip().lower().replace("-", "").replace("_", "")
        if key in MODE_ALIASES:
            return MODE_ALIASES[key]
    return default


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


def _predictor_status(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (((obj or {}).get("status") or {}).get("components") or {}).get("predictor") or {}


def failure_fingerprint(obj: Mapping[str, Any] | None) -> str:
    """What identifies the failure an object reports now ("" when none): model status and deployment deadline.

    Args:
        obj: An InferenceService or a predictor Deployment (or None).

    Returns:
        A string equal for the same, not rewritten, failure.
    """
    status = (obj or {}).get("status") or {}
    model = status.get("modelStatus") or {}
    parts: list[Any] = []
    if str(model.get("transitionStatus") or "") in FAILED_TRANSITIONS:
        parts.append([model.get("transitionStatus"), model.get("lastFailureInfo")])
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        parts.append(progressing)
    return json.dumps(parts, sort_keys=True) if parts else ""


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    found = [c for c in status.get("conditions") or [] if isinstance(c, Mapping) and c.get("type") == kind]
    return found[0] if found else {}


@dataclass(frozen=True)
class Expectation:
    """What one write to an InferenceService should lead to (taken just before the write).

    Attributes:
        mode: The deployment mode.
        previous_revision: Serverless: ``latestCreatedRevision`` before the write ("" when none).
        new_revision: The write changed the revision template: a new revision (or ReplicaSet) must roll out.
        latest_percent: Serverless: the traffic percent the latest revision must get (the canary's, else 100).
        rollout_key: The :data:`ANNOTATION_ROLLOUT` the written object carries ("" when none).
        previous_deployment_generation: RawDeployment: the predictor Deployment's generation before the write
            (None when it did not exist).
        baseline_failure: :func:`failure_fingerprint` of the InferenceService before the write.
        baseline_deployment_failure: The same of the predictor Deployment.
    """

    mode: DeploymentMode = DeploymentMode.SERVERLESS
    previous_revision: str = ""
    new_revision: bool = True
    latest_percent: int = 100
    rollout_key: str = ""
    previous_deployment_generation: int | None = None
    baseline_failure: str = ""
    baseline_deployment_failure: str = ""

    @classmethod
    def before_write(
        cls,
        live: Mapping[str, Any] | None,
        deployment: Mapping[str, Any] | None,
        *,
        mode: DeploymentMode,
        new_revision: bool,
        latest_percent: int = 100,
        rollout_key: str = "",
    ) -> Expectation:
        """The expectation for a write, from the objects as they are before it.

        Args:
            live: The InferenceService before the write (None when it is created).
            deployment: Its predictor Deployment before the write (RawDeployment; None when none).
            mode: The deployment mode.
            new_revision: Whether the write changes the revision template.
            latest_percent: The traffic the latest revision must get.
            rollout_key: The rollout key the written object carries.

        Returns:
            The expectation.
        """
        return cls(
            mode=mode,
            previous_revision=str(_predictor_status(live).get("latestCreatedRevision") or ""),
            new_revision=new_revision,
            latest_percent=int(latest_percent),
            rollout_key=rollout_key,
            previous_deployment_generation=_generation(deployment) if deployment is not None else None,
            baseline_failure=failure_fingerprint(live),
            baseline_deployment_failure=failure_fingerprint(deployment),
        )


def _generation(obj: Mapping[str, Any] | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class ServiceState:
    """One reading of an InferenceService (and its predictor Deployment) against an :class:`Expectation`.

    Attributes:
        state: Where it stands.
        reason: Why (e.g. ``BlockedByFailedLoad: ModelLoadFailed``; "" when ready).
        message: The controller's message ("" when none).
        url: ``status.url`` ("" when not known yet).
        observed_generation: ``status.observedGeneration`` (informational: the Knative Service's or Deployment's).
        summary: One line for the log, e.g. ``Ready=True, revision=iris-predictor-00002 (ready), traffic=...``.
        elapsed: Seconds waited (set by :func:`wait_for_inference_service`).
        object: The object read (None when it does not exist).
        deployment: The predictor Deployment read (RawDeployment; None otherwise).
    """

    state: Readiness
    reason: str = ""
    message: str = ""
    url: str = ""
    observed_generation: int = 0
    summary: str = ""
    elapsed: float = 0.0
    object: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None


def inference_service_state(
    obj: Mapping[str, Any] | None,
    expectation: Expectation | None = None,
    deployment: Mapping[str, Any] | None = None,
) -> ServiceState:
    """Where an InferenceService stands with respect to the write an expectation describes.

    Args:
        obj: The live object (None when it does not exist).
        expectation: What the write should lead to (None: only whether it is Ready now, in its own mode).
        deployment: RawDeployment: its predictor Deployment (None when it does not exist yet).

    Returns:
        The state (``ready``, ``failed``, ``progressing`` or ``deleted``), without ``elapsed`` and ``object``.
    """
    if obj is None:
        return ServiceState(Readiness.DELETED, "NotFound", "the InferenceService does not exist", summary="not found")
    expectation = expectation or Expectation(mode=live_mode(obj), new_revision=False)
    status = obj.get("status") or {}
    ready = _condition(status, "Ready")
    base = ServiceState(
        Readiness.PROGRESSING,
        reason=str(ready.get("reason") or ""),
        message=str(ready.get("message") or ""),
        url=str(status.get("url") or (status.get("address") or {}).get("url") or ""),
        observed_generation=_number(status.get("observedGeneration")),
        summary=_summary(status, ready, expectation, deployment),
    )
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return dataclasses.replace(
            base, state=Readiness.DELETED, reason="Deleting", message="the InferenceService is being deleted"
        )
    failed = _deployment_failure(deployment, expectation) or _model_failure(status, expectation)
    if failed is not None:
        return dataclasses.replace(base, state=Readiness.FAILED, reason=failed[0], message=failed[1])
    if str(ready.get("status")) != "True":
        return base
    if expectation.mode == DeploymentMode.RAW_DEPLOYMENT:
        rolled_out = _deployment_rolled_out(deployment, expectation)
    else:
        rolled_out = _revision_rolled_out(_predictor_status(obj), expectation)
    return dataclasses.replace(base, state=Readiness.READY) if rolled_out else base


def _model_failure(status: Mapping[str, Any], expectation: Expectation) -> tuple[str, str] | None:
    """``InvalidSpec``/``BlockedByFailedLoad`` that is not the one from before the write."""
    model = status.get("modelStatus") or {}
    transition = str(model.get("transitionStatus") or "")
    if transition not in FAILED_TRANSITIONS or failure_fingerprint({"status": status}) == expectation.baseline_failure:
        return None
    failure = model.get("lastFailureInfo") or {}
    ready = _condition(status, "Ready")
    reason = str(failure.get("reason") or ready.get("reason") or transition)
    return f"{transition}: {reason}", str(failure.get("message") or ready.get("message") or "")


def _deployment_failure(deployment: Mapping[str, Any] | None, expectation: Expectation) -> tuple[str, str] | None:
    """RawDeployment: the rollout of this write passed its progress deadline."""
    if expectation.mode != DeploymentMode.RAW_DEPLOYMENT or deployment is None:
        return None
    progressing = _condition(deployment.get("status") or {}, "Progressing")
    if progressing.get("reason") != PROGRESS_DEADLINE_EXCEEDED or str(progressing.get("status")) != "False":
        return None
    if failure_fingerprint(deployment) == expectation.baseline_deployment_failure:
        return None
    if not _deployment_reflects(deployment, expectation):
        return None
    return PROGRESS_DEADLINE_EXCEEDED, str(progressing.get("message") or "the new pods did not become available")


def _revision_rolled_out(predictor: Mapping[str, Any], expectation: Expectation) -> bool:
    """Serverless: the latest revision is created and ready, new when it must be, and has its traffic."""
    created = str(predictor.get("latestCreatedRevision") or "")
    ready = str(predictor.get("latestReadyRevision") or "")
    if not created or created != ready:
        return False
    if expectation.new_revision and created == expectation.previous_revision:
        return False
    traffic = [t for t in predictor.get("traffic") or [] if isinstance(t, Mapping)]
    if not traffic:
        return True  # older KServe versions did not copy the traffic
    latest = sum(
        _number(t.get("percent")) for t in traffic if t.get("latestRevision") or t.get("revisionName") == ready
    )
    if expectation.latest_percent < 100:
        latest = sum(_number(t.get("percent")) for t in traffic if t.get("latestRevision"))
    return latest == expectation.latest_percent


def _deployment_reflects(deployment: Mapping[str, Any], expectation: Expectation) -> bool:
    """Whether the Deployment's spec is the one the write led to (not the one from before it)."""
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    key = str((template.get("annotations") or {}).get(ANNOTATION_ROLLOUT) or "")
    if key and expectation.rollout_key:
        return key == expectation.rollout_key
    if expectation.new_revision and expectation.previous_deployment_generation is not None:
        return _generation(deployment) > expectation.previous_deployment_generation
    return True


def _deployment_rolled_out(deployment: Mapping[str, Any] | None, expectation: Expectation) -> bool:
    """RawDeployment: as ``kubectl rollout status``, for the Deployment that carries the write."""
    if deployment is None or not _deployment_reflects(deployment, expectation):
        return False
    status = deployment.get("status") or {}
    wanted = _number((deployment.get("spec") or {}).get("replicas", 1))
    updated = _number(status.get("updatedReplicas"))
    return (
        _number(status.get("observedGeneration")) >= _generation(deployment)
        and updated >= wanted
        and _number(status.get("replicas")) == updated
        and _number(status.get("availableReplicas")) >= updated
    )


def _summary(
    status: Mapping[str, Any],
    ready: Mapping[str, Any],
    expectation: Expectation,
    deployment: Mapping[str, Any] | None,
) -> str:
    parts = [f"Ready={ready.get('status') or 'Unknown'}" + (f" ({ready['reason']})" if ready.get("reason") else "")]
    transition = str((status.get("modelStatus") or {}).get("transitionStatus") or "")
    if transition:
        parts.append(f"transitionStatus={transition}")
    predictor = (status.get("components") or {}).get("predictor") or {}
    if expectation.mode == DeploymentMode.RAW_DEPLOYMENT:
        parts.append(_deployment_summary(deployment))
    else:
        created, ready_rev = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
        parts.append(f"revisions created={created or '-'} ready={ready_rev or '-'}")
        traffic = predictor.get("traffic") or []
        if traffic:
            parts.append("traffic=" + ",".join(f"{t.get('revisionName')}:{t.get('percent')}%" for t in traffic))
    return ", ".join(parts)


def _deployment_summary(deployment: Mapping[str, Any] | None) -> str:
    if deployment is None:
        return "predictor Deployment not created yet"
    status = deployment.get("status") or {}
    progressing = _condition(status, "Progressing")
    return (
        f"Deployment generation {_generation(deployment)} (observed {_number(status.get('observedGeneration'))}),"
        f" replicas updated {_number(status.get('updatedReplicas'))}/available"
        f" {_number(status.get('availableReplicas'))}/total {_number(status.get('replicas'))}"
        + (f", {progressing.get('reason')}" if progressing.get("reason") else "")
    )


def wait_for_inference_service(
    get_object: Callable[[], Any],
    expectation: Expectation,
    *,
    timeout_seconds: float,
    what: str,
    get_deployment: Callable[[], Any] | None = None,
    poll_seconds: float | None = None,
    progress_seconds: float | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServiceState:
    """Poll an InferenceService until the write ``expectation`` describes is rolled out, has failed, or time is up.

    Args:
        get_object: Returns the live object (or None when gone); errors propagate.
        expectation: What the write should lead to.
        timeout_seconds: The bound.
        what: What is awaited, for the log (e.g. ``kubeflow-user/iris (rollout)``).
        get_deployment: RawDeployment: returns the predictor Deployment (or None); errors propagate.
        poll_seconds: Poll interval (default env ``KML_DEPLOY_POLL_SECONDS`` or 2).
        progress_seconds: Progress log interval (default env ``KML_DEPLOY_PROGRESS_SECONDS`` or 10); a change of
            state is logged at once.
        clock: Monotonic clock (tests).
        sleep: Sleep function (tests).
        env: Environment (default ``os.environ``).

    Returns:
        The state of the last read with ``elapsed``, ``object`` and ``deployment``; ``timeout`` when the bound
        passed first.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    poll = _interval(poll_seconds, env, ENV_POLL_SECONDS, DEFAULT_POLL_SECONDS)
    progress = _interval(progress_seconds, env, ENV_PROGRESS_SECONDS, DEFAULT_PROGRESS_SECONDS)
    raw = expectation.mode == DeploymentMode.RAW_DEPLOYMENT and get_deployment is not None
    started = clock()
    deadline = started + max(0.0, float(timeout_seconds))
    last_logged, last_summary = started, ""
    log.info("waiting up to %.0fs for %s to become Ready", float(timeout_seconds), what)
    while True:
        obj = get_object()
        deployment = get_deployment() if raw and obj is not None else None  # type: ignore[misc]
        now = clock()
        state = dataclasses.replace(
            inference_service_state(obj, expectation, deployment),
            elapsed=now - started,
            object=obj,
            deployment=deployment,
        )
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
