"""Serving the UI: in the foreground (``kml ui``) or in a background thread (:class:`UiServer`, for tests and tools).

The UI reads the registry with ``Lifecycle`` objects made here: the token from ``KML_REGISTRY_TOKEN`` in the
environment given (never logged), TLS verified unless told otherwise, and fewer, shorter retries than a pipeline
step makes (a page should say at once that the registry does not answer); ``KML_REGISTRY_MAX_ATTEMPTS``,
``KML_REGISTRY_BACKOFF_SECONDS`` and ``KML_REGISTRY_TIMEOUT_SECONDS`` still override them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from kfp_model_lifecycle.api import Lifecycle
from kfp_model_lifecycle.local.registry.server import bind_socket
from kfp_model_lifecycle.ui.app import UiSettings, create_app

DEFAULT_PORT = 8090
# A page waits at most about a second and a half for a registry that does not answer.
UI_RETRY_DEFAULTS = {
    "KML_REGISTRY_MAX_ATTEMPTS": "3",
    "KML_REGISTRY_BACKOFF_SECONDS": "0.25",
    "KML_REGISTRY_TIMEOUT_SECONDS": "15",
}


def ui_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the UI's ``Lifecycle`` objects read: ``env`` with the UI's retry defaults filled in.

    Args:
        env: The environment (default ``os.environ``); it may carry ``KML_REGISTRY_TOKEN``.

    Returns:
        A copy, with each retry setting the caller did not set.
    """
    merged = dict(os.environ if env is None else env)
    for name, value in UI_RETRY_DEFAULTS.items():
        if not merged.get(name, "").strip():
            merged[name] = value
    return merged


def lifecycle_factory(
    registry_url: str, *, env: Mapping[str, str] | None = None, verify_tls: bool = True, ca_bundle_path: str = ""
) -> Callable[[], Lifecycle]:
    """What makes the UI's ``Lifecycle`` objects.

    Args:
        registry_url: The registry's base URL.
        env: The environment (token, retry settings); see :func:`ui_environment`.
        verify_tls: Verify the registry's certificate (https).
        ca_bundle_path: CA bundle for https.

    Returns:
        A function making a new ``Lifecycle`` (it connects on first use).

    Raises:
        InvalidInputError: When the URL is malformed (checked now, not at the first page).
    """
    settings = ui_environment(env)
    Lifecycle(registry_url, env=settings, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path)  # checks the URL
    return lambda: Lifecycle(registry_url, env=settings, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path)


def uvicorn_server(app: Starlette, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for the app (no access log below ``info``).

    Args:
        app: The application.
        log_level: uvicorn's log level.

    Returns:
        The server (not started).
    """
    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=log_level in ("debug", "info")))


class UiServer:
    """The UI on a loopback port, in a background thread (tests, notebooks, tools).

    ::

        with EmbeddedRegistry("registry.db") as registry, UiServer(registry.url) as ui:
            print(ui.url)

    Args:
        registry_url: The registry's base URL.
        host: Interface to bind.
        port: Port (0 picks a free one).
        env: Environment for the ``Lifecycle`` objects (token, retry settings).
        verify_tls: Verify the registry's certificate.
        ca_bundle_path: CA bundle for https.
        kfp_ui_url: The KFP UI's base URL, to link runs.
    """

    def __init__(
        self,
        registry_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        verify_tls: bool = True,
        ca_bundle_path: str = "",
        kfp_ui_url: str = "",
    ) -> None:
        self.settings = UiSettings(registry_url, kfp_ui_url, host)
        self.host = host
        self.port = port
        self._factory = lifecycle_factory(registry_url, env=env, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The UI's base URL, e.g. ``http://127.0.0.1:40123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> UiServer:
        """Bind, start serving in a thread and wait until it answers.

        Args:
            timeout: Seconds to wait.

        Returns:
            This server.

        Raises:
            OSError: When the port cannot be bound.
            RuntimeError: When it does not start in time.
        """
        if self._server is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        server = self._server = uvicorn_server(create_app(self.settings, self._factory))
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kml-ui", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"the UI on {self.url} did not start (see its log)")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (the registry connections are closed)."""
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
