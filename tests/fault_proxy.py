"""A fault-injection HTTP proxy for tests: put it in front of the embedded registry or the cluster stand-in.

Every request through the proxy gets a call index (0, 1, 2, ... in arrival order) and is recorded; a scripted fault
can hit the request with a given index (optionally only among requests matching a method or path fragment):

- ``Fault.DROP_BEFORE``: the connection is closed before the request is forwarded (the server never sees it);
- ``Fault.DROP_AFTER``: the request is forwarded and answered, then the connection is closed without the answer
  (the write happened, the client does not know: the trap behind duplicate records);
- ``Fault.UNAVAILABLE``: answered ``503 Service Unavailable`` without forwarding;
- ``Fault.HOLD``: held past the client's timeout, then forwarded (the server does it late, after the client gave
  up and perhaps retried), and the answer dropped.

Usage::

    with FaultProxy(registry.url) as proxy:
        proxy.inject(7, Fault.DROP_AFTER)
        connect_model_registry(proxy.url) ...
        proxy.calls  # [Call(index, method, path, status, fault), ...]

Requests are forwarded one by one over fresh upstream connections (HTTP/1.1 with ``Content-Length`` bodies, which
is what the registry client, the ``kubernetes`` client and their servers use); answers go back with
``Content-Length``. Streaming answers (watches) are not supported.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
UNAVAILABLE_BODY = b'{"code": "Service Unavailable", "message": "injected by the fault proxy"}'


class Fault(StrEnum):
    """What happens to the request the fault hits."""

    DROP_BEFORE = "drop-before"
    DROP_AFTER = "drop-after"
    UNAVAILABLE = "503"
    HOLD = "hold"


@dataclass(frozen=True)
class Call:
    """One request that went through the proxy.

    Attributes:
        index: Its position in arrival order (0-based).
        method: The HTTP method.
        path: The request target (path and query).
        status: The upstream's status (0 when it was not forwarded or not answered).
        fault: The fault that hit it, if any.
    """

    index: int
    method: str
    path: str
    status: int = 0
    fault: Fault | None = None

    @property
    def write(self) -> bool:
        """Whether the request changes something (not GET/HEAD, and not a SelfSubjectAccessReview)."""
        return self.method not in ("GET", "HEAD") and "selfsubjectaccessreviews" not in self.path


@dataclass
class _Plan:
    index: int
    fault: Fault
    matches: Callable[[str, str], bool]
    seen: int = 0
    used: bool = False


class FaultProxy:
    """A threaded HTTP proxy with scripted faults (see the module docstring).

    Args:
        upstream: The server's base URL (``http://host:port``).
        hold_seconds: How long :attr:`Fault.HOLD` holds a request (longer than the client's timeout).
    """

    def __init__(self, upstream: str, *, hold_seconds: float = 2.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.hold_seconds = hold_seconds
        self.calls: list[Call] = []
        self._plans: list[_Plan] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._serve_connection(self.connection, self.rfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self._server.allow_reuse_address = True
        self._server.daemon_threads = True
        self._server.server_bind()
        self._server.server_activate()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------------------------

    def inject(
        self, index: int, fault: Fault, *, method: str = "", path_contains: str = "", writes_only: bool = False
    ) -> None:
        """Hit the ``index``-th request (0-based, counted among the matching ones from now on) with ``fault``.

        Args:
            index: Which matching request.
            fault: What happens to it.
            method: Only requests with this method count ("" for all).
            path_contains: Only requests whose target contains this ("" for all).
            writes_only: Only requests that change something count (see :attr:`Call.write`).
        """

        def matches(request_method: str, target: str) -> bool:
            call = Call(0, request_method, target)
            return (
                (not method or request_method == method) and path_contains in target and (not writes_only or call.write)
            )

        with self._lock:
            self._plans.append(_Plan(index, fault, matches))

    def reset(self) -> None:
        """Forget the recorded calls and the faults not used yet."""
        with self._lock:
            self.calls = []
            self._plans = []

    @property
    def injected(self) -> list[Call]:
        """The calls a fault hit."""
        return [c for c in self.calls if c.fault is not None]

    def _fault_for(self, method: str, target: str) -> tuple[int, Fault | None]:
        with self._lock:
            index = len(self.calls)
            self.calls.append(Call(index, method, target))
            chosen = None
            for plan in self._plans:
                if plan.used or not plan.matches(method, target):
                    continue
                if plan.seen == plan.index and chosen is None:
                    plan.used = True
                    chosen = plan.fault
                plan.seen += 1
            if chosen is not None:
                self.calls[index] = Call(index, method, target, fault=chosen)
            return index, chosen

    def _record(self, index: int, status: int) -> None:
        with self._lock:
            if index >= len(self.calls):  # a held request answered after reset(): it belongs to an earlier recording
                return
            call = self.calls[index]
            self.calls[index] = Call(call.index, call.method, call.path, status, call.fault)

    # -- forwarding --------------------------------------------------------------------------------------------

    def _serve_connection(self, connection: socket.socket, rfile: object) -> None:
        while True:
            request = _read_request(rfile)
            if request is None:
                return
            method, target, headers, body = request
            index, fault = self._fault_for(method, target)
            if fault == Fault.DROP_BEFORE:
                return  # closing the connection unanswered
            if fault == Fault.UNAVAILABLE:
                self._record(index, 503)
                _send(connection, 503, "Service Unavailable", [("Content-Type", "application/json")], UNAVAILABLE_BODY)
                continue
            if fault == Fault.HOLD:
                time.sleep(self.hold_seconds)
            answer = self._forward(method, target, headers, body)
            self._record(index, answer[0] if answer else 0)
            if answer is None or fault in (Fault.DROP_AFTER, Fault.HOLD):
                return
            try:
                _send(connection, *answer)
            except OSError:
                return

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers if k.lower() not in HOP_BY_HOP}
            upstream.request(method, target, body=body or None, headers=forwarded)
            response = upstream.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, response.reason, kept, payload
        except OSError:
            return None
        finally:
            upstream.close()


def _read_request(rfile: object) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    """One HTTP/1.1 request (line, headers, Content-Length body), or None at the end of the connection."""
    try:
        line = rfile.readline(65537)  # type: ignore[attr-defined]
        if not line or not line.strip():
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            header = rfile.readline(65537)  # type: ignore[attr-defined]
            if header in (b"\r\n", b"\n", b""):
                break
            key, _, value = header.decode("latin-1").partition(":")
            headers.append((key.strip(), value.strip()))
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
        body = rfile.read(length) if length else b""  # type: ignore[attr-defined]
        return method, target, headers, body
    except (OSError, ValueError):
        return None


def _send(connection: socket.socket, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
    head = [f"HTTP/1.1 {status} {reason}"]
    head += [f"{k}: {v}" for k, v in headers]
    head += [f"Content-Length: {len(body)}", "", ""]
    connection.sendall("\r\n".join(head).encode("latin-1") + body)
