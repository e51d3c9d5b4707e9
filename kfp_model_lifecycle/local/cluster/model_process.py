"""The model server process of one revision: start it, wait until its model is ready, say why it failed, stop it.

The process is ``python -m kfp_model_lifecycle.local.cluster.model_server`` (KServe's ``ModelServer``, see
:mod:`kfp_model_lifecycle.local.cluster.model_server`) on a free loopback port; the controller owns one
:class:`ModelServerProcess` per revision that serves or loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from kfp_model_lifecycle.local.cluster.model_server import FAILURE_REASONS
from kfp_model_lifecycle.local.registry.server import free_port

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
"""The folder that contains the ``kfp_model_lifecycle`` package (put on the model server's ``PYTHONPATH``)."""
SECRET_VARIABLES = frozenset({"KML_REGISTRY_TOKEN", "KUBECONFIG"})
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
"""A model server is the user's pod: it gets none of the caller's credentials (registry token, kubeconfig...)."""


def model_server_environment(parent: dict[str, str]) -> dict[str, str]:
    """The environment of a model server process: the caller's, without credentials, with the package importable.

    Args:
        parent: The caller's environment.

    Returns:
        The environment for the model server.
    """
    env = {
        key: value
        for key, value in parent.items()
        if key not in SECRET_VARIABLES and not any(marker in key.upper() for marker in SECRET_MARKERS)
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), parent.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class ModelServerFailed(RuntimeError):
    """A model server process exited or never became ready.

    Args:
        message: What happened, with the server's own last words.
        exit_code: The process exit code, when it exited.
        reason: The ``lastFailureInfo.reason`` (``ModelLoadFailed`` or ``RuntimeUnhealthy``).
    """

    def __init__(self, message: str, exit_code: int | None = None, reason: str = "ModelLoadFailed") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason


class ModelServerProcess:
    """One revision's model server: ``python -m kfp_model_lifecycle.local.cluster.model_server`` on a free port.

    Args:
        model_dir: The resolved model directory (or file).
        model_name: The model name in the endpoint paths (the InferenceService name).
        log_path: File receiving the server's stdout and stderr.
        host: Loopback interface.
    """

    def __init__(self, model_dir: Path, model_name: str, log_path: Path, host: str = "127.0.0.1") -> None:
        self.model_dir = model_dir
        self.model_name = model_name
        self.log_path = log_path
        self.host = host
        self.port = free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the process (returns at once; see :meth:`wait_until_ready`)."""
        cmd = [sys.executable, "-m", "kfp_model_lifecycle.local.cluster.model_server"]
        cmd += ["--model-dir", str(self.model_dir), "--model-name", self.model_name]
        cmd += ["--http-port", str(self.port), "--parent-pid", str(os.getpid())]
        env = model_server_environment(dict(os.environ))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # A session of its own: Ctrl-C in a terminal reaches the cluster, which stops its servers in order.
        self._proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )

    def wait_until_ready(self, timeout: float, cancelled: threading.Event | None = None) -> None:
        """Poll ``GET /v1/models/<name>`` until the model is ready.

        Raises:
            ModelServerFailed: when the process exits first, or ``timeout`` seconds pass.
        """
        assert self._proc is not None, "start() first"
        url = f"{self.url}/v1/models/{self.model_name}"
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                reason, message = self.last_words()
                raise ModelServerFailed(message or f"the model server exited with code {code}", code, reason)
            if cancelled is not None and cancelled.is_set():
                raise ModelServerFailed("the cluster is stopping")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback server
                    if json.loads(response.read()).get("ready"):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ModelServerFailed(
                    f"the model server was not ready within {timeout:.0f}s (log: {self.log_path})"
                ) from None
            time.sleep(0.1)

    def last_words(self, lines: int = 5) -> tuple[str, str]:
        """(reason, message) the server reported on a ``<reason>: <message>`` line, else the tail of its log."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").strip().splitlines()
            for line in reversed(text):
                reason, _, message = line.partition(": ")
                if reason in FAILURE_REASONS:
                    return reason, message
            return "ModelLoadFailed", " | ".join(text[-lines:])
        return "ModelLoadFailed", ""

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM); see :meth:`wait_stopped`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def wait_stopped(self, timeout: float = 10.0) -> None:
        """Wait for the process to exit, killing it after ``timeout`` seconds."""
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate and wait."""
        self.terminate()
        self.wait_stopped(timeout)
