"""Deploying a registered model version to KServe, safely and on the record: the code the pods run.

``deploy_model`` and ``rollback_deployment`` are thin components over :func:`run_deploy_model` and
:func:`run_rollback_deployment`; this module holds everything they do, in the order they do it:

1. **Naming** (:func:`sanitize_inference_service_name`, :func:`check_inference_service_name`): a DNS-1035 label
   short enough that the hostnames KServe and Knative derive from it (``<name>-predictor-<namespace>``,
   ``<name>-predictor-00001-private``) stay within 63 characters.
2. **Manifest** (:func:`build_inference_service_manifest`): a ``serving.kserve.io/v1beta1`` InferenceService as
   plain data (no kserve SDK): ``modelFormat`` and ``storageUri`` from the registry's model artifact (or
   ``model-registry://<model>/<version>``), storage key and service account from the artifact, and the labels the
   Model Registry's InferenceService controller syncs on. :func:`check_manifest_fields` rejects unknown fields
   (the CRD schema does not).
3. **Apply** (:func:`apply_inference_service`): create, or a JSON merge patch computed against the live object
   (explicit nulls remove fields; the live ``resourceVersion`` is a precondition, so a concurrent writer makes it
   409, re-read and retry). Transient API errors are retried with bounded backoff; a 403 names the missing RBAC
   permission and the Role to apply (:func:`describe_kubernetes_error`).
4. **Wait** (:func:`wait_for_inference_service`): poll until ``Ready`` with ``observedGeneration`` caught up,
   failing fast on ``BlockedByFailedLoad``/``InvalidSpec``, bounded by a timeout, with a progress line in the log.
5. **Rollout safety** (:func:`rollout_inference_service`): Serverless canary (``canaryTrafficPercent``), then
   promotion; on failure all traffic goes back to the previous revision and the previous spec is restored (a
   first deployment that fails is deleted).
6. **Records** (:func:`record_rollout`): the registry's ServingEnvironment (one per namespace), InferenceService
   (desiredState, model version, ``url``) and one ServeModel per rollout with the applied manifest, so
   ``rollback_deployment`` and ``kml models deployments`` find the history; plus a ``deployment`` entry in the
   model's audit trail (:mod:`..._common.lifecycle`).

Every function is embedded into the component pods with ``@dsl.component(additional_funcs=...)``: a plain
``def`` that imports what it needs inside its body, uses no module-level names and only annotations that resolve
after ``from typing import *``. Pass :data:`DEPLOYMENT_FUNCTIONS` (with ``REGISTRY_CLIENT_FUNCTIONS``,
``LINEAGE_FUNCTIONS`` and ``LIFECYCLE_FUNCTIONS``) to ``additional_funcs``.

Environment knobs (all optional): ``KUBECONFIG`` (else the in-cluster service account, else ``~/.kube/config``),
``KML_DEPLOY_POLL_SECONDS`` (status poll interval, default 2), ``KML_DEPLOY_PROGRESS_SECONDS`` (progress log
interval, default 10), ``KML_K8S_MAX_ATTEMPTS`` (attempts for transient API errors, default 5).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import ipaddress
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import yaml  # PyYAML comes with the kubernetes client
from kubernetes import client, config
from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, call_with_backoff, connect_model_registry
from kfp_model_lifecycle.lifecycle import (
    commit_lifecycle_event,
    find_model_by_name,
    get_model_version_by_id,
    lifecycle_common_fields,
    lifecycle_property,
    lifecycle_run_actor,
    lifecycle_run_evidence,
    plain_properties,
    resolve_model_reference,
    sync_lifecycle_view,
    utc_timestamp,
    write_text_atomically,
)
from kfp_model_lifecycle.lineage.context import RunContext, collect_run_context, is_missing_value

# ---------------------------------------------------------------------------------------------------------------
# Conventions (pure)
# ---------------------------------------------------------------------------------------------------------------


def deployment_conventions() -> dict[str, Any]:
    """The names this module uses: KServe API, labels and annotations, registry property keys.

    Returns:
        A dict of constants (a function, because pod code may not use module-level names).
    """
    prefix = "kfp-model-lifecycle/"
    return {
        "group": "serving.kserve.io",
        "version": "v1beta1",
        "plural": "inferenceservices",
        "kind": "InferenceService",
        "api_version": "serving.kserve.io/v1beta1",
        "mode_annotation": "serving.kserve.io/deploymentMode",
        "modes": {
            "serverless": "Serverless",
            "knative": "Serverless",
            "rawdeployment": "RawDeployment",
            "raw": "RawDeployment",
            "standard": "RawDeployment",
        },
        "protocols": ["v1", "v2", "grpc-v2"],
        "storage_uri_modes": ["artifact", "model-registry"],
        "failed_transitions": ["BlockedByFailedLoad", "InvalidSpec"],
        # Labels the Model Registry's InferenceService controller reads (kubeflow/model-registry).
        "label_registered_model_id": "modelregistry.kubeflow.org/registered-model-id",
        "label_model_version_id": "modelregistry.kubeflow.org/model-version-id",
        "label_inference_service_id": "modelregistry.kubeflow.org/inference-service-id",
        "label_registry_name": "modelregistry.kubeflow.org/name",
        "label_registry_namespace": "modelregistry.kubeflow.org/namespace",
        "annotation_registry_url": "modelregistry.kubeflow.org/url",
        "label_managed_by": "app.kubernetes.io/managed-by",
        "managed_by": "kfp-model-lifecycle",
        # Our annotations.
        "prefix": prefix,
        "annotation_model": prefix + "model",
        "annotation_version": prefix + "version",
        "annotation_reference": prefix + "reference",
        "annotation_run_id": prefix + "run-id",
        "annotation_run_name": prefix + "run-name",
        "annotation_run_url": prefix + "run-url",
        "annotation_managed": prefix + "managed-metadata",
        # Keys users may not set through labels/annotations (they have inputs of their own).
        "reserved_prefixes": ["modelregistry.kubeflow.org/", prefix],
        "reserved_keys": ["serving.kserve.io/deploymentMode", "app.kubernetes.io/managed-by"],
        # Hostname parts KServe/Knative derive from the name (each must stay one DNS label of <= 63 characters).
        "host_suffix": "-predictor-",
        "revision_service_suffix": "-predictor-00001-private",
        "rbac_file": "components/deploy_model/rbac.yaml",
        "rbac_verbs": ["get", "create", "patch"],
        # Registry customProperties (InferenceService and ServeModel).
        "outcomes": ["deployed", "failed", "undeployed"],
    }


def inference_service_name_limit(namespace: str = "") -> int:
    """The longest InferenceService name whose derived hostnames stay within one DNS label (63 characters).

    KServe's default ingress host is ``<name>-predictor-<namespace>.<domain>`` and Knative names the first
    revision's private service ``<name>-predictor-00001-private``; both must fit in 63 characters.

    Args:
        namespace: The target namespace ("" when unknown: only the revision limit applies).

    Returns:
        The maximum name length.
    """
    conventions = deployment_conventions()
    by_host = 63 - len(conventions["host_suffix"]) - len(namespace or "")
    by_revision = 63 - len(conventions["revision_service_suffix"])
    return min(by_host, by_revision)


def check_namespace_name(namespace: str) -> str:
    """Validate a Kubernetes namespace name (a DNS-1123 label).

    Args:
        namespace: The namespace.

    Returns:
        The namespace, stripped.

    Raises:
        ValueError: When it is not a valid namespace name.
    """
    text = (namespace or "").strip()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) or len(text) > 63:
        raise ValueError(
            f"namespace {namespace!r} is not a valid Kubernetes namespace name: use at most 63 lower-case letters,"
            " digits and '-', starting and ending with a letter or digit (e.g. 'kubeflow-user-example-com')"
        )
    return text


def sanitize_inference_service_name(model_name: str, namespace: str = "") -> str:
    """Derive a valid InferenceService name from a model name.

    Lower-cases, turns every run of characters outside ``[a-z0-9-]`` into ``-``, makes it start with a letter
    (``m-`` prefix) and, when longer than :func:`inference_service_name_limit`, cuts it and appends 6 hex digits
    of the original name's SHA-256 (so two long names differing only at the end stay different).

    Args:
        model_name: The registered model's name, e.g. ``Breast Cancer/Classifier v2``.
        namespace: The target namespace (its length limits the name).

    Returns:
        e.g. ``breast-cancer-classifier-v2``.

    Raises:
        ValueError: When the namespace leaves too little room for a name.
    """
    limit = inference_service_name_limit(namespace)
    if limit < 8:
        raise ValueError(
            f"namespace {namespace!r} is too long ({len(namespace)} characters): KServe's host name"
            " '<name>-predictor-<namespace>' must fit in 63 characters, which leaves no room for a name"
        )
    original = str(model_name or "")
    text = re.sub(r"[^a-z0-9]+", "-", original.strip().lower()).strip("-") or "model"
    if not text[0].isalpha():
        text = "m-" + text
    if len(text) > limit:
        digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:6]
        text = text[: limit - 7].rstrip("-") + "-" + digest
    return text


def check_inference_service_name(name: str, namespace: str = "") -> str:
    """Validate an explicit InferenceService name.

    Args:
        name: The name.
        namespace: The target namespace (its length limits the name).

    Returns:
        The name.

    Raises:
        ValueError: When it is not a DNS-1035 label or too long for the derived hostnames; the message suggests a
            valid name.
    """
    text = (name or "").strip()
    limit = inference_service_name_limit(namespace)
    if re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", text) and len(text) <= limit:
        return text
    suggestion = sanitize_inference_service_name(text, namespace)
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", text):
        why = "must consist of lower-case letters, digits and '-', start with a letter and end with a letter or digit"
    else:
        where = f"'{text}-predictor-{namespace}'" if namespace else f"'{text}-predictor-00001-private'"
        why = (
            f"is {len(text)} characters long: at most {limit} fit, because KServe derives the host name {where},"
            " which must be one DNS label of at most 63 characters"
        )
    raise ValueError(f"InferenceService name {text!r} {why}. Fix: use e.g. {suggestion!r}")


def normalize_deployment_mode(mode: str) -> str:
    """The KServe deployment mode annotation value for a user's choice.

    Args:
        mode: ``Serverless`` (alias ``Knative``) or ``RawDeployment`` (alias ``Standard``), any case.

    Returns:
        ``Serverless`` or ``RawDeployment``.

    Raises:
        ValueError: For anything else.
    """
    modes = deployment_conventions()["modes"]
    key = (mode or "Serverless").strip().lower().replace("_", "").replace("-", "")
    if key not in modes:
        raise ValueError(
            f"deployment_mode {mode!r} is not a KServe deployment mode: use 'Serverless' (Knative; supports canary"
            " rollouts) or 'RawDeployment' (plain Deployment; also called 'Standard')"
        )
    return modes[key]


def check_canary_percent(value: Any) -> int:
    """Validate a canary traffic percent.

    Args:
        value: An integer 0..100 (KFP may deliver it as a float or text). 0 and 100 mean no canary.

    Returns:
        The percent.

    Raises:
        ValueError: For a non-integer or a value outside 0..100 (KServe itself does not check it).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"canary_percent {value!r} is not a number: use an integer from 0 to 100") from None
    if isinstance(value, bool) or number != int(number) or not 0 <= number <= 100:
        raise ValueError(
            f"canary_percent {value!r} must be an integer from 0 to 100 (the share of traffic the new revision gets"
            " before it is promoted; 0 or 100 roll out at once)"
        )
    return int(number)


def check_optional_count(value: Any, what: str) -> int | None:
    """Validate an optional non-negative integer input such as ``min_replicas``.

    Args:
        value: None (or a negative number, or "") for "not set", else an integer (KFP may pass a float).
        what: The input's name, for messages.

    Returns:
        The integer or None.

    Raises:
        ValueError: For a non-integer.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number: use a whole number (or leave it unset)") from None
    if isinstance(value, bool) or number != int(number):
        raise ValueError(f"{what} {value!r} must be a whole number")
    return None if number < 0 else int(number)


def check_resources(resources: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Validate container resources for the predictor (``requests``/``limits`` of cpu, memory, GPUs...).

    Args:
        resources: ``requests`` and/or ``limits``, each mapping resource names to quantities (``cpu: 500m``,
            ``memory: 1Gi``); numbers are turned into quantity strings (KFP delivers ``1`` as ``1.0``).

    Returns:
        The resources, or None when empty.

    Raises:
        ValueError: For unknown keys (``request`` instead of ``requests``...) or non-scalar quantities.
    """
    if not resources:
        return None
    if not isinstance(resources, Mapping):
        raise ValueError(
            "resources must be a dict with 'requests' and/or 'limits', each mapping resource names to quantities"
            " (e.g. requests cpu: 1, memory: 2Gi; limits memory: 2Gi)"
        )
    unknown = sorted(str(k) for k in resources if k not in ("requests", "limits", "claims"))
    if unknown:
        raise ValueError(
            f"resources has unknown key(s) {unknown}: Kubernetes resources take 'requests' and 'limits' (and"
            " 'claims'), each mapping resource names to quantities such as cpu: 500m or memory: 2Gi"
        )
    result: dict[str, Any] = {}
    for key in ("requests", "limits"):
        amounts = resources.get(key)
        if amounts is None:
            continue
        if not isinstance(amounts, Mapping):
            raise ValueError(f"resources.{key} must map resource names to quantities, e.g. cpu: 500m")
        clean: dict[str, str] = {}
        for res_name, amount in amounts.items():
            if isinstance(amount, bool) or not isinstance(amount, (str, int, float)):
                raise ValueError(f"resources.{key}.{res_name} = {amount!r} is not a quantity such as '500m' or '2Gi'")
            if isinstance(amount, float) and amount == int(amount):
                amount = int(amount)
            clean[str(res_name)] = str(amount).strip()
        result[key] = clean
    if resources.get("claims") is not None:
        claims = resources["claims"]
        if not isinstance(claims, list) or not all(isinstance(c, Mapping) and c.get("name") for c in claims):
            raise ValueError('resources.claims must be a list like [{"name": "gpu"}]')
        result["claims"] = [dict(c) for c in claims]
    return result or None


def check_metadata_map(values: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    """Validate extra labels or annotations.

    Args:
        values: Key -> value.
        what: ``labels`` or ``annotations``.

    Returns:
        The map with string values.

    Raises:
        ValueError: For invalid keys or label values, or keys this component manages itself.
    """
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"{what} must be a dict of strings, e.g. team: fraud")
    conventions = deployment_conventions()
    result: dict[str, str] = {}
    name_part = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    for key, value in values.items():
        key = str(key)
        prefix, _, name = key.rpartition("/")
        if not re.fullmatch(name_part, name) or (
            prefix and (len(prefix) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", prefix))
        ):
            raise ValueError(
                f"{what} key {key!r} is not a valid Kubernetes key: [prefix/]name, where name has at most 63"
                " letters, digits, '-', '_' or '.', and the optional prefix is a DNS subdomain"
            )
        if key in conventions["reserved_keys"] or any(key.startswith(p) for p in conventions["reserved_prefixes"]):
            raise ValueError(
                f"{what} key {key!r} is set by deploy_model itself (the deployment mode, registry links and"
                " lineage): use the matching input (e.g. deployment_mode) instead"
            )
        text = "" if value is None else str(value)
        if what == "labels" and text and (len(text) > 63 or not re.fullmatch(name_part, text)):
            raise ValueError(
                f"label {key}={text!r} has an invalid value: at most 63 letters, digits, '-', '_' or '.', starting"
                " and ending with a letter or digit (put longer text in annotations)"
            )
        result[key] = text
    return result


def registry_service_from_url(registry_url: str) -> tuple[str, str]:
    """The registry's Kubernetes service name and namespace, read from an in-cluster URL.

    Args:
        registry_url: e.g. ``http://model-registry-service.kubeflow.svc.cluster.local:8080``.

    Returns:
        ``(service name, namespace)``, e.g. ``("model-registry-service", "kubeflow")``; ``("", "")`` when the host
        is not a service DNS name (an IP address, localhost, an external host).
    """
    host = (urlsplit(registry_url or "").hostname or "").lower()
    if not host or host == "localhost":
        return "", ""
    try:
        ipaddress.ip_address(host)
        return "", ""
    except ValueError:
        pass
    parts = host.split(".")
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[0], parts[1]
    return "", ""


# ---------------------------------------------------------------------------------------------------------------
# The manifest (pure)
# ---------------------------------------------------------------------------------------------------------------


def build_inference_service_manifest(
    *,
    name: str,
    namespace: str,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    artifact: Mapping[str, Any] | None,
    deployment_mode: str = "Serverless",
    storage_uri_mode: str = "artifact",
    runtime: str = "",
    protocol_version: str = "",
    resources: Mapping[str, Any] | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    service_account_name: str = "",
    labels: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    registry_url: str = "",
    registry_service_name: str = "",
    registry_namespace: str = "",
    registry_inference_service_id: str = "",
    context: RunContext | None = None,
) -> dict[str, Any]:
    """The InferenceService for a registered model version, as plain data.

    Args:
        name: InferenceService name (already validated).
        namespace: Target namespace.
        model: The RegisteredModel (wire form).
        version: The ModelVersion (wire form).
        artifact: Its ModelArtifact (wire form): ``uri``, ``modelFormatName``, ``modelFormatVersion``,
            ``storageKey``, ``storagePath``, ``serviceAccountName``.
        deployment_mode: ``Serverless`` or ``RawDeployment`` (any accepted alias).
        storage_uri_mode: ``artifact`` (the artifact's URI) or ``model-registry`` (``model-registry://<model>/
            <version>``, for clusters with the registry's storage initializer).
        runtime: ServingRuntime name ("" lets KServe pick one for the format).
        protocol_version: ``v1``, ``v2`` or ``grpc-v2`` ("" for the runtime's default).
        resources: Predictor container resources (see :func:`check_resources`).
        min_replicas: Minimum replicas (None: KServe's default; 0 allows scale to zero in Serverless mode).
        max_replicas: Maximum replicas (None: KServe's default).
        service_account_name: Service account of the predictor pod; default the artifact's.
        labels: Extra labels.
        annotations: Extra annotations.
        registry_url: The Model Registry base URL (recorded for the registry's controller).
        registry_service_name: The registry's Kubernetes service name (default: read from ``registry_url``).
        registry_namespace: The registry's namespace (default: read from ``registry_url``).
        registry_inference_service_id: Id of the registry's InferenceService record, when it exists.
        context: The run context (``collect_run_context``) for lineage annotations.

    Returns:
        The manifest (``apiVersion``, ``kind``, ``metadata``, ``spec``).

    Raises:
        ValueError: For invalid options, or an artifact without the URI or model format KServe needs.
    """
    conventions = deployment_conventions()
    mode = normalize_deployment_mode(deployment_mode)
    artifact = dict(artifact or {})
    model_name = str(model.get("name") or "")
    version_name = str(version.get("name") or "")
    uri_mode = (storage_uri_mode or "artifact").strip().lower().replace("_", "-")
    if uri_mode not in conventions["storage_uri_modes"]:
        raise ValueError(
            f"storage_uri_mode {storage_uri_mode!r} is not supported: use 'artifact' (the model artifact's URI) or"
            " 'model-registry' (model-registry://<model>/<version>, needs the registry's storage initializer)"
        )
    if uri_mode == "model-registry":
        storage_uri = f"model-registry://{quote(model_name, safe='-._~')}/{quote(version_name, safe='-._~')}"
    else:
        storage_uri = str(artifact.get("uri") or "").strip()
        if not storage_uri:
            raise ValueError(
                f"model version {model_name}:{version_name} has no model artifact with a uri, so there is nothing to"
                " serve: register the model with its storage URI (register_model), or use"
                " storage_uri_mode='model-registry' on a cluster with the registry's storage initializer"
            )
    format_name = str(artifact.get("modelFormatName") or "").strip()
    if not format_name:
        raise ValueError(
            f"the model artifact of {model_name}:{version_name} has no modelFormatName, which KServe needs to pick a"
            " serving runtime: register the version with model_format_name (e.g. 'sklearn', 'onnx', 'pytorch')"
        )
    model_format: dict[str, Any] = {"name": format_name}
    model_spec: dict[str, Any] = {"modelFormat": model_format}
    if str(artifact.get("modelFormatVersion") or "").strip():
        model_spec["modelFormat"]["version"] = str(artifact["modelFormatVersion"]).strip()
    model_spec["storageUri"] = storage_uri
    if (runtime or "").strip():
        model_spec["runtime"] = runtime.strip()
    protocol = (protocol_version or "").strip().lower()
    if protocol:
        if protocol not in conventions["protocols"]:
            known = ", ".join(conventions["protocols"])
            raise ValueError(f"protocol_version {protocol_version!r} is not one of {known}")
        model_spec["protocolVersion"] = protocol
    storage = {}
    if str(artifact.get("storageKey") or "").strip():
        storage["key"] = str(artifact["storageKey"]).strip()
    if str(artifact.get("storagePath") or "").strip():
        storage["path"] = str(artifact["storagePath"]).strip()
    if storage and uri_mode == "artifact":
        model_spec["storage"] = storage
    checked_resources = check_resources(resources)
    if checked_resources:
        model_spec["resources"] = checked_resources
    predictor: dict[str, Any] = {"model": model_spec}
    min_count = check_optional_count(min_replicas, "min_replicas")
    max_count = check_optional_count(max_replicas, "max_replicas")
    if min_count is not None and max_count is not None and max_count and min_count > max_count:
        raise ValueError(f"min_replicas ({min_count}) is larger than max_replicas ({max_count})")
    if min_count is not None:
        predictor["minReplicas"] = min_count
    if max_count is not None:
        predictor["maxReplicas"] = max_count
    account = (service_account_name or "").strip() or str(artifact.get("serviceAccountName") or "").strip()
    if account:
        predictor["serviceAccountName"] = account

    all_labels = check_metadata_map(labels, "labels")
    all_labels[conventions["label_managed_by"]] = conventions["managed_by"]
    all_labels[conventions["label_registered_model_id"]] = str(model["id"])
    all_labels[conventions["label_model_version_id"]] = str(version["id"])
    if registry_inference_service_id:
        all_labels[conventions["label_inference_service_id"]] = str(registry_inference_service_id)
    service_name, service_namespace = registry_service_from_url(registry_url)
    service_name = (registry_service_name or "").strip() or service_name
    service_namespace = (registry_namespace or "").strip() or service_namespace
    if service_name:
        all_labels[conventions["label_registry_name"]] = check_metadata_map({"x": service_name}, "labels")["x"]
    if service_namespace:
        all_labels[conventions["label_registry_namespace"]] = check_namespace_name(service_namespace)

    all_annotations = check_metadata_map(annotations, "annotations")
    all_annotations[conventions["mode_annotation"]] = mode
    if (registry_url or "").strip():
        all_annotations[conventions["annotation_registry_url"]] = registry_url.strip()
    all_annotations[conventions["annotation_model"]] = model_name
    all_annotations[conventions["annotation_version"]] = version_name
    all_annotations[conventions["annotation_reference"]] = f"{model_name}:{version_name}"
    context = context or RunContext()
    lineage = (("annotation_run_id", "run_id"), ("annotation_run_name", "run_name"), ("annotation_run_url", "run_url"))
    for key, field in lineage:
        if context.value(field):
            all_annotations[conventions[key]] = context.value(field)
    managed = {
        "labels": sorted(all_labels),
        "annotations": sorted([*all_annotations, conventions["annotation_managed"]]),
    }
    all_annotations[conventions["annotation_managed"]] = json.dumps(managed, sort_keys=True, separators=(",", ":"))
    manifest = {
        "apiVersion": conventions["api_version"],
        "kind": conventions["kind"],
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(sorted(all_labels.items())),
            "annotations": dict(sorted(all_annotations.items())),
        },
        "spec": {"predictor": predictor},
    }
    check_manifest_fields(manifest)
    return manifest


def check_manifest_fields(manifest: Mapping[str, Any]) -> None:
    """Reject fields KServe does not know where they are, and values of the wrong shape.

    The CRD schema accepts unknown fields (and the API server prunes them silently), so a typo such as
    ``canaryTrafficPercentage`` would be dropped without a word. This checks every field this component writes.

    Args:
        manifest: An InferenceService manifest.

    Raises:
        ValueError: Naming the unknown field and the known ones at its place.
    """
    known: dict[str, set[str]] = {
        "": {"apiVersion", "kind", "metadata", "spec"},
        "metadata": {"name", "namespace", "labels", "annotations"},
        "spec": {"predictor"},
        "spec.predictor": {"model", "minReplicas", "maxReplicas", "canaryTrafficPercent", "serviceAccountName"},
        "spec.predictor.model": {
            "modelFormat",
            "storageUri",
            "runtime",
            "protocolVersion",
            "storage",
            "resources",
        },
        "spec.predictor.model.modelFormat": {"name", "version"},
        "spec.predictor.model.storage": {"key", "path"},
        "spec.predictor.model.resources": {"requests", "limits", "claims"},
    }

    def walk(node: Any, path: str) -> None:
        if path not in known:
            return
        if not isinstance(node, Mapping):
            raise ValueError(f"{path or 'the manifest'} must be an object, got {type(node).__name__}")
        unknown = sorted(str(k) for k in node if k not in known[path])
        if unknown:
            where = path or "the top level"
            raise ValueError(
                f"unknown field(s) {unknown} at {where} of the InferenceService: KServe would ignore them."
                f" Known fields there: {', '.join(sorted(known[path]))}"
            )
        for key, value in node.items():
            walk(value, f"{path}.{key}" if path else str(key))

    walk(manifest, "")
    predictor = (manifest.get("spec") or {}).get("predictor") or {}
    canary = predictor.get("canaryTrafficPercent")
    if canary is not None:
        check_canary_percent(canary)
    for key in ("minReplicas", "maxReplicas"):
        if key in predictor and (isinstance(predictor[key], bool) or not isinstance(predictor[key], int)):
            raise ValueError(f"spec.predictor.{key} must be an integer, got {predictor[key]!r}")
    for what in ("labels", "annotations"):
        for key, value in ((manifest.get("metadata") or {}).get(what) or {}).items():
            if not isinstance(value, str):
                raise ValueError(f"metadata.{what}[{key!r}] must be a string, got {value!r}")


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """A digest of what a manifest deploys: its spec and its labels/annotations except run lineage.

    Args:
        manifest: The manifest.

    Returns:
        Hex SHA-256 of the canonical JSON.
    """
    conventions = deployment_conventions()
    volatile = {
        conventions["annotation_run_id"],
        conventions["annotation_run_name"],
        conventions["annotation_run_url"],
        conventions["annotation_managed"],
    }
    metadata = manifest.get("metadata") or {}
    data = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "labels": metadata.get("labels") or {},
        "annotations": {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in volatile},
        "spec": manifest.get("spec") or {},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def render_manifest_yaml(manifest: Mapping[str, Any]) -> str:
    """The manifest as YAML, for the output artifact and GitOps repositories.

    Args:
        manifest: The manifest.

    Returns:
        YAML text (keys in manifest order).
    """
    return yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)


def compute_merge_patch(current: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``desired``.

    Objects are compared key by key: keys missing from ``desired`` become explicit ``None`` (null deletes them),
    equal values are left out; anything else (lists, scalars) is replaced whole.

    Args:
        current: The live document.
        desired: The wanted document.

    Returns:
        The patch; ``{}`` when nothing differs (for objects).
    """
    if not isinstance(desired, Mapping) or not isinstance(current, Mapping):
        return desired
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            if isinstance(value, Mapping) and isinstance(current[key], Mapping):
                sub = compute_merge_patch(current[key], value)
                if sub != {}:
                    patch[key] = sub
            else:
                patch[key] = value
    for key in current:
        if key not in desired:
            patch[key] = None
    return patch


def managed_metadata_keys(obj: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The label and annotation keys a previous deploy_model wrote on an object (from its annotation).

    Args:
        obj: A live InferenceService (or None).

    Returns:
        ``{"labels": [...], "annotations": [...]}`` (empty lists when unknown).
    """
    raw = ((obj or {}).get("metadata") or {}).get("annotations", {}) or {}
    text = raw.get(deployment_conventions()["annotation_managed"]) or ""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, Mapping):
        data = {}
    return {
        "labels": [str(k) for k in data.get("labels") or []],
        "annotations": [str(k) for k in data.get("annotations") or []],
    }


def inference_service_patch(
    live: Mapping[str, Any], desired: Mapping[str, Any], *, previously_managed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The merge patch that applies ``desired`` to a live InferenceService.

    The spec is ours entirely (fields not in ``desired`` are nulled). Labels and annotations are shared with
    others (KServe, the registry's controller, people): ``desired``'s are set, and of the keys a previous deploy
    wrote (``previously_managed``, default read from ``live``), those no longer wanted are nulled; keys written
    by anyone else are kept.

    Args:
        live: The live object.
        desired: The wanted manifest (metadata labels/annotations and spec).
        previously_managed: Keys to remove when not in ``desired`` (see :func:`managed_metadata_keys`).

    Returns:
        The patch (``{}`` when nothing changes).
    """
    managed = previously_managed if previously_managed is not None else managed_metadata_keys(live)
    patch: dict[str, Any] = {}
    meta_patch: dict[str, Any] = {}
    live_meta = live.get("metadata") or {}
    desired_meta = desired.get("metadata") or {}
    for what in ("labels", "annotations"):
        current = dict(live_meta.get(what) or {})
        wanted = dict(desired_meta.get(what) or {})
        changes: dict[str, Any] = {k: v for k, v in wanted.items() if current.get(k) != v}
        for key in managed.get(what) or []:
            if key in current and key not in wanted:
                changes[key] = None
        if changes:
            meta_patch[what] = changes
    if meta_patch:
        patch["metadata"] = meta_patch
    spec_patch = compute_merge_patch(live.get("spec") or {}, desired.get("spec") or {})
    if spec_patch != {}:
        patch["spec"] = spec_patch
    return patch


def predictor_template(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """What makes a new revision: the predictor spec without ``canaryTrafficPercent``.

    Args:
        obj: An InferenceService (or None).

    Returns:
        The predictor spec without the canary percent.
    """
    predictor = dict(((obj or {}).get("spec") or {}).get("predictor") or {})
    predictor.pop("canaryTrafficPercent", None)
    return predictor


# ---------------------------------------------------------------------------------------------------------------
# The Kubernetes API
# ---------------------------------------------------------------------------------------------------------------


def load_kubernetes_client(
    kubeconfig_path: str = "", context: str = "", env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A Kubernetes API client: a kubeconfig when one is named, else the pod's service account, else ~/.kube/config.

    Nothing is sent to the API server here.

    Args:
        kubeconfig_path: A kubeconfig file ("" for ``KUBECONFIG``, then in-cluster, then ``~/.kube/config``).
        context: The kubeconfig context ("" for its current context).
        env: Environment to read (default ``os.environ``).

    Returns:
        ``api_client`` (``kubernetes.client.ApiClient``), ``custom`` (``CustomObjectsApi``), ``source`` (where the
        credentials came from; never the credentials) and ``namespace`` (the kubeconfig context's namespace, or
        the service account's, "" when unknown). Close with :func:`close_kubernetes_client`.

    Raises:
        RuntimeError: When no configuration is found or it cannot be loaded (the message says what to set).
    """
    env = os.environ if env is None else env
    configuration = client.Configuration()
    path = (kubeconfig_path or "").strip()
    if not path:
        listed = [p for p in (env.get("KUBECONFIG") or "").split(os.pathsep) if p.strip()]
        path = listed[0].strip() if listed else ""
    token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
    in_cluster = bool((env.get("KUBERNETES_SERVICE_HOST") or "").strip()) and os.path.isfile(token_file)
    if not path and not in_cluster:
        default = os.path.expanduser("~/.kube/config")
        if os.path.isfile(default):
            path = default
    namespace = ""
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise RuntimeError(
                f"the kubeconfig {path!r} does not exist: fix KUBECONFIG (or --kubeconfig), or unset it inside a pod"
                " to use the pod's service account"
            )
        try:
            config.load_kube_config(config_file=path, context=context or None, client_configuration=configuration)
            contexts, active = config.list_kube_config_contexts(config_file=path)
        except (config.ConfigException, OSError, ValueError, TypeError) as exc:
            raise RuntimeError(f"the kubeconfig {path!r} cannot be used: {exc}") from None
        chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
        namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "")
        source = f"kubeconfig {path}" + (f" (context {chosen.get('name')})" if chosen else "")
    elif in_cluster:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as exc:
            raise RuntimeError(f"the pod's service-account credentials cannot be used: {exc}") from None
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as handle:
                namespace = handle.read().strip()
        except OSError:
            namespace = ""
        source = "the pod's service account (in-cluster)"
    else:
        raise RuntimeError(
            "no Kubernetes credentials: inside a KFP pod the service account is used automatically; outside a"
            " cluster set KUBECONFIG (e.g. the file `kml cluster up` writes) or create ~/.kube/config"
        )
    api_client = client.ApiClient(configuration)
    return {
        "api_client": api_client,
        "custom": client.CustomObjectsApi(api_client),
        "source": source,
        "namespace": namespace,
        "host": configuration.host,
    }


def close_kubernetes_client(k8s: Mapping[str, Any] | None) -> None:
    """Close a client from :func:`load_kubernetes_client` (its connection pool); harmless twice or on None.

    Args:
        k8s: The client dict.
    """
    if k8s and k8s.get("api_client") is not None:
        with contextlib.suppress(Exception):
            k8s["api_client"].close()


def is_transient_kubernetes_error(exc: BaseException) -> bool:
    """Whether a failed Kubernetes API call is worth retrying: connection problems, timeouts, 5xx and 429.

    Args:
        exc: The exception.

    Returns:
        True to retry.
    """
    status = getattr(exc, "status", None)
    if isinstance(status, int) and (status == 429 or 500 <= status <= 599):
        return True
    try:
        import urllib3

        if isinstance(exc, urllib3.exceptions.HTTPError) and not isinstance(exc, urllib3.exceptions.SSLError):
            return True
    except ImportError:  # pragma: no cover - urllib3 comes with kubernetes
        pass
    return isinstance(exc, (ConnectionError, TimeoutError))


def kubernetes_error_detail(exc: BaseException) -> str:
    """A short description of a failed API call: the status and the API server's message.

    Args:
        exc: The exception (``kubernetes.client.exceptions.ApiException`` or a network error).

    Returns:
        e.g. ``HTTP 403 Forbidden: inferenceservices.serving.kserve.io "x" is forbidden: ...``.
    """
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        message = ""
        body = getattr(exc, "body", None)
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str) and body.strip():
            try:
                decoded = json.loads(body)
                message = str(decoded.get("message") or "") if isinstance(decoded, dict) else ""
            except ValueError:
                message = body.strip()
        reason = str(getattr(exc, "reason", "") or "")
        return f"HTTP {status} {reason}".strip() + (f": {message[:600]}" if message else "")
    text = str(exc).strip()
    return f"{type(exc).__name__}: {(text or repr(exc))[:600]}"


def describe_kubernetes_error(
    exc: BaseException, action: str, verb: str, namespace: str, resource: str = "inferenceservices"
) -> Exception:
    """Turn a failed API call into one exception whose message names the problem and the fix.

    Args:
        exc: The exception (after retries for transient ones).
        action: What was attempted, e.g. ``patch InferenceService kubeflow-user/iris``.
        verb: The RBAC verb of the call (``get``, ``create``, ``patch``, ``delete``).
        namespace: The namespace.
        resource: The resource (``inferenceservices`` or ``inferenceservices/status``).

    Returns:
        ``PermissionError`` (401/403, naming the missing permission and the Role that grants it), ``LookupError``
        (KServe not installed), ``ValueError`` (the API server rejected the object), ``ConnectionError``
        (unreachable or failing) or ``RuntimeError``.
    """
    conventions = deployment_conventions()
    detail = kubernetes_error_detail(exc)
    status = getattr(exc, "status", None)
    head = f"could not {action}: {detail}."
    if status == 403:
        return PermissionError(
            f"{head} The identity this step runs as lacks the RBAC permission '{verb}' on"
            f" '{resource}.{conventions['group']}' in namespace '{namespace}'. Fix: apply the Role and RoleBinding"
            f" in {conventions['rbac_file']} to that namespace for the pipeline's service account (README of"
            f" deploy_model, section 'RBAC': edit the RoleBinding's subject, then `kubectl apply -n {namespace} -f"
            " rbac.yaml`); in a multi-user Kubeflow profile the default-editor service account already has it"
            " through kubeflow-edit"
        )
    if status == 401:
        return PermissionError(
            f"{head} The API server rejected the credentials. Fix: in a pod, check that the service account token"
            " is mounted (automountServiceAccountToken); outside, refresh the kubeconfig's credentials"
        )
    if status == 404 and "could not find the requested resource" in detail:
        return LookupError(
            f"{head} The API server does not serve {conventions['api_version']} InferenceServices. Fix: install"
            " KServe in this cluster (or point KUBECONFIG at a cluster that has it)"
        )
    if status in (400, 422):
        return ValueError(f"{head} Fix the input the message names (resources, labels, replicas...)")
    if status == 409:
        return RuntimeError(f"{head} Another writer kept changing the object. Fix: re-run the step")
    if is_transient_kubernetes_error(exc):
        return ConnectionError(
            f"{head} The Kubernetes API server kept failing or was unreachable. Fix: check the cluster's health and"
            " network policies, then re-run; KML_K8S_MAX_ATTEMPTS raises the number of attempts"
        )
    return RuntimeError(head)


def kubernetes_call(
    action: str,
    verb: str,
    namespace: str,
    operation: Callable[[], Any],
    *,
    tolerate: tuple[int, ...] = (),
    resource: str = "inferenceservices",
    env: Mapping[str, str] | None = None,
) -> Any:
    """Run one Kubernetes API call with retries of transient failures, translating errors.

    Args:
        action: What the call does, for messages.
        verb: Its RBAC verb, for 403 messages.
        namespace: The namespace, for messages.
        operation: The call (no arguments).
        tolerate: HTTP statuses that are answers rather than errors (e.g. ``(404,)``); for those the result is None.
        resource: The resource, for 403 messages.
        env: Environment for ``KML_K8S_MAX_ATTEMPTS`` (default ``os.environ``).

    Returns:
        The call's result, or None for a tolerated status.

    Raises:
        PermissionError, LookupError, ValueError, ConnectionError, RuntimeError: See
            :func:`describe_kubernetes_error`.
    """
    env = os.environ if env is None else env
    try:
        attempts = max(1, int(float(env.get("KML_K8S_MAX_ATTEMPTS") or 5)))
    except ValueError:
        attempts = 5
    try:
        result, _ = call_with_backoff(
            operation,
            max_attempts=attempts,
            base_delay=0.5,
            max_delay=8.0,
            is_transient=is_transient_kubernetes_error,
            describe=kubernetes_error_detail,
        )
    except Exception as exc:
        if getattr(exc, "status", None) in tolerate:
            return None
        raise describe_kubernetes_error(exc, action, verb, namespace, resource) from None
    return result


def check_kubernetes_permissions(k8s: Mapping[str, Any], namespace: str, verbs: list[str]) -> list[str] | None:
    """Ask the API server (SelfSubjectAccessReview) whether this identity may use ``verbs`` on InferenceServices.

    Checking first means a missing permission fails the step before anything changed (for instance, allowed to
    create but not to patch back during a rollback).

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The target namespace.
        verbs: e.g. ``["get", "create", "patch"]``.

    Returns:
        The verbs that are denied (empty when all are allowed), or None when the check itself is not possible.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    conventions = deployment_conventions()
    api = client.AuthorizationV1Api(k8s["api_client"])
    denied: list[str] = []
    for verb in verbs:
        body = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    group=conventions["group"], resource=conventions["plural"], verb=verb, namespace=namespace
                )
            )
        )
        try:
            review = api.create_self_subject_access_review(body, _request_timeout=15)
        except Exception as exc:
            log.info("could not check RBAC permissions in advance (%s); going ahead", kubernetes_error_detail(exc))
            return None
        if not bool(getattr(review.status, "allowed", False)):
            denied.append(verb)
    return denied


def get_inference_service(k8s: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any] | None:
    """The live InferenceService, or None when it does not exist.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: Its namespace.
        name: Its name.

    Returns:
        The object as a dict, or None.
    """
    conventions = deployment_conventions()
    return kubernetes_call(
        f"get InferenceService {namespace}/{name}",
        "get",
        namespace,
        lambda: k8s["custom"].get_namespaced_custom_object(
            conventions["group"], conventions["version"], namespace, conventions["plural"], name, _request_timeout=30
        ),
        tolerate=(404,),
    )


def apply_inference_service(k8s: Mapping[str, Any], manifest: Mapping[str, Any], *, max_conflicts: int = 10) -> dict:
    """Create the InferenceService, or patch the live one to match ``manifest`` (idempotent).

    The patch is a JSON merge patch from :func:`inference_service_patch` carrying the live ``resourceVersion`` as a
    precondition: when another writer changed the object in between, the API server answers 409 and the patch is
    recomputed on a fresh read.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        manifest: The wanted InferenceService.
        max_conflicts: Bound on 409 retries.

    Returns:
        ``object`` (the object as the API server returned it), ``generation`` (its ``metadata.generation``),
        ``created``, ``changed`` (anything written), ``spec_changed`` (a new generation) and ``previous`` (the live
        object before the change, None when created).

    Raises:
        RuntimeError: When the object is being deleted, or conflicts persist.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    conventions = deployment_conventions()
    metadata = manifest["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    group, version, plural = conventions["group"], conventions["version"], conventions["plural"]
    for _ in range(max(1, max_conflicts)):
        live = get_inference_service(k8s, namespace, name)
        if live is None:
            created = kubernetes_call(
                f"create InferenceService {namespace}/{name}",
                "create",
                namespace,
                lambda: k8s["custom"].create_namespaced_custom_object(
                    group, version, namespace, plural, dict(manifest), _request_timeout=30
                ),
                tolerate=(409,),
            )
            if created is None:
                continue  # created by someone else meanwhile: patch it
            log.info("created InferenceService %s/%s", namespace, name)
            generation = int((created.get("metadata") or {}).get("generation") or 1)
            return {
                "object": created,
                "generation": generation,
                "created": True,
                "changed": True,
                "spec_changed": True,
                "previous": None,
            }
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            raise RuntimeError(
                f"InferenceService {namespace}/{name} is being deleted: wait until it is gone (kubectl get isvc -n"
                f" {namespace} {name}), then deploy again"
            )
        patch = inference_service_patch(live, manifest)
        live_generation = int((live.get("metadata") or {}).get("generation") or 1)
        if not patch:
            log.info("InferenceService %s/%s already matches the manifest", namespace, name)
            return {
                "object": live,
                "generation": live_generation,
                "created": False,
                "changed": False,
                "spec_changed": False,
                "previous": live,
            }
        patch.setdefault("metadata", {})["resourceVersion"] = str(live["metadata"].get("resourceVersion") or "")
        patched = kubernetes_call(
            f"patch InferenceService {namespace}/{name}",
            "patch",
            namespace,
            lambda p=patch: k8s["custom"].patch_namespaced_custom_object(
                group, version, namespace, plural, name, p, _request_timeout=30
            ),
            tolerate=(409,),
        )
        if patched is None:
            log.info("InferenceService %s/%s changed while patching it (409): re-reading", namespace, name)
            continue
        generation = int((patched.get("metadata") or {}).get("generation") or live_generation)
        log.info(
            "patched InferenceService %s/%s (%s)",
            namespace,
            name,
            f"generation {live_generation} -> {generation}" if generation != live_generation else "metadata only",
        )
        return {
            "object": patched,
            "generation": generation,
            "created": False,
            "changed": True,
            "spec_changed": generation != live_generation or "spec" in patch,
            "previous": live,
        }
    raise RuntimeError(
        f"InferenceService {namespace}/{name} kept changing while being patched ({max_conflicts} conflicts): another"
        " writer is updating it; stop it or re-run later"
    )


def set_canary_percent(k8s: Mapping[str, Any], namespace: str, name: str, percent: int | None) -> dict[str, Any]:
    """Patch only ``spec.predictor.canaryTrafficPercent`` (None removes it: the latest revision takes everything).

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The namespace.
        name: The InferenceService.
        percent: 0..100 or None.

    Returns:
        The patched object.
    """
    conventions = deployment_conventions()
    predictor: dict[str, Any] = {"canaryTrafficPercent": percent}
    spec: dict[str, Any] = {"predictor": predictor}
    body = {"spec": spec}
    return kubernetes_call(
        f"set the canary traffic of InferenceService {namespace}/{name} to {percent}",
        "patch",
        namespace,
        lambda: k8s["custom"].patch_namespaced_custom_object(
            conventions["group"], conventions["version"], namespace, conventions["plural"], name, body,
            _request_timeout=30,
        ),
    )  # fmt: skip


def delete_inference_service(k8s: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Delete an InferenceService.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The namespace.
        name: The InferenceService.

    Returns:
        True when a delete was issued, False when it did not exist.
    """
    conventions = deployment_conventions()
    result = kubernetes_call(
        f"delete InferenceService {namespace}/{name}",
        "delete",
        namespace,
        lambda: k8s["custom"].delete_namespaced_custom_object(
            conventions["group"], conventions["version"], namespace, conventions["plural"], name, _request_timeout=30
        ),
        tolerate=(404,),
    )
    return result is not None


def wait_until_deleted(
    k8s: Mapping[str, Any], namespace: str, name: str, timeout_seconds: float, env: Mapping[str, str] | None = None
) -> bool:
    """Wait until a deleted InferenceService is gone (its finalizers done), polling ``get``.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The namespace.
        name: The InferenceService.
        timeout_seconds: The bound.
        env: Environment for ``KML_DEPLOY_POLL_SECONDS`` (default ``os.environ``).

    Returns:
        True when it is gone, False when it is still there after ``timeout_seconds``.
    """
    env = os.environ if env is None else env
    try:
        poll = max(0.05, float(env.get("KML_DEPLOY_POLL_SECONDS") or 2.0))
    except ValueError:
        poll = 2.0
    deadline = time.monotonic() + max(0.0, float(timeout_seconds))
    while get_inference_service(k8s, namespace, name) is not None:
        if time.monotonic() >= deadline:
            logging.getLogger("kfp_model_lifecycle").warning(
                "InferenceService %s/%s is still there %.0fs after its deletion (finalizers)", namespace, name,
                float(timeout_seconds),
            )  # fmt: skip
            return False
        time.sleep(poll)
    return True


# ---------------------------------------------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------------------------------------------


def inference_service_state(obj: Mapping[str, Any] | None, generation: int) -> dict[str, Any]:
    """Where an InferenceService stands with respect to one generation of its spec.

    Ready means condition ``Ready`` is ``"True"`` and ``status.observedGeneration >= generation`` (an older Ready
    is stale). Failed means, for the current generation, ``modelStatus.transitionStatus`` is
    ``BlockedByFailedLoad`` or ``InvalidSpec`` (details from ``lastFailureInfo``).

    Args:
        obj: The live object (None when it does not exist).
        generation: The generation the caller's create/patch returned.

    Returns:
        ``state`` (``ready``, ``failed``, ``progressing`` or ``deleted``), ``reason``, ``message``, ``url``,
        ``observed_generation`` and ``summary`` (one line for the log).
    """
    if obj is None:
        return {"state": "deleted", "reason": "NotFound", "message": "the InferenceService does not exist",
                "url": "", "observed_generation": 0, "summary": "not found"}  # fmt: skip
    status = obj.get("status") or {}
    try:
        observed = int(status.get("observedGeneration") or 0)
    except (TypeError, ValueError):
        observed = 0
    conditions = {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}
    ready = conditions.get("Ready") or {}
    model_status = status.get("modelStatus") or {}
    transition = str(model_status.get("transitionStatus") or "")
    failure = model_status.get("lastFailureInfo") or {}
    url = str(status.get("url") or (status.get("address") or {}).get("url") or "")
    current = observed >= int(generation)
    parts = [f"Ready={ready.get('status') or 'Unknown'}"]
    if ready.get("reason"):
        parts[0] += f" ({ready['reason']})"
    if transition:
        parts.append(f"transitionStatus={transition}")
    parts.append(f"observedGeneration={observed}/{generation}")
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    if traffic:
        parts.append("traffic=" + ",".join(f"{t.get('revisionName')}:{t.get('percent')}%" for t in traffic))
    summary = ", ".join(parts)
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return {"state": "deleted", "reason": "Deleting", "message": "the InferenceService is being deleted",
                "url": url, "observed_generation": observed, "summary": summary}  # fmt: skip
    if current and transition in deployment_conventions()["failed_transitions"]:
        reason = str(failure.get("reason") or ready.get("reason") or transition)
        message = str(failure.get("message") or ready.get("message") or "")
        return {"state": "failed", "reason": f"{transition}: {reason}", "message": message, "url": url,
                "observed_generation": observed, "summary": summary}  # fmt: skip
    if current and str(ready.get("status")) == "True":
        return {"state": "ready", "reason": "", "message": "", "url": url, "observed_generation": observed,
                "summary": summary}  # fmt: skip
    return {
        "state": "progressing",
        "reason": str(ready.get("reason") or ""),
        "message": str(ready.get("message") or ""),
        "url": url,
        "observed_generation": observed,
        "summary": summary,
    }


def wait_for_inference_service(
    get_object: Callable[[], Any],
    generation: int,
    *,
    timeout_seconds: float,
    what: str,
    poll_seconds: float | None = None,
    progress_seconds: float | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Poll an InferenceService until it is ready for ``generation``, has failed, or the time is up.

    Args:
        get_object: Returns the live object (or None when gone); errors propagate.
        generation: The generation to wait for.
        timeout_seconds: The bound.
        what: What is awaited, for the log (e.g. ``kubeflow-user/iris generation 3``).
        poll_seconds: Poll interval (default env ``KML_DEPLOY_POLL_SECONDS`` or 2).
        progress_seconds: Progress log interval (default env ``KML_DEPLOY_PROGRESS_SECONDS`` or 10); a change of
            state is logged at once.
        clock: Monotonic clock (tests).
        sleep: Sleep function (tests).
        env: Environment (default ``os.environ``).

    Returns:
        :func:`inference_service_state` of the last read, plus ``elapsed`` and ``object``; ``state`` is
        ``timeout`` when the bound passed first.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    clock = clock or time.monotonic
    sleep = sleep or time.sleep

    def setting(value: float | None, name: str, default: float) -> float:
        if value is not None:
            return float(value)
        try:
            return max(0.05, float(env.get(name) or default))
        except ValueError:
            return default

    poll = setting(poll_seconds, "KML_DEPLOY_POLL_SECONDS", 2.0)
    progress = setting(progress_seconds, "KML_DEPLOY_PROGRESS_SECONDS", 10.0)
    started = clock()
    deadline = started + max(0.0, float(timeout_seconds))
    last_logged = started
    last_summary = ""
    log.info("waiting up to %.0fs for %s to become Ready", float(timeout_seconds), what)
    while True:
        obj = get_object()
        state = inference_service_state(obj, generation)
        now = clock()
        state["elapsed"] = now - started
        state["object"] = obj
        if state["state"] != "progressing":
            log.info("%s: %s after %.1fs (%s)", what, state["state"], state["elapsed"], state["summary"])
            return state
        if state["summary"] != last_summary or now - last_logged >= progress:
            detail = f" - {state['message'][:300]}" if state["message"] else ""
            log.info("%s: %s [%.0fs of %.0fs]%s", what, state["summary"], state["elapsed"], timeout_seconds, detail)
            last_logged, last_summary = now, state["summary"]
        if now >= deadline:
            state["state"] = "timeout"
            state["reason"] = state["reason"] or "Timeout"
            log.warning("%s: not Ready within %.0fs (%s)", what, float(timeout_seconds), state["summary"])
            return state
        sleep(max(0.0, min(poll, deadline - now)))


# ---------------------------------------------------------------------------------------------------------------
# Rollout with canary and automatic rollback
# ---------------------------------------------------------------------------------------------------------------


def restore_inference_service(
    k8s: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    *,
    canary_used: bool,
    timeout_seconds: float,
    namespace: str,
    name: str,
) -> dict[str, Any]:
    """Undo a failed rollout: all traffic back to the previous revision, then the previous spec restored.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        previous: The live object before the rollout (None when the rollout created it: it is deleted).
        current: The object as the failed rollout left it (its managed keys tell which labels to remove).
        canary_used: A canary was set (Serverless): first set its percent to 0.
        timeout_seconds: Bound for the restored spec to become Ready.
        namespace: The namespace.
        name: The InferenceService.

    Returns:
        ``ok`` (the previous state is back and Ready, or the object is deleted), ``action`` (``deleted``,
        ``restored``) and ``state`` (the wait result, when restored).
    """
    log = logging.getLogger("kfp_model_lifecycle")
    if previous is None:
        log.warning("rolling back: deleting InferenceService %s/%s, which this rollout created", namespace, name)
        delete_inference_service(k8s, namespace, name)
        gone = wait_until_deleted(k8s, namespace, name, timeout_seconds)
        return {"ok": gone, "action": "deleted", "state": None}
    if canary_used:
        log.warning("rolling back: sending all traffic of %s/%s back to the previous revision", namespace, name)
        set_canary_percent(k8s, namespace, name, 0)
    desired = {
        "metadata": {
            "labels": dict((previous.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((previous.get("metadata") or {}).get("annotations") or {}),
        },
        "spec": previous.get("spec") or {},
    }
    conventions = deployment_conventions()
    result: dict[str, Any] = {}
    for _ in range(10):
        live = get_inference_service(k8s, namespace, name)
        if live is None:
            return {"ok": False, "action": "gone", "state": None}
        managed = managed_metadata_keys(current or live)
        patch = inference_service_patch(live, desired, previously_managed=managed)
        if not patch:
            result = {"object": live, "generation": int(live["metadata"].get("generation") or 1)}
            break
        patch.setdefault("metadata", {})["resourceVersion"] = str(live["metadata"].get("resourceVersion") or "")
        patched = kubernetes_call(
            f"restore the previous spec of InferenceService {namespace}/{name}",
            "patch",
            namespace,
            lambda p=patch: k8s["custom"].patch_namespaced_custom_object(
                conventions["group"], conventions["version"], namespace, conventions["plural"], name, p,
                _request_timeout=30,
            ),
            tolerate=(409,),
        )  # fmt: skip
        if patched is not None:
            result = {"object": patched, "generation": int(patched["metadata"].get("generation") or 1)}
            break
    if not result:
        return {"ok": False, "action": "conflict", "state": None}
    log.warning("rolling back: restored the previous spec of %s/%s (generation %d)", namespace, name,
                result["generation"])  # fmt: skip
    state = wait_for_inference_service(
        lambda: get_inference_service(k8s, namespace, name),
        result["generation"],
        timeout_seconds=timeout_seconds,
        what=f"{namespace}/{name} (rollback) generation {result['generation']}",
    )
    return {"ok": state["state"] == "ready", "action": "restored", "state": state}


def rollout_inference_service(
    k8s: Mapping[str, Any],
    manifest: Mapping[str, Any],
    *,
    canary_percent: int = 0,
    timeout_seconds: float = 600.0,
) -> dict[str, Any]:
    """Apply a manifest and see it through: canary, promotion, or automatic rollback on failure.

    Serverless with ``canary_percent`` in 1..99 and an existing, changed predictor: the new revision first gets
    that share of traffic (``canaryTrafficPercent``); once Ready it is promoted (the percent removed). Otherwise the
    manifest rolls out at once. When the new revision fails (``BlockedByFailedLoad``, ``InvalidSpec``, not Ready
    within ``timeout_seconds``), the canary percent is set to 0 and the previous spec restored (RawDeployment: the
    previous spec restored); a first deployment that fails is deleted. The rollback gets its own
    ``timeout_seconds``.

    Args:
        k8s: From :func:`load_kubernetes_client`.
        manifest: The InferenceService to deploy.
        canary_percent: 0..100 (0 and 100: no canary).
        timeout_seconds: Bound for the rollout (canary and promotion together).

    Returns:
        ``ok``, ``created``, ``changed``, ``spec_changed``, ``canary`` (percent used, 0 when none), ``phases`` (what
        happened, in order), ``url``, ``object`` (the final live object), ``previous`` (the object before, None when
        created), ``failure`` (``{"reason", "message", "phase"}`` when not ok) and ``rollback`` (the
        :func:`restore_inference_service` result when one ran).
    """
    log = logging.getLogger("kfp_model_lifecycle")
    conventions = deployment_conventions()
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    mode = (manifest["metadata"].get("annotations") or {}).get(conventions["mode_annotation"]) or "Serverless"
    percent = check_canary_percent(canary_percent)
    started = time.monotonic()
    live = get_inference_service(k8s, namespace, name)
    use_canary = (
        0 < percent < 100
        and mode == "Serverless"
        and live is not None
        and predictor_template(live) != predictor_template(manifest)
    )
    if 0 < percent < 100 and not use_canary:
        if mode != "Serverless":
            why = "RawDeployment ignores canaryTrafficPercent"
        elif live is None:
            why = "there is no previous revision to share traffic with"
        else:
            why = "the predictor is unchanged"
        log.info("canary_percent=%d not used: %s; rolling out at once", percent, why)
    first = copy.deepcopy(dict(manifest))
    if use_canary:
        first["spec"]["predictor"]["canaryTrafficPercent"] = percent
    phases: list[str] = []
    applied = apply_inference_service(k8s, first)
    previous = applied["previous"]
    phases.append("created" if applied["created"] else ("updated" if applied["spec_changed"] else "unchanged"))
    if use_canary:
        phases.append(f"canary {percent}%")

    def remaining() -> float:
        return max(1.0, float(timeout_seconds) - (time.monotonic() - started))

    def wait(generation: int, label: str) -> dict[str, Any]:
        return wait_for_inference_service(
            lambda: get_inference_service(k8s, namespace, name),
            generation,
            timeout_seconds=remaining(),
            what=f"{namespace}/{name} ({label}) generation {generation}",
        )

    phase = "canary" if use_canary else "rollout"
    try:
        state = wait(applied["generation"], f"canary {percent}%" if use_canary else "rollout")
        if state["state"] == "ready" and use_canary:
            log.info("canary of %s/%s is Ready with %d%% of the traffic: promoting it", namespace, name, percent)
            promoted = apply_inference_service(k8s, manifest)
            phases.append("promoted")
            phase = "promotion"
            state = wait(promoted["generation"], "promotion")
    except Exception as exc:  # an API error mid-rollout: put the previous state back, then report the error
        log.error("the %s of %s/%s was interrupted (%s): rolling back", phase, namespace, name, exc)
        try:
            restore_inference_service(
                k8s, previous, None, canary_used=use_canary, timeout_seconds=float(timeout_seconds),
                namespace=namespace, name=name,
            )  # fmt: skip
        except Exception as restore_error:
            log.error("the automatic rollback failed too: %s", restore_error)
        raise
    result: dict[str, Any] = {
        "created": applied["created"],
        "changed": applied["changed"],
        "spec_changed": applied["spec_changed"],
        "canary": percent if use_canary else 0,
        "phases": phases,
        "previous": previous,
        "rollback": None,
        "failure": None,
    }
    if state["state"] == "ready":
        result.update(ok=True, url=state["url"], object=state["object"])
        return result
    failure = {
        "reason": state["reason"] or state["state"],
        "message": state["message"],
        "phase": phase,
        "state": state["state"],
        "summary": state["summary"],
    }
    log.error(
        "%s of %s/%s failed: %s%s", phase, namespace, name, failure["reason"],
        f" - {failure['message'][:500]}" if failure["message"] else "",
    )  # fmt: skip
    phases.append("failed")
    try:
        rollback = restore_inference_service(
            k8s,
            previous,
            state.get("object") or applied["object"],
            canary_used=use_canary,
            timeout_seconds=float(timeout_seconds),
            namespace=namespace,
            name=name,
        )
    except Exception as exc:  # e.g. RBAC without delete: report it with the failure instead of losing both
        log.error("the automatic rollback of %s/%s failed: %s", namespace, name, exc)
        rollback = {"ok": False, "action": "error", "state": None, "error": str(exc)}
    phases.append("rolled back" if rollback["ok"] else "rollback failed")
    final = get_inference_service(k8s, namespace, name)
    result.update(
        ok=False,
        url=inference_service_state(final, 0)["url"] if final else "",
        object=final,
        failure=failure,
        rollback=rollback,
    )
    return result


# ---------------------------------------------------------------------------------------------------------------
# Registry records
# ---------------------------------------------------------------------------------------------------------------


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
    label = deployment_conventions()["label_inference_service_id"]
    record_id = str((((live or {}).get("metadata") or {}).get("labels") or {}).get(label) or "")
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
        ValueError: When the record serves another registered model (the message names it and the fix).
    """
    found = find_registry_inference_service(conn, environment, name, live)
    if found:
        if str(found.get("registeredModelId")) != str(model["id"]):
            raise ValueError(
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
        "desiredState": "UNDEPLOYED",
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
    desired_state: str,
    version_id: str = "",
    runtime: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """PATCH the registry's InferenceService record, keeping custom properties that are not ours.

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
    fresh = (
        conn.call(f"get registry inference service {record_id}", lambda api: api.get_inference_service(record_id))
        or record
    )
    props = dict(fresh.get("customProperties") or {})
    for key, value in (properties or {}).items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = lifecycle_property(value)
    body: dict[str, Any] = {"desiredState": desired_state, "customProperties": props}
    if version_id:
        body["modelVersionId"] = str(version_id)
    if runtime:
        body["runtime"] = runtime
    return (
        conn.call(
            f"update registry inference service {record_id}",
            lambda api: api.update_inference_service(record_id, models.InferenceServiceUpdate.from_dict(body)),
        )
        or fresh
    )


def create_serve_model_record(
    conn: RegistryConnection, record: Mapping[str, Any], version_id: str, state: str, properties: Mapping[str, Any]
) -> dict[str, Any]:
    """Append one ServeModel (a rollout) to the registry's InferenceService record.

    Args:
        conn: From ``connect_model_registry``.
        record: The InferenceService record.
        version_id: The model version the rollout deployed.
        state: ``lastKnownState``: ``RUNNING`` (deployed), ``FAILED``, ``COMPLETE`` (undeployed).
        properties: Custom properties (plain values; None values dropped).

    Returns:
        The ServeModel (wire form).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    body = {
        "name": f"rollout-{stamp}-{uuid.uuid4().hex[:6]}",
        "modelVersionId": str(version_id),
        "lastKnownState": state,
        "customProperties": {k: lifecycle_property(v) for k, v in properties.items() if v is not None},
    }
    record_id = str(record["id"])
    return (
        conn.call(
            f"record a rollout of registry inference service {record_id}",
            lambda api: api.create_inference_service_serve(record_id, models.ServeModelCreate.from_dict(body)),
        )
        or {}
    )


def record_deployment_event(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    *,
    to: str,
    previous_version: str,
    target: str,
    url: str,
    rollback: bool,
    actor: str,
    reason: str,
    evidence: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """Append a ``deployment`` entry to the model's audit trail (and bring the model's view up to date).

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel.
        version: The ModelVersion deployed (or undeployed).
        to: ``deployed`` or ``undeployed``.
        previous_version: The version name served before ("" when none).
        target: ``<namespace>/<InferenceService>``.
        url: The InferenceService URL.
        rollback: Whether this was a rollback of a deployment.
        actor: Who.
        reason: Why.
        evidence: Run id, manifest digest...

    Returns:
        The stored event (decoded), or None when nothing was appended.
    """
    event = {
        "type": "deployment",
        "version_id": str(version["id"]),
        "version": str(version.get("name") or ""),
        "from": previous_version or "",
        "to": to,
        "target": target,
        "url": url or "",
    }
    if rollback:
        event["rollback"] = True
    common = lifecycle_common_fields(actor, reason, evidence)
    outcome = commit_lifecycle_event(conn, model, lambda state: {"event": dict(event), "error": ""}, common)
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
    rollout: Mapping[str, Any],
    previous_version: Mapping[str, Any] | None,
    context: RunContext,
    actor: str,
    reason: str,
    rollback: bool = False,
) -> dict[str, Any]:
    """Write the outcome of a rollout to the registry: the ServeModel, the InferenceService record, the audit trail.

    Success: a ServeModel ``RUNNING`` with outcome ``deployed``, the record ``DEPLOYED`` with the version, the URL
    and ``kml_*`` properties, and a ``deployment`` audit event. Failure: a ServeModel ``FAILED`` with the reason and
    whether the previous state came back; the record keeps serving the previous version (or becomes
    ``UNDEPLOYED`` when a failed first deployment was deleted); no audit event (nothing changed).

    Args:
        conn: From ``connect_model_registry``.
        record: The registry InferenceService record.
        model: The RegisteredModel.
        version: The ModelVersion rolled out.
        manifest: The manifest applied.
        rollout: From :func:`rollout_inference_service`.
        previous_version: The ModelVersion served before (None when none).
        context: The run context.
        actor: Who.
        reason: Why (recorded in the audit trail).
        rollback: Whether this rollout is a rollback (``rollback_deployment``).

    Returns:
        ``serve_model``, ``record`` and ``event`` (None on failure).
    """
    metadata = manifest["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    actor = lifecycle_common_fields(actor, reason, None)["actor"]  # "" -> user:<login name>, as in the audit trail
    ok = bool(rollout.get("ok"))
    failure = rollout.get("failure") or {}
    restored = rollout.get("rollback") or {}
    when = utc_timestamp()
    digest = manifest_sha256(manifest)
    prev_name = str((previous_version or {}).get("name") or "")
    prev_id = str((previous_version or {}).get("id") or "")
    props: dict[str, Any] = {
        "kml_outcome": "deployed" if ok else "failed",
        "kml_time": when,
        "kml_namespace": namespace,
        "kml_inference_service": name,
        "kml_model": str(model.get("name") or ""),
        "kml_version": str(version.get("name") or ""),
        "kml_previous_version": prev_name,
        "kml_previous_version_id": prev_id,
        "kml_canary_percent": int(rollout.get("canary") or 0),
        "kml_phases": ", ".join(rollout.get("phases") or []),
        "kml_deployment_mode": str((metadata.get("annotations") or {}).get("serving.kserve.io/deploymentMode") or ""),
        "kml_manifest_sha256": digest,
        "kml_manifest": json.dumps(manifest, sort_keys=True, separators=(",", ":")),
        "kml_url": str(rollout.get("url") or ""),
        "kml_rollback": bool(rollback),
        "kml_actor": actor,
        "kml_reason": reason,
        "kml_run_id": context.run_id or "",
        "kml_run_name": context.run_name or "",
        "kml_run_url": context.run_url or "",
    }
    if not ok:
        props["kml_failure_reason"] = str(failure.get("reason") or "")
        props["kml_failure_message"] = str(failure.get("message") or "")[:2000]
        props["kml_restored"] = bool(restored.get("ok"))
        props["kml_restore_action"] = str(restored.get("action") or "")
    props = {k: v for k, v in props.items() if v not in (None, "")}
    serve = create_serve_model_record(conn, record, str(version["id"]), "RUNNING" if ok else "FAILED", props)
    if ok:
        updated = update_registry_inference_service(
            conn,
            record,
            desired_state="DEPLOYED",
            version_id=str(version["id"]),
            runtime=str(manifest["spec"]["predictor"]["model"].get("runtime") or "") or None,
            properties={
                "url": str(rollout.get("url") or ""),
                "kml_deployed_version": str(version.get("name") or ""),
                "kml_deployed_version_id": str(version["id"]),
                "kml_deployed_time": when,
                "kml_previous_version": prev_name or None,
                "kml_previous_version_id": prev_id or None,
                "kml_manifest_sha256": digest,
                "kml_serve_model_id": str(serve.get("id") or ""),
                "kml_last_outcome": "deployed",
                "kml_last_failure": None,
            },
        )
        event = record_deployment_event(
            conn,
            model,
            version,
            to="deployed",
            previous_version=prev_name,
            target=f"{namespace}/{name}",
            url=str(rollout.get("url") or ""),
            rollback=rollback,
            actor=actor,
            reason=reason,
            evidence={
                **lifecycle_run_evidence(context),
                "namespace": namespace,
                "inference_service": name,
                "url": str(rollout.get("url") or ""),
                "manifest_sha256": digest,
                "serve_model_id": str(serve.get("id") or ""),
            },
        )
        return {"serve_model": serve, "record": updated, "event": event}
    deleted = restored.get("action") == "deleted"
    updated = update_registry_inference_service(
        conn,
        record,
        desired_state="UNDEPLOYED" if deleted else str(record.get("desiredState") or "UNDEPLOYED"),
        properties={
            "kml_last_outcome": "failed",
            "kml_last_failure": f"{when} {version.get('name')}: {failure.get('reason') or ''}"[:1000],
            # the previous revision still serves at its URL unless the failed first deployment was deleted
            **({"url": ""} if deleted else {}),
        },
    )
    return {"serve_model": serve, "record": updated, "event": None}


# ---------------------------------------------------------------------------------------------------------------
# History (for rollback_deployment and `kml models deployments`)
# ---------------------------------------------------------------------------------------------------------------


def decode_serve_model(serve: Mapping[str, Any]) -> dict[str, Any]:
    """A ServeModel written by :func:`record_rollout` as a flat dict.

    Args:
        serve: The ServeModel (wire form).

    Returns:
        ``id``, ``name``, ``version_id``, ``state`` and every ``kml_*`` property without its prefix (``outcome``,
        ``time``, ``version``, ``manifest``...).
    """
    props = plain_properties(serve)
    row: dict[str, Any] = {
        "id": str(serve.get("id") or ""),
        "name": str(serve.get("name") or ""),
        "version_id": str(serve.get("modelVersionId") or ""),
        "state": str(serve.get("lastKnownState") or ""),
    }
    for key, value in props.items():
        if key.startswith("kml_"):
            row[key[4:]] = value
    row.setdefault("outcome", "unknown")
    row["rollback"] = bool(row.get("rollback"))
    return row


def list_serve_models(conn: RegistryConnection, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rollouts of one registry InferenceService record, oldest first (decoded).

    Args:
        conn: From ``connect_model_registry``.
        record: The record.

    Returns:
        Decoded ServeModels (see :func:`decode_serve_model`), by id.
    """
    record_id = str(record["id"])
    items = conn.list_all(
        f"list rollouts of registry inference service {record_id}",
        lambda api, token: api.get_inference_service_serves(
            record_id, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    return [decode_serve_model(s) for s in sorted(items, key=lambda s: int(s.get("id") or 0))]


def plan_deployment_rollback(rollouts: list[dict[str, Any]], current_version_id: str) -> dict[str, Any] | None:
    """The rollout a ``rollback_deployment`` restores: the newest successful one of another version.

    Versions that were rolled back *from* are skipped, so repeated rollbacks walk back through the history
    instead of flipping between two versions.

    Args:
        rollouts: Decoded rollouts, oldest first (:func:`list_serve_models`).
        current_version_id: The version deployed now.

    Returns:
        The decoded rollout (with its ``manifest``), or None when there is nothing to go back to.
    """
    successful = [r for r in rollouts if r.get("outcome") == "deployed" and r.get("manifest")]
    rolled_back_from: set[str] = set()
    for r in successful:
        if r.get("rollback") and r.get("previous_version_id"):
            rolled_back_from.add(str(r["previous_version_id"]))
        elif str(r.get("version_id")) in rolled_back_from:
            rolled_back_from.discard(str(r.get("version_id")))  # deployed normally again
    for r in reversed(successful):
        vid = str(r.get("version_id") or "")
        if vid and vid != str(current_version_id) and vid not in rolled_back_from:
            return r
    return None


def list_model_deployments(conn: RegistryConnection, model_name: str) -> dict[str, Any]:
    """Where and when each version of a model was deployed, from the registry's serving records.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The registered model.

    Returns:
        ``model`` (wire form), ``services`` (one row per InferenceService record: ``namespace``, ``name``,
        ``state``, ``version``, ``version_id``, ``url``, ``deployed_time``, ``id``) and ``rollouts`` (decoded
        rollouts with ``namespace`` and ``inference_service``, oldest first).
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
    records = [r for r in records if str(r.get("registeredModelId")) == model_id]
    environments: dict[str, str] = {}
    versions: dict[str, str] = {}
    services: list[dict[str, Any]] = []
    rollouts: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: int(r.get("id") or 0)):
        env_id = str(record.get("servingEnvironmentId") or "")
        if env_id not in environments:
            env = conn.call(
                f"get serving environment {env_id}",
                lambda api, e=env_id: api.get_serving_environment(e),
                tolerate=(404,),
            )
            environments[env_id] = str((env or {}).get("name") or env_id)
        props = plain_properties(record)
        vid = str(record.get("modelVersionId") or "")
        if vid and vid not in versions:
            versions[vid] = str((get_model_version_by_id(conn, vid) or {}).get("name") or vid)
        services.append(
            {
                "id": str(record.get("id") or ""),
                "namespace": environments[env_id],
                "name": str(record.get("name") or ""),
                "state": str(record.get("desiredState") or ""),
                "version": str(props.get("kml_deployed_version") or versions.get(vid, "")),
                "version_id": vid,
                "url": str(props.get("url") or ""),
                "deployed_time": str(props.get("kml_deployed_time") or ""),
                "undeployed_time": str(props.get("kml_undeployed_time") or ""),
                "last_outcome": str(props.get("kml_last_outcome") or ""),
            }
        )
        for rollout in list_serve_models(conn, record):
            rollout.setdefault("namespace", environments[env_id])
            rollout.setdefault("inference_service", str(record.get("name") or ""))
            rollout["record_id"] = str(record.get("id") or "")
            rollouts.append(rollout)
    rollouts.sort(key=lambda r: (str(r.get("time") or ""), int(r.get("id") or 0)))
    return {"model": model, "services": services, "rollouts": rollouts}


# ---------------------------------------------------------------------------------------------------------------
# The jobs
# ---------------------------------------------------------------------------------------------------------------


def resolve_deploy_namespace(namespace: str, context: RunContext, k8s: Mapping[str, Any] | None) -> str:
    """The target namespace: the input, else the run's (``POD_NAMESPACE``/service account), else the kubeconfig's.

    Args:
        namespace: The ``namespace`` input.
        context: The run context (its ``namespace`` came from the input, ``POD_NAMESPACE`` or the SA file).
        k8s: The Kubernetes client (its kubeconfig context namespace), if loaded.

    Returns:
        The validated namespace.

    Raises:
        ValueError: When none is known.
    """
    for candidate in (namespace, context.namespace, (k8s or {}).get("namespace")):
        if not is_missing_value(candidate):
            return check_namespace_name(str(candidate))
    raise ValueError(
        "no target namespace: pass namespace, or run in a pod (deploy_model_with_context injects POD_NAMESPACE),"
        " or set a namespace in the kubeconfig context"
    )


def write_deploy_outputs(manifest: Mapping[str, Any], manifest_path: str) -> str:
    """Write the manifest output (YAML) in one piece.

    Args:
        manifest: The manifest.
        manifest_path: The output file ("" to skip).

    Returns:
        The YAML text.
    """
    text = render_manifest_yaml(manifest)
    if manifest_path:
        write_text_atomically(manifest_path, text)
    return text


def deploy_version(
    conn: RegistryConnection,
    k8s: Mapping[str, Any],
    *,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    manifest_for: Callable[[str], dict[str, Any]],
    name: str,
    namespace: str,
    canary_percent: int,
    timeout_seconds: float,
    context: RunContext,
    actor: str,
    reason: str,
    rollback: bool = False,
    runtime: str = "",
) -> dict[str, Any]:
    """Deploy one version to one InferenceService and record it: the part deploy and rollback share.

    Args:
        conn: From ``connect_model_registry``.
        k8s: From :func:`load_kubernetes_client`.
        model: The RegisteredModel.
        version: The ModelVersion.
        manifest_for: ``registry record id -> manifest`` (the record id goes into the manifest's labels).
        name: The InferenceService name.
        namespace: The namespace.
        canary_percent: 0..100.
        timeout_seconds: Rollout bound.
        context: The run context.
        actor: Who.
        reason: Why.
        rollback: Whether this is a rollback.
        runtime: The serving runtime, recorded in the registry.

    Returns:
        ``manifest``, ``rollout``, ``records`` (:func:`record_rollout`, or None when nothing changed and the registry
        already says so), ``previous_version`` (name, "" when none) and ``url``.

    Raises:
        PermissionError: When RBAC denies a verb the rollout needs (checked before anything changes).
        ValueError: When the InferenceService serves another model or uses another deployment mode.
        RuntimeError: When the rollout failed (after the automatic rollback; the message says what runs now).
    """
    log = logging.getLogger("kfp_model_lifecycle")
    conventions = deployment_conventions()
    denied = check_kubernetes_permissions(k8s, namespace, conventions["rbac_verbs"])
    if denied:
        raise PermissionError(
            f"the identity this step runs as ({k8s.get('source')}) may not {', '.join(denied)} inferenceservices."
            f"{conventions['group']} in namespace '{namespace}', which deploying needs. Fix: apply the Role and"
            f" RoleBinding in {conventions['rbac_file']} to that namespace for the pipeline's service account (README"
            f" of deploy_model, section 'RBAC'; `kubectl apply -n {namespace} -f rbac.yaml` after editing the"
            " RoleBinding's subject). Nothing was changed."
        )
    live = get_inference_service(k8s, namespace, name)
    live_labels = ((live or {}).get("metadata") or {}).get("labels") or {}
    live_model_id = str(live_labels.get(conventions["label_registered_model_id"]) or "")
    if live is not None and live_model_id and live_model_id != str(model["id"]):
        raise ValueError(
            f"InferenceService {namespace}/{name} serves another registered model (id {live_model_id}), not"
            f" {model.get('name')!r}. Fix: choose another inference_service_name, or undeploy it first"
        )
    if live is not None:
        live_mode = ((live.get("metadata") or {}).get("annotations") or {}).get(conventions["mode_annotation"])
        wanted_mode = manifest_for("")["metadata"]["annotations"][conventions["mode_annotation"]]
        if live_mode and normalize_deployment_mode(live_mode) != wanted_mode:
            raise ValueError(
                f"InferenceService {namespace}/{name} runs in {live_mode} mode; KServe cannot switch an existing"
                f" InferenceService to {wanted_mode}. Fix: deploy under another name, or delete it first"
            )
    environment = ensure_serving_environment(conn, namespace)
    record = ensure_registry_inference_service(conn, environment, name, model, version, runtime=runtime, live=live)
    manifest = manifest_for(str(record.get("id") or ""))
    previous_id = str(live_labels.get(conventions["label_model_version_id"]) or "")
    previous_version = get_model_version_by_id(conn, previous_id) if live is not None and previous_id else None
    rollout = rollout_inference_service(k8s, manifest, canary_percent=canary_percent, timeout_seconds=timeout_seconds)
    already = (
        rollout["ok"]
        and not rollout["spec_changed"]
        and str(record.get("desiredState")) == "DEPLOYED"
        and str(record.get("modelVersionId")) == str(version["id"])
    )
    records = None
    if already:
        log.info("%s:%s is already deployed to %s/%s: nothing recorded", model.get("name"), version.get("name"),
                 namespace, name)  # fmt: skip
    else:
        records = record_rollout(
            conn,
            record=record,
            model=model,
            version=version,
            manifest=manifest,
            rollout=rollout,
            previous_version=None
            if str((previous_version or {}).get("id")) == str(version["id"])
            else previous_version,
            context=context,
            actor=actor,
            reason=reason,
            rollback=rollback,
        )
    if not rollout["ok"]:
        failure = rollout["failure"] or {}
        restored = rollout["rollback"] or {}
        if restored.get("action") == "deleted" and restored.get("ok"):
            after = "Rolled back automatically: the InferenceService this rollout created was deleted again"
        elif restored.get("ok"):
            serving = (previous_version or {}).get("name")
            after = "Rolled back automatically: the previous spec was restored and is Ready" + (
                f" (serving version {serving})" if serving else ""
            )
        elif restored.get("action") == "error":
            after = (
                f"The automatic rollback failed too ({restored.get('error')}); inspect the InferenceService:"
                f" kubectl describe inferenceservice -n {namespace} {name}"
            )
        else:
            state = restored.get("state") or {}
            after = (
                "The automatic rollback did not complete"
                + (f": the restored spec is not Ready ({state.get('reason')}: {state.get('summary')})" if state else "")
                + f"; inspect the InferenceService: kubectl describe inferenceservice -n {namespace} {name}"
            )
        hint = (
            " Fix: check that the model file loads with the runtime (format, framework version) and that the"
            " storage URI is readable by the predictor's service account"
            if "FailedLoad" in str(failure.get("reason")) or "ModelLoad" in str(failure.get("reason"))
            else (
                " Fix: raise timeout_seconds if the model is just slow to load, or check the predictor pods' events"
                if failure.get("state") == "timeout"
                else " Fix: correct the InferenceService spec the message names"
            )
        )
        raise RuntimeError(
            f"deploying {model.get('name')}:{version.get('name')} to {namespace}/{name} failed during the"
            f" {failure.get('phase') or 'rollout'}: {failure.get('reason')}"
            + (f" - {str(failure.get('message'))[:800]}" if failure.get("message") else "")
            + f". {after}.{hint}"
        )
    return {
        "manifest": manifest,
        "rollout": rollout,
        "records": records,
        "previous_version": str((previous_version or {}).get("name") or ""),
        "url": str(rollout.get("url") or ""),
    }


def run_deploy_model(
    *,
    model_reference: str,
    inference_service_name: str = "",
    namespace: str = "",
    deployment_mode: str = "Serverless",
    storage_uri_mode: str = "artifact",
    runtime: str = "",
    protocol_version: str = "",
    resources: Mapping[str, Any] | None = None,
    min_replicas: Any = None,
    max_replicas: Any = None,
    service_account_name: str = "",
    labels: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    canary_percent: Any = 0,
    timeout_seconds: Any = 600,
    dry_run: bool = False,
    reason: str = "",
    actor: str = "",
    registry_service_name: str = "",
    registry_namespace: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    manifest_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> dict[str, Any]:
    """The whole ``deploy_model`` job on plain values: resolve, build, apply, wait, roll back on failure, record.

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS``, ``name`` (the production version)...
        inference_service_name: "" derives one from the model name (see :func:`sanitize_inference_service_name`).
        namespace: Target namespace ("" for the pod's, else the kubeconfig context's).
        deployment_mode: ``Serverless`` or ``RawDeployment``.
        storage_uri_mode: ``artifact`` or ``model-registry``.
        runtime: ServingRuntime name ("" for KServe's choice).
        protocol_version: ``v1``, ``v2``, ``grpc-v2`` or "".
        resources: Predictor resources.
        min_replicas: Minimum replicas (None or negative: unset).
        max_replicas: Maximum replicas (None or negative: unset).
        service_account_name: Predictor service account (default: the artifact's).
        labels: Extra labels.
        annotations: Extra annotations.
        canary_percent: 0..100.
        timeout_seconds: Bound for the rollout (and again for a rollback).
        dry_run: Only build and write the manifest: no cluster access, no registry writes.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        registry_service_name: The registry's service name for the labels (default from ``registry_url``).
        registry_namespace: The registry's namespace for the labels (default from ``registry_url``).
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file ("" for ``KUBECONFIG``/in-cluster/``~/.kube/config``).
        kube_context: Kubeconfig context ("" for the current one).
        manifest_path: Where to write the manifest YAML ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        ``url``, ``inference_service_name``, ``namespace``, ``model``, ``version``, ``version_id``, ``reference``,
        ``previous_version``, ``manifest``, ``manifest_yaml``, ``dry_run``, ``phases`` and ``records``.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    normalize_deployment_mode(deployment_mode)
    percent = check_canary_percent(canary_percent)
    try:
        timeout = float(timeout_seconds)
    except (TypeError, ValueError):
        raise ValueError(f"timeout_seconds {timeout_seconds!r} is not a number of seconds") from None
    if timeout <= 0:
        raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
    check_resources(resources)
    check_metadata_map(labels, "labels")
    check_metadata_map(annotations, "annotations")
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, "", kfp_ui_url, env=env)
    k8s = None
    own_conn = conn is None
    try:
        try:
            k8s = load_kubernetes_client(kubeconfig_path, kube_context, env)
        except RuntimeError:
            if not dry_run:
                raise
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        if k8s is not None:
            log.info("Kubernetes API %s (credentials: %s)", k8s.get("host"), k8s.get("source"))
        if own_conn:
            conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
        resolved = resolve_model_reference(conn, model_reference, repair=not dry_run)
        model, version = resolved.model, resolved.version
        model_name = str(model.get("name") or "")
        if (inference_service_name or "").strip() and not is_missing_value(inference_service_name):
            name = check_inference_service_name(inference_service_name, target_namespace)
        else:
            name = sanitize_inference_service_name(model_name, target_namespace)
        log.info(
            "deploying %s (%s) as InferenceService %s/%s", resolved.reference, resolved.selector,
            target_namespace, name,
        )  # fmt: skip

        def manifest_for(record_id: str) -> dict[str, Any]:
            return build_inference_service_manifest(
                name=name,
                namespace=target_namespace,
                model=model,
                version=version,
                artifact=resolved.artifact,
                deployment_mode=deployment_mode,
                storage_uri_mode=storage_uri_mode,
                runtime=runtime,
                protocol_version=protocol_version,
                resources=resources,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                service_account_name=service_account_name,
                labels=labels,
                annotations=annotations,
                registry_url=conn.url,
                registry_service_name=registry_service_name,
                registry_namespace=registry_namespace,
                registry_inference_service_id=record_id,
                context=context,
            )

        result: dict[str, Any] = {
            "inference_service_name": name,
            "namespace": target_namespace,
            "model": model_name,
            "version": str(version.get("name") or ""),
            "version_id": str(version["id"]),
            "reference": resolved.reference,
            "dry_run": bool(dry_run),
        }
        if dry_run:
            environment = find_serving_environment(conn, target_namespace)
            record = find_registry_inference_service(conn, environment, name) if environment else None
            manifest = manifest_for(str((record or {}).get("id") or ""))
            text = write_deploy_outputs(manifest, manifest_path)
            log.info("dry run: wrote the manifest; the cluster and the registry were not touched\n%s", text)
            result.update(url="", previous_version="", manifest=manifest, manifest_yaml=text, phases=["dry run"],
                          records=None)  # fmt: skip
            return result
        deployed = deploy_version(
            conn,
            k8s,
            model=model,
            version=version,
            manifest_for=manifest_for,
            name=name,
            namespace=target_namespace,
            canary_percent=percent,
            timeout_seconds=timeout,
            context=context,
            actor=lifecycle_run_actor(context, actor),
            reason=reason,
            runtime=runtime,
        )
        text = write_deploy_outputs(deployed["manifest"], manifest_path)
        log.info(
            "%s is deployed to %s/%s: %s (%s)", resolved.reference, target_namespace, name, deployed["url"],
            ", ".join(deployed["rollout"]["phases"]),
        )  # fmt: skip
        result.update(
            url=deployed["url"],
            previous_version=deployed["previous_version"],
            manifest=deployed["manifest"],
            manifest_yaml=text,
            phases=deployed["rollout"]["phases"],
            records=deployed["records"],
        )
        return result
    finally:
        if own_conn and conn is not None:
            conn.close()
        close_kubernetes_client(k8s)


def refresh_rollout_manifest(
    manifest: Mapping[str, Any], *, record_id: str, registry_url: str, context: RunContext
) -> dict[str, Any]:
    """An earlier rollout's manifest, made current: this run's lineage annotations and the registry record label.

    Args:
        manifest: The manifest recorded with the rollout.
        record_id: The registry InferenceService record id.
        registry_url: The registry base URL.
        context: This run's context.

    Returns:
        The manifest to apply.
    """
    conventions = deployment_conventions()
    result = copy.deepcopy(dict(manifest))
    result.pop("status", None)
    metadata = result.setdefault("metadata", {})
    for key in list(metadata):
        if key not in ("name", "namespace", "labels", "annotations"):
            metadata.pop(key)
    labels = metadata.setdefault("labels", {})
    annotations = metadata.setdefault("annotations", {})
    if record_id:
        labels[conventions["label_inference_service_id"]] = record_id
    if registry_url:
        annotations[conventions["annotation_registry_url"]] = registry_url
    lineage = (("annotation_run_id", "run_id"), ("annotation_run_name", "run_name"), ("annotation_run_url", "run_url"))
    for key, field in lineage:
        if context.value(field):
            annotations[conventions[key]] = context.value(field)
        else:
            annotations.pop(conventions[key], None)
    managed = {"labels": sorted(labels), "annotations": sorted({*annotations, conventions["annotation_managed"]})}
    annotations[conventions["annotation_managed"]] = json.dumps(managed, sort_keys=True, separators=(",", ":"))
    result["spec"].get("predictor", {}).pop("canaryTrafficPercent", None)
    check_manifest_fields(result)
    return result


def run_rollback_deployment(
    *,
    model_name: str = "",
    inference_service_name: str = "",
    namespace: str = "",
    timeout_seconds: Any = 600,
    dry_run: bool = False,
    reason: str = "",
    actor: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    manifest_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> dict[str, Any]:
    """The whole ``rollback_deployment`` job: redeploy the previously deployed version of an InferenceService.

    The target is the newest earlier successful rollout of another version in the registry's records (versions
    rolled back from are skipped, so repeated rollbacks walk back); its recorded manifest is applied again with
    the same safety as a deployment (wait, automatic restore on failure) and recorded as a rollback.

    Args:
        model_name: The registered model ("" when ``inference_service_name`` is given: read from the records).
        inference_service_name: The InferenceService ("" derives it from ``model_name`` as deploy_model does).
        namespace: Its namespace ("" for the pod's, else the kubeconfig context's).
        timeout_seconds: Bound for the rollout (and again for a rollback of the rollback).
        dry_run: Only find the target and write its manifest.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file.
        kube_context: Kubeconfig context.
        manifest_path: Where to write the manifest YAML ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        Like :func:`run_deploy_model`, plus ``rolled_back_from`` (the version name replaced).

    Raises:
        LookupError: When the InferenceService has no records or no earlier version to go back to.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    try:
        timeout = float(timeout_seconds)
    except (TypeError, ValueError):
        raise ValueError(f"timeout_seconds {timeout_seconds!r} is not a number of seconds") from None
    if timeout <= 0:
        raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
    given_model = "" if is_missing_value(model_name) else (model_name or "").strip()
    given_name = "" if is_missing_value(inference_service_name) else (inference_service_name or "").strip()
    if not given_model and not given_name:
        raise ValueError("rollback_deployment needs model_name or inference_service_name (or both)")
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, "", kfp_ui_url, env=env)
    k8s = None
    own_conn = conn is None
    try:
        try:
            k8s = load_kubernetes_client(kubeconfig_path, kube_context, env)
        except RuntimeError:
            if not dry_run:
                raise
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        if own_conn:
            conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
        if given_name:
            name = check_inference_service_name(given_name, target_namespace)
        else:
            name = sanitize_inference_service_name(given_model, target_namespace)
        environment = find_serving_environment(conn, target_namespace)
        live = get_inference_service(k8s, target_namespace, name) if k8s is not None and not dry_run else None
        record = find_registry_inference_service(conn, environment, name, live) if environment else None
        if not record:
            raise LookupError(
                f"the Model Registry has no deployment records for InferenceService {target_namespace}/{name}:"
                " rollback_deployment can only go back to versions deploy_model deployed there"
                + (f" (`kml models deployments {given_model}` lists them)" if given_model else "")
            )
        model = conn.call(
            f"get registered model {record.get('registeredModelId')}",
            lambda api: api.get_registered_model(str(record["registeredModelId"])),
        )
        if given_model and str(model.get("name")) != given_model:
            raise ValueError(
                f"InferenceService {target_namespace}/{name} serves model {model.get('name')!r}, not {given_model!r}"
            )
        rollouts = list_serve_models(conn, record)
        live_version_id = str(
            (((live or {}).get("metadata") or {}).get("labels") or {}).get(
                deployment_conventions()["label_model_version_id"]
            )
            or ""
        )
        current_id = live_version_id or str(record.get("modelVersionId") or "")
        target = plan_deployment_rollback(rollouts, current_id)
        if target is None:
            versions = sorted({str(r.get("version") or "") for r in rollouts if r.get("outcome") == "deployed"})
            raise LookupError(
                f"InferenceService {target_namespace}/{name} has no earlier deployed version to roll back to"
                f" (deployed so far: {', '.join(versions) or 'none'}): deploy a version with deploy_model instead"
            )
        version = get_model_version_by_id(conn, str(target["version_id"]))
        if version is None:
            raise LookupError(f"model version id {target['version_id']} of the rollout to restore no longer exists")
        current = get_model_version_by_id(conn, current_id) if current_id else None
        log.info(
            "rolling back %s/%s from %s to %s (deployed %s by rollout %s)", target_namespace, name,
            (current or {}).get("name") or "?", version.get("name"), target.get("time"), target.get("name"),
        )  # fmt: skip
        recorded = json.loads(str(target["manifest"]))

        def manifest_for(record_id: str) -> dict[str, Any]:
            refreshed = refresh_rollout_manifest(recorded, record_id=record_id, registry_url=conn.url, context=context)
            refreshed["metadata"]["namespace"] = target_namespace
            refreshed["metadata"]["name"] = name
            return refreshed

        result: dict[str, Any] = {
            "inference_service_name": name,
            "namespace": target_namespace,
            "model": str(model.get("name") or ""),
            "version": str(version.get("name") or ""),
            "version_id": str(version["id"]),
            "reference": f"{model.get('name')}:{version.get('name')}",
            "rolled_back_from": str((current or {}).get("name") or ""),
            "dry_run": bool(dry_run),
        }
        if dry_run:
            manifest = manifest_for(str(record.get("id") or ""))
            text = write_deploy_outputs(manifest, manifest_path)
            result.update(url="", previous_version=result["rolled_back_from"], manifest=manifest, manifest_yaml=text,
                          phases=["dry run"], records=None)  # fmt: skip
            return result
        deployed = deploy_version(
            conn,
            k8s,
            model=model,
            version=version,
            manifest_for=manifest_for,
            name=name,
            namespace=target_namespace,
            canary_percent=0,
            timeout_seconds=timeout,
            context=context,
            actor=lifecycle_run_actor(context, actor),
            reason=reason or f"roll back from {(current or {}).get('name') or 'the current version'}",
            rollback=True,
            runtime=str(recorded.get("spec", {}).get("predictor", {}).get("model", {}).get("runtime") or ""),
        )
        text = write_deploy_outputs(deployed["manifest"], manifest_path)
        log.info("rolled back %s/%s to %s: %s", target_namespace, name, result["reference"], deployed["url"])
        result.update(
            url=deployed["url"],
            previous_version=deployed["previous_version"],
            manifest=deployed["manifest"],
            manifest_yaml=text,
            phases=deployed["rollout"]["phases"],
            records=deployed["records"],
        )
        return result
    finally:
        if own_conn and conn is not None:
            conn.close()
        close_kubernetes_client(k8s)


def run_undeploy_model(
    *,
    inference_service_name: str = "",
    model_name: str = "",
    namespace: str = "",
    timeout_seconds: Any = 120,
    reason: str = "",
    actor: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> dict[str, Any]:
    """Delete an InferenceService and record it: the registry record becomes ``UNDEPLOYED``.

    Args:
        inference_service_name: The InferenceService ("" derives it from ``model_name``).
        model_name: The registered model (for the derived name).
        namespace: Its namespace.
        timeout_seconds: Bound for the object to disappear.
        reason: Why (audit trail).
        actor: Who.
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL.
        registry_url: Registry base URL.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file.
        kube_context: Kubeconfig context.
        env: Environment.
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        ``inference_service_name``, ``namespace``, ``deleted`` (whether it existed), ``version`` (the version it
        served, "" when unknown) and ``records``.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    given_name = "" if is_missing_value(inference_service_name) else (inference_service_name or "").strip()
    given_model = "" if is_missing_value(model_name) else (model_name or "").strip()
    if not given_name and not given_model:
        raise ValueError("undeploying needs inference_service_name or model_name")
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, "", kfp_ui_url, env=env)
    k8s = load_kubernetes_client(kubeconfig_path, kube_context, env)
    own_conn = conn is None
    try:
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        name = (
            check_inference_service_name(given_name, target_namespace)
            if given_name
            else sanitize_inference_service_name(given_model, target_namespace)
        )
        if own_conn:
            conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
        live = get_inference_service(k8s, target_namespace, name)
        environment = find_serving_environment(conn, target_namespace)
        record = find_registry_inference_service(conn, environment, name, live) if environment else None
        deleted = delete_inference_service(k8s, target_namespace, name) if live is not None else False
        if deleted:
            if not wait_until_deleted(k8s, target_namespace, name, float(timeout_seconds)):
                raise RuntimeError(
                    f"InferenceService {target_namespace}/{name} is still there {float(timeout_seconds):.0f}s after its"
                    " deletion (a finalizer has not finished): check `kubectl describe isvc -n"
                    f" {target_namespace} {name}`; the registry was not updated"
                )
            log.info("deleted InferenceService %s/%s", target_namespace, name)
        else:
            log.info("InferenceService %s/%s does not exist", target_namespace, name)
        records: dict[str, Any] = {}
        version_name = ""
        if record:
            version_id = str(record.get("modelVersionId") or "")
            version = get_model_version_by_id(conn, version_id) if version_id else None
            version_name = str((version or {}).get("name") or "")
            if str(record.get("desiredState")) != "UNDEPLOYED" or deleted:
                when = utc_timestamp()
                records["record"] = update_registry_inference_service(
                    conn,
                    record,
                    desired_state="UNDEPLOYED",
                    properties={"kml_last_outcome": "undeployed", "kml_undeployed_time": when, "url": ""},
                )
                if version is not None:
                    who = lifecycle_common_fields(lifecycle_run_actor(context, actor), reason, None)["actor"]
                    records["serve_model"] = create_serve_model_record(
                        conn,
                        record,
                        str(version["id"]),
                        "COMPLETE",
                        {
                            "kml_outcome": "undeployed",
                            "kml_time": when,
                            "kml_namespace": target_namespace,
                            "kml_inference_service": name,
                            "kml_version": version_name,
                            "kml_actor": who,
                            "kml_reason": reason or None,
                            "kml_run_id": context.run_id or None,
                        },
                    )
                    model = conn.call(
                        f"get registered model {record.get('registeredModelId')}",
                        lambda api: api.get_registered_model(str(record["registeredModelId"])),
                    )
                    records["event"] = record_deployment_event(
                        conn,
                        model,
                        version,
                        to="undeployed",
                        previous_version=version_name,
                        target=f"{target_namespace}/{name}",
                        url="",
                        rollback=False,
                        actor=who,
                        reason=reason,
                        evidence={**lifecycle_run_evidence(context), "namespace": target_namespace,
                                  "inference_service": name},
                    )  # fmt: skip
        return {
            "inference_service_name": name,
            "namespace": target_namespace,
            "deleted": deleted,
            "version": version_name,
            "records": records,
        }
    finally:
        if own_conn and conn is not None:
            conn.close()
        close_kubernetes_client(k8s)
