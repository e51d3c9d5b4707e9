"""Start and stop the local cluster: the fake API server, the controller and a kubeconfig for the real client."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn
import yaml

from kfp_model_lifecycle.local.cluster.api import DEFAULT_FORBIDDEN, DEFAULT_NAMESPACE, DEFAULT_USER, ApiServer
from kfp_model_lifecycle.local.cluster.controller import Controller
from kfp_model_lifecycle.local.cluster.registry_controller import RegistryController
from kfp_model_lifecycle.local.cluster.store import Store
from kfp_model_lifecycle.local.registry.server import free_port

logger = logging.getLogger("kfp_model_lifecycle.local.cluster")

CONTEXT_NAME = "kml-local"


def write_kubeconfig(
    path: Path, server_url: str, *, namespace: str = DEFAULT_NAMESPACE, token: str | None = None
) -> Path:
    """Write a kubeconfig whose current context points at ``server_url`` (plain http) in ``namespace``.

    The official client loads it with ``kubernetes.config.load_kube_config(config_file=path)`` or
    ``kubernetes.config.new_client_from_config(config_file=path)``; ``kubectl`` reads it too (``get``,
    ``apply``, ``describe``, ``delete`` of InferenceServices).

    Args:
        path: The file to write (parents are created; mode 0600 as it may hold a token).
        server_url: The API server URL.
        namespace: The context's default namespace.
        token: Bearer token of the user, if the server requires one.

    Returns:
        ``path``.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CONTEXT_NAME, "cluster": {"server": server_url}}],
        "users": [{"name": CONTEXT_NAME, "user": {"token": token} if token else {}}],
        "contexts": [{"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME,
                                                       "namespace": namespace}}],
        "current-context": CONTEXT_NAME,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path


class LocalCluster:
    """A stand-in for a Kubernetes cluster with KServe, on loopback, for tests, demos and local runs.

    The official ``kubernetes`` client talks to it through the kubeconfig it writes; InferenceServices are
    served by KServe's own model server in subprocesses (see :mod:`kfp_model_lifecycle.local.cluster`)::

        with LocalCluster(registry_url=registry.url) as cluster:
            api = kubernetes.client.CustomObjectsApi(cluster.api_client())

    Args:
        workdir: Directory for the kubeconfig and the model server logs; None uses a temporary directory
            removed on stop.
        registry_url: Model Registry base URL (``http://127.0.0.1:PORT``) for ``model-registry://`` URIs (resolved
            without a token, as the registry's storage initializer does) and for the registry's InferenceService
            controller, which the stand-in then runs too (:mod:`.registry_controller`).
        registry_token: Bearer token of that InferenceService controller, if the registry requires one.
        forbidden: (verb, resource) pairs answered 403 Forbidden, e.g. ``{("patch", "inferenceservices")}``;
            by default writes of ``inferenceservices/status`` (as a pipeline's service account).
        user: The user named in 403 messages.
        namespace: Default namespace of the kubeconfig context.
        token: Bearer token the API server requires (written into the kubeconfig); None requires none.
        host: Interface to bind (loopback).
        port: API server port; None picks a free one.
        kubeconfig_path: Where to write the kubeconfig; default ``<workdir>/kubeconfig``.
        ready_timeout: Seconds a model server may take to load its model.
        retire_after: Seconds a revision that lost its traffic keeps running (in-flight requests).
        progress_deadline: RawDeployment: seconds a new ReplicaSet may take to become available before its
            Deployment reports ``ProgressDeadlineExceeded`` (``progressDeadlineSeconds``; KServe's default 600).
        server_factory: Makes a revision's model server (default: KServe's ``ModelServer`` in a subprocess, see
            ``Controller``); tests of the API and of recovery may pass a lighter one.
        kserve: False stands for a cluster without KServe: no InferenceService CRD and no ``serving.kserve.io``
            API (installation checks must say so).
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        registry_url: str | None = None,
        registry_token: str | None = None,
        forbidden: Iterable[tuple[str, str]] = DEFAULT_FORBIDDEN,
        user: str = DEFAULT_USER,
        namespace: str = DEFAULT_NAMESPACE,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        kubeconfig_path: str | Path | None = None,
        ready_timeout: float = 120.0,
        retire_after: float = 2.0,
        progress_deadline: float = 600.0,
        server_factory: Callable[..., Any] | None = None,
        kserve: bool = True,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kml-cluster-")
            workdir = self._tmpdir.name
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.namespace = namespace
        self.token = token
        self.kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else self.workdir / "kubeconfig"
        self.store = Store()
        self.controller = Controller(
            self.store,
            self.workdir,
            registry_url=registry_url,
            ready_timeout=ready_timeout,
            retire_after=retire_after,
            progress_deadline=progress_deadline,
            host=host,
            **({"server_factory": server_factory} if server_factory is not None else {}),
        )
        self.registry_controller = (
            RegistryController(self.store, registry_url, registry_token) if registry_url else None
        )
        self.api = ApiServer(
            self.store,
            token=token,
            forbidden=forbidden,
            user=user,
            deployments=self.controller.deployment,
            kserve=kserve,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    @property
    def api_url(self) -> str:
        """The API server URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        """Start the API server and the controller, wait until the server answers, write the kubeconfig."""
        if self._started:
            return self
        if importlib.util.find_spec("kserve") is None:
            logger.warning(
                "kserve is not installed: InferenceServices will fail with RuntimeUnhealthy; install the dev extra "
                "(pip install -e '.[dev]', which pins kserve==0.21.0)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api.closing.clear()
        config = uvicorn.Config(
            self.api.build_app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kml-cluster-api", daemon=True)
        self._thread.start()
        self._started = True
        try:
            self._wait_until_ready(timeout)
            self.controller.start()
            if self.registry_controller is not None:
                self.registry_controller.start()
            write_kubeconfig(self.kubeconfig_path, self.api_url, namespace=self.namespace, token=self.token)
        except BaseException:
            self.stop()
            raise
        logger.info("local cluster API on %s (kubeconfig %s)", self.api_url, self.kubeconfig_path)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(f"{self.api_url}/version")  # noqa: S310 - our loopback server
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        while True:
            try:
                with urllib.request.urlopen(request, timeout=1):  # noqa: S310 - our loopback server
                    return
            except (urllib.error.URLError, OSError):
                if self._thread is not None and not self._thread.is_alive():
                    raise RuntimeError(
                        f"the local cluster API server could not start on {self.api_url}: is the port in use? "
                        "pick another one (--port) or let it choose a free one"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the local cluster API at {self.api_url} did not answer in {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the controller (every model server and router), then the API server; remove a temporary workdir."""
        if self._started:
            if self.registry_controller is not None:
                self.registry_controller.stop()
            self.controller.stop(timeout)
        self.api.closing.set()
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
            self._server = None
            self._thread = None
        self._started = False
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- conveniences for tests --------------------------------------------------------------------------------

    def forbid(self, verb: str, resource: str = "inferenceservices") -> None:
        """Answer ``verb`` on ``resource`` with 403 Forbidden from now on (e.g. ``forbid("patch")``)."""
        self.api.forbid(verb, resource)

    def allow(self, verb: str, resource: str = "inferenceservices") -> None:
        """Undo :meth:`forbid`."""
        self.api.allow(verb, resource)

    def create_secret(self, name: str, values: dict[str, str], *, namespace: str | None = None) -> dict[str, Any]:
        """Create a Secret from plain values (stored base64 in ``data``, as ``stringData`` is).

        Args:
            name: The Secret.
            values: Key -> plain text value.
            namespace: Its namespace (default: the kubeconfig's).

        Returns:
            The stored Secret.
        """
        return self.api.core.secrets.put(namespace or self.namespace, name, values)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` configured from this cluster's kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path))

    def reconciled(self, obj: dict[str, Any]) -> bool:
        """Whether the controller is done with this object's current spec (for tests; see ``Controller.reconciled``)."""
        return self.controller.reconciled(obj)

    def server_pids(self) -> list[int]:
        """Process ids of the model servers now running."""
        return self.controller.server_pids()

    def wait_for(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        namespace: str | None = None,
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        """Poll the stored InferenceService until ``predicate(object)`` holds; return it.

        Raises:
            TimeoutError: with the last status when it does not hold within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        obj: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            obj = self.store.find(namespace or self.namespace, name)
            if obj is not None and predicate(obj):
                return obj
            time.sleep(0.05)
        raise TimeoutError(f"{name}: condition not met within {timeout:.0f}s; last status: {(obj or {}).get('status')}")


def serve(
    *,
    port: int,
    kubeconfig_path: str | Path | None = None,
    registry_url: str | None = None,
    workdir: str | Path | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    forbidden: Iterable[tuple[str, str]] = DEFAULT_FORBIDDEN,
    token: str | None = None,
    progress_deadline: float = 600.0,
) -> None:
    """Run a local cluster in the foreground until Ctrl-C or SIGTERM (``kml cluster up``)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster = LocalCluster(
        workdir,
        registry_url=registry_url,
        port=port,
        kubeconfig_path=kubeconfig_path,
        namespace=namespace,
        forbidden=forbidden,
        token=token,
        progress_deadline=progress_deadline,
    )
    try:
        cluster.start()
        print(
            f"Local cluster (KServe stand-in) API on {cluster.api_url}, namespace {namespace}"
            f"{' - bearer token required (in the kubeconfig)' if token else ''}\n"
            f"kubeconfig: {cluster.kubeconfig_path}\n"
            f"  export KUBECONFIG={cluster.kubeconfig_path}\n"
            f"model server logs: {cluster.workdir / 'logs'}\n"
            "Stop with Ctrl-C (stops every model server).",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("stopping the local cluster ...", file=sys.stderr, flush=True)
    finally:
        cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
