"""The KServe-like controller of the local cluster: InferenceService -> model server processes -> status.

For every change of an InferenceService's spec, labels or annotations it:

1. validates what it needs (:mod:`.spec`: ``spec.predictor.model.modelFormat.name`` = ``sklearn``,
   ``storageUri``; the ``serving.kserve.io/deploymentMode`` annotation; ``canaryTrafficPercent`` in 0..100),
   else ``transitionStatus: InvalidSpec`` and nothing else changes (as KServe, which returns before propagating);
2. when the revision template changed (the predictor without ``canaryTrafficPercent``, and the labels and
   annotations KServe copies into the revision), creates a revision ``<name>-predictor-0000N``: resolves
   ``storageUri`` (:mod:`kfp_model_lifecycle.local.cluster.storage`) and starts
   ``python -m kfp_model_lifecycle.local.cluster.model_server`` (KServe's ``ModelServer``; :mod:`.model_process`)
   on a free loopback port, then waits until the model is ready or the process fails. Serverless: the Knative
   Service's generation moves with the template and the canary percent. RawDeployment (Standard): the predictor
   Deployment ``<name>-predictor`` (:mod:`.deployments`) gets a new generation and ReplicaSet; new pods that crash
   leave the old ones serving until ``progress_deadline``, then the Deployment reports ``ProgressDeadlineExceeded``;
3. routes traffic through the InferenceService's :class:`~kfp_model_lifecycle.local.cluster.router.Router`
   (:mod:`.revisions`; Serverless: ``canaryTrafficPercent`` P sends P% to the latest ready revision and the rest to
   the previous rolled-out one; RawDeployment: the newest ready revision takes everything), stops revisions that
   lost their traffic after a grace period, and writes the status KServe writes (:mod:`.status`; its
   ``observedGeneration`` is the Knative Service's or the Deployment's, not the InferenceService's).

A Serverless revision whose model cannot load ends in ``transitionStatus: BlockedByFailedLoad``
(``lastFailureInfo.reason: ModelLoadFailed``, ``Ready: False``) while the previous revision keeps serving. Work is
queued per InferenceService (:mod:`.workqueue`), so one object is reconciled by one worker at a time.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp_model_lifecycle.local.cluster.deployments import (
    PREDICTOR_SUFFIX,
    PredictorDeployment,
    Rollout,
    predictor_deployment_name,
)
from kfp_model_lifecycle.local.cluster.model_process import ModelServerFailed, ModelServerProcess
from kfp_model_lifecycle.local.cluster.revisions import (
    TAG_ROUTING_ANNOTATION,
    Revision,
    ServiceState,
    backends,
    due_for_retirement,
    plan_traffic,
    resumed_count,
    revision_template,
    start_retiring,
)
from kfp_model_lifecycle.local.cluster.router import Router
from kfp_model_lifecycle.local.cluster.spec import SERVERLESS, deployment_mode, spec_problem
from kfp_model_lifecycle.local.cluster.status import build_status, invalid_spec_status
from kfp_model_lifecycle.local.cluster.storage import StorageError, resolve_storage_uri
from kfp_model_lifecycle.local.cluster.store import FINALIZER, Store, now_rfc3339
from kfp_model_lifecycle.local.cluster.workqueue import Key, WorkQueue

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.controller")


class Controller:
    """Reconciles InferenceServices in a :class:`Store` into model server processes, routers and status.

    Args:
        store: The objects (the controller subscribes to its changes).
        workdir: Where model server logs go (``<workdir>/logs``).
        registry_url: Model Registry base URL for ``model-registry://`` storage URIs (resolved without a token, as
            the registry's storage initializer does).
        workers: Reconciles running at once (each model load blocks one worker).
        ready_timeout: Seconds a model server may take to become ready before the revision fails.
        retire_after: Seconds a revision that lost its traffic keeps serving in-flight requests.
        progress_deadline: RawDeployment: ``progressDeadlineSeconds`` of the predictor Deployments (KServe's
            default is 600; short in tests).
        host: Loopback interface for routers and model servers.
        server_factory: Makes a revision's model server: ``(model_dir, model_name, log_path, host=...)`` ->
            an object with the interface of :class:`ModelServerProcess` (the default; tests that exercise only
            the API may pass a lighter one).
    """

    def __init__(
        self,
        store: Store,
        workdir: Path,
        *,
        registry_url: str | None = None,
        workers: int = 4,
        ready_timeout: float = 120.0,
        retire_after: float = 2.0,
        progress_deadline: float = 600.0,
        host: str = "127.0.0.1",
        server_factory: Callable[..., ModelServerProcess] = ModelServerProcess,
    ) -> None:
        self.store = store
        self.workdir = workdir
        self.registry_url = registry_url
        self.progress_deadline = progress_deadline
        self.server_factory = server_factory
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
        wanted = desired_fingerprint(obj)
        if state.synced != wanted:
            logger.info("%s/%s: reconciling generation %s", namespace, name, meta.get("generation"))
            self._sync(key, state, obj)
            state.synced = wanted
        else:
            self._progress(key, state)
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
        state.status = copy.deepcopy(obj.get("status") or {})
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

    # -- one change of the spec or metadata --------------------------------------------------------------------

    def _sync(self, key: Key, state: ServiceState, obj: dict[str, Any]) -> None:
        namespace, name = key
        predictor = copy.deepcopy((obj.get("spec") or {}).get("predictor") or {})
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        mode = state.mode = state.mode or deployment_mode(annotations, (obj.get("status") or {}).get("deploymentMode"))
        state.invalid = spec_problem(name, predictor, annotations)
        if state.invalid is not None:
            logger.info("%s/%s: invalid spec: %s", namespace, name, state.invalid.message)
            self._write_status(key, state, invalid_spec_status(state, state.invalid, mode))
            return
        canary = predictor.pop("canaryTrafficPercent", None)
        template = revision_template(predictor, meta)
        latest = state.latest
        revision = state.new_revision(name, template) if latest is None or latest.template != template else None
        if mode == SERVERLESS:
            state.apply_ksvc(template, canary)
        else:
            self._apply_deployment(key, state, obj, revision or latest, template)
        if revision is not None:
            self._write_status(key, state, build_status(state, mode, loading=True), loading=True)
            self._load(key, revision, predictor["model"]["storageUri"])
            if revision.ready:
                state.latest_ready = revision.name
        tag_routing = str(annotations.get(TAG_ROUTING_ANNOTATION, "")).lower() == "true"
        self._route(key, state, mode, canary, tag_routing)
        self._write_status(key, state, build_status(state, mode))

    def _apply_deployment(
        self, key: Key, state: ServiceState, obj: dict[str, Any], revision: Revision | None, template: str
    ) -> None:
        """RawDeployment: create or update the predictor Deployment for ``template`` (a new ReplicaSet)."""
        namespace, name = key
        if state.deployment is None:
            state.deployment = PredictorDeployment(
                predictor_deployment_name(name), namespace, name, state.uid, progress_deadline=self.progress_deadline
            )
        min_replicas = ((obj.get("spec") or {}).get("predictor") or {}).get("minReplicas")
        replicas = min_replicas if isinstance(min_replicas, int) and min_replicas > 0 else 1
        state.deployment.apply(template, revision.name if revision else "", obj["metadata"], replicas)

    def _progress(self, key: Key, state: ServiceState) -> None:
        """RawDeployment: a stalled rollout reaches its progress deadline (``ProgressDeadlineExceeded``)."""
        deployment = state.deployment
        if deployment is None or state.mode == SERVERLESS or state.invalid is not None:
            return
        before = deployment.state
        latest = state.latest
        deployment.observe(
            new_ready=bool(latest and latest.ready),
            new_failed=bool(latest and latest.failure),
            old_available=bool(state.traffic),
        )
        if deployment.state != before:
            self._write_status(key, state, build_status(state, state.mode or SERVERLESS))

    def _load(self, key: Key, revision: Revision, storage_uri: str) -> None:
        """Resolve the storage and start the revision's model server; sets ``ready`` or ``failure``."""
        namespace, name = key
        try:
            model_dir = resolve_storage_uri(storage_uri, registry_url=self.registry_url)
        except StorageError as exc:
            revision.failure = f"storage-initializer: {exc}"
            revision.failed_at = now_rfc3339()
            logger.info("%s/%s: %s failed: %s", namespace, name, revision.name, revision.failure)
            return
        log_path = self.workdir / "logs" / f"{namespace}.{revision.name}.log"
        server = self.server_factory(model_dir, name, log_path, host=self.host)
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

    def _route(self, key: Key, state: ServiceState, mode: str, canary: int | None, tag_routing: bool) -> None:
        """Decide the traffic, point the router at it and schedule stopping the revisions that lost theirs."""
        state.traffic = plan_traffic(state, mode, canary, tag_routing=tag_routing)
        state.router.set_backends(backends(state))
        if start_retiring(state, self.retire_after):
            self._queue.add_after(key, self.retire_after + 0.05)
        deployment, latest = state.deployment, state.latest
        if mode != SERVERLESS and deployment is not None:
            deployment.observe(
                new_ready=bool(latest and latest.ready),
                new_failed=bool(latest and latest.failure),
                old_available=bool(state.traffic),
            )
            if deployment.state == Rollout.STALLED:
                self._queue.add_after(key, deployment.seconds_to_deadline() + 0.05)

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
        state.status = status
        written = self.store.write_status(namespace, name, state.uid, status)
        if written is not None and not loading:
            ready = status["conditions"][-1]
            logger.info(
                "%s/%s: %s (Ready=%s%s)",
                namespace,
                name,
                status["modelStatus"]["transitionStatus"],
                ready["status"],
                f", {ready.get('reason')}" if ready.get("reason") else "",
            )

    def reconciled(self, obj: dict[str, Any]) -> bool:
        """Whether the controller is done with this object's current spec, labels and annotations (tests, demos).

        Not something a client can see on a cluster: ``status.observedGeneration`` is the Knative Service's or the
        Deployment's, and an ``InvalidSpec`` does not update it.
        """
        meta = obj.get("metadata") or {}
        with self._services_lock:
            state = self._services.get((meta.get("namespace"), meta.get("name")))
            return state is not None and state.uid == meta.get("uid") and state.synced == desired_fingerprint(obj)

    # -- what the API server reads -----------------------------------------------------------------------------

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The predictor Deployment ``name`` (``<isvc>-predictor``) of a RawDeployment InferenceService, or None."""
        if not name.endswith(PREDICTOR_SUFFIX):
            return None
        with self._services_lock:
            state = self._services.get((namespace, name[: -len(PREDICTOR_SUFFIX)]))
            deployment = state.deployment if state is not None and state.mode != SERVERLESS else None
            return deployment.to_object() if deployment is not None else None


def desired_fingerprint(obj: dict[str, Any]) -> str:
    """What the controller reconciles: the spec, labels and annotations (not status, finalizers, versions)."""
    meta = obj.get("metadata") or {}
    return json.dumps([obj.get("spec"), meta.get("labels"), meta.get("annotations")], sort_keys=True)
