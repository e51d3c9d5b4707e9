"""The per-InferenceService router: one loopback URL whose requests are split between revisions by percent.

It stands in for Knative's route: ``status.url`` of an InferenceService points here, and each request goes to
one revision's model server, picked at random with the traffic percents the controller set (a canary sends
P% to the latest revision and the rest to the previous rolled-out one). Every answer carries the header
``X-Kml-Revision`` naming the revision that served it. With no ready revision it answers 503.
"""

from __future__ import annotations

import http.client
import http.server
import logging
import random
import threading
from dataclasses import dataclass

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.router")

REVISION_HEADER = "X-Kml-Revision"
# Hop-by-hop headers and those this server writes itself are not copied between client and model server.
_SKIPPED_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "date",
    "server",
}


@dataclass(frozen=True)
class Backend:
    """One traffic target: a revision's model server and its share of requests.

    Attributes:
        revision: The revision name, e.g. ``my-model-predictor-00002``.
        host: The model server's host.
        port: The model server's port.
        percent: Percent of requests (0..100).
    """

    revision: str
    host: str
    port: int
    percent: int


class Router:
    """A small threaded reverse proxy on ``127.0.0.1`` splitting requests between backends by percent.

    Args:
        name: For logs and the thread name (the InferenceService's ``namespace/name``).
        host: Interface to bind.
        port: Port; 0 picks a free one.
        timeout: Seconds to wait for a model server's answer.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0) -> None:
        self.name = name
        self.timeout = timeout
        self._backends: tuple[Backend, ...] = ()
        self._random = random.Random()
        self._lock = threading.Lock()
        router = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("%s: " + format, router.name, *args)

            def _forward(self) -> None:
                router._forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The router's base URL, e.g. ``http://127.0.0.1:40123``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The current traffic targets."""
        return self._backends

    def set_backends(self, backends: list[Backend]) -> None:
        """Replace the traffic targets (percents of targets with traffic should add up to 100)."""
        self._backends = tuple(b for b in backends if b.percent > 0)
        logger.info(
            "%s: traffic %s",
            self.name,
            ", ".join(f"{b.revision}={b.percent}%" for b in self._backends) or "none (503)",
        )

    def start(self) -> Router:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"kml-router-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def _pick(self) -> Backend | None:
        backends = self._backends
        total = sum(b.percent for b in backends)
        if total <= 0:
            return None
        with self._lock:
            point = self._random.uniform(0, total)
        for backend in backends:
            point -= backend.percent
            if point < 0:
                return backend
        return backends[-1]

    def _forward(self, request: http.server.BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        backend = self._pick()
        if backend is None:
            self._reply(request, 503, b'{"error": "no ready revision serves this InferenceService"}', None)
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED_HEADERS}
        connection = http.client.HTTPConnection(backend.host, backend.port, timeout=self.timeout)
        try:
            connection.request(request.command, request.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            extra = [(k, v) for k, v in response.getheaders() if k.lower() not in _SKIPPED_HEADERS]
            self._reply(request, response.status, payload, backend.revision, extra)
        except OSError as exc:
            message = f'{{"error": "revision {backend.revision} is unreachable: {type(exc).__name__}"}}'
            self._reply(request, 502, message.encode(), backend.revision)
        finally:
            connection.close()

    @staticmethod
    def _reply(
        request: http.server.BaseHTTPRequestHandler,
        status: int,
        payload: bytes,
        revision: str | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        request.send_response(status)
        for key, value in headers or [("Content-Type", "application/json")]:
            request.send_header(key, value)
        if revision:
            request.send_header(REVISION_HEADER, revision)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
