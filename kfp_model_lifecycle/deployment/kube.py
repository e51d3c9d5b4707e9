"""The plain ``kubernetes`` client: loading credentials, one retried API call, clear errors, the RBAC pre-check.

Credentials come from a kubeconfig when one is named (``--kubeconfig``, ``KUBECONFIG``), else the pod's service
account, else ``~/.kube/config``. Transient API errors (connection problems, 5xx, 429) are retried with bounded
backoff (``KML_K8S_MAX_ATTEMPTS``, ``KML_K8S_BACKOFF_SECONDS``; each request bounded by ``KML_K8S_TIMEOUT_SECONDS``);
every other failure becomes one exception whose message names the problem and
the fix (a 403 names the missing RBAC permission and the Role that grants it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config

from kfp_model_lifecycle.client import call_with_backoff
from kfp_model_lifecycle.deployment.conventions import (
    APPS_GROUP,
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEPLOYMENTS,
    ENV_BACKOFF,
    ENV_MAX_ATTEMPTS,
    ENV_REQUEST_TIMEOUT,
    KSERVE_API_VERSION,
    KSERVE_GROUP,
    KSERVE_PLURAL,
    RBAC_FILE,
    RBAC_VERBS,
    REQUEST_TIMEOUT_SECONDS,
)
from kfp_model_lifecycle.errors import (
    ConcurrencyError,
    InvalidInputError,
    KubernetesAuthError,
    KubernetesError,
    KubernetesUnavailableError,
    NotFoundError,
)
from kfp_model_lifecycle.log import logger as log

SA_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class KubeClient:
    """A Kubernetes API client and where its credentials came from.

    Attributes:
        api_client: The ``kubernetes.client.ApiClient`` (its connection pool; see :meth:`close`).
        custom: ``CustomObjectsApi`` over it (InferenceServices are custom objects).
        source: Where the credentials came from (never the credentials), for messages.
        namespace: The kubeconfig context's namespace, or the service account's ("" when unknown).
        host: The API server's address.
        apps: ``AppsV1Api`` over it (the predictor Deployment of RawDeployment InferenceServices).
    """

    api_client: Any
    custom: Any
    source: str
    namespace: str = ""
    host: str = ""
    apps: Any = None

    def close(self) -> None:
        """Close the connection pool; harmless twice."""
        if self.api_client is not None:
            with contextlib.suppress(Exception):
                self.api_client.close()


def env_float(env: Mapping[str, str] | None, name: str, default: float, minimum: float) -> float:
    """A number from an environment knob such as ``KML_DEPLOY_POLL_SECONDS``.

    Args:
        env: The environment (None for ``os.environ``).
        name: The variable.
        default: The value when it is unset or not a number.
        minimum: The smallest value used.

    Returns:
        The number.
    """
    env = os.environ if env is None else env
    try:
        return max(minimum, float(env.get(name) or default))
    except ValueError:
        return default


def load_kubernetes_client(
    kubeconfig_path: str = "", context: str = "", env: Mapping[str, str] | None = None
) -> KubeClient:
    """A Kubernetes API client: a kubeconfig when one is named, else the pod's service account, else ~/.kube/config.

    Nothing is sent to the API server here.

    Args:
        kubeconfig_path: A kubeconfig file ("" for ``KUBECONFIG``, then in-cluster, then ``~/.kube/config``).
        context: The kubeconfig context ("" for its current context).
        env: Environment to read (default ``os.environ``).

    Returns:
        The client; close it with :meth:`KubeClient.close`.

    Raises:
        KubernetesError: When no configuration is found or it cannot be loaded (the message says what to set).
    """
    env = os.environ if env is None else env
    configuration = client.Configuration()
    in_cluster = bool((env.get("KUBERNETES_SERVICE_HOST") or "").strip()) and os.path.isfile(SA_TOKEN_FILE)
    path = _kubeconfig_file(kubeconfig_path, env, in_cluster)
    if path:
        source, namespace = _load_kubeconfig(path, context, configuration)
    elif in_cluster:
        source, namespace = _load_in_cluster(configuration)
    else:
        raise KubernetesError(
            "no Kubernetes credentials: inside a KFP pod the service account is used automatically; outside a"
            " cluster set KUBECONFIG (e.g. the file `kml cluster up` writes) or create ~/.kube/config"
        )
    api_client = client.ApiClient(configuration)
    return KubeClient(
        api_client, client.CustomObjectsApi(api_client), source, namespace, configuration.host,
        apps=client.AppsV1Api(api_client),
    )  # fmt: skip


def request_timeout(env: Mapping[str, str] | None = None) -> float:
    """The client-side timeout of one Kubernetes API request (``KML_K8S_TIMEOUT_SECONDS``, default 30).

    Args:
        env: The environment (default ``os.environ``).

    Returns:
        Seconds.
    """
    return env_float(env, ENV_REQUEST_TIMEOUT, REQUEST_TIMEOUT_SECONDS, 0.1)


def _kubeconfig_file(kubeconfig_path: str, env: Mapping[str, str], in_cluster: bool) -> str:
    path = (kubeconfig_path or "").strip()
    if not path:
        listed = [p for p in (env.get("KUBECONFIG") or "").split(os.pathsep) if p.strip()]
        path = listed[0].strip() if listed else ""
    if not path and not in_cluster and os.path.isfile(os.path.expanduser(DEFAULT_KUBECONFIG)):
        path = DEFAULT_KUBECONFIG
    return os.path.expanduser(path) if path else ""


def _load_kubeconfig(path: str, context: str, configuration: client.Configuration) -> tuple[str, str]:
    if not os.path.isfile(path):
        raise KubernetesError(
            f"the kubeconfig {path!r} does not exist: fix KUBECONFIG (or --kubeconfig), or unset it inside a pod"
            " to use the pod's service account"
        )
    try:
        config.load_kube_config(config_file=path, context=context or None, client_configuration=configuration)
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise KubernetesError(f"the kubeconfig {path!r} cannot be used: {exc}") from None
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "")
    source = f"kubeconfig {path}" + (f" (context {chosen.get('name')})" if chosen else "")
    return source, namespace


def _load_in_cluster(configuration: client.Configuration) -> tuple[str, str]:
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as exc:
        raise KubernetesError(f"the pod's service-account credentials cannot be used: {exc}") from None
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as handle:
            namespace = handle.read().strip()
    except OSError:
        namespace = ""
    return "the pod's service account (in-cluster)", namespace


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
    if isinstance(exc, urllib3.exceptions.HTTPError) and not isinstance(exc, urllib3.exceptions.SSLError):
        return True
    return isinstance(exc, ConnectionError | TimeoutError)


def kubernetes_error_detail(exc: BaseException) -> str:
    """A short description of a failed API call: the status and the API server's message.

    Args:
        exc: The exception (``kubernetes.client.exceptions.ApiException`` or a network error).

    Returns:
        e.g. ``HTTP 403 Forbidden: inferenceservices.serving.kserve.io "x" is forbidden: ...``.
    """
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or status <= 0:
        text = str(exc).strip()
        return f"{type(exc).__name__}: {(text or repr(exc))[:600]}"
    message = ""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            decoded = json.loads(body)
            message = str(decoded.get("message") or "") if isinstance(decoded, dict) else ""
        except ValueError:
            message = body.strip()
    reason = str(getattr(exc, "reason", "") or "")
    return f"HTTP {status} {reason}".strip() + (f": {message[:600]}" if message else "")


def describe_kubernetes_error(
    exc: BaseException, action: str, verb: str, namespace: str, resource: str = KSERVE_PLURAL, group: str = KSERVE_GROUP
) -> Exception:
    """Turn a failed API call into one exception whose message names the problem and the fix.

    Args:
        exc: The exception (after retries for transient ones).
        action: What was attempted, e.g. ``patch InferenceService kubeflow-user/iris``.
        verb: The RBAC verb of the call (``get``, ``create``, ``patch``, ``delete``).
        namespace: The namespace.
        resource: The resource (``inferenceservices``, ``inferenceservices/status`` or ``deployments``).
        group: Its API group (``serving.kserve.io`` or ``apps``).

    Returns:
        :class:`KubernetesAuthError` (401/403, naming the missing permission and the Role that grants it),
        :class:`NotFoundError` (KServe not installed), :class:`InvalidInputError` (the API server rejected the
        object), :class:`ConcurrencyError` (409), :class:`KubernetesUnavailableError` (unreachable or failing) or
        :class:`KubernetesError`.
    """
    detail = kubernetes_error_detail(exc)
    status = getattr(exc, "status", None)
    head = f"could not {action}: {detail}."
    if status == 403:
        return KubernetesAuthError(
            f"{head} The identity this step runs as lacks the RBAC permission '{verb}' on"
            f" '{resource}.{group}' in namespace '{namespace}'. Fix: apply the Role and RoleBinding"
            f" in {RBAC_FILE} to that namespace for the pipeline's service account (README of"
            f" deploy_model, section 'RBAC': edit the RoleBinding's subject, then `kubectl apply -n {namespace} -f"
            " rbac.yaml`); in a multi-user Kubeflow profile the default-editor service account already has it"
            " through kubeflow-edit",
            status=status,
        )
    if status == 401:
        return KubernetesAuthError(
            f"{head} The API server rejected the credentials. Fix: in a pod, check that the service account token"
            " is mounted (automountServiceAccountToken); outside, refresh the kubeconfig's credentials",
            status=status,
        )
    if status == 404 and "could not find the requested resource" in detail and group == KSERVE_GROUP:
        return NotFoundError(
            f"{head} The API server does not serve {KSERVE_API_VERSION} InferenceServices. Fix: install"
            " KServe in this cluster (or point KUBECONFIG at a cluster that has it)"
        )
    if status in (400, 422):
        return InvalidInputError(f"{head} Fix the input the message names (resources, labels, replicas...)")
    if status == 409:
        return ConcurrencyError(f"{head} Another writer kept changing the object. Fix: re-run the step")
    if is_transient_kubernetes_error(exc):
        return KubernetesUnavailableError(
            f"{head} The Kubernetes API server kept failing or was unreachable. Fix: check the cluster's health and"
            " network policies, then re-run; KML_K8S_MAX_ATTEMPTS raises the number of attempts",
            status=status if isinstance(status, int) else None,
        )
    return KubernetesError(head, status=status if isinstance(status, int) else None)


def kubernetes_call(
    action: str,
    verb: str,
    namespace: str,
    operation: Callable[[], Any],
    *,
    tolerate: tuple[int, ...] = (),
    resource: str = KSERVE_PLURAL,
    group: str = KSERVE_GROUP,
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
        group: Its API group, for 403 messages.
        env: Environment for ``KML_K8S_MAX_ATTEMPTS`` (default ``os.environ``).

    Returns:
        The call's result, or None for a tolerated status.

    Raises:
        Exception: The translation of the failure by :func:`describe_kubernetes_error` (``PermissionError``,
            ``LookupError``, ``ValueError``, ``ConnectionError`` or ``RuntimeError`` subclasses).
    """
    attempts = int(env_float(env, ENV_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, 1))
    backoff = env_float(env, ENV_BACKOFF, DEFAULT_BACKOFF_SECONDS, 0.0)
    try:
        result, _ = call_with_backoff(
            operation,
            max_attempts=attempts,
            base_delay=backoff,
            max_delay=16 * backoff,
            is_transient=is_transient_kubernetes_error,
            describe=kubernetes_error_detail,
        )
    except Exception as exc:
        if getattr(exc, "status", None) in tolerate:
            return None
        raise describe_kubernetes_error(exc, action, verb, namespace, resource, group) from None
    return result


Permission = tuple[str, str, str]
"""``(API group, resource, verb)``."""


def deploy_permissions(*, raw_deployment: bool, creating: bool) -> list[Permission]:
    """The RBAC permissions a deployment needs.

    :data:`RBAC_VERBS` on InferenceServices; ``delete`` to take back a failed first deployment; ``get`` on the
    predictor Deployment in RawDeployment mode.

    Args:
        raw_deployment: The InferenceService runs (or will run) in RawDeployment/Standard mode.
        creating: It does not exist yet (a failed first deployment is deleted again).

    Returns:
        The permissions.
    """
    needed = [(KSERVE_GROUP, KSERVE_PLURAL, verb) for verb in RBAC_VERBS]
    if creating:
        needed.append((KSERVE_GROUP, KSERVE_PLURAL, "delete"))
    if raw_deployment:
        needed.append((APPS_GROUP, DEPLOYMENTS, "get"))
    return needed


def check_kubernetes_permissions(
    k8s: KubeClient, namespace: str, permissions: Iterable[Permission | str]
) -> list[Permission] | None:
    """Ask the API server (SelfSubjectAccessReview) whether this identity has ``permissions`` in ``namespace``.

    Checking first means a missing permission fails the step before anything changed (for instance, allowed to
    create but not to patch back during a rollback).

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The target namespace.
        permissions: ``(group, resource, verb)`` tuples, or bare verbs on InferenceServices.

    Returns:
        The permissions that are denied (empty when all are allowed), or None when the check itself is not possible.
    """
    api = client.AuthorizationV1Api(k8s.api_client)
    denied: list[Permission] = []
    for item in permissions:
        group, resource, verb = (KSERVE_GROUP, KSERVE_PLURAL, item) if isinstance(item, str) else item
        body = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    group=group, resource=resource, verb=verb, namespace=namespace
                )
            )
        )
        try:
            review = api.create_self_subject_access_review(body, _request_timeout=request_timeout())
        except Exception as exc:
            log.info("could not check RBAC permissions in advance (%s); going ahead", kubernetes_error_detail(exc))
            return None
        if not bool(getattr(review.status, "allowed", False)):
            denied.append((group, resource, verb))
    return denied


def require_deploy_permissions(
    k8s: KubeClient, namespace: str, *, raw_deployment: bool = False, creating: bool = False
) -> None:
    """Fail before anything changes when RBAC denies a permission the deployment needs (:func:`deploy_permissions`).

    Args:
        k8s: From :func:`load_kubernetes_client`.
        namespace: The target namespace.
        raw_deployment: RawDeployment/Standard mode (the predictor Deployment is read).
        creating: The InferenceService does not exist yet.

    Raises:
        PermissionError: Naming the denied permissions and the Role to apply.
    """
    denied = check_kubernetes_permissions(
        k8s, namespace, deploy_permissions(raw_deployment=raw_deployment, creating=creating)
    )
    if denied:
        missing = "; ".join(f"{verb} {resource}.{group}" for group, resource, verb in denied)
        raise PermissionError(
            f"the identity this step runs as ({k8s.source}) may not {missing} in namespace '{namespace}', which"
            f" deploying needs. Fix: apply the Role and RoleBinding in {RBAC_FILE} to that namespace for the"
            " pipeline's service account (README of deploy_model, section 'RBAC'; `kubectl apply -n"
            f" {namespace} -f rbac.yaml` after editing the RoleBinding's subject). Nothing was changed."
        )
