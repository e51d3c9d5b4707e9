"""ASGI middleware of the embedded registry: who may call it, how big a body may be, one log line per request.

:class:`AccessPolicy` says what a request must carry:

* ``token``: ``Authorization: Bearer <token>`` (the scheme is case-insensitive, RFC 9110) or 401, like the
  kube-rbac-proxy in front of the registry on Open Data Hub / OpenShift AI (see :func:`bearer_token`).
* ``istio_guard``: the Kubeflow Istio set-up (verified in kubeflow/manifests
  ``applications/model-registry/upstream/options/istio``: an ALLOW ``AuthorizationPolicy`` on the registry pod
  and a VirtualService routing ``/api/model_registry/`` from ``kubeflow-gateway``). KFP pipeline pods run without
  an Istio sidecar, so they have no mesh identity and the policy denies their direct calls to the Service: the
  service port answers every request ``403`` with the ``text/plain`` body ``RBAC: access denied`` (Envoy's RBAC
  filter). The *gateway* port stands for the ingress gateway: it serves the API to requests carrying
  ``Authorization: Bearer <token>`` (403 ``RBAC: access denied`` without one; 401 ``Jwt verification fails``
  when a token is configured and another one is sent, as Istio's JWT check answers).
* ``max_body_bytes``: a request body over the limit answers 413 before it is read.

The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kfp_model_lifecycle.local.registry.arguments import DEFAULT_MAX_BODY_BYTES
from kfp_model_lifecycle.local.registry.errors import error_response, payload_too_large

logger = logging.getLogger("kfp_model_lifecycle.local.registry")

__all__ = ["DEFAULT_MAX_BODY_BYTES", "JWT_FAILED", "RBAC_DENIED", "AccessPolicy", "AuthAndLog", "bearer_token"]

RBAC_DENIED = "RBAC: access denied"
"""The body of Envoy's RBAC 403, as Istio answers a request its AuthorizationPolicy denies."""
JWT_FAILED = "Jwt verification fails"
"""The body of Istio's 401 for a bearer token that does not verify."""
_INVALID_TOKEN = 'Bearer realm="model-registry", error="invalid_token"'  # noqa: S105 - a header value, not a secret


@dataclass(frozen=True)
class AccessPolicy:
    """What a request needs to reach the API.

    Attributes:
        token: The bearer token requests must carry (at the gateway, with ``istio_guard``); None: any or none.
        istio_guard: Deny every request on the service port like Istio denies a caller without a sidecar, and
            serve the API on ``gateway_port`` to requests with a bearer token.
        gateway_port: The local port of the gateway (with ``istio_guard``).
        max_body_bytes: The largest request body accepted (413 above it).
    """

    token: str | None = None
    istio_guard: bool = False
    gateway_port: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def bearer_token(scope: Scope) -> str | None:
    """The token of the ``Authorization: Bearer <token>`` header, or None.

    Read like Kubernetes' bearer-token authenticator (behind kube-rbac-proxy) reads it: the value trimmed, the
    scheme case-insensitive (``bearer`` works), exactly one space before the token.
    """
    raw = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    if raw is None:
        return None
    parts = raw.decode("latin-1").strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def _token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _text(status: int, body: str, **headers: str) -> Response:
    return Response(body, status_code=status, media_type="text/plain", headers=headers or None)


def _refusal(policy: AccessPolicy, scope: Scope) -> Response | None:
    """The answer to a request the policy refuses, or None to let it through."""
    token = bearer_token(scope)
    if policy.istio_guard:
        if scope.get("server", (None, None))[1] != policy.gateway_port:
            return _text(403, RBAC_DENIED)  # no mesh identity: the AuthorizationPolicy matches no rule
        if token is None:
            return _text(403, RBAC_DENIED)  # the gateway requires an authenticated request principal
        if policy.token is not None and not _token_matches(token, policy.token):
            return _text(
                401, JWT_FAILED, **{"www-authenticate": 'Bearer realm="model-registry", error="invalid_token"'}
            )
        return None
    if policy.token is not None and not _token_matches(token, policy.token):
        return error_response(401, "missing or invalid bearer token: send 'Authorization: Bearer <token>'")
    return None


def _declared_length(scope: Scope) -> int | None:
    raw = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises 413 once more than ``limit`` body bytes arrived (a chunked body has no length)."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise payload_too_large(limit)
        return message

    return receive_limited


class AuthAndLog:
    """ASGI middleware: :class:`AccessPolicy` checks, the body limit and one debug log line per request.

    Args:
        app: The application.
        policy: What requests need.
    """

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what the policy refuses; otherwise pass the request on and log its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        refusal = _refusal(self.policy, scope)
        length = _declared_length(scope)
        if refusal is None and length is not None and length > self.policy.max_body_bytes:
            exc = payload_too_large(self.policy.max_body_bytes)
            refusal = error_response(exc.status, exc.message)
        if refusal is not None:
            await refusal(scope, receive, send)
            _log(scope, refusal.status_code, start)
            return
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, _limited(receive, self.policy.max_body_bytes), send_and_record)
        finally:
            _log(scope, status, start)


def _log(scope: Scope, status: int, start: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.perf_counter() - start) * 1000
        logger.debug("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed_ms)
