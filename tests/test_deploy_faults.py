"""deploy_model under injected faults and bad input: every registry and Kubernetes call of a deployment, hit in turn.

A :class:`~fault_proxy.FaultProxy` sits in front of the embedded registry and another in front of the cluster
stand-in's API server. A recording run counts the calls a deployment makes; then, for every call index, a
deployment runs with one fault at that index -- the connection dropped before the request is forwarded, dropped
after it (the answer lost), a 503, or the request held past the client's timeout and done late -- in two modes:

- **library retries**: the package's own retries on (registry and Kubernetes), the step called once (a task retry
  is counted, and must not be needed);
- **task retry only**: one attempt per call, and the step called again after a failure, as KFP's retry policy does.

After each deployment the registry and the cluster must be consistent: exactly one rollout record (ServeModel) and
one ``deployment`` audit event for the rollout, the registry record ``DEPLOYED`` with the version and pointing at
that rollout, the InferenceService serving that version and Ready, and nothing left over (no InferenceService
that should not be there, no failed rollout records). Two scenarios: a first deployment (the create whose answer
is lost) and an update with a canary. The model servers are stubs (the recovery logic is under test, not KServe's
model server), so a deployment takes well under a second.

Bad input (wrong types, 10,000-character names, options KServe would refuse) fails with an error naming the
parameter and the fix, cut to a readable length, before any write goes through the proxies.

By default each call index gets one fault, the fault kinds taking turns, and every write (POST, PATCH, DELETE)
also gets its answer lost: every index and every kind is covered, not every pair. ``KML_FAULT_SWEEP=full`` runs
every kind at every index (a few minutes). The figures are printed.
"""

from __future__ import annotations

import http.server
import itertools
import os
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_proxy import Call, Fault, FaultProxy

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.deployment.history import list_serve_models
from kfp_model_lifecycle.deployment.records import find_registry_inference_service, find_serving_environment
from kfp_model_lifecycle.deployment.run import run_deploy_model
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import lifecycle_history
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.cluster import LocalCluster, write_kubeconfig
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

NS = "kubeflow-user"
MODELS = {
    (scenario, retries): f"fault-{scenario}-{'library' if retries else 'task'}"
    for scenario in ("create", "update")
    for retries in (True, False)
}
CLIENT_TIMEOUT = 0.5
HOLD_SECONDS = 0.8
TASK_ATTEMPTS = 4
FULL = os.environ.get("KML_FAULT_SWEEP", "") == "full"
FAULTS = (Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.UNAVAILABLE, Fault.HOLD)


class StubServer:
    """A revision's model server without KServe: an in-process HTTP server that is ready at once."""

    def __init__(self, model_dir: Path, model_name: str, log_path: Path, host: str = "127.0.0.1") -> None:
        self.model_name = model_name
        self.host = host
        name = model_name

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b'{"name": "%s", "ready": true}' % name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.pid = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def wait_until_ready(self, timeout: float, cancelled: Any = None) -> None:
        return None

    def last_words(self) -> tuple[str, str]:
        return "ModelLoadFailed", ""

    def terminate(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None

    def wait_stopped(self, timeout: float = 10.0) -> None:
        self._server.server_close()

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        self.wait_stopped(timeout)


@dataclass
class World:
    registry: EmbeddedRegistry
    cluster: LocalCluster
    registry_proxy: FaultProxy
    k8s_proxy: FaultProxy
    kubeconfig: Path
    observer: RegistryConnection


@dataclass
class Figures:
    """What the sweep found."""

    runs: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    consistent_after_retry: int = 0
    task_retries: int = 0
    duplicates: int = 0
    missing_events: int = 0
    half_written: int = 0
    left_over: int = 0
    failed_records: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self, title: str) -> str:
        faults = sum(self.faults_injected.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults_injected.items()))
        return (
            f"{title}: {self.runs} deployments, {faults} faults injected ({kinds}); consistent after retry"
            f" {self.consistent_after_retry}/{self.runs}; task retries {self.task_retries}; duplicates"
            f" {self.duplicates}; missing events {self.missing_events}; half-written {self.half_written};"
            f" left-over objects {self.left_over}; failed rollout records {self.failed_records}"
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, registry: EmbeddedRegistry) -> Iterator[World]:
    from model_registry import ModelRegistry

    root = tmp_path_factory.mktemp("fault-models")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = ModelRegistry(registry.address, registry.port, author="tester", is_secure=False)
    for version in ("1.0.0", "2.0.0"):
        (root / version).mkdir()
        (root / version / "model.joblib").write_bytes(b"stub")
    for model in [*MODELS.values(), "fault/slash"]:  # one model per test, so each audit trail stays short
        for version in ("1.0.0", "2.0.0"):
            client.register_model(model, str(root / version), model_format_name="sklearn",
                                  model_format_version="1", version=version)  # fmt: skip
    workdir = tmp_path_factory.mktemp("fault-cluster")
    with (
        LocalCluster(workdir, registry_url=registry.url, retire_after=0.05, server_factory=StubServer) as cluster,
        FaultProxy(registry.url, hold_seconds=HOLD_SECONDS) as registry_proxy,
        FaultProxy(cluster.api_url, hold_seconds=HOLD_SECONDS) as k8s_proxy,
    ):
        kubeconfig = write_kubeconfig(workdir / "proxied-kubeconfig", k8s_proxy.url, namespace=NS)
        with connect_model_registry(registry.url, env={}) as observer:  # reads around the proxies
            yield World(registry, cluster, registry_proxy, k8s_proxy, kubeconfig, observer)


@pytest.fixture
def knobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("KML_REGISTRY_TOKEN", "KML_REGISTRY_URL", "KUBERNETES_SERVICE_HOST", "POD_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KML_DEPLOY_POLL_SECONDS", "0.05")
    monkeypatch.setenv("KML_DEPLOY_PROGRESS_SECONDS", "30")
    monkeypatch.setenv("KML_K8S_TIMEOUT_SECONDS", str(CLIENT_TIMEOUT))
    monkeypatch.setenv("KML_K8S_BACKOFF_SECONDS", "0.02")
    yield monkeypatch


def _environment(library_retries: bool) -> dict[str, str]:
    attempts = "5" if library_retries else "1"
    os.environ["KML_K8S_MAX_ATTEMPTS"] = attempts
    return {
        "KML_REGISTRY_MAX_ATTEMPTS": attempts,
        "KML_REGISTRY_BACKOFF_SECONDS": "0.02",
        "KML_REGISTRY_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
        "KML_DEPLOY_POLL_SECONDS": "0.05",
    }


@dataclass(frozen=True)
class Scenario:
    """One deployment: a version to an InferenceService (``name`` None: a fresh one, the create path)."""

    key: str
    title: str
    versions: tuple[str, ...]
    name: str | None
    canary: int


CREATE = Scenario("create", "first deployment", ("1.0.0",), None, 0)
UPDATE = Scenario("update", "update with a 30% canary", ("2.0.0", "1.0.0"), "fault-update", 30)


def _name(scenario: Scenario, model: str) -> str:
    """The InferenceService a deployment goes to: the model's own (update), or a fresh one (create)."""
    return model if scenario.name else f"fault-create-{uuid.uuid4().hex[:8]}"


def _deploy(world: World, model: str, version: str, name: str, run_id: str, library_retries: bool, canary: int) -> Any:
    return run_deploy_model(
        model_reference=f"{model}:{version}",
        inference_service_name=name,
        namespace=NS,
        canary_percent=canary,
        timeout_seconds=20,
        registry_url=world.registry_proxy.url,
        kubeconfig_path=str(world.kubeconfig),
        env=_environment(library_retries),
        context=RunContext(run_id=run_id, run_name=f"sweep-{run_id[:8]}", task_name="deploy", namespace=NS),
    )


def _observe(world: World, model: str, name: str) -> dict[str, Any]:
    """The registry's and the cluster's view of one InferenceService (read around the proxies)."""
    conn = world.observer
    environment = find_serving_environment(conn, NS)
    record = find_registry_inference_service(conn, environment, name) if environment else None
    serves = list_serve_models(conn, record) if record else []
    events = lifecycle_history(conn, model, event_type="deployment")["events"]
    return {
        "record": record,
        "serves": serves,
        "events": [e for e in events if e.get("target") == f"{NS}/{name}"],
        "isvcs": {o["metadata"]["name"]: o for o in world.cluster.store.list(NS)[0]},
    }


def _check(
    world: World, model: str, name: str, version: str, before: dict[str, Any], figures: Figures, label: str
) -> None:
    after = _observe(world, model, name)
    known = {s.id for s in before["serves"]}
    new = [s for s in after["serves"] if s.id not in known]
    deployed = [s for s in new if s.outcome == "deployed"]
    events = after["events"][len(before["events"]) :]
    ok = True
    if len(deployed) > 1:
        figures.duplicates += len(deployed) - 1
        figures.problems.append(f"{label}: {len(deployed)} rollout records")
        ok = False
    failed = [s for s in new if s.outcome == "failed"]
    figures.failed_records += len(failed)
    ours = [e for e in events if e.get("version") == version and e.get("to") == "deployed"]
    if not ours:
        figures.missing_events += 1
        figures.problems.append(f"{label}: no deployment event")
        ok = False
    elif len(ours) > 1:
        figures.duplicates += len(ours) - 1
        figures.problems.append(f"{label}: {len(ours)} deployment events")
        ok = False
    record = after["record"] or {}
    serve_id = str((record.get("customProperties") or {}).get("kml_serve_model_id", {}).get("string_value") or "")
    version_id = deployed[0].version_id if deployed else ""
    if (
        not deployed
        or record.get("desiredState") != "DEPLOYED"
        or record.get("modelVersionId") != version_id
        or (serve_id != deployed[0].id)
    ):
        figures.half_written += 1
        figures.problems.append(f"{label}: record {record.get('desiredState')} {record.get('modelVersionId')}")
        ok = False
    ok = _check_cluster(after["isvcs"], name, version_id, figures, label) and ok
    figures.consistent_after_retry += ok


def _check_cluster(isvcs: dict[str, Any], name: str, version_id: str, figures: Figures, label: str) -> bool:
    live = isvcs.get(name)
    labels = (live or {}).get("metadata", {}).get("labels", {})
    conditions = {c["type"]: c["status"] for c in (live or {}).get("status", {}).get("conditions", [])}
    predictor = (live or {}).get("spec", {}).get("predictor", {})
    serving = (
        live is not None
        and not live["metadata"].get("deletionTimestamp")
        and labels.get("modelregistry.kubeflow.org/model-version-id") == version_id
        and conditions.get("Ready") == "True"
        and "canaryTrafficPercent" not in predictor
    )
    extra = sorted(n for n in isvcs if n != name and not n.startswith("fault-"))
    broken = [n for n, o in isvcs.items() if n != name and _not_ok(o)]
    if not serving or extra or broken:
        figures.left_over += 1
        figures.problems.append(f"{label}: cluster serving={serving} extra={extra} broken={broken}")
        return False
    return True


def _not_ok(obj: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
    return bool(obj["metadata"].get("deletionTimestamp")) or conditions.get("Ready") != "True"


def _run(world: World, scenario: Scenario, step: int, library_retries: bool, figures: Figures, label: str) -> None:
    """One deployment of the scenario (the step-th), retried as a task would be until it succeeds."""
    model = MODELS[scenario.key, library_retries]
    name = _name(scenario, model)
    version = scenario.versions[step % len(scenario.versions)]
    fresh = {"record": None, "serves": [], "events": [], "isvcs": {}}
    before = _observe(world, model, name) if scenario.name else fresh
    run_id = uuid.uuid4().hex
    figures.runs += 1
    for attempt in range(TASK_ATTEMPTS):
        try:
            _deploy(world, model, version, name, run_id, library_retries, scenario.canary)
            break
        except Exception as exc:  # the task fails; KFP would retry it
            figures.task_retries += 1
            if attempt == TASK_ATTEMPTS - 1:
                figures.problems.append(f"{label}: still failing after {TASK_ATTEMPTS} attempts: {exc}")
    for proxy in (world.registry_proxy, world.k8s_proxy):
        figures.faults_injected.update(c.fault.value for c in proxy.injected if c.fault)
        proxy.reset()
    _check(world, model, name, version, before, figures, label)


def _count_calls(world: World, scenario: Scenario, step: int, model: str) -> tuple[list[Call], list[Call]]:
    """A deployment without faults: the calls it makes to the registry and to the Kubernetes API."""
    figures = Figures()
    world.registry_proxy.reset()
    world.k8s_proxy.reset()
    name = _name(scenario, model)
    version = scenario.versions[step % len(scenario.versions)]
    _deploy(world, model, version, name, uuid.uuid4().hex, True, scenario.canary)
    calls = list(world.registry_proxy.calls), list(world.k8s_proxy.calls)
    world.registry_proxy.reset()
    world.k8s_proxy.reset()
    assert figures.problems == []
    return calls


def _plan(calls: list[Call]) -> list[tuple[int, Fault]]:
    """Every call index gets a fault (the kinds taking turns), and every write also loses its answer."""
    if FULL:
        return list(itertools.product(range(len(calls)), FAULTS))
    plan = [(call.index, FAULTS[call.index % len(FAULTS)]) for call in calls]
    plan += [
        (call.index, Fault.DROP_AFTER) for call in calls if call.write and (call.index, Fault.DROP_AFTER) not in plan
    ]
    return sorted(plan)


@pytest.mark.parametrize("library_retries", [True, False], ids=["library-retries", "task-retry-only"])
@pytest.mark.parametrize("scenario", [CREATE, UPDATE], ids=["create", "update"])
def test_every_call_can_fail_and_a_retry_leaves_one_consistent_deployment(
    world: World, knobs: pytest.MonkeyPatch, scenario: Scenario, library_retries: bool, capsys: Any
) -> None:
    started = time.monotonic()
    step = 0
    model = MODELS[scenario.key, library_retries]
    if scenario.name:  # something to update
        _deploy(world, model, scenario.versions[-1], _name(scenario, model), uuid.uuid4().hex, True, 0)
    registry_calls, k8s_calls = _count_calls(world, scenario, step, model)
    step += 1
    figures = Figures()
    for proxy, calls, where in (
        (world.registry_proxy, registry_calls, "registry"),
        (world.k8s_proxy, k8s_calls, "kubernetes"),
    ):
        for index, fault in _plan(calls):
            proxy.inject(index, fault)
            _run(world, scenario, step, library_retries, figures, f"{where} call {index} {fault.value}")
            step += 1
    mode = "library retries" if library_retries else "task retry only"
    counts = f"{len(registry_calls)} registry + {len(k8s_calls)} Kubernetes calls"
    summary = figures.line(f"{scenario.title}, {mode} ({counts})")
    with capsys.disabled():
        print(f"\n{summary} [{time.monotonic() - started:.0f}s]")
    assert figures.problems == [], figures.problems[:10]
    assert figures.consistent_after_retry == figures.runs
    assert figures.duplicates == figures.missing_events == figures.half_written == figures.left_over == 0
    assert figures.failed_records == 0
    if library_retries:
        assert figures.task_retries == 0, "the package's own retries should absorb a single fault"
    planned = len(_plan(registry_calls)) + len(_plan(k8s_calls))
    assert sum(figures.faults_injected.values()) >= planned * 0.9  # a few late calls (polls) may not come


def test_the_proxy_injects_each_fault_as_described(world: World) -> None:
    url = world.registry_proxy.url + "/api/model_registry/v1/registered_models?pageSize=1"
    world.registry_proxy.reset()
    world.registry_proxy.inject(0, Fault.DROP_BEFORE)
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=5)
    world.registry_proxy.inject(0, Fault.UNAVAILABLE)
    assert httpx.get(url, timeout=5).status_code == 503
    world.registry_proxy.inject(0, Fault.DROP_AFTER, method="GET")
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=5)
    assert httpx.get(url, timeout=5).status_code == 200
    calls = world.registry_proxy.calls
    assert [(c.fault, c.status) for c in calls] == [
        (Fault.DROP_BEFORE, 0),
        (Fault.UNAVAILABLE, 503),
        (Fault.DROP_AFTER, 200),  # forwarded and answered upstream, the answer lost
        (None, 200),
    ]
    world.registry_proxy.inject(0, Fault.HOLD)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(url, timeout=HOLD_SECONDS / 2)
    world.registry_proxy.reset()


# ---------------------------------------------------------------------------------------------------------------
# Bad input: a clear error naming the parameter, before anything is written
# ---------------------------------------------------------------------------------------------------------------

LONG = "x" * 10_000
DEPLOY_CASES: list[tuple[dict[str, Any], str]] = [
    ({"canary_percent": "10"}, "canary_percent must be a number, got str '10': pass an integer from 0 to 100"),
    ({"canary_percent": True}, "canary_percent must be a number, got bool"),
    ({"canary_percent": 12.5}, "canary_percent 12.5 must be an integer from 0 to 100"),
    ({"timeout_seconds": "600"}, "timeout_seconds must be a number, got str '600'"),
    ({"timeout_seconds": -5}, "timeout_seconds must be a positive number of seconds"),
    ({"resources": "1"}, "resources must be a dict, got str '1'"),
    ({"resources": {"limits": "1"}}, "resources.limits must map resource names to quantities"),
    ({"labels": "x"}, "labels must be a dict of strings, got str 'x'"),
    ({"annotations": ["a"]}, "annotations must be a dict of strings, got list"),
    ({"annotations": {"team": {"name": "fraud"}}}, "annotations['team'] must be a string, got dict"),
    ({"min_replicas": "2"}, "min_replicas must be a number, got str '2'"),
    ({"deployment_mode": 5}, "deployment_mode must be text, got int 5"),
    ({"protocol_version": "v9"}, "protocol_version 'v9' is not one of v1, v2, grpc-v2"),
    ({"storage_uri_mode": "s3"}, "storage_uri_mode 's3' is not supported"),
    ({"runtime": {"name": "sklearn"}}, "runtime must be text, got dict"),
    ({"dry_run": "false"}, "dry_run must be true or false, got str 'false'"),
    ({"inference_service_name": LONG}, "inference_service_name 'xxxx"),
    ({"namespace": LONG}, "namespace 'xxxx"),
    ({"model_reference": LONG}, "model_reference 'xxxx"),
    ({"model_reference": None}, "model_reference is empty"),
    ({"labels": {LONG: "v"}}, "labels key 'xxxx"),
    ({"model_reference": "fault/slash:1.0.0", "storage_uri_mode": "model-registry"}, "cannot address model name"),
]


@pytest.mark.parametrize(("inputs", "message"), DEPLOY_CASES, ids=[m[:40] for _, m in DEPLOY_CASES])
def test_bad_deploy_inputs_fail_clearly_before_anything_is_written(
    world: World, knobs: pytest.MonkeyPatch, inputs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "model_reference": f"{MODELS['create', True]}:1.0.0",
        "inference_service_name": "bad-input",
        "namespace": NS,
        "registry_url": world.registry_proxy.url,
        "kubeconfig_path": str(world.kubeconfig),
        "env": _environment(True),
        "context": RunContext(run_id=uuid.uuid4().hex, task_name="deploy", namespace=NS),
        **inputs,
    }
    _expect_refusal(world, lambda: run_deploy_model(**arguments), message)


JOB_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("rollback", {"timeout_seconds": "x"}, "timeout_seconds must be a number, got str 'x'"),
    ("rollback", {"model_name": 5}, "model_name must be text, got int 5"),
    ("rollback", {"dry_run": "no"}, "dry_run must be true or false"),
    ("rollback", {"inference_service_name": LONG}, "inference_service_name 'xxxx"),
    ("undeploy", {"timeout_seconds": "60"}, "timeout_seconds must be a number, got str '60'"),
    ("undeploy", {"model_name": ["x"]}, "model_name must be text, got list"),
    ("undeploy", {"inference_service_name": LONG}, "inference_service_name 'xxxx"),
]


@pytest.mark.parametrize(("job", "inputs", "message"), JOB_CASES, ids=[f"{j}-{m[:30]}" for j, _, m in JOB_CASES])
def test_bad_rollback_and_undeploy_inputs_fail_clearly_before_anything_is_written(
    world: World, knobs: pytest.MonkeyPatch, job: str, inputs: dict[str, Any], message: str
) -> None:
    from kfp_model_lifecycle.deployment.run import run_rollback_deployment, run_undeploy_model

    run = run_rollback_deployment if job == "rollback" else run_undeploy_model
    arguments: dict[str, Any] = {
        "model_name": MODELS["update", True],
        "namespace": NS,
        "registry_url": world.registry_proxy.url,
        "kubeconfig_path": str(world.kubeconfig),
        "env": _environment(True),
        "context": RunContext(run_id=uuid.uuid4().hex, task_name=job, namespace=NS),
        **inputs,
    }
    _expect_refusal(world, lambda: run(**arguments), message)


def _expect_refusal(world: World, call: Any, message: str) -> None:
    world.registry_proxy.reset()
    world.k8s_proxy.reset()
    with pytest.raises(InvalidInputError) as caught:
        call()
    text = str(caught.value)
    assert message in text, text
    assert len(text) < 800, f"the message repeats too much of the value ({len(text)} characters)"
    writes = [c for proxy in (world.registry_proxy, world.k8s_proxy) for c in proxy.calls if c.write]
    assert writes == [], f"written before the input was refused: {writes}"
