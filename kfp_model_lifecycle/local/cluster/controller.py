"""The KServe-like controller of the local cluster: InferenceService -> model server processes -> status.

For every new spec generation of an InferenceService it:

1. validates what it needs (:mod:`.spec`: ``spec.predictor.model.modelFormat.name`` = ``sklearn``,
   ``storageUri``; the ``serving.kserve.io/deploymentMode`` annotation; ``canaryTrafficPercent`` in 0..100),
   else status ``transitionStatus: InvalidSpec``;
2. when the predictor changed (anything but ``canaryTrafficPercent``), creates a revision
   ``<name>-predictor-0000N``: resolves ``storageUri`` (:mod:`kfp_model_lifecycle.local.cluster.storage`) and starts
   ``python -m kfp_model_lifecycle.local.cluster.model_server`` (KServe's ``ModelServer``; :mod:`.model_process`)
   on a free loopback port, then waits until the model is ready or the process fails;
3. routes traffic through the InferenceService's :class:`~kfp_model_lifecycle.local.cluster.router.Router`
   (:mod:`.revisions`; Serverless: ``canaryTrafficPercent`` P sends P% to the latest revision and the rest to the
   previous rolled-out one; RawDeployment: the latest ready revision takes everything), stops revisions that lost
   their traffic after a grace period, and writes the status KServe writes (:mod:`.status`: url, address,
   conditions, observedGeneration, components.predictor revisions and traffic, modelStatus, deploymentMode).

A revision whose model cannot load ends in ``transitionStatus: BlockedByFailedLoad`` (``lastFailureInfo.reason:
ModelLoadFailed``, ``Ready: False``) while the previous revision keeps serving. Work is queued per
InferenceService (:mod:`.workqueue`), so one object is reconciled by one worker at a time.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from kfp_model_lifecycle.local.cluster.model_process import ModelServerFailed, ModelServerProcess
from kfp_model_lifecycle.local.cluster.revisions import (
    Revision,
    ServiceState,
    backends,
    due_for_retirement,
    plan_traffic,
    resumed_count,
    start_retiring,
)
from kfp_model_lifecycle.local.cluster.router import Router
from kfp_model_lifecycle.local.cluster.spec import deployment_mode, spec_problem
from kfp_model_lifecycle.local.cluster.status import build_status
from kfp_model_lifecycle.local.cluster.storage import StorageError, resolve_storage_uri
from kfp_model_lifecycle.local.cluster.store import FINALIZER, Store, now_rfc3339
from kfp_model_lifecycle.local.cluster.workqueue import Key, WorkQueue

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.controller")


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
        state = self._current_state(key, obj)
        if obj is None:
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            self._finalize(key, state, meta["uid"])
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            self.store.set_finalizer(namespace, name, meta["uid"], present=True)
        state = state or self._new_state(key, obj)
        if state is None:
            return  # the controller is stopping
        generation = int(meta.get("generation", 1))
        if state.observed_generation != generation:
            logger.info("%s/%s: reconciling generation %d", namespace, name, generation)
            self._sync(key, state, obj)
            state.observed_generation = generation
        self._retire(key, state)

    def _current_state(self, key: Key, obj: dict[str, Any] | None) -> ServiceState | None:
        """The state of ``key``'s object; a state left by a deleted or re-created object (other uid) is torn down."""
        with self._services_lock:
            state = self._services.get(key)
        if state is not None and (obj is None or obj["metadata"]["uid"] != state.uid):
            self._teardown(key, state)
            return None
        return state

    def _new_state(self, key: Key, obj: dict[str, Any]) -> ServiceState | None:
        """Start the router of a newly seen InferenceService; None when the controller is stopping."""
        namespace, name = key
        router = Router(f"{namespace}/{name}", host=self.host).start()
        state = ServiceState(uid=obj["metadata"]["uid"], router=router, count=resumed_count(obj))
        with self._services_lock:
            if self._stopping.is_set():
                router.stop()
                return None
            self._services[key] = state
        return state

    def _finalize(self, key: Key, state: ServiceState | None, uid: str) -> None:
        """A deleted InferenceService: stop its servers, then drop the finalizer so the object goes."""
        namespace, name = key
        if state is not None:
            self._teardown(key, state)
        logger.info("%s/%s: deleted; its servers are stopped", namespace, name)
        self.store.set_finalizer(namespace, name, uid, present=False)

    # -- one generation ----------------------------------------------------------------------------------------

    def _sync(self, key: Key, state: ServiceState, obj: dict[str, Any]) -> None:
        namespace, name = key
        spec = obj.get("spec") or {}
        predictor = copy.deepcopy(spec.get("predictor") or {})
        annotations = obj["metadata"].get("annotations") or {}
        generation = int(obj["metadata"].get("generation", 1))
        state.invalid = spec_problem(name, predictor, annotations)
        mode = deployment_mode(annotations)
        if state.invalid is not None:
            logger.info("%s/%s: invalid spec: %s", namespace, name, state.invalid.message)
            self._write_status(key, state, build_status(state, generation, mode))
            return
        canary = predictor.pop("canaryTrafficPercent", None)
        template = json.dumps(predictor, sort_keys=True)
        latest = state.latest
        if latest is None or latest.template != template:
            revision = state.new_revision(name, template)
            self._write_status(key, state, build_status(state, generation, mode, loading=True), loading=True)
            self._load(key, revision, predictor["model"]["storageUri"])
            if revision.ready:
                state.latest_ready = revision.name
        self._route(key, state, mode, canary)
        self._write_status(key, state, build_status(state, generation, mode))

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
        """Decide the traffic, point the router at it and schedule stopping the revisions that lost theirs."""
        state.traffic = plan_traffic(state, mode, canary)
        state.router.set_backends(backends(state))
        if start_retiring(state, self.retire_after):
            self._queue.add_after(key, self.retire_after + 0.05)

    def _retire(self, key: Key, state: ServiceState) -> None:
        """Stop the servers of revisions whose grace period after losing their traffic is over."""
        for revision in due_for_retirement(state, time.monotonic()):
            logger.info("%s/%s: stopping %s (no traffic)", *key, revision.name)
            revision.server.stop()  # type: ignore[union-attr]  # due revisions have a server
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

    def _write_status(self, key: Key, state: ServiceState, status: dict[str, Any], *, loading: bool = False) -> None:
        namespace, name = key
        written = self.store.write_status(namespace, name, state.uid, status)
        if written is not None and not loading:
            ready = status["conditions"][-1]
            logger.info(
                "%s/%s: generation %s %s (Ready=%s%s)",
                namespace,
                name,
                status["observedGeneration"],
                status["modelStatus"]["transitionStatus"],
                ready["status"],
                f", {ready.get('reason')}" if ready.get("reason") else "",
            )
