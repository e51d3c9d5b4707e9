"""Raw requests to the Model Registry for the installation checks: what answers, with which status and body.

The checks need what the registry client hides: the status and body of a 404 (another server, or a registry that
only serves the older ``v1alpha3`` API), a text 403 (Istio) and the answers to deliberately invalid writes. The
requests go through the connection's own generated client (the same session, token, TLS settings and timeout as
every other call of this package); answers with a status are returned, network failures are returned as the
exception. Transient failures (5xx, 429, timeouts, reset connections) are retried with the connection's policy; a
refused connection or an unknown host is not (nothing will answer on the next attempt either).
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, call_with_backoff, is_transient_registry_error

API_BASE = "/api/model_registry/v1"
ALPHA_BASE = "/api/model_registry/v1alpha3"
MAX_BODY_CHARS = 2000


@dataclass(frozen=True)
class Answer:
    """What the server said (or why nothing did).

    Attributes:
        status: The HTTP status, or None when no HTTP answer came.
        body: The body as text (at most :data:`MAX_BODY_CHARS` characters).
        content_type: The ``Content-Type`` header.
        error: The network or TLS failure when there was no HTTP answer.
    """

    status: int | None
    body: str = ""
    content_type: str = ""
    error: BaseException | None = None

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def registry_error(self) -> bool:
        """Whether the body is the registry's own error object ``{"code": ..., "message": ...}``."""
        data = self.json
        return isinstance(data, dict) and "message" in data and "code" in data

    @property
    def message(self) -> str:
        """The server's message: the registry error's ``message``, else the body's first line."""
        data = self.json
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
        return self.body.strip().splitlines()[0][:200] if self.body.strip() else ""


class _RetryableAnswer(Exception):
    """An answer worth asking again (5xx, 429), carried through the backoff loop."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"HTTP {answer.status}")
        self.answer = answer
        self.status = answer.status


def refused(exc: BaseException) -> bool:
    """Whether nothing listens there (connection refused) or the host name is unknown.

    Args:
        exc: A network failure.

    Returns:
        True when retrying cannot help.
    """
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and all(cause is not c for c in seen):
        seen.append(cause)
        code = getattr(cause, "errno", None)
        if isinstance(cause, ConnectionRefusedError) or code in (errno.ECONNREFUSED, socket.EAI_NONAME):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, _RetryableAnswer):
        return True
    return is_transient_registry_error(exc) and not refused(exc)


async def _send(
    conn: RegistryConnection, method: str, path: str, query: Sequence[tuple[str, str]], body: Any
) -> Answer:
    api_client = conn.api.api_client
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    verb, url, header_params, payload, post = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["Bearer"],
    )
    response = await api_client.call_api(verb, url, header_params=header_params, body=payload, post_params=post)
    text = (await response.read()).decode("utf-8", "replace")
    return Answer(response.status, text[:MAX_BODY_CHARS], str(response.getheader("content-type", "") or ""))


def exchange(
    conn: RegistryConnection,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Any = None,
) -> Answer:
    """One request to the registry, retried while it fails transiently; the answer whatever its status.

    Args:
        conn: A connection (``connect_model_registry(..., probe=False)``).
        method: ``GET``, ``POST`` or ``PATCH``.
        path: The path from the server's root, e.g. ``/api/model_registry/v1/registered_models``.
        query: Query parameters.
        body: A JSON body.

    Returns:
        The answer; ``status`` None and ``error`` set when no HTTP answer came.
    """
    policy = conn.policy
    pairs = sorted((query or {}).items())

    def once() -> Answer:
        answer = conn.run(_send(conn, method, path, pairs, body))
        if answer.status == 429 or (answer.status or 0) >= 500:
            raise _RetryableAnswer(answer)
        return answer

    try:
        answer, _ = call_with_backoff(
            once,
            max_attempts=policy.max_attempts,
            base_delay=policy.base_delay,
            max_delay=policy.max_delay,
            is_transient=_transient,
            describe=lambda exc: str(exc) or type(exc).__name__,
        )
    except _RetryableAnswer as exc:
        return exc.answer
    except Exception as exc:
        return Answer(None, error=exc)
    return answer
