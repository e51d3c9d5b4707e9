"""Deploying one model version to one InferenceService and recording it: the step deploy and rollback share.

In order: everything that can be checked without writing (the manifest, that the live InferenceService serves the
same model in the same mode, the RBAC pre-check: nothing changes when a permission is denied), the registry
records (ServingEnvironment, InferenceService), the rollout with canary and automatic restore, and the registry
writes. A failed rollout raises :class:`DeploymentError` saying what failed, what runs now and what to fix.

Each rollout has a key (:func:`rollout_key`): from the run id, the task, the target, the version and the manifest
when the step runs in a pipeline (so a retried task is the same rollout), else random. The InferenceService
carries it (:data:`ANNOTATION_ROLLOUT`, and :data:`ANNOTATION_CREATED_BY` when this rollout created it) and so do
the registry writes (ServeModel ``externalId``, audit-event evidence): a retried step recognises what an earlier
attempt did -- the object it created (a rollback deletes it), the spec it applied (a rollback restores what was
there before, from the registry's last successful rollout), the records it wrote (read back, not written twice).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.conventions import (
    ANNOTATION_CREATED_BY,
    ANNOTATION_ROLLOUT,
    LABEL_MODEL_VERSION_ID,
    LABEL_REGISTERED_MODEL_ID,
    DeploymentMode,
    DesiredState,
    Outcome,
)
from kfp_model_lifecycle.deployment.history import last_deployed_object, list_serve_models
from kfp_model_lifecycle.deployment.inference_service import annotation, get_inference_service
from kfp_model_lifecycle.deployment.kube import KubeClient, require_deploy_permissions
from kfp_model_lifecycle.deployment.manifest import manifest_deployment_mode, manifest_sha256, with_rollout_key
from kfp_model_lifecycle.deployment.readiness import Readiness, live_mode
from kfp_model_lifecycle.deployment.recording import ServingRecords, last_deployment_event, record_rollout
from kfp_model_lifecycle.deployment.records import ensure_registry_inference_service, ensure_serving_environment
from kfp_model_lifecycle.deployment.rollout import (
    EarlierAttempt,
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
        PermissionError: When RBAC denies a permission the rollout needs (checked before anything changes).
        InvalidInputError: When the manifest cannot be built, or the InferenceService serves another model or uses
            another deployment mode (checked before anything is written).
        DeploymentError: When the rollout failed (after the automatic rollback; the message says what runs now).
    """
    live = get_inference_service(k8s, request.namespace, request.name)
    preview = request.manifest_for("")  # builds and checks the manifest before anything is written
    mode = live_mode(live, DeploymentMode(manifest_deployment_mode(preview) or DeploymentMode.SERVERLESS))
    require_deploy_permissions(
        k8s, request.namespace, raw_deployment=mode == DeploymentMode.RAW_DEPLOYMENT, creating=live is None
    )
    _check_live_object(live, request, preview)
    environment = ensure_serving_environment(conn, request.namespace)
    record = ensure_registry_inference_service(
        conn, environment, request.name, request.model, request.version, runtime=request.runtime, live=live
    )
    base = request.manifest_for(str(record.get("id") or ""))
    key = rollout_key(request, base)
    manifest = with_rollout_key(base, key)
    previous_version = _previous_version(conn, record, live)
    rollout = rollout_inference_service(
        k8s, manifest, canary_percent=request.options.canary_percent, timeout_seconds=request.options.timeout_seconds,
        earlier=_earlier_attempt(conn, record, live, key),
    )  # fmt: skip
    records = _record(conn, request, record, manifest, rollout, previous_version, key)
    if not rollout.ok:
        raise DeploymentError(rollout_failure_message(request, rollout, previous_version))
    return DeployOutcome(manifest, rollout, records, str((previous_version or {}).get("name") or ""), rollout.url)


def rollout_key(request: DeployRequest, manifest: Mapping[str, Any]) -> str:
    """The idempotency key of a rollout: the same for a retried task of a pipeline run, new otherwise.

    Args:
        request: What is deployed where (its run context names the run and the task).
        manifest: The manifest (its digest leaves out run lineage).

    Returns:
        32 hex digits: a digest of run id, task, target, version, manifest and canary when the step runs in a
        pipeline run; random outside one (each call is then a rollout of its own).
    """
    context = request.context
    if not context.run_id:
        return uuid.uuid4().hex
    parts = [
        context.run_id, context.task_name or "", request.namespace, request.name, str(request.version["id"]),
        manifest_sha256(manifest), "rollback" if request.rollback else "deploy", str(request.options.canary_percent),
    ]  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def undeploy_key(context: RunContext, namespace: str, name: str, version_id: str) -> str:
    """The idempotency key of an undeployment: the same for a retried task of a pipeline run, random otherwise.

    Args:
        context: The run context.
        namespace: The namespace.
        name: The InferenceService.
        version_id: The version it served.

    Returns:
        32 hex digits.
    """
    if not context.run_id:
        return uuid.uuid4().hex
    parts = [context.run_id, context.task_name or "", namespace, name, version_id, "undeploy"]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _previous_version(
    conn: RegistryConnection, record: Mapping[str, Any], live: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The version served before: the record's when it says DEPLOYED (a retried step), else the live object's."""
    version_id = str(_labels(live).get(LABEL_MODEL_VERSION_ID) or "") if live is not None else ""
    if str(record.get("desiredState")) == DesiredState.DEPLOYED and record.get("modelVersionId"):
        version_id = str(record["modelVersionId"])
    return get_model_version_by_id(conn, version_id) if version_id else None


def _earlier_attempt(
    conn: RegistryConnection, record: Mapping[str, Any], live: Mapping[str, Any] | None, key: str
) -> EarlierAttempt | None:
    """When the live object already carries this rollout (a retried task): what the rollout replaced."""
    if live is None or annotation(live, ANNOTATION_ROLLOUT) != key:
        return None
    if annotation(live, ANNOTATION_CREATED_BY) == key:
        log.info("an earlier attempt of this rollout created the InferenceService: a failure deletes it again")
        return EarlierAttempt(None)
    previous = last_deployed_object(list_serve_models(conn, record), excluding_key=key)
    if previous is None:
        log.warning("an earlier attempt of this rollout applied it, and what it replaced is not on record: a failure"
                    " leaves the InferenceService as it is")  # fmt: skip
        return EarlierAttempt(dict(live))
    log.info("an earlier attempt of this rollout applied it: a failure restores the last recorded rollout")
    return EarlierAttempt(previous)


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _check_live_object(live: Mapping[str, Any] | None, request: DeployRequest, preview: Mapping[str, Any]) -> None:
    """Refuse to take over an InferenceService of another model, or to switch its deployment mode."""
    if live is None:
        return
    live_model_id = str(_labels(live).get(LABEL_REGISTERED_MODEL_ID) or "")
    if live_model_id and live_model_id != str(request.model["id"]):
        raise InvalidInputError(
            f"InferenceService {request.target} serves another registered model (id {live_model_id}), not"
            f" {request.model.get('name')!r}. Fix: choose another inference_service_name, or undeploy it first"
        )
    running = str((live.get("status") or {}).get("deploymentMode") or "") or manifest_deployment_mode(live)
    wanted = normalize_deployment_mode(manifest_deployment_mode(preview))
    if running and normalize_deployment_mode(running) != wanted:
        raise InvalidInputError(
            f"InferenceService {request.target} runs in {running} mode; KServe cannot switch an existing"
            f" InferenceService to {wanted}. Fix: deploy under another name, or delete it first"
        )


def _record(
    conn: RegistryConnection,
    request: DeployRequest,
    record: Mapping[str, Any],
    manifest: Mapping[str, Any],
    rollout: RolloutResult,
    previous_version: Mapping[str, Any] | None,
    key: str,
) -> ServingRecords | None:
    """Record the rollout, unless nothing changed and the registry (record and audit trail) already says so."""
    if rollout.ok and not rollout.spec_changed and _already_recorded(conn, request, record):
        log.info("%s:%s is already deployed to %s: nothing recorded", request.model.get("name"),
                 request.version.get("name"), request.target)  # fmt: skip
        return None
    version_id = str(request.version["id"])
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
        key=key,
    )


def _already_recorded(conn: RegistryConnection, request: DeployRequest, record: Mapping[str, Any]) -> bool:
    """The record says this version is deployed there, and so does the audit trail's last entry about it."""
    version_id = str(request.version["id"])
    if str(record.get("desiredState")) != DesiredState.DEPLOYED or str(record.get("modelVersionId")) != version_id:
        return False
    last = last_deployment_event(conn, request.model, request.target)
    return last is not None and last.get("to") == Outcome.DEPLOYED.value and str(last.get("version_id")) == version_id


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
