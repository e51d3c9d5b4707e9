"""What the local controller serves of an InferenceService spec: model formats, protocols, deployment modes.

:func:`spec_problem` says why a spec cannot be served (status ``transitionStatus: InvalidSpec``), in the reason
and wording KServe uses; :func:`deployment_mode` reads the mode from the status or the
``serving.kserve.io/deploymentMode`` annotation (``Serverless``/``Knative``, ``RawDeployment``/``Standard``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.local.cluster.store import now_rfc3339

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
SERVERLESS = "Serverless"
RAW = "RawDeployment"
DEPLOYMENT_MODES = {"Serverless": SERVERLESS, "Knative": SERVERLESS, "RawDeployment": RAW, "Standard": RAW}
STATUS_MODE_NAMES = {SERVERLESS: "Knative", RAW: "Standard"}
SUPPORTED_FORMATS = ("sklearn",)
SUPPORTED_PROTOCOLS = ("v1", "v2")


@dataclass(frozen=True)
class SpecProblem:
    """Why an InferenceService spec cannot be served.

    Attributes:
        reason: The ``lastFailureInfo.reason`` (``InvalidPredictorSpec`` or ``NoSupportingRuntime``).
        message: What is wrong and how to fix it.
        time: When the controller found it (RFC 3339).
    """

    reason: str
    message: str
    time: str = field(default_factory=now_rfc3339)


def deployment_mode(annotations: dict[str, Any], status_mode: str | None = None) -> str:
    """The deployment mode (:data:`SERVERLESS` or :data:`RAW`) of an InferenceService.

    As KServe's ``GetDeploymentMode``: the mode recorded in ``status.deploymentMode`` wins (an existing
    InferenceService cannot switch), then the annotation, then the default (Serverless).

    Args:
        annotations: ``metadata.annotations``.
        status_mode: ``status.deploymentMode``, if the controller recorded one.

    Returns:
        :data:`SERVERLESS` or :data:`RAW`.
    """
    if status_mode in DEPLOYMENT_MODES:
        return DEPLOYMENT_MODES[status_mode]
    return DEPLOYMENT_MODES.get(annotations.get(DEPLOYMENT_MODE_ANNOTATION, SERVERLESS), SERVERLESS)


def status_mode_name(mode: str) -> str:
    """The name current KServe writes into ``status.deploymentMode``: ``Knative`` or ``Standard``."""
    return STATUS_MODE_NAMES[mode]


def _model_problem(name: str, model: Any) -> SpecProblem | None:
    if not isinstance(model, dict):
        return SpecProblem(
            "InvalidPredictorSpec", f"{name}: spec.predictor.model is required (modelFormat and storageUri)"
        )
    model_format = (model.get("modelFormat") or {}).get("name")
    if not model_format:
        return SpecProblem("InvalidPredictorSpec", f"{name}: spec.predictor.model.modelFormat.name is required")
    if model_format not in SUPPORTED_FORMATS:
        return SpecProblem(
            "NoSupportingRuntime",
            f"{name}: no runtime supports model format {model_format!r}; the local cluster serves "
            f"{', '.join(SUPPORTED_FORMATS)}",
        )
    if not model.get("storageUri"):
        return SpecProblem("InvalidPredictorSpec", f"{name}: spec.predictor.model.storageUri is required")
    protocol = model.get("protocolVersion")
    if protocol not in (None, *SUPPORTED_PROTOCOLS):
        return SpecProblem(
            "InvalidPredictorSpec",
            f"{name}: protocolVersion {protocol!r} is not served by the local cluster (use v1 or v2)",
        )
    return None


def _rollout_problem(name: str, predictor: dict[str, Any], annotations: dict[str, Any]) -> SpecProblem | None:
    canary = predictor.get("canaryTrafficPercent")
    if canary is not None and (isinstance(canary, bool) or not isinstance(canary, int) or not 0 <= canary <= 100):
        return SpecProblem(
            "InvalidPredictorSpec", f"{name}: canaryTrafficPercent must be an integer 0..100, got {canary!r}"
        )
    mode = annotations.get(DEPLOYMENT_MODE_ANNOTATION, SERVERLESS)
    if mode not in DEPLOYMENT_MODES:
        return SpecProblem(
            "InvalidPredictorSpec",
            f"{name}: annotation {DEPLOYMENT_MODE_ANNOTATION}={mode!r} is not one of {sorted(DEPLOYMENT_MODES)}",
        )
    return None


def spec_problem(name: str, predictor: dict[str, Any], annotations: dict[str, Any]) -> SpecProblem | None:
    """Why the local cluster cannot serve this predictor, or None when it can.

    Args:
        name: The InferenceService name (messages start with it).
        predictor: ``spec.predictor``.
        annotations: ``metadata.annotations``.

    Returns:
        The first problem found (model, then canary, then deployment mode), or None.
    """
    return _model_problem(name, predictor.get("model")) or _rollout_problem(name, predictor, annotations)
