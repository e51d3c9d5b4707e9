"""The deployment history in the Model Registry: decoded rollouts, where a model serves, what a rollback restores.

Every rollout ``deploy_model``, ``rollback_deployment`` or an undeployment recorded is a ServeModel of the
InferenceService record, with ``kml_*`` customProperties (:mod:`~kfp_model_lifecycle.deployment.recording`);
:class:`RolloutEntry` is one of them decoded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.conventions import LABEL_MODEL_VERSION_ID, PROPERTY_PREFIX, Outcome
from kfp_model_lifecycle.deployment.records import (
    find_registry_inference_service,
    find_serving_environment,
    get_registered_model_of,
)
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle import find_model_by_name, get_model_version_by_id, plain_properties


@dataclass(frozen=True)
class RolloutEntry:
    """One recorded rollout (a ServeModel), decoded.

    Attributes:
        id: The ServeModel's id.
        name: Its name (``rollout-<time>-<hex>``).
        version_id: The model version it deployed.
        state: ``lastKnownState``: ``RUNNING``, ``FAILED`` or ``COMPLETE``.
        outcome: ``deployed``, ``failed``, ``undeployed`` (``unknown`` when not recorded).
        time: When (UTC, ISO 8601).
        namespace: The namespace.
        inference_service: The InferenceService.
        model: The registered model's name.
        version: The version's name.
        previous_version: The version served before ("" when none).
        previous_version_id: Its id.
        canary_percent: The canary percent used (0 when none).
        phases: What happened, e.g. ``updated, canary 10%, promoted``.
        deployment_mode: ``Serverless`` or ``RawDeployment``.
        manifest_sha256: Digest of the manifest.
        manifest: The manifest applied (JSON).
        url: Where it served.
        rollback: Whether it was a rollback.
        actor: Who.
        reason: Why.
        run_id: The KFP run id.
        run_name: The KFP run name.
        run_url: Link to the run.
        failure_reason: Why it failed.
        failure_message: The controller's message.
        restored: Whether the previous state came back after a failure.
        restore_action: ``restored``, ``deleted``... after a failure.
        rollout_key: The rollout's idempotency key.
        record_id: The InferenceService record it belongs to (set by :func:`list_model_deployments`).
    """

    id: str = ""
    name: str = ""
    version_id: str = ""
    state: str = ""
    outcome: str = "unknown"
    time: str = ""
    namespace: str = ""
    inference_service: str = ""
    model: str = ""
    version: str = ""
    previous_version: str = ""
    previous_version_id: str = ""
    canary_percent: int = 0
    phases: str = ""
    deployment_mode: str = ""
    manifest_sha256: str = ""
    manifest: str = ""
    url: str = ""
    rollback: bool = False
    actor: str = ""
    reason: str = ""
    run_id: str = ""
    run_name: str = ""
    run_url: str = ""
    failure_reason: str = ""
    failure_message: str = ""
    restored: bool = False
    restore_action: str = ""
    rollout_key: str = ""
    record_id: str = ""


_NOT_PROPERTIES = frozenset({"id", "name", "version_id", "state", "record_id"})
_PROPERTY_DEFAULTS: Mapping[str, Any] = {
    f.name: f.default for f in dataclasses.fields(RolloutEntry) if f.name not in _NOT_PROPERTIES
}


@dataclass(frozen=True)
class ServiceEntry:
    """One InferenceService a model is (or was) deployed to, from its registry record.

    Attributes:
        id: The record's id.
        namespace: The namespace (the ServingEnvironment's name).
        name: The InferenceService.
        state: ``DEPLOYED`` or ``UNDEPLOYED``.
        version: The version it serves (or served last).
        version_id: Its id.
        url: Where it serves ("" when undeployed).
        deployed_time: When the version was deployed.
        undeployed_time: When it was undeployed ("" when it was not).
        last_outcome: ``deployed``, ``failed`` or ``undeployed``.
    """

    id: str
    namespace: str
    name: str
    state: str
    version: str
    version_id: str
    url: str
    deployed_time: str
    undeployed_time: str
    last_outcome: str


@dataclass(frozen=True)
class DeploymentHistory:
    """Where and when each version of a model was deployed.

    Attributes:
        model: The RegisteredModel (wire form).
        services: One entry per InferenceService record, by record id.
        rollouts: Every recorded rollout, oldest first.
    """

    model: dict[str, Any]
    services: list[ServiceEntry]
    rollouts: list[RolloutEntry]


def decode_serve_model(serve: Mapping[str, Any]) -> RolloutEntry:
    """A ServeModel written by :func:`~kfp_model_lifecycle.deployment.recording.record_rollout`, decoded.

    Args:
        serve: The ServeModel (wire form).

    Returns:
        The rollout; ``kml_*`` properties this version does not know are left out.
    """
    values: dict[str, Any] = {}
    for key, value in plain_properties(serve).items():
        field = key[len(PROPERTY_PREFIX) :] if key.startswith(PROPERTY_PREFIX) else ""
        if field in _PROPERTY_DEFAULTS and value is not None:
            values[field] = _coerce(value, _PROPERTY_DEFAULTS[field])
    return RolloutEntry(
        id=str(serve.get("id") or ""),
        name=str(serve.get("name") or ""),
        version_id=str(serve.get("modelVersionId") or ""),
        state=str(serve.get("lastKnownState") or ""),
        **values,
    )


def _coerce(value: Any, default: Any) -> Any:
    """A property value in the type of the field's default."""
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            return default
    return str(value)


def list_serve_models(conn: RegistryConnection, record: Mapping[str, Any]) -> list[RolloutEntry]:
    """The rollouts of one registry InferenceService record, oldest first (decoded).

    Args:
        conn: From ``connect_model_registry``.
        record: The record.

    Returns:
        The decoded ServeModels, by id.
    """
    record_id = str(record["id"])
    items = conn.list_all(
        f"list rollouts of registry inference service {record_id}",
        lambda api, token: api.get_inference_service_serves(
            record_id, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    return [decode_serve_model(s) for s in sorted(items, key=lambda s: int(s.get("id") or 0))]


def last_deployed_object(rollouts: Sequence[RolloutEntry], *, excluding_key: str = "") -> dict[str, Any] | None:
    """What the newest successful rollout (other than ``excluding_key``) applied, as an object to restore.

    Args:
        rollouts: Decoded rollouts, oldest first.
        excluding_key: A rollout key to skip (the rollout being retried).

    Returns:
        ``{"metadata": {"labels", "annotations"}, "spec"}`` of its manifest, or None when there is none.
    """
    for entry in reversed(rollouts):
        if entry.outcome == Outcome.DEPLOYED and entry.manifest and entry.rollout_key != excluding_key:
            try:
                manifest = json.loads(entry.manifest)
            except ValueError:
                continue
            metadata = manifest.get("metadata") or {}
            return {
                "metadata": {"labels": metadata.get("labels") or {}, "annotations": metadata.get("annotations") or {}},
                "spec": manifest.get("spec") or {},
            }
    return None


def plan_deployment_rollback(rollouts: Sequence[RolloutEntry], current_version_id: str) -> RolloutEntry | None:
    """The rollout a ``rollback_deployment`` restores: the newest successful one of another version.

    Versions that were rolled back *from* are skipped, so repeated rollbacks walk back through the history
    instead of flipping between two versions.

    Args:
        rollouts: Decoded rollouts, oldest first (:func:`list_serve_models`).
        current_version_id: The version deployed now.

    Returns:
        The rollout to restore (with its ``manifest``), or None when there is nothing to go back to.
    """
    successful = [r for r in rollouts if r.outcome == Outcome.DEPLOYED and r.manifest]
    rolled_back_from: set[str] = set()
    for r in successful:
        if r.rollback and r.previous_version_id:
            rolled_back_from.add(r.previous_version_id)
        elif r.version_id in rolled_back_from:
            rolled_back_from.discard(r.version_id)  # deployed normally again
    for r in reversed(successful):
        if r.version_id and r.version_id != str(current_version_id) and r.version_id not in rolled_back_from:
            return r
    return None


def list_model_deployments(conn: RegistryConnection, model_name: str) -> DeploymentHistory:
    """Where and when each version of a model was deployed, from the registry's serving records.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The registered model.

    Returns:
        The InferenceServices and every rollout (with ``namespace``, ``inference_service`` and ``record_id``).

    Raises:
        LookupError: When there is no such model.
    """
    model = find_model_by_name(conn, model_name)
    model_id = str(model["id"])
    query = f'registeredModelId = "{model_id}"'
    records = conn.list_all(
        f"list registry inference services of model {model_name!r}",
        lambda api, token: api.get_inference_services(
            filter_query=query, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    names = _Names(conn)
    services: list[ServiceEntry] = []
    rollouts: list[RolloutEntry] = []
    for record in sorted(records, key=lambda r: int(r.get("id") or 0)):
        if str(record.get("registeredModelId")) != model_id:
            continue
        namespace = names.environment(str(record.get("servingEnvironmentId") or ""))
        services.append(_service_entry(record, namespace, names))
        for entry in list_serve_models(conn, record):
            rollouts.append(
                dataclasses.replace(
                    entry,
                    namespace=entry.namespace or namespace,
                    inference_service=entry.inference_service or str(record.get("name") or ""),
                    record_id=str(record.get("id") or ""),
                )
            )
    rollouts.sort(key=lambda r: (r.time, int(r.id or 0)))
    return DeploymentHistory(model, services, rollouts)


class _Names:
    """Names of serving environments and model versions by id, each read once."""

    def __init__(self, conn: RegistryConnection) -> None:
        self.conn = conn
        self.environments: dict[str, str] = {}
        self.versions: dict[str, str] = {}

    def environment(self, env_id: str) -> str:
        if env_id not in self.environments:
            env = self.conn.call(
                f"get serving environment {env_id}",
                lambda api: api.get_serving_environment(env_id),
                tolerate=(404,),
            )
            self.environments[env_id] = str((env or {}).get("name") or env_id)
        return self.environments[env_id]

    def version(self, version_id: str) -> str:
        if version_id and version_id not in self.versions:
            found = get_model_version_by_id(self.conn, version_id)
            self.versions[version_id] = str((found or {}).get("name") or version_id)
        return self.versions.get(version_id, "")


def _service_entry(record: Mapping[str, Any], namespace: str, names: _Names) -> ServiceEntry:
    props = plain_properties(record)
    version_id = str(record.get("modelVersionId") or "")
    version_name = names.version(version_id)
    return ServiceEntry(
        id=str(record.get("id") or ""),
        namespace=namespace,
        name=str(record.get("name") or ""),
        state=str(record.get("desiredState") or ""),
        version=str(props.get("kml_deployed_version") or version_name),
        version_id=version_id,
        url=str(props.get("url") or ""),
        deployed_time=str(props.get("kml_deployed_time") or ""),
        undeployed_time=str(props.get("kml_undeployed_time") or ""),
        last_outcome=str(props.get("kml_last_outcome") or ""),
    )


@dataclass(frozen=True)
class RollbackPlan:
    """What a ``rollback_deployment`` redeploys.

    Attributes:
        record: The registry InferenceService record (wire form).
        model: The RegisteredModel it serves.
        version: The ModelVersion to go back to.
        current: The ModelVersion deployed now (None when unknown).
        rollout: The recorded rollout being restored.
        manifest: That rollout's manifest.
    """

    record: dict[str, Any]
    model: dict[str, Any]
    version: dict[str, Any]
    current: dict[str, Any] | None
    rollout: RolloutEntry
    manifest: dict[str, Any]

    @property
    def current_version_name(self) -> str:
        """The name of the version deployed now ("" when unknown)."""
        return str((self.current or {}).get("name") or "")


def plan_rollback(
    conn: RegistryConnection, *, namespace: str, name: str, model_name: str, live: Mapping[str, Any] | None
) -> RollbackPlan:
    """Find what to roll an InferenceService back to, from the registry's records.

    See :func:`plan_deployment_rollback` for which rollout is chosen.

    Args:
        conn: From ``connect_model_registry``.
        namespace: The namespace.
        name: The InferenceService.
        model_name: The registered model the caller expects ("" for any).
        live: The live object (its labels say which version runs now), None when unknown.

    Returns:
        The plan.

    Raises:
        NotFoundError: When the InferenceService has no records or no earlier version to go back to.
        InvalidInputError: When it serves another model than ``model_name``.
    """
    environment = find_serving_environment(conn, namespace)
    record = find_registry_inference_service(conn, environment, name, live) if environment else None
    if not record:
        raise NotFoundError(
            f"the Model Registry has no deployment records for InferenceService {namespace}/{name}:"
            " rollback_deployment can only go back to versions deploy_model deployed there"
            + (f" (`kml models deployments {model_name}` lists them)" if model_name else "")
        )
    model = get_registered_model_of(conn, record)
    if model_name and str(model.get("name")) != model_name:
        raise InvalidInputError(
            f"InferenceService {namespace}/{name} serves model {model.get('name')!r}, not {model_name!r}"
        )
    rollouts = list_serve_models(conn, record)
    live_labels = ((live or {}).get("metadata") or {}).get("labels") or {}
    current_id = str(live_labels.get(LABEL_MODEL_VERSION_ID) or "") or str(record.get("modelVersionId") or "")
    target = plan_deployment_rollback(rollouts, current_id)
    if target is None:
        versions = sorted({r.version for r in rollouts if r.outcome == Outcome.DEPLOYED})
        raise NotFoundError(
            f"InferenceService {namespace}/{name} has no earlier deployed version to roll back to"
            f" (deployed so far: {', '.join(versions) or 'none'}): deploy a version with deploy_model instead"
        )
    version = get_model_version_by_id(conn, target.version_id)
    if version is None:
        raise NotFoundError(f"model version id {target.version_id} of the rollout to restore no longer exists")
    current = get_model_version_by_id(conn, current_id) if current_id else None
    return RollbackPlan(record, model, version, current, target, json.loads(target.manifest))
