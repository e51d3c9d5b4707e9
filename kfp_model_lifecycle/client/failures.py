"""What a failed registry call means: transient or not, a short detail, and one exception that names the fix."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Iterable

import aiohttp

from kfp_model_lifecycle.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryRequestError,
    RegistryUnavailableError,
)

MAX_DETAIL_CHARS = 500
HTTPS_ON_HTTP_MARKERS = ("HTTP request to an HTTPS server", "plain HTTP request was sent to HTTPS")
HTTP_ON_HTTPS_MARKERS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer")
EXAMPLE_URL = "http://model-registry-service.kubeflow.svc.cluster.local:8080"
ISTIO_DENIAL_TEXT = "rbac: access denied"
GATEWAY_URL = "http://istio-ingressgateway.istio-system.svc.cluster.local"
ISTIO_DENIAL_FIX = (
    "This 403 comes from Istio in front of the registry (its AuthorizationPolicy), not from Kubernetes RBAC: KFP"
    " pipeline pods run without an Istio sidecar, and since Model Registry v0.3.11 Kubeflow admits such callers"
    " only through the ingress gateway with an Authorization header. Fix: set registry_url to the ingress gateway"
    f" (e.g. {GATEWAY_URL}, which routes /api/model_registry/ to the registry) and send the pod's service-account"
    " token (set the environment variable KML_REGISTRY_SEND_SA_TOKEN=true in the pod for an http gateway address,"
    " or pass token_secret_name); on OpenShift AI / ODH use the registry's kube-rbac-proxy port instead"
    " (https://<registry>.<namespace>.svc:8443) with a token."
)


REDACTED = "***"
MIN_SECRET_CHARS = 4
"""Configured secrets shorter than this are not searched for (they would match ordinary words)."""
# What a server (or a proxy) that echoes the request may send back: the Authorization header, a bearer token,
# token-like query or JSON fields.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,;}\]]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/=]+"),
    re.compile(r"(?i)(\b(?:access_?token|id_?token|token|api_?key|password)\b[\"']?\s*[:=]\s*[\"']?)[^\"'\s,;&}\]]+"),
)


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with its credentials replaced by ``***``.

    Replaced: the value of an ``Authorization`` header, a ``Bearer`` token, token-like fields (``token=``,
    ``"access_token": ...``, ``password``, ``api_key``), and every configured secret wherever it appears.

    Args:
        text: A message, e.g. a server's error body that echoes the request.
        secrets: The secrets in use (the registry token...); empty and very short ones are ignored.

    Returns:
        The text without them.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and status > 0 else None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and not any(cause is c for c in chain):
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def is_transient_registry_error(exc: BaseException) -> bool:
    """Whether a failed registry call is worth retrying.

    Transient: connection refused/reset/closed, DNS failures, timeouts, HTTP 5xx and 429. Not transient: TLS
    certificate or protocol errors (retrying cannot fix a wrong CA or scheme) and all other HTTP statuses.

    Args:
        exc: The exception raised by the call.

    Returns:
        True when the call should be retried.
    """
    status = _status(exc)
    if status is not None:
        return status == 429 or 500 <= status <= 599
    if any(isinstance(c, ssl.SSLError | ssl.CertificateError) for c in _chain(exc)):
        return False
    if isinstance(exc, aiohttp.ClientSSLError):
        return False
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return True
    return isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError)


def registry_error_detail(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """A short description of a failed call: HTTP status and the server's message, or the network error.

    Credentials in it (a server that echoes the request's ``Authorization: Bearer ...``, the configured token) are
    replaced by ``***`` (see :func:`redact_secrets`).

    Args:
        exc: The exception raised by the call.
        secrets: The secrets in use, to redact wherever they appear.

    Returns:
        e.g. ``HTTP 409: a model version named '1.0.0' already exists`` or
        ``ClientConnectorError: Cannot connect to host 127.0.0.1:1 ...``.
    """
    status = _status(exc)
    if status is not None:
        message = _server_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", "") or "")
        message = redact_secrets(message, secrets)
        return f"HTTP {status}: {message[:MAX_DETAIL_CHARS]}" if message else f"HTTP {status}"
    text = redact_secrets(str(exc).strip(), secrets)
    if not text and isinstance(exc, TimeoutError):
        text = "no answer in time (KML_REGISTRY_TIMEOUT_SECONDS)"
    return f"{type(exc).__name__}: {(text or redact_secrets(repr(exc), secrets))[:MAX_DETAIL_CHARS]}"


def _server_message(body: object) -> str:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()
    return str(decoded.get("message") or "") if isinstance(decoded, dict) else ""


def describe_registry_error(
    exc: BaseException, url: str, action: str, attempts: int = 1, *, secrets: Iterable[str | None] = ()
) -> RegistryError:
    """Turn a failed registry call into one exception whose message names the problem and the fix.

    The message never carries a credential: what the server echoed of the request (``Authorization``, ``Bearer``
    tokens) and the ``secrets`` given are replaced by ``***``.

    Args:
        exc: The exception raised by the call (after retries, when it was transient).
        url: The registry base URL (no credentials in it).
        action: What was attempted, e.g. ``"create model version '1.0.1' of 'iris'"``.
        attempts: How many attempts were made.
        secrets: The secrets in use (the registry token), redacted wherever they appear.

    Returns:
        :class:`RegistryAuthError` (401/403), :class:`RegistryRequestError` (400/422: bad input),
        :class:`RegistryUnavailableError` (unreachable, wrong scheme, TLS, or transient errors that did not go
        away) or :class:`RegistryError` (anything else).
    """
    secrets = tuple(secrets)
    detail = registry_error_detail(exc, secrets)
    status = _status(exc)
    tried = f" (after {attempts} attempts)" if attempts > 1 else ""
    head = redact_secrets(f"Model Registry at {url}: could not {action}{tried}: {detail}.", secrets)
    for describe in (_auth_error, _request_error, _not_the_registry, _tls_error, _transient_error):
        error = describe(exc, head, detail, url, action)
        if error is not None:
            return error
    return RegistryError(head, status=status)


def _auth_error(exc: BaseException, head: str, detail: str, url: str, action: str) -> RegistryError | None:
    status = _status(exc)
    if status == 401:
        return RegistryAuthError(
            f"{head} The registry rejected the credentials (401 Unauthorized). Fix: provide a valid bearer token"
            " -- put it in a Kubernetes Secret and pass token_secret_name/token_secret_key to the pipeline entry"
            " point (it becomes the environment variable KML_REGISTRY_TOKEN), or run the pipeline with a service"
            " account the registry accepts (its token is sent automatically over https, and over an in-cluster"
            " http route such as the Istio ingress gateway with KML_REGISTRY_SEND_SA_TOKEN=true).",
            status=status,
        )
    if status == 403 and _is_istio_denial(exc):
        return RegistryAuthError(f"{head} {ISTIO_DENIAL_FIX}", status=status)
    if status == 403:
        return RegistryAuthError(
            f"{head} The token was accepted but lacks permission (403 Forbidden). Fix: grant the pipeline's"
            " service account access to this Model Registry -- behind kube-rbac-proxy (OpenShift AI / ODH, port"
            " 8443) it needs 'get' on the registry's Service (a Role with verbs [get] on services/<registry name>"
            " and a RoleBinding in the registry's namespace) -- or use a token from a Secret that has it.",
            status=status,
        )
    return None


def _is_istio_denial(exc: BaseException) -> bool:
    """Whether a 403 is Istio's AuthorizationPolicy (text body ``RBAC: access denied``), not the registry's."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    return isinstance(body, str) and body.strip().lower().startswith(ISTIO_DENIAL_TEXT)


def _request_error(exc: BaseException, head: str, detail: str, url: str, action: str) -> RegistryError | None:
    status = _status(exc)
    if status not in (400, 422):
        return None
    if any(marker in detail for marker in HTTPS_ON_HTTP_MARKERS):
        return RegistryUnavailableError(
            f"{head} The server speaks TLS on this port. Fix: use https:// in registry_url"
            f" ({url.replace('http://', 'https://', 1)}).",
            status=status,
        )
    return RegistryRequestError(
        f"{head} Fix the value named in the message (names, versions and properties you passed).", status=status
    )


def _not_the_registry(exc: BaseException, head: str, detail: str, url: str, action: str) -> RegistryError | None:
    if _status(exc) != 404 or not action.startswith("reach"):
        return None
    return RegistryUnavailableError(
        f"{head} Something answers at this address, but not the Model Registry REST API v1 under"
        " /api/model_registry/v1. Fix: point registry_url at the registry's REST service (scheme, host and"
        f" port only, e.g. {EXAMPLE_URL}).",
        status=404,
    )


def _tls_error(exc: BaseException, head: str, detail: str, url: str, action: str) -> RegistryError | None:
    chain = _chain(exc)
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in chain) or "CERTIFICATE_VERIFY_FAILED" in detail:
        return RegistryUnavailableError(
            f"{head} The server's TLS certificate could not be verified. Fix: set ca_bundle_path to a PEM file with"
            " the CA that signed it (e.g. a ConfigMap mounted into the pod), or -- only for testing --"
            " verify_tls=False."
        )
    if any(marker in detail for marker in HTTP_ON_HTTPS_MARKERS):
        return RegistryUnavailableError(
            f"{head} The server does not speak TLS on this port. Fix: use http:// in registry_url"
            f" ({url.replace('https://', 'http://', 1)}), or the registry's TLS port."
        )
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return RegistryUnavailableError(f"{head} TLS handshake failed. Fix: check the scheme, port and ca_bundle_path.")
    return None


def _transient_error(exc: BaseException, head: str, detail: str, url: str, action: str) -> RegistryError | None:
    if not is_transient_registry_error(exc):
        return None
    status = _status(exc)
    if status is not None:
        return RegistryUnavailableError(
            f"{head} The registry kept failing with a temporary error. Fix: check the registry's health"
            " (its pods and database), then re-run; KML_REGISTRY_MAX_ATTEMPTS raises the number of attempts.",
            status=status,
        )
    port = url.rsplit(":", 1)[-1]
    scheme_hint = ""
    if url.startswith("http://") and port in ("443", "8443"):
        scheme_hint = f" Port {port} is usually TLS: try {url.replace('http://', 'https://')}."
    return RegistryUnavailableError(
        f"{head} The registry is unreachable. Fix: check registry_url (host and port: the Kubeflow Model"
        " Registry REST service listens on 8080 for http and 8443 for https, e.g."
        f" {EXAMPLE_URL}), that the registry is running, and"
        f" that network policies let this pod reach it.{scheme_hint}"
    )
