"""What a rollout or an undeployment writes to the Model Registry: the ServeModel, the audit trail, the record.

Success: a ServeModel ``RUNNING`` with outcome ``deployed``, a ``deployment`` entry in the model's audit trail
(through :func:`kfp_model_lifecycle.lifecycle.commit_lifecycle_event`), then the InferenceService record
``DEPLOYED`` with the version, the URL and ``kml_*`` properties. Failure: a ServeModel ``FAILED`` with the reason
and whether the previous state came back; the record keeps serving the previous version (or becomes
``UNDEPLOYED`` when a failed first deployment was deleted); no audit event (nothing changed).

Every write is idempotent under the rollout's key, so a step retried after any of them (an answer lost, a task
killed) completes the record without duplicating it: the ServeModel's ``externalId`` is derived from the key (a
409 reads it back), the audit event carries the key in its evidence (an event with that key is not written
again), and the record PATCH is a read-modify-write that sends nothing when the record already says it. The
record comes last: a record that says ``DEPLOYED`` means the rollout and its audit entry are there.
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
    rollout_external_id,
    update_registry_inference_service,
)
from kfp_model_lifecycle.deployment.rollout import RestoreAction, RolloutResult
from kfp_model_lifecycle.lifecycle import (
    commit_lifecycle_event,
    get_model_version_by_id,
    lifecycle_common_fields,
    lifecycle_history,
    lifecycle_run_evidence,
    sync_lifecycle_view,
    utc_timestamp,
)
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.log import logger as log


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


EVIDENCE_KEY = "rollout_key"
"""The evidence field of a ``deployment`` event that holds the rollout's key."""


def find_deployment_event(events: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The ``deployment`` event a rollout with this key wrote, if any.

    Args:
        events: A model's audit trail (decoded).
        key: The rollout key.

    Returns:
        The event, or None.
    """
    for event in reversed(events):
        if event.get("type") == "deployment" and key and (event.get("evidence") or {}).get(EVIDENCE_KEY) == key:
            return event
    return None


def record_deployment_event(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    event: DeploymentEvent,
    key: str = "",
) -> dict[str, Any] | None:
    """Append a ``deployment`` entry to the model's audit trail, once per rollout key (and update the model's view).

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel.
        version: The ModelVersion deployed (or undeployed).
        event: What happened.
        key: The rollout's key (stored in the evidence): an event with it is not appended again.

    Returns:
        The stored event (decoded): the new one, or the one this rollout appended before.
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
    common = lifecycle_common_fields(event.actor, event.reason, {**dict(event.evidence or {}), EVIDENCE_KEY: key})
    events = lifecycle_history(conn, str(model.get("name") or ""))["events"]
    earlier = find_deployment_event(events, key)
    if earlier is not None:
        return earlier

    def decide(state: Any) -> dict[str, Any]:
        # `events` grows in place when another writer (or our own lost answer) took the next position
        return {"event": None if find_deployment_event(events, key) else dict(entry), "error": ""}

    outcome = commit_lifecycle_event(conn, model, decide, common, events=events)
    if outcome.event:
        sync_lifecycle_view(conn, model, events=outcome.events)
    return outcome.event or find_deployment_event(events, key)


def last_deployment_event(conn: RegistryConnection, model: Mapping[str, Any], target: str) -> dict[str, Any] | None:
    """The newest ``deployment`` event of a model about one InferenceService (``<namespace>/<name>``), or None.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel.
        target: ``<namespace>/<name>``.

    Returns:
        The event (decoded) or None.
    """
    events = lifecycle_history(conn, str(model.get("name") or ""), event_type="deployment")["events"]
    about = [e for e in events if e.get("target") == target]
    return about[-1] if about else None


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
    key: str = "",
) -> ServingRecords:
    """Write the outcome of a rollout to the registry: the ServeModel, the audit trail, the InferenceService record.

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
        key: The rollout's key: every write is done at most once per key (see the module docstring).

    Returns:
        What was written (``event`` None on failure).
    """
    recording = _RolloutRecording(
        conn, record, model, version, manifest, rollout, previous_version or {}, context,
        actor=lifecycle_common_fields(actor, reason, None)["actor"],  # "" -> user:<login name>, as in the audit trail
        reason=reason, rollback=rollback, when=utc_timestamp(), key=key,
    )  # fmt: skip
    state = ServeState.RUNNING if rollout.ok else ServeState.FAILED
    outcome = Outcome.DEPLOYED if rollout.ok else Outcome.FAILED
    external_id = rollout_external_id(record, key, outcome.value) if key else ""
    serve = create_serve_model_record(
        conn, record, str(version["id"]), state, recording.serve_model_properties(), external_id=external_id
    )
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
    key: str = ""

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
            "kml_rollout_key": self.key,
        }
        if not rollout.ok:
            failure, restored = rollout.failure, rollout.rollback
            props["kml_failure_reason"] = failure.reason if failure else ""
            props["kml_failure_message"] = (failure.message if failure else "")[:2000]
            props["kml_restored"] = bool(restored and restored.ok)
            props["kml_restore_action"] = restored.action.value if restored else ""
        return {k: v for k, v in props.items() if v not in (None, "")}

    def success(self, serve: Mapping[str, Any]) -> ServingRecords:
        """Append the audit event, then mark the record ``DEPLOYED`` with the version (the record comes last)."""
        prev_name = str(self.previous_version.get("name") or "")
        prev_id = str(self.previous_version.get("id") or "")
        digest, serve_id, url = manifest_sha256(self.manifest), str(serve.get("id") or ""), self.rollout.url or ""
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
        stored = record_deployment_event(self.conn, self.model, self.version, event, self.key)
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
                "kml_deployed_time": str((serve.get("customProperties") or {}).get("kml_time", {}).get("string_value")
                                         or self.when),
                "kml_previous_version": prev_name or None,
                "kml_previous_version_id": prev_id or None,
                "kml_manifest_sha256": digest,
                "kml_serve_model_id": serve_id,
                "kml_last_outcome": Outcome.DEPLOYED.value,
                "kml_last_failure": None,
            },
        )  # fmt: skip
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
    key: str = "",
) -> tuple[str, ServingRecords | None]:
    """Record an undeployment: a ServeModel ``COMPLETE``, an audit event, then the record ``UNDEPLOYED``.

    Nothing is written when the record already says ``UNDEPLOYED`` and nothing was deleted; each write is done
    once per ``key`` (a retried step completes what an earlier attempt began).

    Args:
        conn: From ``connect_model_registry``.
        record: The registry InferenceService record.
        namespace: The namespace.
        name: The InferenceService.
        deleted: Whether the InferenceService was deleted now.
        context: The run context.
        actor: Who.
        reason: Why.
        key: The undeployment's idempotency key.

    Returns:
        The name of the version it served ("" when unknown) and what was written (None when nothing).
    """
    version_id = str(record.get("modelVersionId") or "")
    version = get_model_version_by_id(conn, version_id) if version_id else None
    version_name = str((version or {}).get("name") or "")
    if str(record.get("desiredState")) == DesiredState.UNDEPLOYED and not deleted:
        model = get_registered_model_of(conn, record)
        last = last_deployment_event(conn, model, f"{namespace}/{name}")
        if last is None or last.get("to") == Outcome.UNDEPLOYED.value:
            return version_name, None  # nothing was deployed there, or its undeployment is on record
        log.info("%s/%s is undeployed but the audit trail misses it: recording it now", namespace, name)
    when = utc_timestamp()
    properties = {"kml_last_outcome": Outcome.UNDEPLOYED.value, "kml_undeployed_time": when, "url": ""}
    if version is None:
        updated = update_registry_inference_service(
            conn, record, desired_state=DesiredState.UNDEPLOYED, properties=properties
        )
        return version_name, ServingRecords(updated)
    who = lifecycle_common_fields(actor, reason, None)["actor"]
    props = {
        "kml_outcome": Outcome.UNDEPLOYED.value, "kml_time": when, "kml_namespace": namespace,
        "kml_inference_service": name, "kml_version": version_name, "kml_actor": who, "kml_reason": reason or None,
        "kml_run_id": context.run_id or None, "kml_rollout_key": key or None,
    }  # fmt: skip
    external_id = rollout_external_id(record, key, Outcome.UNDEPLOYED.value) if key else ""
    serve = create_serve_model_record(
        conn, record, str(version["id"]), ServeState.COMPLETE, props, external_id=external_id
    )
    evidence = {**lifecycle_run_evidence(context), "namespace": namespace, "inference_service": name}
    event = DeploymentEvent(Outcome.UNDEPLOYED, version_name, f"{namespace}/{name}", "", False, who, reason, evidence)
    model = get_registered_model_of(conn, record)
    stored = record_deployment_event(conn, model, version, event, key)
    updated = update_registry_inference_service(
        conn, record, desired_state=DesiredState.UNDEPLOYED, properties=properties
    )
    return version_name, ServingRecords(updated, serve, stored)
