"""MLflow's model registry for the side-by-side benchmarks: its own virtual environment, its server, its client.

MLflow is never a dependency of this project: :func:`ensure_mlflow` creates ``.bench/mlflow-venv`` (git-ignored)
with ``mlflow==3.17.*`` the first time (one line per step; pip's output goes to ``.bench/mlflow-install.log``).
:class:`MlflowServer` runs ``mlflow server`` on a SQLite file (one worker, like the embedded registry's one
process) on a free loopback port; :class:`MlflowRegisterWorker` runs ``mlflow.register_model`` in a subprocess of
that environment and times each call there, in-process, as the other side's registration is timed.

When the environment cannot be made (no network to the package index, no ``venv`` module), the caller prints
"skipped: <reason>" for the MLflow columns and measures the rest.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".bench" / "mlflow-venv"
INSTALL_LOG = REPO / ".bench" / "mlflow-install.log"
MLFLOW_SPEC = "mlflow==3.17.*"
API = "/api/2.0/mlflow"
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",  # no telemetry thread trying to reach the internet
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "PYTHONWARNINGS": "ignore",
}

WORKER = r"""
import json, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
client = MlflowClient()
print(json.dumps({"ready": mlflow.__version__}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    try:
        if job["op"] == "register":
            mv = mlflow.register_model(job["uri"], job["name"], tags=job.get("tags") or None)
            answer = {"version": mv.version}
        else:
            answer = {}
        answer["seconds"] = time.perf_counter() - start
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(answer), flush=True)
"""


class MlflowUnavailable(RuntimeError):
    """MLflow could not be installed or started here; the message says why."""


def say(text: str) -> None:
    """One progress line on stderr (the tables go to stdout)."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def ensure_mlflow(venv: Path = VENV, spec: str = MLFLOW_SPEC) -> Path:
    """The MLflow environment's python, creating the environment when missing.

    Args:
        venv: Where the environment lives.
        spec: The requirement to install.

    Returns:
        Path of its ``python``.

    Raises:
        MlflowUnavailable: When it cannot be created or MLflow cannot be installed (the reason is in the message).
    """
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sys; sys.stdout.write(mlflow.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"creating {venv.relative_to(REPO) if venv.is_relative_to(REPO) else venv} for MLflow (once)")
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise MlflowUnavailable(f"python -m venv failed: {made.stderr.strip()[-300:]}")
    say(f"installing {spec} into it (pip's output: {INSTALL_LOG.relative_to(REPO)})")
    with INSTALL_LOG.open("w") as log:
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", spec]
        installed = subprocess.run(pip, stdout=log, stderr=subprocess.STDOUT, check=False)
    if installed.returncode != 0:
        tail = INSTALL_LOG.read_text()[-300:].strip().splitlines()
        raise MlflowUnavailable(f"pip install {spec} failed: {tail[-1] if tail else '?'}")
    version = subprocess.run(check, capture_output=True, text=True, check=False).stdout
    say(f"MLflow {version} installed in {time.monotonic() - started:.0f}s")
    return python


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until ``GET path`` on ``port`` answers 200 (polled every 10 ms).

    Raises:
        MlflowUnavailable: When the process exits or nothing answers in time.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise MlflowUnavailable(f"the server exited with {proc.returncode} during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return time.perf_counter() - start
            conn.close()
        except OSError:
            pass
        time.sleep(0.01)
    raise MlflowUnavailable(f"nothing answered GET {path} on port {port} within {timeout:.0f}s")


class MlflowServer:
    """``mlflow server`` on a SQLite database in ``workdir``, one worker, on a free loopback port.

    Attributes:
        port: The port.
        startup_seconds: From starting the process to the first answer of the REST API.
    """

    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.workdir = workdir
        self.port = free_port()
        self.startup_seconds = float("nan")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MlflowServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        mlflow = self.python.parent / "mlflow"
        cmd = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        cmd += ["--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.db'}"]
        cmd += ["--default-artifact-root", str(self.workdir / "artifacts")]
        log = (self.workdir / "server.log").open("wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **QUIET_ENV}, start_new_session=True
        )
        try:
            wait_for_http(self.port, f"{API}/registered-models/search?max_results=1", 120, self.proc)
        except BaseException:
            self.__exit__()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.proc = None


class MlflowRegisterWorker:
    """``mlflow.register_model`` in a subprocess of the MLflow environment, timed there (in-process).

    Args:
        python: The MLflow environment's python.
        tracking_uri: The MLflow server's URL.
    """

    def __init__(self, python: Path, tracking_uri: str) -> None:
        env = {**os.environ, **QUIET_ENV, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": tracking_uri}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [str(python), "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        ready = self._read()
        if "ready" not in ready:
            raise MlflowUnavailable(f"the mlflow worker did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise MlflowUnavailable(f"the mlflow worker exited ({self.proc.poll()})")
        return json.loads(line)

    def register(self, name: str, uri: str, tags: Mapping[str, str]) -> float:
        """Seconds ``mlflow.register_model(uri, name, tags=tags)`` took.

        Raises:
            MlflowUnavailable: When the call failed (the message has MLflow's error).
        """
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": "register", "name": name, "uri": uri, "tags": dict(tags)}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise MlflowUnavailable(f"mlflow.register_model failed: {answer['error']}")
        return float(answer["seconds"])

    def close(self) -> None:
        """Stop the worker."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
