"""Reading and writing one InferenceService (get, idempotent create-or-patch, canary, delete), and its Deployment.

RawDeployment InferenceServices also have a predictor Deployment, which readiness reads.

:func:`apply_inference_service` creates the object, or sends a JSON merge patch computed against the live object
(explicit nulls remove fields) carrying the live ``resourceVersion`` as a precondition: when another writer changed
the object in between, the API server answers 409 and the patch is recomputed on a fresh read. A create carries
the rollout's key in :data:`ANNOTATION_CREATED_BY`: when its answer is lost and the retry meets 409, the object is
recognised as this rollout's creation (so a rollback deletes it instead of "restoring" it). A patch that changes
only run-lineage annotations is not sent (it would roll out a new revision of the same model).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    ANNOTATION_CREATED_BY,
    ANNOTATION_ROLLOUT,
    APPS_GROUP,
    DEFAULT_POLL_SECONDS,
    DEPLOYMENTS,
    ENV_POLL_SECONDS,
    KSERVE_GROUP,
    KSERVE_PLURAL,
    KSERVE_VERSION,
    PREDICTOR_DEPLOYMENT_SUFFIX,
)
from kfp_model_lifecycle.deployment.kube import KubeClient, env_float, kubernetes_call, request_timeout
from kfp_model_lifecycle.deployment.patch import inference_service_patch, is_lineage_only
from kfp_model_lifecycle.errors import ConcurrencyError, KubernetesError
from kfp_model_lifecycle.log import logger as log

OWN_DELETION_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_inference_service` did.

    Attributes:
        object: The object as the API server returned it.
        generation: Its ``metadata.generation``.
        created: It did not exist before.
        changed: Anything was written.
        spec_changed: The spec changed (a new generation).
        previous: The live object before the change (None when created).
    """

    object: dict[str, Any]
    generation: int
    created: bool
    changed: bool
    spec_changed: bool
    previous: dict[str, Any] | None


def object_generation(obj: Mapping[str, Any] | None, default: int = 1) -> int:
    """An object's ``metadata.generation``.

    Args:
        obj: The object (or None).
        default: The value when it has none.

    Returns:
        The generation.
    """
    return int(((obj or {}).get("metadata") or {}).get("generation") or default)


def get_inference_service(k8s: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The live InferenceService, or None when it does not exist.

    Args:
        k8s: From :func:`~kfp_model_lifecycle.deployment.kube.load_kubernetes_client`.
        namespace: Its namespace.
        name: Its name.

    Returns:
        The object as a dict, or None.
    """
    return kubernetes_call(
        f"get InferenceService {namespace}/{name}",
        "get",
        namespace,
        lambda: k8s.custom.get_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, _request_timeout=request_timeout()
        ),
        tolerate=(404,),
    )


def annotation(obj: Mapping[str, Any] | None, key: str) -> str:
    """One annotation of an object ("" when it has none).

    Args:
        obj: The object (or None).
        key: The annotation key.

    Returns:
        Its value.
    """
    return str((((obj or {}).get("metadata") or {}).get("annotations") or {}).get(key) or "")


def get_predictor_deployment(k8s: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The predictor Deployment ``<name>-predictor`` of a RawDeployment InferenceService, or None.

    Args:
        k8s: The client.
        namespace: The namespace.
        name: The InferenceService.

    Returns:
        The Deployment as a dict (wire form), or None when it does not exist (yet).
    """
    deployment = f"{name}{PREDICTOR_DEPLOYMENT_SUFFIX}"
    apps = k8s.apps
    found = kubernetes_call(
        f"get Deployment {namespace}/{deployment}",
        "get",
        namespace,
        lambda: apps.read_namespaced_deployment(deployment, namespace, _request_timeout=request_timeout()),
        tolerate=(404,),
        resource=DEPLOYMENTS,
        group=APPS_GROUP,
    )
    if found is None or isinstance(found, dict):
        return found
    return k8s.api_client.sanitize_for_serialization(found)


def patch_live_object(
    k8s: KubeClient, live: Mapping[str, Any], patch: dict[str, Any], action: str
) -> dict[str, Any] | None:
    """Send a merge patch with the live ``resourceVersion`` as precondition.

    Args:
        k8s: The client.
        live: The object the patch was computed against.
        patch: The patch (its ``metadata.resourceVersion`` is set here).
        action: What the patch does, for messages, e.g. ``patch InferenceService ns/name``.

    Returns:
        The patched object, or None when another writer changed the object first (409: re-read and retry).
    """
    metadata = live["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    patch.setdefault("metadata", {})["resourceVersion"] = str(metadata.get("resourceVersion") or "")
    return kubernetes_call(
        action,
        "patch",
        namespace,
        lambda: k8s.custom.patch_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, patch,
            _request_timeout=request_timeout(),
        ),
        tolerate=(409,),
    )  # fmt: skip


def apply_inference_service(k8s: KubeClient, manifest: Mapping[str, Any], *, max_conflicts: int = 10) -> ApplyResult:
    """Create the InferenceService, or patch the live one to match ``manifest`` (idempotent).

    The patch is a JSON merge patch from :func:`~kfp_model_lifecycle.deployment.patch.inference_service_patch`
    carrying the live ``resourceVersion`` as a precondition: when another writer changed the object in between,
    the API server answers 409 and the patch is recomputed on a fresh read. The result is relative to the object
    as first read: when a conflict was this call's own earlier attempt (an answer lost, the request retried), the
    change still counts as made, and ``previous`` is what was there before it.

    Args:
        k8s: The client.
        manifest: The wanted InferenceService (its :data:`ANNOTATION_ROLLOUT` says which rollout this is).
        max_conflicts: Bound on 409 retries.

    Returns:
        What was done.

    Raises:
        KubernetesError: When the object is being deleted.
        ConcurrencyError: When conflicts persist.
    """
    metadata = manifest["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    original: dict[str, Any] | None = None
    key = annotation(manifest, ANNOTATION_ROLLOUT)
    for attempt in range(max(1, max_conflicts)):
        live = get_inference_service(k8s, namespace, name)
        if attempt == 0:
            original = live
        if live is not None and _deleting(live) and key and annotation(live, ANNOTATION_CREATED_BY) == key:
            _wait_for_own_deletion(k8s, namespace, name)  # an earlier attempt of this rollout took it back
            original = None
            continue
        if live is None:
            result = _create(k8s, manifest)
        elif original is None and key and annotation(live, ANNOTATION_CREATED_BY) == key:
            result = _patch(k8s, live, manifest, created=True)  # our create's answer was lost: it is ours
        else:
            result = _patch(k8s, live, manifest, previous=original)
        if result is not None:
            return result
    raise ConcurrencyError(
        f"InferenceService {namespace}/{name} kept changing while being patched ({max_conflicts} conflicts): another"
        " writer is updating it; stop it or re-run later"
    )


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _wait_for_own_deletion(k8s: KubeClient, namespace: str, name: str) -> None:
    log.info("InferenceService %s/%s, created by an earlier attempt of this rollout, is being deleted: waiting",
             namespace, name)  # fmt: skip
    if not wait_until_deleted(k8s, namespace, name, OWN_DELETION_TIMEOUT_SECONDS):
        raise KubernetesError(
            f"InferenceService {namespace}/{name} is still being deleted after {OWN_DELETION_TIMEOUT_SECONDS:.0f}s"
            f" (a finalizer has not finished): check `kubectl describe isvc -n {namespace} {name}`, then re-run"
        )


def _create(k8s: KubeClient, manifest: Mapping[str, Any]) -> ApplyResult | None:
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    body = copy.deepcopy(dict(manifest))
    key = annotation(manifest, ANNOTATION_ROLLOUT)
    if key:
        body["metadata"].setdefault("annotations", {})[ANNOTATION_CREATED_BY] = key
    created = kubernetes_call(
        f"create InferenceService {namespace}/{name}",
        "create",
        namespace,
        lambda: k8s.custom.create_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, body, _request_timeout=request_timeout()
        ),
        tolerate=(409,),
    )
    if created is None:
        return None  # it exists now (our lost answer, or someone else): read it and decide
    log.info("created InferenceService %s/%s", namespace, name)
    return ApplyResult(created, object_generation(created), created=True, changed=True, spec_changed=True,
                       previous=None)  # fmt: skip


def _patch(
    k8s: KubeClient,
    live: dict[str, Any],
    manifest: Mapping[str, Any],
    *,
    previous: dict[str, Any] | None = None,
    created: bool = False,
) -> ApplyResult | None:
    """Patch ``live`` to ``manifest``; the result is relative to ``previous`` (what the caller read first)."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    if _deleting(live):
        raise KubernetesError(
            f"InferenceService {namespace}/{name} is being deleted: wait until it is gone (kubectl get isvc -n"
            f" {namespace} {name}), then deploy again"
        )
    before = None if created else (previous or live)
    patch = inference_service_patch(live, manifest)
    if not patch or is_lineage_only(patch):
        log.info("InferenceService %s/%s already matches the manifest", namespace, name)
        return _relative(live, before, created)
    patched = patch_live_object(k8s, live, patch, f"patch InferenceService {namespace}/{name}")
    if patched is None:
        log.info("InferenceService %s/%s changed while patching it (409): re-reading", namespace, name)
        return None
    live_generation = object_generation(live)
    generation = object_generation(patched, live_generation)
    log.info(
        "patched InferenceService %s/%s (%s)", namespace, name,
        f"generation {live_generation} -> {generation}" if generation != live_generation else "metadata only",
    )  # fmt: skip
    return _relative(patched, before, created)


def _relative(now: dict[str, Any], before: dict[str, Any] | None, created: bool) -> ApplyResult:
    """What changed from ``before`` (None: the object was created by this rollout) to ``now``."""
    generation = object_generation(now)
    if created or before is None:
        return ApplyResult(now, generation, created=True, changed=True, spec_changed=True, previous=None)
    spec_changed = (now.get("spec") or {}) != (before.get("spec") or {})
    now_meta, before_meta = now.get("metadata") or {}, before.get("metadata") or {}
    changed = spec_changed or any(now_meta.get(k) != before_meta.get(k) for k in ("labels", "annotations"))
    return ApplyResult(now, generation, created=False, changed=changed, spec_changed=spec_changed, previous=before)


def set_canary_percent(k8s: KubeClient, namespace: str, name: str, percent: int | None) -> dict[str, Any]:
    """Patch only ``spec.predictor.canaryTrafficPercent`` (None removes it: the latest revision takes everything).

    Args:
        k8s: The client.
        namespace: The namespace.
        name: The InferenceService.
        percent: 0..100 or None.

    Returns:
        The patched object.
    """
    body = {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
    return kubernetes_call(
        f"set the canary traffic of InferenceService {namespace}/{name} to {percent}",
        "patch",
        namespace,
        lambda: k8s.custom.patch_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, body,
            _request_timeout=request_timeout(),
        ),
    )  # fmt: skip


def delete_inference_service(k8s: KubeClient, namespace: str, name: str) -> bool:
    """Delete an InferenceService.

    Args:
        k8s: The client.
        namespace: The namespace.
        name: The InferenceService.

    Returns:
        True when a delete was issued, False when it did not exist.
    """
    result = kubernetes_call(
        f"delete InferenceService {namespace}/{name}",
        "delete",
        namespace,
        lambda: k8s.custom.delete_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, _request_timeout=request_timeout()
        ),
        tolerate=(404,),
    )
    return result is not None


def wait_until_deleted(
    k8s: KubeClient, namespace: str, name: str, timeout_seconds: float, env: Mapping[str, str] | None = None
) -> bool:
    """Wait until a deleted InferenceService is gone (its finalizers done), polling ``get``.

    Args:
        k8s: The client.
        namespace: The namespace.
        name: The InferenceService.
        timeout_seconds: The bound.
        env: Environment for ``KML_DEPLOY_POLL_SECONDS`` (default ``os.environ``).

    Returns:
        True when it is gone, False when it is still there after ``timeout_seconds``.
    """
    poll = env_float(env, ENV_POLL_SECONDS, DEFAULT_POLL_SECONDS, 0.05)
    deadline = time.monotonic() + max(0.0, float(timeout_seconds))
    while get_inference_service(k8s, namespace, name) is not None:
        if time.monotonic() >= deadline:
            log.warning("InferenceService %s/%s is still there %.0fs after its deletion (finalizers)", namespace, name,
                        float(timeout_seconds))  # fmt: skip
            return False
        time.sleep(poll)
    return True
