"""The InferenceService manifest as plain data (no kserve SDK): building it, checking it, its digest and YAML.

:func:`build_inference_service_manifest` makes a ``serving.kserve.io/v1beta1`` InferenceService for a registered
model version: ``modelFormat`` and ``storageUri`` from the registry's model artifact (or
``model-registry://<model>/<version>``), storage key and service account from the artifact, the labels the Model
Registry's InferenceService controller syncs on, and lineage annotations. :func:`check_manifest_fields` rejects
unknown fields (the CRD schema accepts them and the API server prunes them silently).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import yaml  # PyYAML comes with the kubernetes client

from kfp_model_lifecycle.deployment.conventions import (
    ANNOTATION_CREATED_BY,
    ANNOTATION_MANAGED,
    ANNOTATION_MODEL,
    ANNOTATION_REFERENCE,
    ANNOTATION_REGISTRY_URL,
    ANNOTATION_ROLLOUT,
    ANNOTATION_VERSION,
    KSERVE_API_VERSION,
    KSERVE_KIND,
    LABEL_INFERENCE_SERVICE_ID,
    LABEL_MANAGED_BY,
    LABEL_MODEL_VERSION_ID,
    LABEL_REGISTERED_MODEL_ID,
    LABEL_REGISTRY_NAME,
    LABEL_REGISTRY_NAMESPACE,
    LINEAGE_ANNOTATIONS,
    MANAGED_BY,
    MODE_ANNOTATION,
    UNPROPAGATED_ANNOTATIONS,
    StorageUriMode,
)
from kfp_model_lifecycle.deployment.names import check_namespace_name, registry_service_from_url
from kfp_model_lifecycle.deployment.validation import DeploySettings, check_canary_percent, check_metadata_map
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lineage.context import RunContext

KNOWN_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "": frozenset({"apiVersion", "kind", "metadata", "spec"}),
        "metadata": frozenset({"name", "namespace", "labels", "annotations"}),
        "spec": frozenset({"predictor"}),
        "spec.predictor": frozenset(
            {"model", "minReplicas", "maxReplicas", "canaryTrafficPercent", "serviceAccountName"}
        ),
        "spec.predictor.model": frozenset(
            {"modelFormat", "storageUri", "runtime", "protocolVersion", "storage", "resources"}
        ),
        "spec.predictor.model.modelFormat": frozenset({"name", "version"}),
        "spec.predictor.model.storage": frozenset({"key", "path"}),
        "spec.predictor.model.resources": frozenset({"requests", "limits", "claims"}),
    }
)
"""Path in the manifest -> the fields this package writes there (the rest of the CRD is not used)."""

_VOLATILE_ANNOTATIONS = frozenset(
    {*(key for key, _ in LINEAGE_ANNOTATIONS), ANNOTATION_MANAGED, ANNOTATION_ROLLOUT, ANNOTATION_CREATED_BY}
)
"""Annotations that change with every run or rollout without changing what is deployed."""


def build_inference_service_manifest(
    *,
    name: str,
    namespace: str,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    artifact: Mapping[str, Any] | None,
    settings: DeploySettings | None = None,
    registry_url: str = "",
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
        settings: Mode, runtime, resources, replicas, extra labels... (default: all defaults).
        registry_url: The Model Registry base URL (recorded for the registry's controller).
        registry_inference_service_id: Id of the registry's InferenceService record, when it exists.
        context: The run context (``collect_run_context``) for lineage annotations.

    Returns:
        The manifest (``apiVersion``, ``kind``, ``metadata``, ``spec``).

    Raises:
        InvalidInputError: For an artifact without the URI or model format KServe needs, or registry labels that
            are not valid label values.
    """
    settings = settings or DeploySettings()
    artifact = dict(artifact or {})
    model_name, version_name = str(model.get("name") or ""), str(version.get("name") or "")
    predictor = _predictor(settings, artifact, model_name, version_name)
    labels = _labels(settings, model, version, registry_url, registry_inference_service_id)
    annotations = dict(settings.annotations)
    annotations[MODE_ANNOTATION] = settings.deployment_mode.value
    if (registry_url or "").strip():
        annotations[ANNOTATION_REGISTRY_URL] = registry_url.strip()
    annotations[ANNOTATION_MODEL] = model_name
    annotations[ANNOTATION_VERSION] = version_name
    annotations[ANNOTATION_REFERENCE] = f"{model_name}:{version_name}"
    set_lineage_annotations(annotations, context or RunContext())
    set_managed_metadata(labels, annotations)
    manifest = {
        "apiVersion": KSERVE_API_VERSION,
        "kind": KSERVE_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(sorted(labels.items())),
            "annotations": dict(sorted(annotations.items())),
        },
        "spec": {"predictor": predictor},
    }
    check_manifest_fields(manifest)
    return manifest


def registry_storage_uri(model_name: str, version_name: str) -> str:
    """``model-registry://<model>/<version>`` as the registry's storage initializer reads it.

    The initializer (kubeflow/model-registry ``cmd/csi``) does not URL-decode names, drops everything after ``?``
    and splits on ``/``, so names go in verbatim and names it would cut are refused.

    Args:
        model_name: The registered model's name.
        version_name: The version's name.

    Returns:
        The URI.

    Raises:
        InvalidInputError: For a name with ``/``, ``?`` or no characters.
    """
    for what, name in (("model", model_name), ("version", version_name)):
        if not name or any(c in name for c in "/?") or name != name.strip():
            raise InvalidInputError(
                f"storage_uri_mode='model-registry' cannot address {what} name {_cut(name)!r}: the registry's"
                " storage initializer splits model-registry://<model>/<version> on '/', drops what follows '?' and"
                " does not URL-decode. Fix: use storage_uri_mode='artifact' (the model artifact's URI)"
            )
    return f"model-registry://{model_name}/{version_name}"


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _storage_uri(mode: StorageUriMode, artifact: Mapping[str, Any], model_name: str, version_name: str) -> str:
    if mode == StorageUriMode.MODEL_REGISTRY:
        return registry_storage_uri(model_name, version_name)
    storage_uri = str(artifact.get("uri") or "").strip()
    if not storage_uri:
        raise InvalidInputError(
            f"model version {model_name}:{version_name} has no model artifact with a uri, so there is nothing to"
            " serve: register the model with its storage URI (register_model), or use"
            " storage_uri_mode='model-registry' on a cluster with the registry's storage initializer"
        )
    return storage_uri


def _model_spec(
    settings: DeploySettings, artifact: Mapping[str, Any], model_name: str, version_name: str
) -> dict[str, Any]:
    storage_uri = _storage_uri(settings.storage_uri_mode, artifact, model_name, version_name)
    format_name = str(artifact.get("modelFormatName") or "").strip()
    if not format_name:
        raise InvalidInputError(
            f"the model artifact of {model_name}:{version_name} has no modelFormatName, which KServe needs to pick a"
            " serving runtime: register the version with model_format_name (e.g. 'sklearn', 'onnx', 'pytorch')"
        )
    model_format: dict[str, Any] = {"name": format_name}
    if str(artifact.get("modelFormatVersion") or "").strip():
        model_format["version"] = str(artifact["modelFormatVersion"]).strip()
    spec: dict[str, Any] = {"modelFormat": model_format, "storageUri": storage_uri}
    if settings.runtime:
        spec["runtime"] = settings.runtime
    if settings.protocol_version is not None:
        spec["protocolVersion"] = settings.protocol_version.value
    storage = {
        key: str(artifact[field]).strip()
        for key, field in (("key", "storageKey"), ("path", "storagePath"))
        if str(artifact.get(field) or "").strip()
    }
    if storage and settings.storage_uri_mode == StorageUriMode.ARTIFACT:
        spec["storage"] = storage
    if settings.resources:
        spec["resources"] = copy.deepcopy(settings.resources)
    return spec


def _predictor(
    settings: DeploySettings, artifact: Mapping[str, Any], model_name: str, version_name: str
) -> dict[str, Any]:
    predictor: dict[str, Any] = {"model": _model_spec(settings, artifact, model_name, version_name)}
    if settings.min_replicas is not None:
        predictor["minReplicas"] = settings.min_replicas
    if settings.max_replicas is not None:
        predictor["maxReplicas"] = settings.max_replicas
    account = settings.service_account_name or str(artifact.get("serviceAccountName") or "").strip()
    if account:
        predictor["serviceAccountName"] = account
    return predictor


def _labels(
    settings: DeploySettings,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    registry_url: str,
    registry_inference_service_id: str,
) -> dict[str, str]:
    labels = dict(settings.labels)
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    labels[LABEL_REGISTERED_MODEL_ID] = str(model["id"])
    labels[LABEL_MODEL_VERSION_ID] = str(version["id"])
    if registry_inference_service_id:
        labels[LABEL_INFERENCE_SERVICE_ID] = str(registry_inference_service_id)
    service_name, service_namespace = registry_service_from_url(registry_url)
    service_name = settings.registry_service_name or service_name
    service_namespace = settings.registry_namespace or service_namespace
    if service_name:
        labels[LABEL_REGISTRY_NAME] = check_metadata_map({"x": service_name}, "labels")["x"]
    if service_namespace:
        labels[LABEL_REGISTRY_NAMESPACE] = check_namespace_name(service_namespace)
    return labels


def set_lineage_annotations(annotations: dict[str, str], context: RunContext) -> None:
    """Set the run lineage annotations from a run context (and remove those it does not know).

    Args:
        annotations: The annotations, changed in place.
        context: The run context.
    """
    for key, field in LINEAGE_ANNOTATIONS:
        if context.value(field):
            annotations[key] = context.value(field)
        else:
            annotations.pop(key, None)


def set_managed_metadata(labels: Mapping[str, str], annotations: dict[str, str]) -> None:
    """Record which label and annotation keys deploy_model wrote, in :data:`ANNOTATION_MANAGED`.

    A later deployment removes those of them it no longer wants and leaves everyone else's keys alone.

    Args:
        labels: The labels written.
        annotations: The annotations written; the record is added in place.
    """
    managed = {"labels": sorted(labels), "annotations": sorted({*annotations, ANNOTATION_MANAGED})}
    annotations[ANNOTATION_MANAGED] = json.dumps(managed, sort_keys=True, separators=(",", ":"))


def check_manifest_fields(manifest: Mapping[str, Any]) -> None:
    """Reject fields KServe does not know where they are, and values of the wrong shape.

    The CRD schema accepts unknown fields (and the API server prunes them silently), so a typo such as
    ``canaryTrafficPercentage`` would be dropped without a word. This checks every field this component writes.

    Args:
        manifest: An InferenceService manifest.

    Raises:
        InvalidInputError: Naming the unknown field and the known ones at its place.
    """
    _check_known_fields(manifest, "")
    predictor = (manifest.get("spec") or {}).get("predictor") or {}
    canary = predictor.get("canaryTrafficPercent")
    if canary is not None:
        check_canary_percent(canary)
    for key in ("minReplicas", "maxReplicas"):
        if key in predictor and (isinstance(predictor[key], bool) or not isinstance(predictor[key], int)):
            raise InvalidInputError(f"spec.predictor.{key} must be an integer, got {predictor[key]!r}")
    for what in ("labels", "annotations"):
        for key, value in ((manifest.get("metadata") or {}).get(what) or {}).items():
            if not isinstance(value, str):
                raise InvalidInputError(f"metadata.{what}[{key!r}] must be a string, got {value!r}")


def _check_known_fields(node: Any, path: str) -> None:
    if path not in KNOWN_FIELDS:
        return
    if not isinstance(node, Mapping):
        raise InvalidInputError(f"{path or 'the manifest'} must be an object, got {type(node).__name__}")
    known = KNOWN_FIELDS[path]
    unknown = sorted(str(k) for k in node if k not in known)
    if unknown:
        raise InvalidInputError(
            f"unknown field(s) {unknown} at {path or 'the top level'} of the InferenceService: KServe would ignore"
            f" them. Known fields there: {', '.join(sorted(known))}"
        )
    for key, value in node.items():
        _check_known_fields(value, f"{path}.{key}" if path else str(key))


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """A digest of what a manifest deploys: its spec and its labels/annotations except run lineage.

    Args:
        manifest: The manifest.

    Returns:
        Hex SHA-256 of the canonical JSON.
    """
    metadata = manifest.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    data = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "labels": metadata.get("labels") or {},
        "annotations": {k: v for k, v in annotations.items() if k not in _VOLATILE_ANNOTATIONS},
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


def revision_template(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """What KServe copies into a Knative revision or the predictor's pod template: a change rolls out a new one.

    Args:
        obj: An InferenceService (or None).

    Returns:
        The predictor without ``canaryTrafficPercent``, and the labels and annotations KServe propagates.
    """
    metadata = (obj or {}).get("metadata") or {}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in UNPROPAGATED_ANNOTATIONS}
    return {"predictor": predictor_template(obj), "labels": dict(metadata.get("labels") or {}),
            "annotations": annotations}  # fmt: skip


def with_rollout_key(manifest: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The manifest carrying a rollout's key (:data:`ANNOTATION_ROLLOUT`), with its managed keys brought up to date.

    Args:
        manifest: The manifest.
        key: The rollout key.

    Returns:
        A copy with the annotation.
    """
    result = copy.deepcopy(dict(manifest))
    metadata = result.setdefault("metadata", {})
    labels = metadata.setdefault("labels", {})
    annotations = metadata.setdefault("annotations", {})
    annotations[ANNOTATION_ROLLOUT] = key
    set_managed_metadata(labels, annotations)
    metadata["annotations"] = dict(sorted(annotations.items()))
    return result


def manifest_deployment_mode(obj: Mapping[str, Any] | None) -> str:
    """The deployment mode annotation of a manifest or live object.

    Args:
        obj: The manifest (or None).

    Returns:
        The annotation's value, "" when it has none.
    """
    return str((((obj or {}).get("metadata") or {}).get("annotations") or {}).get(MODE_ANNOTATION) or "")


def manifest_runtime(manifest: Mapping[str, Any]) -> str:
    """The ServingRuntime a manifest names.

    Args:
        manifest: The manifest.

    Returns:
        ``spec.predictor.model.runtime``, "" when KServe picks one.
    """
    return str((((manifest.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("runtime") or "")


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

    Raises:
        InvalidInputError: When the recorded manifest has fields this package does not write.
    """
    result = copy.deepcopy(dict(manifest))
    result.pop("status", None)
    metadata = result.setdefault("metadata", {})
    for key in list(metadata):
        if key not in ("name", "namespace", "labels", "annotations"):
            metadata.pop(key)
    labels = metadata.setdefault("labels", {})
    annotations = metadata.setdefault("annotations", {})
    for key in (ANNOTATION_ROLLOUT, ANNOTATION_CREATED_BY):
        annotations.pop(key, None)
    if record_id:
        labels[LABEL_INFERENCE_SERVICE_ID] = record_id
    if registry_url:
        annotations[ANNOTATION_REGISTRY_URL] = registry_url
    set_lineage_annotations(annotations, context)
    set_managed_metadata(labels, annotations)
    result["spec"].get("predictor", {}).pop("canaryTrafficPercent", None)
    check_manifest_fields(result)
    return result
