"""Start and stop the embedded Model Registry: in a background thread, in a subprocess, or in the foreground."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from kfp_model_lifecycle.local.registry.app import BASE_PATH, build_app
from kfp_model_lifecycle.local.registry.database import check_database_path
from kfp_model_lifecycle.local.registry.errors import RegistryDatabaseError
from kfp_model_lifecycle.local.registry.middleware import DEFAULT_MAX_BODY_BYTES, AccessPolicy
from kfp_model_lifecycle.local.registry.protocol import protocol_class
from kfp_model_lifecycle.local.registry.store import Store

logger = logging.getLogger("kfp_model_lifecycle.local.registry")

TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the name of the variable, not a token

__all__ = [
    "BASE_PATH",
    "EmbeddedRegistry",
    "Listeners",
    "RegistryDatabaseError",
    "ServeOptions",
    "create_app",
    "listen",
    "run",
    "serve",
]


@dataclass(frozen=True)
class ServeOptions:
    """How strict the embedded registry is, beyond the API itself.

    Attributes:
        token: The bearer token requests must carry (at the gateway port with ``istio_guard``).
        istio_guard: Answer every request on the service port ``403 RBAC: access denied`` like Kubeflow's Istio
            policy answers a pod without a sidecar, and serve the API on a second, gateway port to requests with
            ``Authorization: Bearer <token>`` (see :mod:`.middleware`).
        max_body_bytes: Larger request bodies answer 413.
        patch_window: Seconds an update waits between reading the stored custom properties and writing (0: none);
            a key it adds that another write stored meanwhile answers 409 like the real server.
    """

    token: str | None = None
    istio_guard: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    patch_window: float = 0.0

    def policy(self, gateway_port: int | None) -> AccessPolicy:
        """The access policy of a server whose gateway (with ``istio_guard``) listens on ``gateway_port``."""
        return AccessPolicy(self.token, self.istio_guard, gateway_port, self.max_body_bytes)


def create_app(
    db_path: str | Path = ":memory:",
    *,
    token: str | None = None,
    options: ServeOptions | None = None,
    gateway_port: int | None = None,
) -> Starlette:
    """An ASGI application serving the Model Registry REST API v1 over a SQLite database.

    Args:
        db_path: SQLite file (created if missing); ``":memory:"`` for a throw-away registry.
        token: Optional bearer token every request must carry (ignored when ``options`` is given).
        options: Token, Istio guard, body limit and patch window.
        gateway_port: The port of the gateway listener, with ``options.istio_guard``.

    Returns:
        The application; its store is at ``app.state.store``.

    Raises:
        RegistryDatabaseError: When ``db_path`` is a directory, not a SQLite database or cannot be opened.
    """
    options = options or ServeOptions(token=token)
    store = Store(db_path)
    app = build_app(store, policy=options.policy(gateway_port), patch_window=options.patch_window)
    app.state.store = store
    return app


def uvicorn_config(app: Starlette, log_level: str) -> uvicorn.Config:
    """The uvicorn settings of the registry (no access log; JSON bodies for malformed requests)."""
    return uvicorn.Config(app, log_level=log_level, access_log=False, http=protocol_class())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (it may be taken by the time you bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bind_socket(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one).

    Binding before the server starts means there is no window in which another process can take the port,
    and a busy port fails here, loudly, instead of the client talking to whatever already listens there.

    Raises:
        OSError: When the address is in use or cannot be bound; the message names the address.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror} (pick another {option})") from None
    sock.set_inheritable(True)
    return sock


@dataclass
class Listeners:
    """The listening sockets of a server: the service and, with the Istio guard, the gateway.

    Attributes:
        service: The service socket (the registry Service of a cluster).
        gateway: The gateway socket (the Istio ingress gateway), with ``istio_guard``.
    """

    service: socket.socket
    gateway: socket.socket | None = None
    all: list[socket.socket] = field(init=False)

    def __post_init__(self) -> None:
        """List the sockets."""
        self.all = [self.service] + ([self.gateway] if self.gateway is not None else [])

    def port(self, which: str = "service") -> int | None:
        """The port of ``service`` or ``gateway`` (None without a gateway)."""
        sock = self.service if which == "service" else self.gateway
        return None if sock is None else int(sock.getsockname()[1])

    def close(self) -> None:
        """Close every socket."""
        for sock in self.all:
            sock.close()


def listen(
    host: str, port: int, *, gateway_port: int | None = None, fds: tuple[int | None, int | None] = (None, None)
) -> Listeners:
    """Bind the service socket (and the gateway socket when ``gateway_port`` is given), or adopt inherited ones.

    Raises:
        OSError: When an address is in use or cannot be bound; the message names it.
    """
    service = socket.socket(fileno=fds[0]) if fds[0] is not None else bind_socket(host, port)
    gateway = None
    try:
        if fds[1] is not None:
            gateway = socket.socket(fileno=fds[1])
        elif gateway_port is not None:
            gateway = bind_socket(host, gateway_port, option="--gateway-port")
    except OSError:
        service.close()
        raise
    return Listeners(service, gateway)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    db_path: str | Path = "registry.db",
    *,
    token: str | None = None,
    log_level: str = "info",
    fd: int | None = None,
    options: ServeOptions | None = None,
    gateway_port: int | None = None,
    gateway_fd: int | None = None,
) -> None:
    """Serve the registry in the foreground until interrupted (``kml registry serve``).

    Args:
        host: Interface to bind.
        port: TCP port.
        db_path: SQLite file.
        token: Optional bearer token (ignored when ``options`` is given).
        log_level: uvicorn log level.
        fd: An already listening socket's file descriptor to serve on instead of binding ``host:port``.
        options: Token, Istio guard, body limit and patch window.
        gateway_port: The gateway port, with ``options.istio_guard`` (default: ``port + 1``).
        gateway_fd: An already listening gateway socket's file descriptor.

    Raises:
        OSError: When a port cannot be bound.
        RegistryDatabaseError: When the database cannot be used.
    """
    options = options or ServeOptions(token=token)
    if options.istio_guard and gateway_port is None:
        gateway_port = port + 1 if 0 < port < 65535 else 0
    listeners = listen(host, port, gateway_port=gateway_port if options.istio_guard else None, fds=(fd, gateway_fd))
    try:
        run(create_app(db_path, options=options, gateway_port=listeners.port("gateway")), listeners, log_level)
    finally:
        listeners.close()


def run(app: Starlette, listeners: Listeners, log_level: str) -> None:
    """Serve ``app`` (made by :func:`create_app`) on bound ``listeners`` until interrupted; close its store then."""
    try:
        uvicorn.Server(uvicorn_config(app, log_level)).run(sockets=listeners.all)
    finally:
        app.state.store.close()


def wait_until_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``GET /`` (the registry answers 404 there) until the server answers.

    Raises:
        RuntimeError: when the server process exits or does not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=1)  # noqa: S310 - our own loopback server
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer (404 on "/") means it is up
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"the registry server exited with code {proc.returncode} before it was ready"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"the registry at {url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.05)


class EmbeddedRegistry:
    """A Model Registry on a free loopback port, for tests, demos and local pipeline runs.

    Use it as a context manager (or call :meth:`start` / :meth:`stop`)::

        with EmbeddedRegistry("registry.db") as registry:
            client = ModelRegistry(registry.address, registry.port, author="me", is_secure=False)

    Args:
        db_path: SQLite file; None keeps the data in a temporary directory removed on stop.
        token: Optional bearer token the server requires (at the gateway with ``istio_guard``).
        host: Interface to bind (loopback by default).
        port: Port; None picks a free one.
        in_process: True runs the server in a background thread of this process; False in a subprocess
            (use that when this process is busy, e.g. benchmarks, or to test several processes).
        istio_guard: Imitate Kubeflow's Istio policy: :attr:`url` answers every request 403 ``RBAC: access
            denied`` (a pod without sidecar calling the Service), :attr:`gateway_url` serves the API to requests
            with ``Authorization: Bearer <token>`` (the ingress gateway).
        max_body_bytes: Larger request bodies answer 413.
        patch_window: Seconds between an update's read of the stored custom properties and its write, to make the
            real server's race deterministic: a key an update adds that another write stored meanwhile answers
            409 (0: no window).

    Raises:
        RegistryDatabaseError: On start, when ``db_path`` is a directory or not a SQLite database.
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        in_process: bool = True,
        istio_guard: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        patch_window: float = 0.0,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kml-registry-")
            db_path = Path(self._tmpdir.name) / "registry.db"
        self.db_path = Path(db_path)
        self.token = token
        self.host = host
        self.port = port or 0  # 0: the socket bound in start() picks a free port
        self.gateway_port: int | None = None
        self.in_process = in_process
        self.options = ServeOptions(token, istio_guard, max_body_bytes, patch_window)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._store: Store | None = None

    @property
    def address(self) -> str:
        """The server address with its scheme, as ``ModelRegistry(server_address=...)`` expects it."""
        return f"http://{self.host}"

    @property
    def url(self) -> str:
        """The base URL of the service, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST API root, ``<url>/api/model_registry/v1``."""
        return self.url + BASE_PATH

    @property
    def gateway_url(self) -> str | None:
        """With ``istio_guard``: the base URL of the gateway that serves requests with a bearer token."""
        return None if self.gateway_port is None else f"http://{self.host}:{self.gateway_port}"

    @property
    def pid(self) -> int | None:
        """The server's process id: this process in-process, the subprocess otherwise (None when stopped)."""
        if self._proc is not None:
            return self._proc.pid
        return os.getpid() if self._server is not None else None

    def start(self, timeout: float = 30.0) -> EmbeddedRegistry:
        """Start the server and wait until it answers.

        Raises:
            OSError: When the port is taken.
            RegistryDatabaseError: When the database cannot be used.
            RuntimeError: When the server does not start in time.
        """
        if self._server is not None or self._proc is not None:
            return self
        check_database_path(self.db_path)  # before a subprocess starts: its error would not reach the caller
        guard = self.options.istio_guard
        listeners = listen(self.host, self.port, gateway_port=0 if guard else None)
        self.port = int(listeners.port() or 0)
        self.gateway_port = listeners.port("gateway")
        try:
            if self.in_process:
                self._start_thread(listeners, timeout)
            else:
                self._start_process(listeners, timeout)
        except BaseException:
            self.stop()
            listeners.close()
            raise
        finally:
            if not self.in_process:
                listeners.close()  # the child holds its own copies
        logger.info("Model Registry listening on %s (database %s)", self.url, self.db_path)
        return self

    def _start_thread(self, listeners: Listeners, timeout: float) -> None:
        app = create_app(self.db_path, options=self.options, gateway_port=self.gateway_port)
        self._store = app.state.store
        server = self._server = uvicorn.Server(uvicorn_config(app, "warning"))
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": listeners.all}, name="kml-registry", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the registry server on {self.url} stopped during start-up (see its log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the registry on {self.url} did not start within {timeout:.0f}s")
            time.sleep(0.01)

    def _command(self, listeners: Listeners) -> list[str]:
        cmd = [sys.executable, "-m", "kfp_model_lifecycle.cli", "registry", "serve", "--host", self.host]
        cmd += ["--port", str(self.port), "--fd", str(listeners.service.fileno()), "--db", str(self.db_path)]
        cmd += ["--log-level", "warning", "--max-body-bytes", str(self.options.max_body_bytes)]
        if self.options.patch_window:
            cmd += ["--patch-window", str(self.options.patch_window)]
        if listeners.gateway is not None:
            cmd += ["--istio-guard", "--gateway-port", str(self.gateway_port)]
            cmd += ["--gateway-fd", str(listeners.gateway.fileno())]
        return cmd

    def _start_process(self, listeners: Listeners, timeout: float) -> None:
        env = dict(os.environ)
        if self.token:
            env[TOKEN_ENV] = self.token  # passed by environment so it never shows in `ps`
        fds = [sock.fileno() for sock in listeners.all]
        self._proc = subprocess.Popen(self._command(listeners), env=env, pass_fds=fds)
        wait_until_ready(self.url, timeout, self._proc)  # the sockets are ours: only the child answers

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (and remove its temporary database, if it made one)."""
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
            self._server = None
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> EmbeddedRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
