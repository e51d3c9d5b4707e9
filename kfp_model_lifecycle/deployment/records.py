"""The Model Registry's serving records: ServingEnvironment, InferenceService and ServeModel (wire form).

One ServingEnvironment per namespace (named after it, as the registry's own controller does), one InferenceService
record per deployed InferenceService (``desiredState``, the model version it serves, ``url``), and one ServeModel
per rollout: the history ``rollback_deployment`` and ``kml models deployments`` read. A ServeModel carries an
``externalId`` derived from the rollout's key, so a retried step reads it back instead of writing a second one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, update_with_retry
from kfp_model_lifecycle.deployment.conventions import (
    LABEL_INFERENCE_SERVICE_ID,
    ROLLOUT_EXTERNAL_ID,
    DesiredState,
    ServeState,
)
from kfp_model_lifecycle.errors import ConcurrencyError, InvalidInputError
from kfp_model_lifecycle.lifecycle import lifecycle_property
from kfp_model_lifecycle.log import logger as log


def find_serving_environment(conn: RegistryConnection, namespace: str) -> dict[str, Any] | None:
    """The registry's ServingEnvironment of a namespace (named after it), or None.

    Args:
        conn: From ``connect_model_registry``.
        namespace: The namespace.

    Returns:
        The ServingEnvironment (wire form) or None.
    """
    return conn.call(
        f"find serving environment {namespace!r}",
        lambda api: api.find_serving_environment(name=namespace),
        tolerate=(404,),
    )


def ensure_serving_environment(conn: RegistryConnection, namespace: str) -> dict[str, Any]:
    """The namespace's ServingEnvironment, created when missing (one per namespace, as the registry's controller).

    Args:
        conn: From ``connect_model_registry``.
        namespace: The namespace.

    Returns:
        The ServingEnvironment (wire form).
    """
    found = find_serving_environment(conn, namespace)
    if found:
        return found
    body = {"name": namespace, "description": f"Kubernetes namespace {namespace} (KServe)"}
    created = conn.call(
        f"create serving environment {namespace!r}",
        lambda api: api.create_serving_environment(models.ServingEnvironmentCreate.from_dict(body)),
        tolerate=(409,),
    )
    return created or find_serving_environment(conn, namespace) or {}


def find_registry_inference_service(
    conn: RegistryConnection, environment: Mapping[str, Any], name: str, live: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The registry's InferenceService record of a deployed InferenceService, or None.

    The live object's ``modelregistry.kubeflow.org/inference-service-id`` label wins (the registry's controller
    may have created the record, named ``<name>/<uid>``); else the record named ``name`` in the environment.

    Args:
        conn: From ``connect_model_registry``.
        environment: The ServingEnvironment.
        name: The InferenceService name.
        live: The live object, if any.

    Returns:
        The record (wire form) or None.
    """
    record_id = str((((live or {}).get("metadata") or {}).get("labels") or {}).get(LABEL_INFERENCE_SERVICE_ID) or "")
    if record_id:
        found = conn.call(
            f"get registry inference service {record_id}",
            lambda api: api.get_inference_service(record_id),
            tolerate=(404,),
        )
        if found and str(found.get("servingEnvironmentId")) == str(environment.get("id")):
            return found
    return conn.call(
        f"find registry inference service {name!r}",
        lambda api: api.find_inference_service(name=name, parent_resource_id=str(environment["id"])),
        tolerate=(404,),
    )


def ensure_registry_inference_service(
    conn: RegistryConnection,
    environment: Mapping[str, Any],
    name: str,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    *,
    runtime: str = "",
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The registry's InferenceService record, created (``UNDEPLOYED`` until a rollout succeeds) when missing.

    Args:
        conn: From ``connect_model_registry``.
        environment: The ServingEnvironment.
        name: The InferenceService name.
        model: The RegisteredModel to serve.
        version: The ModelVersion to serve.
        runtime: The serving runtime name, if set.
        live: The live object, if any.

    Returns:
        The record (wire form).

    Raises:
        InvalidInputError: When the record serves another registered model (the message names it and the fix).
    """
    found = find_registry_inference_service(conn, environment, name, live)
    if found:
        if str(found.get("registeredModelId")) != str(model["id"]):
            raise InvalidInputError(
                f"InferenceService {environment.get('name')}/{name} is recorded in the Model Registry as serving"
                f" another registered model (id {found.get('registeredModelId')}), not {model.get('name')!r}. Fix:"
                " deploy under another inference_service_name, or undeploy the other model first"
                " (`kml models undeploy`)"
            )
        return found
    body: dict[str, Any] = {
        "name": name,
        "registeredModelId": str(model["id"]),
        "servingEnvironmentId": str(environment["id"]),
        "modelVersionId": str(version["id"]),
        "desiredState": DesiredState.UNDEPLOYED.value,
        "description": f"KServe InferenceService {environment.get('name')}/{name} (kfp-model-lifecycle)",
    }
    if runtime:
        body["runtime"] = runtime
    created = conn.call(
        f"create registry inference service {name!r}",
        lambda api: api.create_inference_service(models.InferenceServiceCreate.from_dict(body)),
        tolerate=(409,),
    )
    return created or find_registry_inference_service(conn, environment, name, live) or {}


def update_registry_inference_service(
    conn: RegistryConnection,
    record: Mapping[str, Any],
    *,
    desired_state: DesiredState | str,
    version_id: str = "",
    runtime: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """PATCH the registry's InferenceService record, keeping custom properties that are not ours.

    A read-modify-write through :func:`~kfp_model_lifecycle.client.update_with_retry` (the real server answers
    409 to concurrent PATCHes adding the same property: re-read and re-apply); nothing is sent when the record
    already says all of it (a retried step).

    Args:
        conn: From ``connect_model_registry``.
        record: The record (its id).
        desired_state: ``DEPLOYED`` or ``UNDEPLOYED``.
        version_id: The model version now served ("" to leave it).
        runtime: The runtime (None to leave it).
        properties: Custom properties to set (plain values; None removes the key).

    Returns:
        The updated record.
    """
    record_id = str(record["id"])
    latest: dict[str, Any] = dict(record)

    def read() -> dict[str, Any]:
        fresh = conn.call(
            f"get registry inference service {record_id}", lambda api: api.get_inference_service(record_id)
        )
        latest.clear()
        latest.update(fresh or record)
        return latest

    def modify(fresh: Mapping[str, Any]) -> dict[str, Any] | None:
        props = dict(fresh.get("customProperties") or {})
        for key, value in (properties or {}).items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = lifecycle_property(value)
        body: dict[str, Any] = {"desiredState": str(desired_state), "customProperties": props}
        if version_id:
            body["modelVersionId"] = str(version_id)
        if runtime:
            body["runtime"] = runtime
        unchanged = all(fresh.get(k) == v for k, v in body.items() if k != "customProperties")
        return None if unchanged and props == (fresh.get("customProperties") or {}) else body

    updated = update_with_retry(
        conn,
        f"update registry inference service {record_id}",
        read=read,
        modify=modify,
        write=lambda api, body: api.update_inference_service(record_id, models.InferenceServiceUpdate.from_dict(body)),
    )
    return updated or dict(latest)


def rollout_external_id(record: Mapping[str, Any], key: str, outcome: str) -> str:
    """The ``externalId`` of a rollout's ServeModel (one per rollout key and outcome).

    Args:
        record: The InferenceService record.
        key: The rollout key.
        outcome: ``deployed``, ``failed`` or ``undeployed``.

    Returns:
        ``kml-rollout:<record id>:<key>:<outcome>``.
    """
    return ROLLOUT_EXTERNAL_ID.format(record=record["id"], key=key, outcome=outcome)


def find_serve_model(conn: RegistryConnection, record: Mapping[str, Any], external_id: str) -> dict[str, Any] | None:
    """A ServeModel of the record by its ``externalId``, or None.

    Args:
        conn: From ``connect_model_registry``.
        record: The InferenceService record.
        external_id: The externalId.

    Returns:
        The ServeModel (wire form) or None.
    """
    record_id = str(record["id"])
    page = conn.call(
        f"find rollout {external_id!r} of registry inference service {record_id}",
        lambda api: api.get_inference_service_serves(record_id, external_id=external_id),
        tolerate=(404,),
    )
    items = [i for i in (page or {}).get("items") or [] if i.get("externalId") == external_id]
    if not items:  # a server that ignores the externalId filter answers with one page of everything
        everything = conn.list_all(
            f"list rollouts of registry inference service {record_id}",
            lambda api, token: api.get_inference_service_serves(record_id, page_size="500", next_page_token=token),
        )
        items = [i for i in everything if i.get("externalId") == external_id]
    return items[0] if items else None


def create_serve_model_record(
    conn: RegistryConnection,
    record: Mapping[str, Any],
    version_id: str,
    state: ServeState,
    properties: Mapping[str, Any],
    *,
    external_id: str = "",
) -> dict[str, Any]:
    """Append one ServeModel (a rollout) to the registry's InferenceService record, at most once per ``external_id``.

    The ``externalId`` is unique in the registry: when a retried request (or a retried task) meets 409, the
    ServeModel already written is read back instead of failing or writing a second one.

    Args:
        conn: From ``connect_model_registry``.
        record: The InferenceService record.
        version_id: The model version the rollout deployed.
        state: ``lastKnownState``: ``RUNNING`` (deployed), ``FAILED``, ``COMPLETE`` (undeployed).
        properties: Custom properties (plain values; None values dropped).
        external_id: The idempotency key (:func:`rollout_external_id`); "" for none.

    Returns:
        The ServeModel (wire form).

    Raises:
        ConcurrencyError: When the registry answers 409 and no ServeModel with that externalId exists.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    body: dict[str, Any] = {
        "name": f"rollout-{stamp}-{uuid.uuid4().hex[:6]}",
        "modelVersionId": str(version_id),
        "lastKnownState": state.value,
        "customProperties": {k: lifecycle_property(v) for k, v in properties.items() if v is not None},
    }
    if external_id:
        body["externalId"] = external_id
    record_id = str(record["id"])
    created = conn.call(
        f"record a rollout of registry inference service {record_id}",
        lambda api: api.create_inference_service_serve(record_id, models.ServeModelCreate.from_dict(body)),
        tolerate=(409,) if external_id else (),
    )
    if created:
        return created
    existing = find_serve_model(conn, record, external_id)
    if existing is None:
        raise ConcurrencyError(
            f"could not record the rollout {external_id!r}: the Model Registry answered 409 but has no ServeModel with"
            " that externalId. Fix: re-run the step"
        )
    log.info("rollout %s was recorded already (ServeModel %s): not recorded again", external_id, existing.get("id"))
    return existing


def get_registered_model_of(conn: RegistryConnection, record: Mapping[str, Any]) -> dict[str, Any]:
    """The RegisteredModel an InferenceService record serves.

    Args:
        conn: From ``connect_model_registry``.
        record: The InferenceService record.

    Returns:
        The RegisteredModel (wire form).
    """
    model_id = str(record["registeredModelId"])
    return conn.call(f"get registered model {record.get('registeredModelId')}",
                     lambda api: api.get_registered_model(model_id))  # fmt: skip
