"""What a rollout or an undeployment writes to the Model Registry: the ServeModel, the record, the audit trail.

Success: a ServeModel ``RUNNING`` with outcome ``deployed``, the InferenceService record ``DEPLOYED`` with the
version, the URL and ``kml_*`` properties, and a ``deployment`` entry in the model's audit trail (through
:func:`kfp_model_lifecycle.lifecycle.commit_lifecycle_event`). Failure: a ServeModel ``FAILED`` with the reason and
whether the previous state came back; the record keeps serving the previous version (or becomes ``UNDEPLOYED``
when a failed first deployment was deleted); no audit event (nothing changed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.conventions import DesiredState, Outcome, ServeState
from kfp_model_lifecycle.deployment.manifest import manifest_deployment_mode, manifest_runtime, manifest_sha256
from kfp_model_lifecycle.deployment.records import (
    create_serve_model_record,
    get_registered_model_of,
    update_registry_inference_service,
)
from kfp_model_lifecycle.deployment.rollout import RestoreAction, RolloutResult
from kfp_model_lifecycle.lifecycle import (
    commit_lifecycle_event,
    get_model_version_by_id,
    lifecycle_common_fields,
    lifecycle_run_evidence,
    sync_lifecycle_view,
    utc_timestamp,
)
from kfp_model_lifecycle.lineage.context import RunContext


@dataclass(frozen=True)
class ServingRecords:
    """What one rollout or undeployment wrote to the registry (entities in wire form).

    Attributes:
        record: The InferenceService record as updated.
        serve_model: The ServeModel appended (None when none was).
        event: The ``deployment`` audit event (None when none was appended, e.g. after a failure).
    """

    record: dict[str, Any]
    serve_model: dict[str, Any] | None = None
    event: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeploymentEvent:
    """A ``deployment`` entry of a model's audit trail.

    Attributes:
        to: ``deployed`` or ``undeployed``.
        previous_version: The version name served before ("" when none).
        target: ``<namespace>/<InferenceService>``.
        url: The InferenceService URL.
        rollback: Whether this was a rollback of a deployment.
        actor: Who.
        reason: Why.
        evidence: Run id, manifest digest...
    """

    to: Outcome
    previous_version: str
    target: str
    url: str = ""
    rollback: bool = False
    actor: str = ""
    reason: str = ""
    evidence: Mapping[str, Any] | None = None


def record_deployment_event(
    conn: RegistryConnection, model: Mapping[str, Any], version: Mapping[str, Any], event: DeploymentEvent
) -> dict[str, Any] | None:
    """Append a ``deployment`` entry to the model's audit trail (and bring the model's view up to date).

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel.
        version: The ModelVersion deployed (or undeployed).
        event: What happened.

    Returns:
        The stored event (decoded), or None when nothing was appended.
    """
    entry: dict[str, Any] = {
        "type": "deployment",
        "version_id": str(version["id"]),
        "version": str(version.get("name") or ""),
        "from": event.previous_version or "",
        "to": event.to.value,
        "target": event.target,
        "url": event.url or "",
    }
    if event.rollback:
        entry["rollback"] = True
    common = lifecycle_common_fields(event.actor, event.reason, event.evidence)
    outcome = commit_lifecycle_event(conn, model, lambda state: {"event": dict(entry), "error": ""}, common)
    if outcome.event:
        sync_lifecycle_view(conn, model, events=outcome.events)
    return outcome.event


def record_rollout(
    conn: RegistryConnection,
    *,
    record: Mapping[str, Any],
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    manifest: Mapping[str, Any],
    rollout: RolloutResult,
    previous_version: Mapping[str, Any] | None,
    context: RunContext,
    actor: str,
    reason: str,
    rollback: bool = False,
) -> ServingRecords:
    """Write the outcome of a rollout to the registry: the ServeModel, the InferenceService record, the audit trail.

    Args:
        conn: From ``connect_model_registry``.
        record: The registry InferenceService record.
        model: The RegisteredModel.
        version: The ModelVersion rolled out.
        manifest: The manifest applied.
        rollout: From :func:`~kfp_model_lifecycle.deployment.rollout.rollout_inference_service`.
        previous_version: The ModelVersion served before (None when none).
        context: The run context.
        actor: Who.
        reason: Why (recorded in the audit trail).
        rollback: Whether this rollout is a rollback (``rollback_deployment``).

    Returns:
        What was written (``event`` None on failure).
    """
    recording = _RolloutRecording(
        conn, record, model, version, manifest, rollout, previous_version or {}, context,
        actor=lifecycle_common_fields(actor, reason, None)["actor"],  # "" -> user:<login name>, as in the audit trail
        reason=reason, rollback=rollback, when=utc_timestamp(),
    )  # fmt: skip
    state = ServeState.RUNNING if rollout.ok else ServeState.FAILED
    serve = create_serve_model_record(conn, record, str(version["id"]), state, recording.serve_model_properties())
    return recording.success(serve) if rollout.ok else recording.failure(serve)


@dataclass(frozen=True)
class _RolloutRecording:
    """The registry writes of one rollout."""

    conn: RegistryConnection
    record: Mapping[str, Any]
    model: Mapping[str, Any]
    version: Mapping[str, Any]
    manifest: Mapping[str, Any]
    rollout: RolloutResult
    previous_version: Mapping[str, Any]
    context: RunContext
    actor: str
    reason: str
    rollback: bool
    when: str

    @property
    def namespace(self) -> str:
        return str(self.manifest["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def serve_model_properties(self) -> dict[str, Any]:
        """The ``kml_*`` properties of the rollout's ServeModel (empty values left out)."""
        rollout, previous = self.rollout, self.previous_version
        props: dict[str, Any] = {
            "kml_outcome": (Outcome.DEPLOYED if rollout.ok else Outcome.FAILED).value,
            "kml_time": self.when,
            "kml_namespace": self.namespace,
            "kml_inference_service": self.name,
            "kml_model": str(self.model.get("name") or ""),
            "kml_version": str(self.version.get("name") or ""),
            "kml_previous_version": str(previous.get("name") or ""),
            "kml_previous_version_id": str(previous.get("id") or ""),
            "kml_canary_percent": int(rollout.canary or 0),
            "kml_phases": ", ".join(rollout.phases),
            "kml_deployment_mode": manifest_deployment_mode(self.manifest),
            "kml_manifest_sha256": manifest_sha256(self.manifest),
            "kml_manifest": json.dumps(self.manifest, sort_keys=True, separators=(",", ":")),
            "kml_url": rollout.url or "",
            "kml_rollback": bool(self.rollback),
            "kml_actor": self.actor,
            "kml_reason": self.reason,
            "kml_run_id": self.context.run_id or "",
            "kml_run_name": self.context.run_name or "",
            "kml_run_url": self.context.run_url or "",
        }
        if not rollout.ok:
            failure, restored = rollout.failure, rollout.rollback
            props["kml_failure_reason"] = failure.reason if failure else ""
            props["kml_failure_message"] = (failure.message if failure else "")[:2000]
            props["kml_restored"] = bool(restored and restored.ok)
            props["kml_restore_action"] = restored.action.value if restored else ""
        return {k: v for k, v in props.items() if v not in (None, "")}

    def success(self, serve: Mapping[str, Any]) -> ServingRecords:
        """Mark the record ``DEPLOYED`` with the version, and append the audit event."""
        prev_name = str(self.previous_version.get("name") or "")
        prev_id = str(self.previous_version.get("id") or "")
        digest, serve_id, url = manifest_sha256(self.manifest), str(serve.get("id") or ""), self.rollout.url or ""
        updated = update_registry_inference_service(
            self.conn,
            self.record,
            desired_state=DesiredState.DEPLOYED,
            version_id=str(self.version["id"]),
            runtime=manifest_runtime(self.manifest) or None,
            properties={
                "url": url,
                "kml_deployed_version": str(self.version.get("name") or ""),
                "kml_deployed_version_id": str(self.version["id"]),
                "kml_deployed_time": self.when,
                "kml_previous_version": prev_name or None,
                "kml_previous_version_id": prev_id or None,
                "kml_manifest_sha256": digest,
                "kml_serve_model_id": serve_id,
                "kml_last_outcome": Outcome.DEPLOYED.value,
                "kml_last_failure": None,
            },
        )
        evidence = {
            **lifecycle_run_evidence(self.context),
            "namespace": self.namespace,
            "inference_service": self.name,
            "url": url,
            "manifest_sha256": digest,
            "serve_model_id": serve_id,
        }
        target = f"{self.namespace}/{self.name}"
        event = DeploymentEvent(Outcome.DEPLOYED, prev_name, target, url, self.rollback, self.actor, self.reason,
                                evidence)  # fmt: skip
        stored = record_deployment_event(self.conn, self.model, self.version, event)
        return ServingRecords(updated, dict(serve), stored)

    def failure(self, serve: Mapping[str, Any]) -> ServingRecords:
        """Note the failure on the record, which keeps serving the previous version (unless it was deleted)."""
        restored, failure = self.rollout.rollback, self.rollout.failure
        deleted = restored is not None and restored.action == RestoreAction.DELETED
        current_state = str(self.record.get("desiredState") or DesiredState.UNDEPLOYED.value)
        why = failure.reason if failure else ""
        updated = update_registry_inference_service(
            self.conn,
            self.record,
            desired_state=DesiredState.UNDEPLOYED if deleted else current_state,
            properties={
                "kml_last_outcome": Outcome.FAILED.value,
                "kml_last_failure": f"{self.when} {self.version.get('name')}: {why}"[:1000],
                # the previous revision still serves at its URL unless the failed first deployment was deleted
                **({"url": ""} if deleted else {}),
            },
        )
        return ServingRecords(updated, dict(serve), None)


def record_undeployment(
    conn: RegistryConnection,
    record: Mapping[str, Any],
    *,
    namespace: str,
    name: str,
    deleted: bool,
    context: RunContext,
    actor: str,
    reason: str,
) -> tuple[str, ServingRecords | None]:
    """Mark the InferenceService record ``UNDEPLOYED`` and record it: a ServeModel ``COMPLETE`` and an audit event.

    Nothing is written when the record already says ``UNDEPLOYED`` and nothing was deleted.

    Args:
        conn: From ``connect_model_registry``.
        record: The registry InferenceService record.
        namespace: The namespace.
        name: The InferenceService.
        deleted: Whether the InferenceService was deleted now.
        context: The run context.
        actor: Who.
        reason: Why.

    Returns:
        The name of the version it served ("" when unknown) and what was written (None when nothing).
    """
    version_id = str(record.get("modelVersionId") or "")
    version = get_model_version_by_id(conn, version_id) if version_id else None
    version_name = str((version or {}).get("name") or "")
    if str(record.get("desiredState")) == DesiredState.UNDEPLOYED and not deleted:
        return version_name, None
    when = utc_timestamp()
    updated = update_registry_inference_service(
        conn,
        record,
        desired_state=DesiredState.UNDEPLOYED,
        properties={"kml_last_outcome": Outcome.UNDEPLOYED.value, "kml_undeployed_time": when, "url": ""},
    )
    if version is None:
        return version_name, ServingRecords(updated)
    who = lifecycle_common_fields(actor, reason, None)["actor"]
    props = {
        "kml_outcome": Outcome.UNDEPLOYED.value, "kml_time": when, "kml_namespace": namespace,
        "kml_inference_service": name, "kml_version": version_name, "kml_actor": who, "kml_reason": reason or None,
        "kml_run_id": context.run_id or None,
    }  # fmt: skip
    serve = create_serve_model_record(conn, record, str(version["id"]), ServeState.COMPLETE, props)
    evidence = {**lifecycle_run_evidence(context), "namespace": namespace, "inference_service": name}
    event = DeploymentEvent(Outcome.UNDEPLOYED, version_name, f"{namespace}/{name}", "", False, who, reason, evidence)
    model = get_registered_model_of(conn, record)
    return version_name, ServingRecords(updated, serve, record_deployment_event(conn, model, version, event))
