"""Reading and writing one InferenceService: get, idempotent create-or-patch, canary percent, delete.

:func:`apply_inference_service` creates the object, or sends a JSON merge patch computed against the live object
(explicit nulls remove fields) carrying the live ``resourceVersion`` as a precondition: when another writer changed
the object in between, the API server answers 409 and the patch is recomputed on a fresh read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    DEFAULT_POLL_SECONDS,
    ENV_POLL_SECONDS,
    KSERVE_GROUP,
    KSERVE_PLURAL,
    KSERVE_VERSION,
    REQUEST_TIMEOUT_SECONDS,
)
from kfp_model_lifecycle.deployment.kube import KubeClient, env_float, kubernetes_call
from kfp_model_lifecycle.deployment.patch import inference_service_patch
from kfp_model_lifecycle.errors import ConcurrencyError, KubernetesError
from kfp_model_lifecycle.log import logger as log


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
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, _request_timeout=REQUEST_TIMEOUT_SECONDS
        ),
        tolerate=(404,),
    )


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
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        ),
        tolerate=(409,),
    )  # fmt: skip


def apply_inference_service(k8s: KubeClient, manifest: Mapping[str, Any], *, max_conflicts: int = 10) -> ApplyResult:
    """Create the InferenceService, or patch the live one to match ``manifest`` (idempotent).

    The patch is a JSON merge patch from :func:`~kfp_model_lifecycle.deployment.patch.inference_service_patch`
    carrying the live ``resourceVersion`` as a precondition: when another writer changed the object in between,
    the API server answers 409 and the patch is recomputed on a fresh read.

    Args:
        k8s: The client.
        manifest: The wanted InferenceService.
        max_conflicts: Bound on 409 retries.

    Returns:
        What was done.

    Raises:
        KubernetesError: When the object is being deleted.
        ConcurrencyError: When conflicts persist.
    """
    metadata = manifest["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    for _ in range(max(1, max_conflicts)):
        live = get_inference_service(k8s, namespace, name)
        result = _create(k8s, manifest) if live is None else _patch(k8s, live, manifest)
        if result is not None:
            return result
    raise ConcurrencyError(
        f"InferenceService {namespace}/{name} kept changing while being patched ({max_conflicts} conflicts): another"
        " writer is updating it; stop it or re-run later"
    )


def _create(k8s: KubeClient, manifest: Mapping[str, Any]) -> ApplyResult | None:
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    created = kubernetes_call(
        f"create InferenceService {namespace}/{name}",
        "create",
        namespace,
        lambda: k8s.custom.create_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, dict(manifest),
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        ),
        tolerate=(409,),
    )  # fmt: skip
    if created is None:
        return None  # created by someone else meanwhile: patch it
    log.info("created InferenceService %s/%s", namespace, name)
    return ApplyResult(created, object_generation(created), created=True, changed=True, spec_changed=True,
                       previous=None)  # fmt: skip


def _patch(k8s: KubeClient, live: dict[str, Any], manifest: Mapping[str, Any]) -> ApplyResult | None:
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        raise KubernetesError(
            f"InferenceService {namespace}/{name} is being deleted: wait until it is gone (kubectl get isvc -n"
            f" {namespace} {name}), then deploy again"
        )
    patch = inference_service_patch(live, manifest)
    live_generation = object_generation(live)
    if not patch:
        log.info("InferenceService %s/%s already matches the manifest", namespace, name)
        return ApplyResult(live, live_generation, created=False, changed=False, spec_changed=False, previous=live)
    patched = patch_live_object(k8s, live, patch, f"patch InferenceService {namespace}/{name}")
    if patched is None:
        log.info("InferenceService %s/%s changed while patching it (409): re-reading", namespace, name)
        return None
    generation = object_generation(patched, live_generation)
    log.info(
        "patched InferenceService %s/%s (%s)", namespace, name,
        f"generation {live_generation} -> {generation}" if generation != live_generation else "metadata only",
    )  # fmt: skip
    spec_changed = generation != live_generation or "spec" in patch
    return ApplyResult(patched, generation, created=False, changed=True, spec_changed=spec_changed, previous=live)


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
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
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
            KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, _request_timeout=REQUEST_TIMEOUT_SECONDS
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
