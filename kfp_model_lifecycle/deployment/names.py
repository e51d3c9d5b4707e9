"""Kubernetes names for a deployment: the InferenceService name, the namespace, the registry's service.

An InferenceService name must be a DNS-1035 label short enough that the hostnames KServe and Knative derive from it
(``<name>-predictor-<namespace>``, ``<name>-predictor-00001-private``) stay within one DNS label of 63 characters.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import urlsplit

from kfp_model_lifecycle.deployment.conventions import DNS_LABEL_MAX, HOST_SUFFIX, REVISION_SERVICE_SUFFIX
from kfp_model_lifecycle.deployment.validation import shown
from kfp_model_lifecycle.errors import InvalidInputError

_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SHORTEST_NAME = 8


def inference_service_name_limit(namespace: str = "") -> int:
    """The longest InferenceService name whose derived hostnames stay within one DNS label (63 characters).

    KServe's default ingress host is ``<name>-predictor-<namespace>.<domain>`` and Knative names the first
    revision's private service ``<name>-predictor-00001-private``; both must fit in 63 characters.

    Args:
        namespace: The target namespace ("" when unknown: only the revision limit applies).

    Returns:
        The maximum name length.
    """
    by_host = DNS_LABEL_MAX - len(HOST_SUFFIX) - len(namespace or "")
    by_revision = DNS_LABEL_MAX - len(REVISION_SERVICE_SUFFIX)
    return min(by_host, by_revision)


def check_namespace_name(namespace: str) -> str:
    """Validate a Kubernetes namespace name (a DNS-1123 label).

    Args:
        namespace: The namespace.

    Returns:
        The namespace, stripped.

    Raises:
        InvalidInputError: When it is not a valid namespace name.
    """
    text = (namespace or "").strip()
    if not _DNS_1123_LABEL.fullmatch(text) or len(text) > DNS_LABEL_MAX:
        raise InvalidInputError(
            f"namespace {shown(namespace)} is not a valid Kubernetes namespace name: use at most 63 lower-case letters,"
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
        InvalidInputError: When the namespace leaves too little room for a name.
    """
    limit = inference_service_name_limit(namespace)
    if limit < _SHORTEST_NAME:
        raise InvalidInputError(
            f"namespace {shown(namespace)} is too long ({len(namespace)} characters): KServe's host name"
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
        InvalidInputError: When it is not a DNS-1035 label or too long for the derived hostnames; the message
            suggests a valid name.
    """
    text = (name or "").strip()
    limit = inference_service_name_limit(namespace)
    if _DNS_1035_LABEL.fullmatch(text) and len(text) <= limit:
        return text
    suggestion = sanitize_inference_service_name(text, namespace)
    if not _DNS_1035_LABEL.fullmatch(text):
        why = "must consist of lower-case letters, digits and '-', start with a letter and end with a letter or digit"
    else:
        where = f"'<name>{HOST_SUFFIX}{namespace}'" if namespace else f"'<name>{REVISION_SERVICE_SUFFIX}'"
        why = (
            f"is {len(text)} characters long: at most {limit} fit, because KServe derives the host name {where},"
            " which must be one DNS label of at most 63 characters"
        )
    raise InvalidInputError(f"inference_service_name {shown(text)} {why}. Fix: use e.g. {suggestion!r}")


def inference_service_name_for(given_name: str, model_name: str, namespace: str) -> str:
    """The InferenceService to act on: the given name (validated), else the one derived from the model name.

    Args:
        given_name: An explicit name ("" for none).
        model_name: The registered model's name.
        namespace: The target namespace.

    Returns:
        The name.

    Raises:
        InvalidInputError: See :func:`check_inference_service_name` and :func:`sanitize_inference_service_name`.
    """
    if given_name:
        return check_inference_service_name(given_name, namespace)
    return sanitize_inference_service_name(model_name, namespace)


def registry_service_from_url(registry_url: str) -> tuple[str, str]:
    """The registry's Kubernetes service name and namespace, read from an in-cluster URL.

    Args:
        registry_url: e.g. ``http://model-registry-service.kubeflow.svc.cluster.local:8080``.

    Returns:
        ``(service name, namespace)``, e.g. ``("model-registry-service", "kubeflow")``; ``("", "")`` when the host
        is not a service DNS name (an IP address, localhost, an external host).
    """
    host = (urlsplit(registry_url or "").hostname or "").lower()
    if not host or host == "localhost" or _is_ip_address(host):
        return "", ""
    parts = host.split(".")
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[0], parts[1]
    return "", ""


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
