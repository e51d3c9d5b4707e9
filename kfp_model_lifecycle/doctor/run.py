"""``kml doctor`` and ``verify_installation``: every check in order, as one :class:`Checklist`.

::

    from kfp_model_lifecycle.doctor import check_installation

    checklist = check_installation(registry_url="http://127.0.0.1:8080", kubeconfig_path="kubeconfig")
    for line in checklist.text_lines():
        print(line)
    checklist.require_ok()  # raises InstallationCheckError naming every failed check and its fix
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry, parse_registry_url
from kfp_model_lifecycle.client.settings import TOKEN_ENV, resolve_registry_token
from kfp_model_lifecycle.deployment.kube import KubeClient, load_kubernetes_client
from kfp_model_lifecycle.doctor.checklist import Check, Checklist, failed, passed, skipped
from kfp_model_lifecycle.doctor.kubernetes_checks import (
    API_SERVER,
    CRD,
    DEPLOY_VERBS,
    api_server_check,
    crd_check,
    not_checked,
    permission_checks,
    permission_name,
    secret_check,
    secret_check_name,
    split_fix,
)
from kfp_model_lifecycle.doctor.registry_checks import AUTH, REACHABLE, V1_API, WRITES, registry_checks, token_text
from kfp_model_lifecycle.errors import KubernetesError, LifecycleError

SETTINGS = "registry address and token"
KUBERNETES = "Kubernetes credentials"
DEFAULT_NAMESPACE = "default"
NO_KUBERNETES_FIX = (
    "name a kubeconfig (--kubeconfig, KUBECONFIG; `kml cluster up` writes one for the local stand-in), run inside"
    " the cluster, or leave the Kubernetes checks out (--no-kubernetes, check_kubernetes=False) when only the"
    " registry is used"
)


@dataclass(frozen=True)
class DoctorSettings:
    """What to check and how to connect.

    Attributes:
        registry_url: Registry base URL ("" reads ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle for https.
        write_probe: Check that writes get through (a dry probe that writes nothing).
        kubernetes: Run the Kubernetes checks.
        kubeconfig_path: Kubeconfig ("" for ``KUBECONFIG``, then in-cluster, then ``~/.kube/config``).
        kube_context: Kubeconfig context ("" for the current one).
        namespace: Namespace of the RBAC and Secret checks ("" for the pod's / the context's, else ``default``).
        token_secret_name: The registry token Secret to check ("" checks none).
        token_secret_key: Its key.
        verbs: Verbs required on InferenceServices.
        env: Environment (default ``os.environ``).
    """

    registry_url: str = ""
    verify_tls: bool = True
    ca_bundle_path: str = ""
    write_probe: bool = True
    kubernetes: bool = True
    kubeconfig_path: str = ""
    kube_context: str = ""
    namespace: str = ""
    token_secret_name: str = ""
    token_secret_key: str = "token"  # noqa: S105 - the key's name
    verbs: Sequence[str] = DEPLOY_VERBS
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def _registry_connection(settings: DoctorSettings) -> tuple[RegistryConnection | None, Check, list[str]]:
    """The connection (not probed), the settings check, and the token to keep out of messages."""
    env = settings.env
    try:
        conn = connect_model_registry(
            settings.registry_url,
            verify_tls=settings.verify_tls,
            ca_bundle_path=settings.ca_bundle_path,
            env=env,
            probe=False,
        )
        token, _ = resolve_registry_token(conn.address.scheme, env)
    except (LifecycleError, ValueError, OSError) as exc:
        detail, fix = split_fix(exc)
        return None, failed(SETTINGS, detail, fix or "pass --registry-url (or set KML_REGISTRY_URL)"), []
    secrets = [s for s in (token, env.get(TOKEN_ENV)) if s]
    return conn, passed(SETTINGS, f"{conn.url} ({token_text(conn.token_source)})"), secrets


def check_registry(settings: DoctorSettings) -> tuple[list[Check], str]:
    """The registry's checks.

    Args:
        settings: What to check.

    Returns:
        The checks and the registry's URL ("" when it could not be parsed).
    """
    conn, settings_check, secrets = _registry_connection(settings)
    if conn is None:
        why = "not checked: no usable registry address or token"
        rest = [skipped(n, why, "fix the registry address and token first") for n in (REACHABLE, AUTH, V1_API)]
        rest.append(skipped(WRITES, why, required=settings.write_probe))
        return [settings_check, *rest], ""
    with conn:
        return [settings_check, *registry_checks(conn, write_probe=settings.write_probe, secrets=secrets)], conn.url


@contextlib.contextmanager
def _kubernetes(settings: DoctorSettings) -> Iterator[tuple[KubeClient | None, Check]]:
    try:
        k8s = load_kubernetes_client(settings.kubeconfig_path, settings.kube_context, settings.env)
    except KubernetesError as exc:
        detail, fix = split_fix(exc)
        yield None, failed(KUBERNETES, detail, fix or NO_KUBERNETES_FIX)
        return
    try:
        yield k8s, passed(KUBERNETES, k8s.source)
    finally:
        k8s.close()


def _namespace(settings: DoctorSettings, k8s: KubeClient) -> str:
    return (
        settings.namespace.strip()
        or str(settings.env.get("POD_NAMESPACE") or "").strip()
        or k8s.namespace
        or DEFAULT_NAMESPACE
    )


def _later_names(settings: DoctorSettings, namespace: str) -> list[str]:
    namespace = namespace or "<namespace>"
    names = [CRD] + [permission_name(verb, namespace) for verb in settings.verbs]
    if settings.token_secret_name:
        names.append(secret_check_name(namespace, settings.token_secret_name, settings.token_secret_key))
    return names


def check_kubernetes(settings: DoctorSettings) -> tuple[list[Check], str, str]:
    """The Kubernetes checks.

    Args:
        settings: What to check.

    Returns:
        The checks, the namespace checked and where the credentials came from.
    """
    with _kubernetes(settings) as (k8s, credentials):
        if k8s is None:
            rest = not_checked(_later_names(settings, settings.namespace), "not checked: no Kubernetes credentials",
                               NO_KUBERNETES_FIX)  # fmt: skip
            return [credentials, skipped(API_SERVER, "not checked", NO_KUBERNETES_FIX), *rest], settings.namespace, ""
        namespace = _namespace(settings, k8s)
        server = api_server_check(k8s, settings.env)
        if not server.ok:
            rest = not_checked(_later_names(settings, namespace), "not checked: the API server did not answer",
                               "fix the API server check first")  # fmt: skip
            return [credentials, server, *rest], namespace, k8s.source
        checks = [credentials, server, crd_check(k8s, settings.env)]
        checks += permission_checks(k8s, namespace, settings.verbs)
        if settings.token_secret_name:
            checks.append(
                secret_check(k8s, namespace, settings.token_secret_name, settings.token_secret_key, settings.env)
            )
        return checks, namespace, k8s.source


def check_installation(settings: DoctorSettings | None = None, /, **options: object) -> Checklist:
    """Run every check: the registry's, then (unless turned off) the cluster's.

    Args:
        settings: What to check (or pass its fields as keyword arguments).
        **options: :class:`DoctorSettings` fields, when ``settings`` is not given.

    Returns:
        The checklist; ``ok`` is whether every required check passed.
    """
    settings = settings or DoctorSettings(**options)  # type: ignore[arg-type]
    checks, url = check_registry(settings)
    namespace = source = ""
    if settings.kubernetes:
        kube, namespace, source = check_kubernetes(settings)
        checks += kube
    if not url:
        url = _shown_url(settings)
    return Checklist(checks, registry_url=url, namespace=namespace, kubernetes_source=source)


def _shown_url(settings: DoctorSettings) -> str:
    raw = settings.registry_url or str(settings.env.get("KML_REGISTRY_URL") or "")
    try:
        return parse_registry_url(raw).url
    except ValueError:
        return ""
