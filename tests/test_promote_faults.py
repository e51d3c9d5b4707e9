"""promote_model and approve_model under injected faults: every registry call of a promotion, hit in turn.

A :class:`~fault_proxy.FaultProxy` sits in front of the embedded registry. A recording run counts the calls one
promotion makes (approve a version, then promote it to production with the alias ``champion``, demoting the
current production version); then, for every call index, the same promotion runs on a fresh model with one fault
at that index -- the connection dropped before the request is forwarded, dropped after it (the answer lost), a 503,
or the request held past the client's timeout and done late -- in two modes:

- **library retries**: the package's own retries on, the step called once (a task retry is counted, and must not
  be needed);
- **task retry only**: one attempt per call, and the step called again after a failure, as KFP's retry policy does.

After each promotion, read around the proxy: the audit trail holds exactly one approval, one stage event to
production (with the demotion) and one alias event -- nothing missing, nothing twice -- and the readers (reference
resolution, ``show``) see one production version, the new one, with its alias and approval, the old one archived.

By default each call index gets one fault, the kinds taking turns, and every write also gets its answer lost;
``KML_FAULT_SWEEP=full`` runs every kind at every index. The figures are printed.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fault_proxy import Fault, FaultProxy

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lifecycle import lifecycle_history, resolve_model_reference
from kfp_model_lifecycle.lifecycle.run import run_approve_model, run_promote_model
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

CLIENT_TIMEOUT = 0.5
HOLD_SECONDS = 0.8
TASK_ATTEMPTS = 4
FULL = os.environ.get("KML_FAULT_SWEEP", "") == "full"
FAULTS = (Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.UNAVAILABLE, Fault.HOLD)


@dataclass
class Figures:
    """What the sweep found."""

    runs: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    consistent_after_retry: int = 0
    task_retries: int = 0
    duplicates: int = 0
    missing_events: int = 0
    wrong_view: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self, title: str) -> str:
        faults = sum(self.faults_injected.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults_injected.items()))
        return (
            f"{title}: {self.runs} promotions, {faults} faults injected ({kinds}); consistent after retry"
            f" {self.consistent_after_retry}/{self.runs}; task retries {self.task_retries}; duplicate events"
            f" {self.duplicates}; missing events {self.missing_events}; readers seeing a wrong state {self.wrong_view}"
        )


@dataclass
class World:
    registry: EmbeddedRegistry
    proxy: FaultProxy
    observer: RegistryConnection


@pytest.fixture(scope="module")
def world(registry: EmbeddedRegistry) -> Iterator[World]:
    with (
        FaultProxy(registry.url, hold_seconds=HOLD_SECONDS) as proxy,
        connect_model_registry(registry.url, env={}) as observer,  # reads around the proxy
    ):
        yield World(registry, proxy, observer)


@pytest.fixture(autouse=True)
def _isolated(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry or token variables from the environment."""


def _model(registry: EmbeddedRegistry) -> str:
    """A fresh model with versions 1.0.0 (in production) and 1.0.1 (complete: each has its model artifact)."""
    name = f"fault-promote-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model = http.post("/registered_models", json={"name": name}).json()
        for version in ("1.0.0", "1.0.1"):
            created = http.post("/model_versions", json={"name": version, "registeredModelId": model["id"]}).json()
            artifact = {"artifactType": "model-artifact", "name": name, "uri": f"s3://models/{name}/{version}"}
            http.post(f"/model_versions/{created['id']}/artifacts", json=artifact).raise_for_status()
    run_promote_model(model_reference=f"{name}:1.0.0", stage="production", registry_url=registry.url, env={})
    return name


def _environment(library_retries: bool) -> dict[str, str]:
    return {
        "KML_REGISTRY_MAX_ATTEMPTS": "5" if library_retries else "1",
        "KML_REGISTRY_BACKOFF_SECONDS": "0.02",
        "KML_REGISTRY_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
    }


def _promote(world: World, name: str, library_retries: bool, run_id: str) -> None:
    env = _environment(library_retries)
    context = RunContext(run_id=run_id, run_name="sweep", task_name="promote")
    url = world.proxy.url
    run_approve_model(model_reference=f"{name}:1.0.1", comment="reviewed", registry_url=url, env=env, context=context)
    run_promote_model(
        model_reference=f"{name}:1.0.1",
        stage="production",
        aliases=["champion"],
        reason="better",
        registry_url=url,
        env=env,
        context=context,
    )


def _run(world: World, library_retries: bool, figures: Figures, label: str) -> None:
    """One promotion on a fresh model, retried as a task would be until it succeeds."""
    name = _model(world.registry)
    figures.runs += 1
    run_id = uuid.uuid4().hex
    for attempt in range(1, TASK_ATTEMPTS + 1):
        try:
            _promote(world, name, library_retries, run_id)
            break
        except Exception as exc:
            if attempt == TASK_ATTEMPTS:
                figures.problems.append(f"{label}: still failing after {attempt} attempts: {exc}")
                return
            figures.task_retries += 1
    _check(world, name, figures, label)


def _check(world: World, name: str, figures: Figures, label: str) -> None:
    conn = world.observer
    events = lifecycle_history(conn, name)["events"][1:]  # after the setup's promotion of 1.0.0
    kinds = Counter((e.get("type"), e.get("to") or e.get("status") or e.get("alias"), e.get("version")) for e in events)
    expected = {
        ("approval", "approved", "1.0.1"): 1,
        ("stage", "production", "1.0.1"): 1,
        ("alias", "1.0.1", "1.0.1"): 1,
    }
    ok = True
    for key, count in expected.items():
        if kinds.get(key, 0) < count:
            figures.missing_events += 1
            figures.problems.append(f"{label}: missing {key} in {sorted(kinds)}")
            ok = False
        elif kinds[key] > count:
            figures.duplicates += kinds[key] - count
            figures.problems.append(f"{label}: {kinds[key]} x {key}")
            ok = False
    ok = _check_readers(conn, name, figures, label) and ok
    figures.consistent_after_retry += ok


def _check_readers(conn: RegistryConnection, name: str, figures: Figures, label: str) -> bool:
    production = resolve_model_reference(conn, name, with_artifact=False)
    champion = resolve_model_reference(conn, f"{name}@champion", with_artifact=False)
    old = resolve_model_reference(conn, f"{name}:1.0.0", with_artifact=False)
    stage_of_old = ((old.version.get("customProperties") or {}).get("kml_stage") or {}).get("string_value")
    approval = ((production.version.get("customProperties") or {}).get("kml_approval_status") or {}).get("string_value")
    state: Any = (production.reference, champion.reference, stage_of_old, approval)
    if state != (f"{name}:1.0.1", f"{name}:1.0.1", "archived", "approved"):
        figures.wrong_view += 1
        figures.problems.append(f"{label}: readers see {state}")
        return False
    return True


def _plan(world: World) -> list[tuple[int, Fault]]:
    """(call index, fault) pairs: a recording run counts the calls of one promotion."""
    world.proxy.reset()
    _promote(world, _model(world.registry), True, uuid.uuid4().hex)
    calls = list(world.proxy.calls)
    world.proxy.reset()
    assert calls, "the recording run made no registry call through the proxy"
    if FULL:
        return [(c.index, fault) for c in calls for fault in FAULTS]
    kinds = itertools.cycle(FAULTS)
    plan = [(c.index, next(kinds)) for c in calls]
    plan += [(c.index, Fault.DROP_AFTER) for c in calls if c.write and (c.index, Fault.DROP_AFTER) not in plan]
    return plan


@pytest.mark.slow
@pytest.mark.parametrize("library_retries", [True, False], ids=["library-retries", "task-retry-only"])
def test_promotion_is_consistent_after_a_fault_at_every_call(world: World, library_retries: bool) -> None:
    figures = Figures()
    for index, fault in _plan(world):
        world.proxy.reset()
        world.proxy.inject(index, fault)
        label = f"call {index} {fault}"
        _run(world, library_retries, figures, label)
        figures.faults_injected.update(str(c.fault) for c in world.proxy.injected)
    mode = "library retries" if library_retries else "task retry only"
    print("\n" + figures.line(f"promote sweep ({mode})"))
    assert figures.problems == [], figures.line("promote sweep") + "\n" + "\n".join(figures.problems[:20])
    assert figures.consistent_after_retry == figures.runs > 0
    if library_retries:
        assert figures.task_retries == 0, "the library's own retries should have absorbed every single fault"
