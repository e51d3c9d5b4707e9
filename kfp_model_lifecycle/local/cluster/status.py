"""The status the local controller writes on an InferenceService, shaped as KServe writes it.

``url`` and ``address`` (the router, once something serves), ``components.predictor`` (Serverless: the Knative
revisions and traffic; RawDeployment: only the URL), ``modelStatus`` (``transitionStatus``, model states,
``lastFailureInfo``, copies), ``conditions`` (``PredictorReady``, ``IngressReady``, ``Ready``, each keeping its
``lastTransitionTime`` until its status changes) and ``deploymentMode`` (the current names ``Knative`` and
``Standard``).

``observedGeneration`` is KServe's trap, reproduced: it is copied from the Knative Service (Serverless) or from the
predictor Deployment (RawDeployment), not from the InferenceService, so it does not follow the InferenceService's
``metadata.generation``. On ``InvalidSpec`` KServe returns before propagating anything: only ``modelStatus``
changes (``transitionStatus: InvalidSpec``, ``targetModelState: FailedToLoad``, ``lastFailureInfo``); the
conditions, ``observedGeneration`` and the revisions stay as they were.

In RawDeployment mode ``PredictorReady`` follows the Deployment's conditions as KServe's ``PropagateRawStatus``
reads them: ``Available`` True makes it True even while new pods crash; ``Progressing`` False with
``ProgressDeadlineExceeded`` makes it False.
"""

from __future__ import annotations

import copy
from typing import Any

from kfp_model_lifecycle.local.cluster.deployments import PredictorDeployment, Rollout
from kfp_model_lifecycle.local.cluster.revisions import Revision, ServiceState
from kfp_model_lifecycle.local.cluster.spec import SERVERLESS, SpecProblem, status_mode_name
from kfp_model_lifecycle.local.cluster.store import now_rfc3339

ModelStatus = tuple[dict[str, Any], list[dict[str, Any]]]
"""``modelStatus`` and the conditions that go with it."""

_REVISION_FIELDS = (
    ("latestCreatedRevision", "latest_created"),
    ("latestReadyRevision", "latest_ready"),
    ("latestRolledoutRevision", "rolled_out"),
    ("previousRolledoutRevision", "previous_rolled_out"),
)


def condition(
    state: ServiceState, kind: str, status: str, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """A condition of type ``kind``, remembered in ``state`` so ``lastTransitionTime`` moves only on a change.

    Args:
        state: The InferenceService's controller state.
        kind: ``PredictorReady``, ``IngressReady`` or ``Ready``.
        status: ``True``, ``False`` or ``Unknown``.
        reason: Optional reason.
        message: Optional message.

    Returns:
        The condition as it goes into ``status.conditions``.
    """
    previous = state.conditions.get(kind)
    changed = previous is None or previous["status"] != status
    result: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastTransitionTime": now_rfc3339() if changed else previous["lastTransitionTime"],  # type: ignore[index]
    }
    if reason:
        result["reason"] = reason
    if message:
        result["message"] = message
    state.conditions[kind] = result
    return result


def _traffic(state: ServiceState) -> list[dict[str, Any]]:
    entries = []
    for target in state.traffic:
        entry: dict[str, Any] = {"revisionName": target.revision, "percent": target.percent,
                                 "latestRevision": target.latest}  # fmt: skip
        if target.tag:
            entry["tag"] = target.tag
        entries.append(entry)
    return entries


def _predictor(state: ServiceState, mode: str, predictor_ready: bool) -> dict[str, Any]:
    """``components.predictor``: its URL once ready; in Serverless mode the revision names and the traffic."""
    predictor: dict[str, Any] = {}
    if state.traffic and predictor_ready:
        url = state.router.url
        predictor.update(url=url, restUrl=url, address={"url": url})
    if mode != SERVERLESS:
        return predictor
    for wire_name, attribute in _REVISION_FIELDS:
        value = getattr(state, attribute)
        if value:
            predictor[wire_name] = value
    if state.traffic:
        predictor["traffic"] = _traffic(state)
    return predictor


def _active(state: ServiceState, otherwise: str) -> str:
    """``activeModelState``: ``Loaded`` while a revision serves, else ``otherwise``."""
    return "Loaded" if state.traffic else otherwise


def _ingress(state: ServiceState, otherwise: str) -> str:
    return "True" if state.traffic else otherwise


def _loading(state: ServiceState) -> ModelStatus:
    message = f"Revision {state.latest_created} is loading the model"
    model_status = {
        "transitionStatus": "InProgress",
        "states": {"activeModelState": _active(state, "Loading"), "targetModelState": "Loading"},
    }
    return model_status, [
        condition(state, "PredictorReady", "Unknown", "Deploying", message),
        condition(state, "IngressReady", _ingress(state, "Unknown"), None, None),
        condition(state, "Ready", "Unknown", "Deploying", message),
    ]


def _failure_info(latest: Revision) -> dict[str, Any]:
    failure: dict[str, Any] = {
        "location": latest.name,
        "reason": latest.reason,
        "message": latest.failure,
        "modelRevisionName": latest.name,
        "time": latest.failed_at or now_rfc3339(),
    }
    if latest.exit_code is not None:
        failure["exitCode"] = latest.exit_code
    return failure


def _failed_model(state: ServiceState, latest: Revision) -> dict[str, Any]:
    return {
        "transitionStatus": "BlockedByFailedLoad",
        "states": {"activeModelState": _active(state, "FailedToLoad"), "targetModelState": "FailedToLoad"},
        "lastFailureInfo": _failure_info(latest),
        "copies": {"failedCopies": 1, "totalCopies": 1},
    }


def _failed(state: ServiceState, latest: Revision) -> ModelStatus:
    message = f"Revision {latest.name} failed with message: {latest.failure}"
    return _failed_model(state, latest), [
        condition(state, "PredictorReady", "False", "RevisionFailed", message),
        condition(state, "IngressReady", _ingress(state, "False"), None if state.traffic else "RevisionFailed"),
        condition(state, "Ready", "False", "RevisionFailed", message),
    ]


def _up_to_date(state: ServiceState) -> ModelStatus:
    model_status = {
        "transitionStatus": "UpToDate",
        "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
        "copies": {"failedCopies": 0, "totalCopies": 1},
    }
    return model_status, [
        condition(state, "PredictorReady", "True"),
        condition(state, "IngressReady", "True"),
        condition(state, "Ready", "True"),
    ]


def _serverless_model_status(state: ServiceState, loading: bool) -> ModelStatus:
    latest = state.latest
    if loading or latest is None:
        return _loading(state)
    if latest.failure is not None:
        return _failed(state, latest)
    return _up_to_date(state)


def _raw_predictor_condition(state: ServiceState, deployment: PredictorDeployment) -> dict[str, Any]:
    """``PredictorReady`` from the Deployment's conditions, as KServe's ``PropagateRawStatus`` derives it."""
    progressing = deployment.conditions.get("Progressing") or {}
    if deployment.state == Rollout.DEADLINE_EXCEEDED:
        return condition(state, "PredictorReady", "False", progressing.get("reason"), progressing.get("message"))
    if deployment.available:
        return condition(state, "PredictorReady", "True", "MinimumReplicasAvailable")
    if deployment.state in (Rollout.PROGRESSING, Rollout.COMPLETE):
        return condition(state, "PredictorReady", "Unknown", progressing.get("reason"), progressing.get("message"))
    return condition(state, "PredictorReady", "False", "MinimumReplicasUnavailable",
                     "Deployment does not have minimum availability.")  # fmt: skip


def _raw_model_status(state: ServiceState, deployment: PredictorDeployment) -> ModelStatus:
    """RawDeployment: Ready while pods are available (old ones included); the model state of a pod otherwise."""
    deployment.status()  # brings the Deployment's conditions up to date
    predictor = _raw_predictor_condition(state, deployment)
    ingress = condition(state, "IngressReady", _ingress(state, "False"))
    ready_status = "True" if predictor["status"] == ingress["status"] == "True" else predictor["status"]
    ready = condition(state, "Ready", ready_status, predictor.get("reason"), predictor.get("message"))
    latest = state.latest
    if ready_status == "True":
        model_status, _ = _up_to_date(state)
    elif latest is not None and latest.failure is not None:
        model_status = _failed_model(state, latest)
    else:
        model_status, _ = _loading(state)
    return model_status, [predictor, ingress, ready]


def invalid_spec_status(state: ServiceState, problem: SpecProblem, mode: str) -> dict[str, Any]:
    """The status after an ``InvalidSpec``: the previous one with only ``modelStatus`` changed (or a first one).

    Args:
        state: The InferenceService's controller state (``state.status`` is the status written last).
        problem: Why the spec is invalid.
        mode: The deployment mode.

    Returns:
        The ``status`` object.
    """
    status = copy.deepcopy(state.status)
    status["deploymentMode"] = status_mode_name(mode)
    model_status = dict(status.get("modelStatus") or {})
    states = dict(model_status.get("states") or {"activeModelState": ""})
    states["targetModelState"] = "FailedToLoad"
    model_status.update(
        transitionStatus="InvalidSpec",
        states=states,
        lastFailureInfo={"reason": problem.reason, "message": problem.message, "time": problem.time},
    )
    status["modelStatus"] = model_status
    if not status.get("conditions"):
        status["conditions"] = [
            condition(state, kind, "Unknown") for kind in ("PredictorReady", "IngressReady", "Ready")
        ]
    return status


def build_status(state: ServiceState, mode: str, *, loading: bool = False) -> dict[str, Any]:
    """The InferenceService status for what ``state`` says.

    Args:
        state: The InferenceService's controller state.
        mode: The deployment mode.
        loading: Serverless: the latest revision is still loading its model.

    Returns:
        The ``status`` object; its last condition is ``Ready``.
    """
    status: dict[str, Any] = {"deploymentMode": status_mode_name(mode)}
    if mode == SERVERLESS:
        status["observedGeneration"] = state.ksvc_generation
        status["modelStatus"], status["conditions"] = _serverless_model_status(state, loading)
    elif state.deployment is not None:
        status["observedGeneration"] = state.deployment.generation
        status["modelStatus"], status["conditions"] = _raw_model_status(state, state.deployment)
    if state.traffic:
        url = state.router.url
        status["url"] = url
        status["address"] = {"url": url}
    ready = any(c["type"] == "PredictorReady" and c["status"] == "True" for c in status.get("conditions") or [])
    predictor = _predictor(state, mode, ready)
    if predictor:
        status["components"] = {"predictor": predictor}
    return status
