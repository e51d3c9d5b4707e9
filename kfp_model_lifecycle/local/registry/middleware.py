"""ASGI middleware of the embedded registry: bearer-token authentication and one debug log line per request."""

from __future__ import annotations

import hmac
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kfp_model_lifecycle.local.registry.errors import error_response

logger = logging.getLogger("kfp_model_lifecycle.local.registry")


class AuthAndLog:
    """ASGI middleware: bearer-token check (when a token is configured) and one debug log line per request.

    The token is compared in constant time and never logged.

    Args:
        app: The application.
        token: The bearer token every request must carry; None serves without authentication.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 without a valid token; otherwise pass the request on and log its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        if self._expected is not None:
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(given, self._expected):
                response = error_response(401, "missing or invalid bearer token: send 'Authorization: Bearer <token>'")
                await response(scope, receive, send)
                _log(scope, 401, start)
                return

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            _log(scope, status, start)


def _log(scope: Scope, status: int, start: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.perf_counter() - start) * 1000
        logger.debug("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed_ms)
