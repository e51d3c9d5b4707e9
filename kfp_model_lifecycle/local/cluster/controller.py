"""The KServe-like controller of the local cluster: InferenceService -> model server processes -> status.

For every new spec generation of an InferenceService it:

1. validates what it needs (``spec.predictor.model.modelFormat.name`` = ``sklearn``, ``storageUri``; the
   ``serving.kserve.io/deploymentMode`` annotation; ``canaryTrafficPercent`` in 0..100), else status
   ``transitionStatus: InvalidSpec``;
2. when the predictor changed (anything but ``canaryTrafficPercent``), creates a revision
   ``<name>-predictor-0000N``: resolves ``storageUri`` (:mod:`kfp_model_lifecycle.local.cluster.storage`) and starts
   ``python -m kfp_model_lifecycle.local.cluster.model_server`` (KServe's ``ModelServer``) on a free loopback port,
   then waits until the model is ready or the process fails;
3. routes traffic through the InferenceService's :class:`~kfp_model_lifecycle.local.cluster.router.Router`
   (Serverless: ``canaryTrafficPercent`` P sends P% to the latest revision and the rest to the previous
   rolled-out one; RawDeployment: the latest ready revision takes everything), stops revisions that lost their
   traffic after a grace period, and writes the status KServe writes (url, address, conditions,
   observedGeneration, components.predictor revisions and traffic, modelStatus, deploymentMode).

A revision whose model cannot load ends in ``transitionStatus: BlockedByFailedLoad`` (``lastFailureInfo.reason:
ModelLoadFailed``, ``Ready: False``) while the previous revision keeps serving.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kfp_model_lifecycle.local.cluster.model_server import FAILURE_REASONS
from kfp_model_lifecycle.local.cluster.router import Backend, Router
from kfp_model_lifecycle.local.cluster.storage import StorageError, resolve_storage_uri
from kfp_model_lifecycle.local.cluster.store import FINALIZER, Store, now_rfc3339
from kfp_model_lifecycle.local.registry.server import free_port

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.controller")

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
SERVERLESS = "Serverless"
RAW = "RawDeployment"
DEPLOYMENT_MODES = {"Serverless": SERVERLESS, "Knative": SERVERLESS, "RawDeployment": RAW, "Standard": RAW}
SUPPORTED_FORMATS = ("sklearn",)
SUPPORTED_PROTOCOLS = ("v1", "v2")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

Key = tuple[str, str]


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
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
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


@dataclass
class Revision:
    """One revision of an InferenceService's predictor (a Knative revision / a Deployment's ReplicaSet).

    Attributes:
        name: ``<isvc>-predictor-0000N``.
        template: The predictor spec without ``canaryTrafficPercent`` (a change makes a new revision).
        server: The running model server, if any.
        ready: The model loaded and the server answers.
        failure: Why it failed to load, if it did.
        reason: The failure's ``lastFailureInfo.reason``.
        failed_at: When it failed (RFC 3339).
        exit_code: The failed server's exit code, if it exited.
        retire_at: ``time.monotonic()`` after which the server is stopped (it has no traffic any more).
    """

    name: str
    template: str
    server: ModelServerProcess | None = None
    ready: bool = False
    failure: str | None = None
    reason: str = "ModelLoadFailed"
    failed_at: str | None = None
    exit_code: int | None = None
    retire_at: float | None = None


@dataclass
class ServiceState:
    """What the controller knows about one InferenceService (beyond its stored object)."""

    uid: str
    router: Router
    revisions: dict[str, Revision] = field(default_factory=dict)
    count: int = 0
    latest_created: str | None = None
    latest_ready: str | None = None
    rolled_out: str | None = None
    previous_rolled_out: str | None = None
    observed_generation: int | None = None
    traffic: list[tuple[str, int, str]] = field(default_factory=list)
    invalid: tuple[str, str, str] | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)


class WorkQueue:
    """A client-go style work queue: a key is handed to one worker at a time; re-adds while busy run after.

    Args:
        name: For thread names.
    """

    def __init__(self, name: str = "kml") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._queue: list[Key] = []
        self._queued: set[Key] = set()
        self._busy: set[Key] = set()
        self._dirty: set[Key] = set()
        self._delayed: list[tuple[float, Key]] = []
        self._closed = False

    def add(self, key: Key) -> None:
        """Queue ``key`` (once; a key being processed is processed again when done)."""
        with self._cond:
            if key in self._busy:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queue.append(key)
                self._queued.add(key)
            self._cond.notify_all()

    def add_after(self, key: Key, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds."""
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + delay, key))
            self._cond.notify_all()

    def get(self) -> Key | None:
        """The next key (blocking); None once the queue is closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, key = heapq.heappop(self._delayed)
                    if key in self._busy:
                        self._dirty.add(key)
                    elif key not in self._queued:
                        self._queue.append(key)
                        self._queued.add(key)
                if self._queue:
                    key = self._queue.pop(0)
                    self._queued.discard(key)
                    self._busy.add(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def done(self, key: Key) -> None:
        """Mark ``key`` processed; queue it again if it was added meanwhile."""
        with self._cond:
            self._busy.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queue.append(key)
                    self._queued.add(key)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiting worker with None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Controller:
    """Reconciles InferenceServices in a :class:`Store` into model server processes, routers and status.

    Args:
        store: The objects (the controller subscribes to its changes).
        workdir: Where model server logs go (``<workdir>/logs``).
        registry_url: Model Registry base URL for ``model-registry://`` storage URIs.
        registry_token: Optional bearer token for the registry.
        workers: Reconciles running at once (each model load blocks one worker).
        ready_timeout: Seconds a model server may take to become ready before the revision fails.
        retire_after: Seconds a revision that lost its traffic keeps serving in-flight requests.
        host: Loopback interface for routers and model servers.
    """

    def __init__(
        self,
        store: Store,
        workdir: Path,
        *,
        registry_url: str | None = None,
        registry_token: str | None = None,
        workers: int = 4,
        ready_timeout: float = 120.0,
        retire_after: float = 2.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.store = store
        self.workdir = workdir
        self.registry_url = registry_url
        self.registry_token = registry_token
        self.ready_timeout = ready_timeout
        self.retire_after = retire_after
        self.host = host
        self._queue = WorkQueue()
        self._services: dict[Key, ServiceState] = {}
        self._services_lock = threading.Lock()
        self.workers = workers
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        store.add_listener(self._on_change)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Controller:
        """Start the workers and reconcile what the store already holds."""
        self._stopping.clear()
        self._queue = WorkQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"kml-controller-{i}", daemon=True) for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        items, _ = self.store.list()
        for obj in items:
            self._queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the workers, every model server and every router; returns when the processes are gone."""
        self._stopping.set()
        self._queue.close()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        with self._services_lock:
            states = list(self._services.values())
            self._services.clear()
        servers = [rev.server for state in states for rev in state.revisions.values() if rev.server is not None]
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait_stopped()
        stoppers = [threading.Thread(target=state.router.stop) for state in states]  # each takes up to 0.5 s
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()

    def server_pids(self) -> list[int]:
        """Process ids of every model server started so far and not yet stopped."""
        with self._services_lock:
            return [
                rev.server.pid
                for state in self._services.values()
                for rev in state.revisions.values()
                if rev.server is not None and rev.server.pid is not None
            ]

    def revisions(self, namespace: str, name: str) -> dict[str, Revision]:
        """The revisions of one InferenceService (for tests and debugging)."""
        with self._services_lock:
            state = self._services.get((namespace, name))
            return dict(state.revisions) if state else {}

    # -- the loop ----------------------------------------------------------------------------------------------

    def _on_change(self, event: str, obj: dict[str, Any]) -> None:
        self._queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def _work(self) -> None:
        while True:
            key = self._queue.get()
            if key is None:
                return
            try:
                self._reconcile(key)
            except Exception:
                logger.exception("reconciling %s/%s failed; retrying in 5s", *key)
                self._queue.add_after(key, 5.0)
            finally:
                self._queue.done(key)

    def _reconcile(self, key: Key) -> None:
        namespace, name = key
        if self._stopping.is_set():
            return
        obj = self.store.find(namespace, name)
        with self._services_lock:
            state = self._services.get(key)
        if state is not None and (obj is None or obj["metadata"]["uid"] != state.uid):
            self._teardown(key, state)
            state = None
        if obj is None:
            return
        meta = obj["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            if state is not None:
                self._teardown(key, state)
            logger.info("%s/%s: deleted; its servers are stopped", namespace, name)
            self.store.set_finalizer(namespace, name, uid, present=False)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            self.store.set_finalizer(namespace, name, uid, present=True)
        if state is None:
            router = Router(f"{namespace}/{name}", host=self.host).start()
            state = ServiceState(uid=uid, router=router)
            # After a restart, keep numbering revisions where the stored status left off.
            last = ((obj.get("status") or {}).get("components") or {}).get("predictor", {}).get("latestCreatedRevision")
            if isinstance(last, str) and last.rpartition("-")[2].isdigit():
                state.count = int(last.rpartition("-")[2])
            with self._services_lock:
                if self._stopping.is_set():
                    router.stop()
                    return
                self._services[key] = state
        generation = int(meta.get("generation", 1))
        if state.observed_generation != generation:
            logger.info("%s/%s: reconciling generation %d", namespace, name, generation)
            self._sync(key, state, obj)
            state.observed_generation = generation
        self._retire(key, state)

    # -- one generation ----------------------------------------------------------------------------------------

    def _sync(self, key: Key, state: ServiceState, obj: dict[str, Any]) -> None:
        namespace, name = key
        spec = obj.get("spec") or {}
        predictor = copy.deepcopy(spec.get("predictor") or {})
        annotations = obj["metadata"].get("annotations") or {}
        problem = self._validate(obj, predictor, annotations)
        if problem is not None:
            state.invalid = (*problem, now_rfc3339())
            logger.info("%s/%s: invalid spec: %s", namespace, name, problem[1])
            self._write_status(key, state, obj)
            return
        state.invalid = None
        mode = DEPLOYMENT_MODES[annotations.get(DEPLOYMENT_MODE_ANNOTATION, SERVERLESS)]
        canary = predictor.pop("canaryTrafficPercent", None)
        template = json.dumps(predictor, sort_keys=True)
        latest = state.revisions.get(state.latest_created or "")
        if latest is None or latest.template != template:
            state.count += 1
            revision = Revision(name=f"{name}-predictor-{state.count:05d}", template=template)
            state.revisions[revision.name] = revision
            state.latest_created = revision.name
            self._write_status(key, state, obj, mode=mode, loading=True)
            self._load(key, revision, predictor["model"]["storageUri"])
            if revision.ready:
                state.latest_ready = revision.name
        self._route(key, state, mode, canary)
        self._write_status(key, state, obj, mode=mode)

    @staticmethod
    def _validate(
        obj: dict[str, Any], predictor: dict[str, Any], annotations: dict[str, Any]
    ) -> tuple[str, str] | None:
        """(reason, message) when the spec cannot be served; None when it can."""
        name = obj["metadata"]["name"]
        model = predictor.get("model")
        if not isinstance(model, dict):
            return ("InvalidPredictorSpec", f"{name}: spec.predictor.model is required (modelFormat and storageUri)")
        model_format = (model.get("modelFormat") or {}).get("name")
        if not model_format:
            return ("InvalidPredictorSpec", f"{name}: spec.predictor.model.modelFormat.name is required")
        if model_format not in SUPPORTED_FORMATS:
            return (
                "NoSupportingRuntime",
                f"{name}: no runtime supports model format {model_format!r}; the local cluster serves "
                f"{', '.join(SUPPORTED_FORMATS)}",
            )
        if not model.get("storageUri"):
            return ("InvalidPredictorSpec", f"{name}: spec.predictor.model.storageUri is required")
        protocol = model.get("protocolVersion")
        if protocol not in (None, *SUPPORTED_PROTOCOLS):
            return (
                "InvalidPredictorSpec",
                f"{name}: protocolVersion {protocol!r} is not served by the local cluster (use v1 or v2)",
            )
        canary = predictor.get("canaryTrafficPercent")
        if canary is not None and (isinstance(canary, bool) or not isinstance(canary, int) or not 0 <= canary <= 100):
            return ("InvalidPredictorSpec", f"{name}: canaryTrafficPercent must be an integer 0..100, got {canary!r}")
        mode = annotations.get(DEPLOYMENT_MODE_ANNOTATION, SERVERLESS)
        if mode not in DEPLOYMENT_MODES:
            return (
                "InvalidPredictorSpec",
                f"{name}: annotation {DEPLOYMENT_MODE_ANNOTATION}={mode!r} is not one of {sorted(DEPLOYMENT_MODES)}",
            )
        return None

    def _load(self, key: Key, revision: Revision, storage_uri: str) -> None:
        """Resolve the storage and start the revision's model server; sets ``ready`` or ``failure``."""
        namespace, name = key
        try:
            model_dir = resolve_storage_uri(
                storage_uri, registry_url=self.registry_url, registry_token=self.registry_token
            )
        except StorageError as exc:
            revision.failure = f"storage-initializer: {exc}"
            revision.failed_at = now_rfc3339()
            logger.info("%s/%s: %s failed: %s", namespace, name, revision.name, revision.failure)
            return
        log_path = self.workdir / "logs" / f"{namespace}.{revision.name}.log"
        server = ModelServerProcess(model_dir, name, log_path, host=self.host)
        logger.info(
            "%s/%s: %s loading %s (%s) on %s", namespace, name, revision.name, storage_uri, model_dir, server.url
        )
        revision.server = server
        server.start()
        started = time.monotonic()
        try:
            server.wait_until_ready(self.ready_timeout, self._stopping)
        except ModelServerFailed as exc:
            revision.failure = str(exc)
            revision.failed_at = now_rfc3339()
            revision.reason = exc.reason
            revision.exit_code = exc.exit_code
            server.stop()
            revision.server = None
            logger.info("%s/%s: %s failed to load: %s", namespace, name, revision.name, revision.failure)
            return
        revision.ready = True
        logger.info("%s/%s: %s ready in %.1fs", namespace, name, revision.name, time.monotonic() - started)

    def _route(self, key: Key, state: ServiceState, mode: str, canary: int | None) -> None:
        """Decide the traffic (``state.traffic``: revision, percent, tag) and point the router at it."""
        latest = state.revisions[state.latest_created] if state.latest_created else None
        if latest is not None and latest.ready:
            previous = state.revisions.get(state.rolled_out or "")
            split = (
                mode == SERVERLESS
                and canary is not None
                and canary < 100
                and previous is not None
                and previous is not latest
                and previous.ready
            )
            if split:
                traffic = [(latest.name, int(canary), "latest"), (previous.name, 100 - int(canary), "prev")]
            else:
                if state.rolled_out != latest.name:
                    state.previous_rolled_out = state.rolled_out
                    state.rolled_out = latest.name
                traffic = [(latest.name, 100, "latest")]
        elif state.rolled_out is not None and state.revisions[state.rolled_out].ready:
            traffic = [(state.rolled_out, 100, "prev")]  # the new revision failed: the old one keeps serving
        else:
            traffic = []
        state.traffic = traffic
        backends = []
        for revision_name, percent, _ in traffic:
            server = state.revisions[revision_name].server
            if server is not None:
                backends.append(Backend(revision_name, server.host, server.port, percent))
        state.router.set_backends(backends)
        serving = {revision_name for revision_name, percent, _ in traffic}
        for revision in state.revisions.values():
            if revision.server is not None and revision.name not in serving and revision.retire_at is None:
                revision.retire_at = time.monotonic() + self.retire_after
                self._queue.add_after(key, self.retire_after + 0.05)
            elif revision.name in serving:
                revision.retire_at = None

    def _retire(self, key: Key, state: ServiceState) -> None:
        """Stop the servers of revisions whose grace period after losing their traffic is over."""
        now = time.monotonic()
        for revision in state.revisions.values():
            if revision.server is not None and revision.retire_at is not None and revision.retire_at <= now:
                logger.info("%s/%s: stopping %s (no traffic)", *key, revision.name)
                revision.server.stop()
                revision.server = None
                revision.ready = False
                revision.retire_at = None

    def _teardown(self, key: Key, state: ServiceState) -> None:
        with self._services_lock:
            if self._services.get(key) is state:
                del self._services[key]
        servers = [rev.server for rev in state.revisions.values() if rev.server is not None]
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait_stopped()
        for revision in state.revisions.values():
            revision.server = None
        state.router.stop()

    # -- status ------------------------------------------------------------------------------------------------

    def _condition(
        self, state: ServiceState, kind: str, status: str, reason: str | None = None, message: str | None = None
    ) -> dict[str, Any]:
        previous = state.conditions.get(kind)
        changed = previous is None or previous["status"] != status
        condition: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastTransitionTime": now_rfc3339() if changed else previous["lastTransitionTime"],  # type: ignore[index]
        }
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        state.conditions[kind] = condition
        return condition

    def _write_status(
        self,
        key: Key,
        state: ServiceState,
        obj: dict[str, Any],
        *,
        mode: str | None = None,
        loading: bool = False,
    ) -> None:
        namespace, name = key
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        mode = mode or DEPLOYMENT_MODES.get(annotations.get(DEPLOYMENT_MODE_ANNOTATION, SERVERLESS), SERVERLESS)
        latest = state.revisions.get(state.latest_created or "")
        serving = bool(state.traffic)
        url = state.router.url
        status: dict[str, Any] = {"observedGeneration": int(meta.get("generation", 1)), "deploymentMode": mode}
        if serving:
            status["url"] = url
            status["address"] = {"url": url}
        predictor: dict[str, Any] = {}
        if serving:
            predictor["url"] = url
            predictor["restUrl"] = url
            predictor["address"] = {"url": url}
        for field_name, value in (
            ("latestCreatedRevision", state.latest_created),
            ("latestReadyRevision", state.latest_ready),
            ("latestRolledoutRevision", state.rolled_out),
            ("previousRolledoutRevision", state.previous_rolled_out),
        ):
            if value:
                predictor[field_name] = value
        if state.traffic:
            predictor["traffic"] = [
                {
                    "revisionName": revision_name,
                    "percent": percent,
                    "latestRevision": tag == "latest",
                    "tag": tag,
                    "url": state.revisions[revision_name].server.url  # type: ignore[union-attr]
                    if state.revisions[revision_name].server is not None
                    else None,
                }
                for revision_name, percent, tag in state.traffic
            ]
            for target in predictor["traffic"]:
                if target["url"] is None:
                    del target["url"]
        if predictor:
            status["components"] = {"predictor": predictor}

        model_status: dict[str, Any]
        active = "Loaded" if state.traffic else "Pending"
        if state.invalid is not None:
            reason, message, when = state.invalid
            model_status = {
                "transitionStatus": "InvalidSpec",
                "states": {"activeModelState": active if state.traffic else "FailedToLoad", "targetModelState": ""},
                "lastFailureInfo": {"reason": reason, "message": message, "time": when},
            }
            conditions = [
                self._condition(state, "PredictorReady", "False", reason, message),
                self._condition(state, "IngressReady", "True" if state.traffic else "False", reason, message),
                self._condition(state, "Ready", "False", reason, message),
            ]
        elif loading or latest is None:
            message = f"Revision {state.latest_created} is loading the model"
            model_status = {
                "transitionStatus": "InProgress",
                "states": {"activeModelState": active if state.traffic else "Loading", "targetModelState": "Loading"},
            }
            conditions = [
                self._condition(state, "PredictorReady", "Unknown", "Deploying", message),
                self._condition(state, "IngressReady", "True" if state.traffic else "Unknown", None, None),
                self._condition(state, "Ready", "Unknown", "Deploying", message),
            ]
        elif latest.failure is not None:
            message = f"Revision {latest.name} failed with message: {latest.failure}"
            failure: dict[str, Any] = {
                "location": latest.name,
                "reason": latest.reason,
                "message": latest.failure,
                "modelRevisionName": latest.name,
                "time": latest.failed_at or now_rfc3339(),
            }
            if latest.exit_code is not None:
                failure["exitCode"] = latest.exit_code
            model_status = {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": active if state.traffic else "FailedToLoad",
                           "targetModelState": "FailedToLoad"},
                "lastFailureInfo": failure,
                "copies": {"failedCopies": 1, "totalCopies": 1},
            }  # fmt: skip
            conditions = [
                self._condition(state, "PredictorReady", "False", "RevisionFailed", message),
                self._condition(
                    state,
                    "IngressReady",
                    "True" if state.traffic else "False",
                    None if state.traffic else "RevisionFailed",
                ),
                self._condition(state, "Ready", "False", "RevisionFailed", message),
            ]
        else:
            model_status = {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "copies": {"failedCopies": 0, "totalCopies": 1},
            }
            conditions = [
                self._condition(state, "PredictorReady", "True"),
                self._condition(state, "IngressReady", "True"),
                self._condition(state, "Ready", "True"),
            ]
        status["modelStatus"] = model_status
        status["conditions"] = conditions
        written = self.store.write_status(namespace, name, state.uid, status)
        if written is not None and not loading:
            ready = conditions[-1]
            logger.info(
                "%s/%s: generation %s %s (Ready=%s%s)",
                namespace,
                name,
                status["observedGeneration"],
                model_status["transitionStatus"],
                ready["status"],
                f", {ready.get('reason')}" if ready.get("reason") else "",
            )
