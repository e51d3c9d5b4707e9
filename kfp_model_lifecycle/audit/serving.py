"""Serving records against the cluster: a record marked DEPLOYED must match a live InferenceService.

The registry's InferenceService records (written by ``deploy_model`` and by the registry's own controller) say
which version serves where: ``desiredState`` DEPLOYED, ``modelVersionId``, the namespace (their
ServingEnvironment's name) and the InferenceService's name (``<name>`` or, from the registry's controller,
``<name>/<uid>``). The live InferenceService says which version it runs in its
``modelregistry.kubeflow.org/model-version-id`` label. Reading it needs ``get`` on ``inferenceservices`` in that
namespace; a 403 or an unreachable API server is a warning (the records could not be checked), not a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from kfp_model_lifecycle.audit.findings import Code, Finding, Severity
from kfp_model_lifecycle.audit.rules import ModelSnapshot
from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.conventions import (
    KSERVE_GROUP,
    KSERVE_PLURAL,
    KSERVE_VERSION,
    LABEL_MODEL_VERSION_ID,
    DesiredState,
)
from kfp_model_lifecycle.deployment.kube import KubeClient, kubernetes_call, request_timeout
from kfp_model_lifecycle.errors import LifecycleError


@dataclass(frozen=True)
class ServingRecord:
    """One registry InferenceService record marked DEPLOYED.

    Attributes:
        record_id: The record's id.
        namespace: The namespace (its ServingEnvironment's name).
        name: The InferenceService's name.
        version_id: The model version the record says it serves.
    """

    record_id: str
    namespace: str
    name: str
    version_id: str

    @property
    def target(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


def deployed_records(conn: RegistryConnection, model: Mapping[str, Any]) -> list[ServingRecord]:
    """The model's serving records marked DEPLOYED.

    Args:
        conn: A registry connection.
        model: The RegisteredModel (wire form).

    Returns:
        The records, by id.
    """
    model_id = str(model["id"])
    query = f'registeredModelId = "{model_id}"'
    records = conn.list_all(
        f"list the serving records of model {model.get('name')!r}",
        lambda api, token: api.get_inference_services(
            filter_query=query, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    environments: dict[str, str] = {}
    found = []
    for record in sorted(records, key=lambda r: int(r.get("id") or 0)):
        if str(record.get("registeredModelId")) != model_id or record.get("desiredState") != DesiredState.DEPLOYED:
            continue
        env_id = str(record.get("servingEnvironmentId") or "")
        if env_id not in environments:
            env = conn.call(
                f"get serving environment {env_id}",
                lambda api, e=env_id: api.get_serving_environment(e),
                tolerate=(404,),
            )
            environments[env_id] = str((env or {}).get("name") or "")
        name = str(record.get("name") or "").split("/", 1)[0]
        found.append(
            ServingRecord(str(record.get("id")), environments[env_id], name, str(record.get("modelVersionId") or ""))
        )
    return found


LiveLookup = Callable[[str, str], dict[str, Any] | None]
"""``(namespace, name) -> the live InferenceService or None``; raises ``LifecycleError`` when it cannot be read."""


def live_lookup(k8s: KubeClient) -> LiveLookup:
    """How to read a live InferenceService with a Kubernetes client.

    Args:
        k8s: From ``load_kubernetes_client``.

    Returns:
        The lookup (404 gives None).
    """
    api = client.CustomObjectsApi(k8s.api_client)

    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        return kubernetes_call(
            f"get InferenceService {namespace}/{name}",
            "get",
            namespace,
            lambda: api.get_namespaced_custom_object(
                KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, _request_timeout=request_timeout()
            ),
            tolerate=(404,),
        )

    return lookup


def serving_findings(snap: ModelSnapshot, records: list[ServingRecord], lookup: LiveLookup) -> list[Finding]:
    """DEPLOYED records whose InferenceService is gone or serves another version.

    Args:
        snap: The model.
        records: Its DEPLOYED records.
        lookup: Reads a live InferenceService.

    Returns:
        Errors for mismatches; a warning per record that could not be checked.
    """
    findings = []
    for record in records:
        recorded = snap.version_name(record.version_id) if record.version_id else "?"
        try:
            live = lookup(record.namespace, record.name)
        except LifecycleError as exc:
            findings.append(_unchecked(snap, recorded, record, exc))
            continue
        finding = _compare(snap, recorded, record, live)
        if finding is not None:
            findings.append(finding)
    return findings


def _compare(
    snap: ModelSnapshot, recorded: str, record: ServingRecord, live: Mapping[str, Any] | None
) -> Finding | None:
    undeploy = f"`kml models undeploy {snap.name} --inference-service {record.name} --namespace {record.namespace}`"
    if live is None:
        return Finding(
            Severity.ERROR,
            Code.SERVICE_MISSING.value,
            snap.name,
            recorded,
            f"the registry says {snap.name}:{recorded} is DEPLOYED to {record.target} (record {record.record_id}),"
            " but that InferenceService does not exist",
            f"redeploy it with deploy_model, or record that it is gone: {undeploy} marks the record UNDEPLOYED",
        )
    labels = (live.get("metadata") or {}).get("labels") or {}
    running = str(labels.get(LABEL_MODEL_VERSION_ID) or "")
    if not running or not record.version_id or running == record.version_id:
        return None
    serving = snap.version_name(running)
    return Finding(
        Severity.ERROR,
        Code.SERVES_OTHER_VERSION.value,
        snap.name,
        recorded,
        f"the registry says {record.target} serves {snap.name}:{recorded}, but the InferenceService runs"
        f" {snap.name}:{serving} (label {LABEL_MODEL_VERSION_ID}={running}): it was changed outside deploy_model",
        f"deploy the version that should serve with deploy_model (it records the rollout), or roll back with"
        f" `kml models rollback-deployment {snap.name} --inference-service {record.name} --namespace"
        f" {record.namespace}`",
    )


def _unchecked(snap: ModelSnapshot, recorded: str, record: ServingRecord, exc: LifecycleError) -> Finding:
    return Finding(
        Severity.WARNING,
        Code.DEPLOYMENTS_UNCHECKED.value,
        snap.name,
        recorded,
        f"{snap.name}:{recorded}: could not compare its DEPLOYED record of {record.target} with the cluster:"
        f" {str(exc)[:300]}",
        f"let the audit read InferenceServices: 'get' on inferenceservices.serving.kserve.io in {record.namespace}"
        " (components/deploy_model/rbac.yaml grants it), and a kubeconfig (--kubeconfig) or the pod's service account",
    )
