"""What every deployment job opens and decides first, and the manifest output it writes last.

First the Kubernetes client, the registry connection and the target namespace; last the manifest YAML.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.deployment.kube import KubeClient, load_kubernetes_client
from kfp_model_lifecycle.deployment.manifest import render_manifest_yaml
from kfp_model_lifecycle.deployment.names import check_namespace_name
from kfp_model_lifecycle.errors import InvalidInputError, KubernetesError
from kfp_model_lifecycle.lifecycle import write_text_atomically
from kfp_model_lifecycle.lineage.context import RunContext, is_missing_value


@contextlib.contextmanager
def kubernetes_session(
    kubeconfig_path: str, kube_context: str, env: Mapping[str, str], *, required: bool = True
) -> Iterator[KubeClient | None]:
    """A Kubernetes client for the duration of a job, closed afterwards.

    Args:
        kubeconfig_path: Kubeconfig file ("" for ``KUBECONFIG``/in-cluster/``~/.kube/config``).
        kube_context: Kubeconfig context ("" for the current one).
        env: The environment.
        required: Whether a missing configuration is an error (a dry run does without a cluster).

    Yields:
        The client, or None when there is no configuration and it is not required.

    Raises:
        KubernetesError: When a required configuration is missing or unusable.
    """
    try:
        k8s = load_kubernetes_client(kubeconfig_path, kube_context, env)
    except KubernetesError:
        if required:
            raise
        k8s = None
    try:
        yield k8s
    finally:
        if k8s is not None:
            k8s.close()


@contextlib.contextmanager
def registry_session(
    conn: RegistryConnection | None,
    *,
    registry_url: str,
    verify_tls: bool,
    ca_bundle_path: str,
    env: Mapping[str, str],
) -> Iterator[RegistryConnection]:
    """The registry connection of a job: the caller's (left open), or a new one closed afterwards.

    Args:
        conn: An open connection to use, or None to connect.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        env: The environment.

    Yields:
        The connection.
    """
    if conn is not None:
        yield conn
        return
    own = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        yield own
    finally:
        own.close()


def given_text(value: Any) -> str:
    """An optional text input: "" for None, blanks and unsubstituted placeholders, else the text stripped.

    Args:
        value: The input as it reached the job.

    Returns:
        The text.
    """
    return "" if is_missing_value(value) else str(value).strip()


def resolve_deploy_namespace(namespace: str, context: RunContext, k8s: KubeClient | None) -> str:
    """The target namespace: the input, else the run's (``POD_NAMESPACE``/service account), else the kubeconfig's.

    Args:
        namespace: The ``namespace`` input.
        context: The run context (its ``namespace`` came from the input, ``POD_NAMESPACE`` or the SA file).
        k8s: The Kubernetes client (its kubeconfig context namespace), if loaded.

    Returns:
        The validated namespace.

    Raises:
        InvalidInputError: When none is known, or it is not a valid namespace name.
    """
    for candidate in (namespace, context.namespace, k8s.namespace if k8s is not None else None):
        if not is_missing_value(candidate):
            return check_namespace_name(str(candidate))
    raise InvalidInputError(
        "no target namespace: pass namespace, or run in a pod (deploy_model_with_context injects POD_NAMESPACE),"
        " or set a namespace in the kubeconfig context"
    )


def write_manifest_output(manifest: Mapping[str, Any], manifest_path: str) -> str:
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
