"""The status the local controller writes on an InferenceService, shaped as KServe writes it.

``url`` and ``address`` (the router, once something serves), ``components.predictor`` (revisions and
traffic), ``modelStatus`` (``transitionStatus``, model states, ``lastFailureInfo``, copies), ``conditions``
(``PredictorReady``, ``IngressReady``, ``Ready``, each keeping its ``lastTransitionTime`` until its status
changes), ``observedGeneration`` and ``deploymentMode``.
"""

from __future__ import annotations

from typing import Any

from kfp_model_lifecycle.local.cluster.revisions import LATEST_TAG, Revision, ServiceState
from kfp_model_lifecycle.local.cluster.spec import SpecProblem
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
        entry: dict[str, Any] = {
            "revisionName": target.revision,
            "percent": target.percent,
            "latestRevision": target.tag == LATEST_TAG,
            "tag": target.tag,
        }
        server = state.revisions[target.revision].server
        if server is not None:
            entry["url"] = server.url
        entries.append(entry)
    return entries


def _predictor(state: ServiceState) -> dict[str, Any]:
    """``components.predictor``: its URLs once something serves, the revision names, the traffic."""
    predictor: dict[str, Any] = {}
    if state.traffic:
        url = state.router.url
        predictor.update(url=url, restUrl=url, address={"url": url})
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


def _invalid(state: ServiceState, problem: SpecProblem) -> ModelStatus:
    reason, message = problem.reason, problem.message
    model_status = {
        "transitionStatus": "InvalidSpec",
        "states": {"activeModelState": _active(state, "FailedToLoad"), "targetModelState": ""},
        "lastFailureInfo": {"reason": reason, "message": message, "time": problem.time},
    }
    return model_status, [
        condition(state, "PredictorReady", "False", reason, message),
        condition(state, "IngressReady", _ingress(state, "False"), reason, message),
        condition(state, "Ready", "False", reason, message),
    ]


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


def _failed(state: ServiceState, latest: Revision) -> ModelStatus:
    message = f"Revision {latest.name} failed with message: {latest.failure}"
    failure: dict[str, Any] = {
        "location": latest.name,
        "reason": latest.reason,
        "message": latest.failure,
        "modelRevisionName": latest.name,
        "time": latest.failed_at or now_rfc3339(),
    }
    if latest.exit_code is not None:
        failure["exitCode"] = latest.exit_code
    model_status = {
        "transitionStatus": "BlockedByFailedLoad",
        "states": {"activeModelState": _active(state, "FailedToLoad"), "targetModelState": "FailedToLoad"},
        "lastFailureInfo": failure,
        "copies": {"failedCopies": 1, "totalCopies": 1},
    }
    return model_status, [
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


def _model_status(state: ServiceState, loading: bool) -> ModelStatus:
    latest = state.latest
    if state.invalid is not None:
        return _invalid(state, state.invalid)
    if loading or latest is None:
        return _loading(state)
    if latest.failure is not None:
        return _failed(state, latest)
    return _up_to_date(state)


def build_status(state: ServiceState, generation: int, mode: str, *, loading: bool = False) -> dict[str, Any]:
    """The InferenceService status for what ``state`` says.

    Args:
        state: The InferenceService's controller state.
        generation: The generation reconciled (``observedGeneration``).
        mode: The deployment mode.
        loading: The latest revision is still loading its model.

    Returns:
        The ``status`` object; its last condition is ``Ready``.
    """
    status: dict[str, Any] = {"observedGeneration": generation, "deploymentMode": mode}
    if state.traffic:
        url = state.router.url
        status["url"] = url
        status["address"] = {"url": url}
    predictor = _predictor(state)
    if predictor:
        status["components"] = {"predictor": predictor}
    status["modelStatus"], status["conditions"] = _model_status(state, loading)
    return status
