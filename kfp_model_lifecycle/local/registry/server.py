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
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from kfp_model_lifecycle.local.registry.app import BASE_PATH, build_app
from kfp_model_lifecycle.local.registry.store import Store

logger = logging.getLogger("kfp_model_lifecycle.local.registry")

TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the name of the variable, not a token


def create_app(db_path: str | Path = ":memory:", *, token: str | None = None) -> Starlette:
    """An ASGI application serving the Model Registry REST API v1 over a SQLite database.

    Args:
        db_path: SQLite file (created if missing); ``":memory:"`` for a throw-away registry.
        token: Optional bearer token every request must carry.

    Returns:
        The application; its store is at ``app.state.store``.
    """
    store = Store(db_path)
    app = build_app(store, token=token)
    app.state.store = store
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (it may be taken by the time you bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bind_socket(host: str, port: int) -> socket.socket:
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
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror} (pick another --port)") from None
    sock.set_inheritable(True)
    return sock


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    db_path: str | Path = "registry.db",
    *,
    token: str | None = None,
    log_level: str = "info",
    fd: int | None = None,
) -> None:
    """Serve the registry in the foreground until interrupted (``kml registry serve``).

    Args:
        host: Interface to bind.
        port: TCP port.
        db_path: SQLite file.
        token: Optional bearer token.
        log_level: uvicorn log level.
        fd: An already listening socket's file descriptor to serve on instead of binding ``host:port``.
    """
    app = create_app(db_path, token=token)
    sock = socket.socket(fileno=fd) if fd is not None else bind_socket(host, port)
    config = uvicorn.Config(app, log_level=log_level, access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
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
        token: Optional bearer token the server requires.
        host: Interface to bind (loopback by default).
        port: Port; None picks a free one.
        in_process: True runs the server in a background thread of this process; False in a subprocess
            (use that when this process is busy, e.g. benchmarks, or to test several processes).
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        in_process: bool = True,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kml-registry-")
            db_path = Path(self._tmpdir.name) / "registry.db"
        self.db_path = Path(db_path)
        self.token = token
        self.host = host
        self.port = port or 0  # 0: the socket bound in start() picks a free port
        self.in_process = in_process
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
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST API root, ``<url>/api/model_registry/v1``."""
        return self.url + BASE_PATH

    def start(self, timeout: float = 30.0) -> EmbeddedRegistry:
        """Start the server and wait until it answers."""
        if self._server is not None or self._proc is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        try:
            if self.in_process:
                app = create_app(self.db_path, token=self.token)
                self._store = app.state.store
                config = uvicorn.Config(app, log_level="warning", access_log=False)
                server = self._server = uvicorn.Server(config)
                self._thread = threading.Thread(
                    target=server.run, kwargs={"sockets": [sock]}, name="kml-registry", daemon=True
                )
                self._thread.start()
                deadline = time.monotonic() + timeout
                while not server.started:
                    if not self._thread.is_alive():
                        raise RuntimeError(f"the registry server on {self.url} stopped during start-up (see its log)")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the registry on {self.url} did not start within {timeout:.0f}s")
                    time.sleep(0.01)
            else:
                env = dict(os.environ)
                cmd = [sys.executable, "-m", "kfp_model_lifecycle.cli", "registry", "serve", "--host", self.host]
                cmd += ["--port", str(self.port), "--fd", str(sock.fileno()), "--db", str(self.db_path)]
                cmd += ["--log-level", "warning"]
                if self.token:
                    env[TOKEN_ENV] = self.token  # passed by environment so it never shows in `ps`
                self._proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()])
                wait_until_ready(self.url, timeout, self._proc)  # the socket is ours: only the child answers
        except BaseException:
            self.stop()
            sock.close()
            raise
        finally:
            if not self.in_process:
                sock.close()  # the child holds its own copy
        logger.info("Model Registry listening on %s (database %s)", self.url, self.db_path)
        return self

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
