"""The Kubernetes checks: the API server answers, KServe's CRD is installed, RBAC allows deploying, the token Secret.

Credentials as for deploying (:func:`~kfp_model_lifecycle.deployment.kube.load_kubernetes_client`): a kubeconfig
when one is named, else the pod's service account, else ``~/.kube/config``. What each check reads:

* ``GET /version``: the API server answers and accepts the credentials;
* ``GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferenceservices.serving.kserve.io``: KServe's
  CRD, served and established. A pipeline's service account usually may not read CRDs (they are cluster-scoped):
  on 403 the API discovery document ``/apis/serving.kserve.io/v1beta1`` (readable by every authenticated user)
  answers instead;
* a SelfSubjectAccessReview per verb on ``inferenceservices`` in the namespace (what ``deploy_model`` needs), and
  ``get deployments.apps`` (RawDeployment readiness; optional);
* ``GET /api/v1/namespaces/{ns}/secrets/{name}``: the registry token Secret and its key (never its value). This
  needs ``get`` on that Secret: a 403 is a warning with the fix, not a failure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from kfp_model_lifecycle.deployment.conventions import (
    APPS_GROUP,
    DEPLOYMENTS,
    KSERVE_GROUP,
    KSERVE_PLURAL,
    KSERVE_VERSION,
    RBAC_FILE,
)
from kfp_model_lifecycle.deployment.kube import (
    KubeClient,
    check_kubernetes_permissions,
    kubernetes_call,
    request_timeout,
)
from kfp_model_lifecycle.doctor.checklist import Check, failed, passed, skipped
from kfp_model_lifecycle.errors import KubernetesAuthError, LifecycleError

API_SERVER = "Kubernetes API answers"
CRD = "KServe InferenceService CRD installed"
CRD_NAME = f"{KSERVE_PLURAL}.{KSERVE_GROUP}"
SECRET = "registry token Secret"  # noqa: S105 - a check's name
DEPLOY_VERBS = ("get", "create", "patch", "delete")
"""What deploy_model does to InferenceServices: read, create, patch (canary, promote, restore), delete (undeploy)."""
INSTALL_KSERVE_FIX = (
    "install KServe in this cluster (its CRDs come with it), or point the kubeconfig (--kubeconfig, KUBECONFIG) at"
    " a cluster that has it"
)


def split_fix(exc: BaseException) -> tuple[str, str]:
    """An error message of this package as (what happened, the fix).

    Args:
        exc: An error whose message may carry ``Fix: ...``.

    Returns:
        The two parts (the fix "" when the message has none).
    """
    text = str(exc)
    head, sep, fix = text.partition(" Fix: ")
    return (head.strip(), fix.strip()) if sep else (text.strip(), "")


def api_server_check(k8s: KubeClient, env: Mapping[str, str]) -> Check:
    """Whether the API server answers ``/version`` with these credentials.

    Args:
        k8s: The client.
        env: Environment (retry and timeout knobs).

    Returns:
        The check.
    """
    api = client.VersionApi(k8s.api_client)
    try:
        info = kubernetes_call(
            "read the API server's version",
            "get",
            k8s.namespace,
            lambda: api.get_code(_request_timeout=request_timeout(env)),
            resource="version",
            group="",
            env=env,
        )
    except LifecycleError as exc:
        detail, fix = split_fix(exc)
        return failed(API_SERVER, f"{k8s.host}: {detail}", fix or "check the kubeconfig's server and credentials")
    version = getattr(info, "git_version", "") or "?"
    return passed(API_SERVER, f"Kubernetes {version} at {k8s.host}")


def _crd_problem(crd: Mapping[str, Any]) -> str:
    """Why the CRD cannot serve v1beta1 InferenceServices ("" when it can)."""
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]
    served = [str(v.get("name")) for v in versions if v.get("served")]
    if KSERVE_VERSION not in served:
        return f"it does not serve {KSERVE_VERSION} (served: {', '.join(served) or 'none'})"
    conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}
    established = conditions.get("Established") or {}
    if established.get("status") != "True":
        return f"it is not Established yet ({established.get('message') or 'no Established condition'})"
    return ""


def _discovered(k8s: KubeClient, env: Mapping[str, str]) -> bool | None:
    """Whether API discovery lists InferenceServices (None when discovery cannot be read either)."""
    api = client.CustomObjectsApi(k8s.api_client)
    try:
        found = kubernetes_call(
            f"read the API discovery of {KSERVE_GROUP}/{KSERVE_VERSION}",
            "get",
            "",
            lambda: api.get_api_resources(KSERVE_GROUP, KSERVE_VERSION, _request_timeout=request_timeout(env)),
            tolerate=(404,),
            env=env,
        )
    except LifecycleError:
        return None
    return found is not None and any(r.name == KSERVE_PLURAL for r in found.resources or [])


def crd_check(k8s: KubeClient, env: Mapping[str, str]) -> Check:
    """Whether KServe's InferenceService CRD is installed (by API discovery when CRDs may not be read).

    Args:
        k8s: The client.
        env: Environment (retry and timeout knobs).

    Returns:
        The check.
    """
    api = client.ApiextensionsV1Api(k8s.api_client)
    try:
        response = kubernetes_call(
            f"read the CustomResourceDefinition {CRD_NAME}",
            "get",
            "",
            lambda: api.read_custom_resource_definition(
                CRD_NAME, _preload_content=False, _request_timeout=request_timeout(env)
            ),
            tolerate=(404,),
            resource="customresourcedefinitions",
            group="apiextensions.k8s.io",
            env=env,
        )
    except KubernetesAuthError:
        return _crd_by_discovery(k8s, env)
    except LifecycleError as exc:
        detail, fix = split_fix(exc)
        return failed(CRD, detail, fix or INSTALL_KSERVE_FIX)
    if response is None:
        return failed(CRD, f"no CustomResourceDefinition {CRD_NAME}: KServe is not installed", INSTALL_KSERVE_FIX)
    problem = _crd_problem(json.loads(response.data or b"{}"))
    if problem:
        return failed(CRD, f"{CRD_NAME} is installed, but {problem}", "upgrade or repair the KServe installation")
    return passed(CRD, f"{CRD_NAME} serves {KSERVE_VERSION} and is established")


def _crd_by_discovery(k8s: KubeClient, env: Mapping[str, str]) -> Check:
    found = _discovered(k8s, env)
    if found:
        return passed(
            CRD,
            f"{KSERVE_GROUP}/{KSERVE_VERSION} serves {KSERVE_PLURAL} (found by API discovery: this identity may not"
            " read CustomResourceDefinitions, which is normal for a namespace's service account)",
        )
    if found is None:
        return failed(
            CRD,
            "neither the CustomResourceDefinition nor the API discovery could be read (403)",
            "ask a cluster administrator whether KServe is installed (kubectl get crd " + CRD_NAME + ")",
        )
    return failed(CRD, f"the API server does not serve {KSERVE_GROUP}/{KSERVE_VERSION}", INSTALL_KSERVE_FIX)


def permission_name(verb: str, namespace: str, resource: str = KSERVE_PLURAL, group: str = KSERVE_GROUP) -> str:
    """The name of a permission check, e.g. ``may patch inferenceservices.serving.kserve.io in kubeflow-user``.

    Args:
        verb: The verb.
        namespace: The namespace.
        resource: The resource.
        group: Its API group.

    Returns:
        The name.
    """
    return f"may {verb} {resource}.{group} in {namespace}"


def permission_checks(k8s: KubeClient, namespace: str, verbs: Sequence[str]) -> list[Check]:
    """One check per verb on InferenceServices (SelfSubjectAccessReview), and ``get deployments.apps`` (optional).

    Args:
        k8s: The client.
        namespace: The namespace deploy_model deploys to.
        verbs: The verbs required on InferenceServices.

    Returns:
        The checks.
    """
    wanted = [(KSERVE_GROUP, KSERVE_PLURAL, verb) for verb in verbs] + [(APPS_GROUP, DEPLOYMENTS, "get")]
    denied = check_kubernetes_permissions(k8s, namespace, wanted)
    checks = []
    for group, resource, verb in wanted:
        required = resource == KSERVE_PLURAL
        name = permission_name(verb, namespace, resource, group)
        if denied is None:
            checks.append(
                failed(
                    name,
                    "the API server did not answer the SelfSubjectAccessReview",
                    "check that this identity may create selfsubjectaccessreviews.authorization.k8s.io (every"
                    " authenticated user may, through system:basic-user)",
                    required=required,
                )
            )
        elif (group, resource, verb) in denied:
            why = "deploy_model needs it" if required else "RawDeployment readiness reads the predictor Deployment"
            detail = f"denied by RBAC ({why}; identity: {k8s.source})"
            checks.append(failed(name, detail, _rbac_fix(namespace), required=required))
        else:
            checks.append(passed(name, "allowed (SelfSubjectAccessReview)", required=required))
    return checks


def _rbac_fix(namespace: str) -> str:
    return (
        f"apply the Role and RoleBinding in {RBAC_FILE} for the pipeline's service account (edit the RoleBinding's"
        f" subject, then `kubectl apply -n {namespace} -f rbac.yaml`); in a Kubeflow profile namespace"
        " default-editor has them through kubeflow-edit"
    )


def _secret_key_state(data: Mapping[str, Any], key: str) -> str:
    """The state of one key of a Secret's base64 ``data``: ok, missing, empty or invalid."""
    if key not in data:
        return "missing"
    try:
        value = base64.b64decode(str(data[key] or ""), validate=True)
    except (binascii.Error, ValueError):
        return "invalid"
    return "ok" if value.strip() else "empty"


def secret_check_name(namespace: str, name: str, key: str) -> str:
    """The name of the token Secret check.

    Args:
        namespace: The namespace.
        name: The Secret.
        key: Its key.

    Returns:
        e.g. ``registry token Secret kubeflow-user/model-registry-token has key 'token'``.
    """
    return f"{SECRET} {namespace}/{name} has key {key!r}"


def secret_check(k8s: KubeClient, namespace: str, name: str, key: str, env: Mapping[str, str]) -> Check:
    """Whether the registry token Secret exists in the namespace and has a non-empty ``key`` (its value unread).

    Args:
        k8s: The client.
        namespace: The namespace the pipeline runs in.
        name: The Secret (``token_secret_name``).
        key: Its key (``token_secret_key``).
        env: Environment (retry and timeout knobs).

    Returns:
        The check; a 403 makes it an optional (warning) check that says how to grant or check by hand.
    """
    title = secret_check_name(namespace, name, key)
    create = f"kubectl create secret generic {name} --from-literal={key}=<token> -n {namespace}"
    api = client.CoreV1Api(k8s.api_client)
    try:
        secret = kubernetes_call(
            f"read Secret {namespace}/{name}",
            "get",
            namespace,
            lambda: api.read_namespaced_secret(name, namespace, _request_timeout=request_timeout(env)),
            tolerate=(404,),
            resource="secrets",
            group="",
            env=env,
        )
    except KubernetesAuthError:
        return failed(
            title,
            f"could not read it: this identity ({k8s.source}) may not get secrets in {namespace} (403)",
            f"grant 'get' on secrets/{name} in {namespace} (a Role with resourceNames: [{name}]) to check it here,"
            f" or check by hand: kubectl get secret {name} -n {namespace} -o jsonpath='{{.data.{key}}}'",
            required=False,
        )
    except LifecycleError as exc:
        detail, fix = split_fix(exc)
        return failed(title, detail, fix or "check the Kubernetes API server")
    if secret is None:
        return failed(title, f"Secret {name} does not exist in namespace {namespace}", create)
    data = dict(secret.data or {})
    state = _secret_key_state(data, key)
    if state == "missing":
        keys = ", ".join(sorted(data)) or "none"
        return failed(
            title,
            f"Secret {name} has no key {key!r} (its keys: {keys})",
            f"add the key ({create} --dry-run=client -o yaml | kubectl apply -f -), or pass the key it uses"
            " (token_secret_key, --token-secret-key)",
        )
    if state != "ok":
        return failed(title, f"the value of key {key!r} is {state}", f"store the registry token there: {create}")
    return passed(title, f"Secret {name} has a non-empty {key!r} (value not read into any output)")


def not_checked(names: Sequence[str], why: str, fix: str) -> list[Check]:
    """Checks that could not run because the Kubernetes API could not be used.

    Args:
        names: The checks' names.
        why: Why.
        fix: What to do.

    Returns:
        Skipped checks.
    """
    return [skipped(name, why, fix) for name in names]
