"""Deploying one model version to one InferenceService and recording it: the step deploy and rollback share.

In order: the RBAC pre-check (nothing changes when a verb is denied), a check that the live InferenceService
serves the same model in the same mode, the registry records (ServingEnvironment, InferenceService), the rollout
with canary and automatic restore, and the registry writes. A failed rollout raises :class:`DeploymentError`
saying what failed, what runs now and what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.conventions import LABEL_MODEL_VERSION_ID, LABEL_REGISTERED_MODEL_ID, DesiredState
from kfp_model_lifecycle.deployment.inference_service import get_inference_service
from kfp_model_lifecycle.deployment.kube import KubeClient, require_deploy_permissions
from kfp_model_lifecycle.deployment.manifest import manifest_deployment_mode
from kfp_model_lifecycle.deployment.readiness import Readiness
from kfp_model_lifecycle.deployment.recording import ServingRecords, record_rollout
from kfp_model_lifecycle.deployment.records import ensure_registry_inference_service, ensure_serving_environment
from kfp_model_lifecycle.deployment.rollout import (
    RestoreAction,
    RestoreResult,
    RolloutFailure,
    RolloutResult,
    rollout_inference_service,
)
from kfp_model_lifecycle.deployment.validation import RolloutOptions, normalize_deployment_mode
from kfp_model_lifecycle.errors import DeploymentError, InvalidInputError
from kfp_model_lifecycle.lifecycle import get_model_version_by_id
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.log import logger as log


@dataclass(frozen=True)
class DeployRequest:
    """One model version to deploy to one InferenceService.

    Attributes:
        model: The RegisteredModel (wire form).
        version: The ModelVersion (wire form).
        name: The InferenceService name.
        namespace: The namespace.
        manifest_for: ``registry record id -> manifest`` (the record id goes into the manifest's labels).
        options: Canary percent and timeout.
        context: The run context.
        actor: Who.
        reason: Why.
        rollback: Whether this is a rollback.
        runtime: The serving runtime, recorded in the registry.
        reference: The version's canonical reference ``<model>:<version>``.
    """

    model: dict[str, Any]
    version: dict[str, Any]
    name: str
    namespace: str
    manifest_for: Callable[[str], dict[str, Any]]
    options: RolloutOptions
    context: RunContext
    actor: str = ""
    reason: str = ""
    rollback: bool = False
    runtime: str = ""
    reference: str = ""

    @property
    def target(self) -> str:
        """``<namespace>/<name>``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DeployOutcome:
    """A successful :func:`deploy_version`.

    Attributes:
        manifest: The manifest applied.
        rollout: What the rollout did.
        records: What was written to the registry (None when nothing changed and the registry already said so).
        previous_version: The version name served before ("" when none).
        url: Where the version serves.
    """

    manifest: dict[str, Any]
    rollout: RolloutResult
    records: ServingRecords | None
    previous_version: str
    url: str


def deploy_version(conn: RegistryConnection, k8s: KubeClient, request: DeployRequest) -> DeployOutcome:
    """Deploy one version to one InferenceService and record it: the part deploy and rollback share.

    Args:
        conn: From ``connect_model_registry``.
        k8s: From :func:`~kfp_model_lifecycle.deployment.kube.load_kubernetes_client`.
        request: What to deploy where.

    Returns:
        What was deployed and recorded.

    Raises:
        PermissionError: When RBAC denies a verb the rollout needs (checked before anything changes).
        InvalidInputError: When the InferenceService serves another model or uses another deployment mode.
        DeploymentError: When the rollout failed (after the automatic rollback; the message says what runs now).
    """
    require_deploy_permissions(k8s, request.namespace)
    live = get_inference_service(k8s, request.namespace, request.name)
    _check_live_object(live, request)
    environment = ensure_serving_environment(conn, request.namespace)
    record = ensure_registry_inference_service(
        conn, environment, request.name, request.model, request.version, runtime=request.runtime, live=live
    )
    manifest = request.manifest_for(str(record.get("id") or ""))
    previous_id = str(_labels(live).get(LABEL_MODEL_VERSION_ID) or "")
    previous_version = get_model_version_by_id(conn, previous_id) if live is not None and previous_id else None
    rollout = rollout_inference_service(
        k8s, manifest, canary_percent=request.options.canary_percent, timeout_seconds=request.options.timeout_seconds
    )
    records = _record(conn, request, record, manifest, rollout, previous_version)
    if not rollout.ok:
        raise DeploymentError(rollout_failure_message(request, rollout, previous_version))
    return DeployOutcome(manifest, rollout, records, str((previous_version or {}).get("name") or ""), rollout.url)


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _check_live_object(live: Mapping[str, Any] | None, request: DeployRequest) -> None:
    """Refuse to take over an InferenceService of another model, or to switch its deployment mode."""
    if live is None:
        return
    live_model_id = str(_labels(live).get(LABEL_REGISTERED_MODEL_ID) or "")
    if live_model_id and live_model_id != str(request.model["id"]):
        raise InvalidInputError(
            f"InferenceService {request.target} serves another registered model (id {live_model_id}), not"
            f" {request.model.get('name')!r}. Fix: choose another inference_service_name, or undeploy it first"
        )
    live_mode = manifest_deployment_mode(live)
    wanted_mode = manifest_deployment_mode(request.manifest_for(""))
    if live_mode and normalize_deployment_mode(live_mode) != wanted_mode:
        raise InvalidInputError(
            f"InferenceService {request.target} runs in {live_mode} mode; KServe cannot switch an existing"
            f" InferenceService to {wanted_mode}. Fix: deploy under another name, or delete it first"
        )


def _record(
    conn: RegistryConnection,
    request: DeployRequest,
    record: Mapping[str, Any],
    manifest: Mapping[str, Any],
    rollout: RolloutResult,
    previous_version: Mapping[str, Any] | None,
) -> ServingRecords | None:
    """Record the rollout, unless nothing changed and the registry already says this version is deployed."""
    version_id = str(request.version["id"])
    already = (
        rollout.ok
        and not rollout.spec_changed
        and str(record.get("desiredState")) == DesiredState.DEPLOYED
        and str(record.get("modelVersionId")) == version_id
    )
    if already:
        log.info("%s:%s is already deployed to %s: nothing recorded", request.model.get("name"),
                 request.version.get("name"), request.target)  # fmt: skip
        return None
    return record_rollout(
        conn,
        record=record,
        model=request.model,
        version=request.version,
        manifest=manifest,
        rollout=rollout,
        previous_version=None if str((previous_version or {}).get("id")) == version_id else previous_version,
        context=request.context,
        actor=request.actor,
        reason=request.reason,
        rollback=request.rollback,
    )


def rollout_failure_message(
    request: DeployRequest, rollout: RolloutResult, previous_version: Mapping[str, Any] | None
) -> str:
    """Say what failed, what runs now after the automatic rollback, and what to fix.

    Args:
        request: What was deployed where.
        rollout: The failed rollout.
        previous_version: The ModelVersion served before (None when none).

    Returns:
        The message.
    """
    failure = rollout.failure or RolloutFailure("", "", "rollout", Readiness.FAILED, "")
    after = _after_failure(rollout.rollback, previous_version, request)
    return (
        f"deploying {request.model.get('name')}:{request.version.get('name')} to {request.target} failed during the"
        f" {failure.phase or 'rollout'}: {failure.reason}"
        + (f" - {str(failure.message)[:800]}" if failure.message else "")
        + f". {after}.{_failure_hint(failure)}"
    )


def _after_failure(
    restored: RestoreResult | None, previous_version: Mapping[str, Any] | None, request: DeployRequest
) -> str:
    inspect = f"inspect the InferenceService: kubectl describe inferenceservice -n {request.namespace} {request.name}"
    if restored is not None and restored.ok:
        if restored.action == RestoreAction.DELETED:
            return "Rolled back automatically: the InferenceService this rollout created was deleted again"
        serving = (previous_version or {}).get("name")
        return "Rolled back automatically: the previous spec was restored and is Ready" + (
            f" (serving version {serving})" if serving else ""
        )
    if restored is not None and restored.action == RestoreAction.ERROR:
        return f"The automatic rollback failed too ({restored.error}); {inspect}"
    state = restored.state if restored is not None else None
    not_ready = f": the restored spec is not Ready ({state.reason}: {state.summary})" if state else ""
    return f"The automatic rollback did not complete{not_ready}; {inspect}"


def _failure_hint(failure: RolloutFailure) -> str:
    if "FailedLoad" in failure.reason or "ModelLoad" in failure.reason:
        return (
            " Fix: check that the model file loads with the runtime (format, framework version) and that the"
            " storage URI is readable by the predictor's service account"
        )
    if failure.state == Readiness.TIMEOUT:
        return " Fix: raise timeout_seconds if the model is just slow to load, or check the predictor pods' events"
    return " Fix: correct the InferenceService spec the message names"
