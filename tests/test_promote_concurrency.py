"""Concurrent promotions: many writers promote different versions to production at the same moment.

The registry has no transactions; the audit trail's compare-and-set (unique externalIds) must still give exactly
one production version, a history that tells who displaced whom, and a view (properties, labels) that matches it.
Raced with processes (forked writers, the registry in its own process) and with threads.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name, list_model_versions
from kfp_model_lifecycle.lifecycle.results import PromotionResult
from kfp_model_lifecycle.lifecycle.state import fold_lifecycle_events
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

WRITERS = 12
PROCESS_WRITERS = 10


def register_versions(registry: EmbeddedRegistry, name: str, count: int, **extra: Any) -> None:
    """A registered model with versions 1.0.0, 1.0.1, ... (accuracy, lineage and a label each), over REST."""
    api = registry.api_url
    with httpx.Client(timeout=30) as http:
        model = http.post(f"{api}/registered_models", json={"name": name, "owner": "tester"}).raise_for_status()
        model_id = model.json()["id"]
        for i in range(count):
            props = {
                "accuracy": {"double_value": 0.9 + i / 100, "metadataType": "MetadataDoubleValue"},
                "kfp_run_id": {"string_value": f"run-{i}", "metadataType": "MetadataStringValue"},
                "nightly": {"string_value": "", "metadataType": "MetadataStringValue"},
                "keep_me": {"string_value": f"v{i}", "metadataType": "MetadataStringValue"},
                **extra,
            }
            body = {"name": f"1.0.{i}", "registeredModelId": model_id, "author": "tester", "customProperties": props}
            version = http.post(f"{api}/model_versions", json=body).raise_for_status().json()
            artifact = {
                "artifactType": "model-artifact",
                "name": name,
                "uri": f"s3://bucket/{name}/{i}",
                "modelFormatName": "sklearn",
                "modelFormatVersion": "1",
            }
            http.post(f"{api}/model_versions/{version['id']}/artifacts", json=artifact).raise_for_status()


def promote_one(url: str, reference: str, wait: Any = None) -> dict[str, Any]:
    """One writer: its own connection, wait for the start signal, promote to production."""
    conn = connect_model_registry(url)
    try:
        if wait is not None:
            wait()
        result = promote_model_version(
            conn, reference, stage="production", reason=f"race {reference}", actor=f"writer:{reference}"
        )
        return {k: getattr(result, k) for k in ("reference", "previous_holder", "event_seq", "conflicts", "changed")}
    finally:
        conn.close()


def check_race_outcome(url: str, name: str, results: list[dict[str, Any]]) -> None:
    conn = connect_model_registry(url)
    try:
        model = find_model_by_name(conn, name)
        events = read_lifecycle_events(conn, str(model["id"]))
        versions = list_model_versions(conn, model)
    finally:
        conn.close()
    assert all(r["changed"] for r in results), results
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    stage_events = [e for e in events if e["type"] == "stage"]
    assert len(stage_events) == len(results)  # every writer promoted exactly once
    # The history is a chain: each promotion displaced the version promoted just before it.
    assert "demoted_version_id" not in stage_events[0] or not stage_events[0].get("demoted_version_id")
    for before, after in itertools.pairwise(stage_events):
        assert after["demoted_version_id"] == before["version_id"], (before, after)
        assert after["demoted_to"] == "archived"
    # Each writer's outcome names the holder it displaced, as recorded.
    by_seq = {e["seq"]: e for e in events}
    for result in results:
        event = by_seq[result["event_seq"]]
        assert f"{name}:{event['version']}" == result["reference"]
        assert result["previous_holder"] == (
            f"{name}:{event['demoted_version']}" if event.get("demoted_version") else ""
        )
    winner = stage_events[-1]["version_id"]
    assert sum(e.get("conflicts", 0) for e in stage_events) > 0  # the writers really raced
    # Exactly one production version, in the view as in the log; everything else archived with state ARCHIVED.
    production = [v for v in versions if plain_properties(v).get("kml_stage") == "production"]
    assert [v["id"] for v in production] == [winner]
    assert plain_properties(model)["kml_production_version_id"] == winner
    assert plain_properties(model)["kml_event_seq"] == len(events)
    for version in versions:
        props = plain_properties(version)
        labels = sorted(k for k in props if k.startswith("kml:stage="))
        assert labels == [f"kml:stage={props['kml_stage']}"]
        assert props["keep_me"].startswith("v")  # other properties survived every whole-map PATCH
        if version["id"] != winner:
            assert props["kml_stage"] == "archived" and version["state"] == "ARCHIVED"
    assert fold_lifecycle_events(events).production == winner


# First in the module: the writers are forked before any registry thread (the `registry` fixture) runs here.
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(Path(tmp_path_factory.mktemp("race")) / "registry.db", in_process=False) as reg:
        yield reg


def _writer(url: str, reference: str, barrier: Any, results: Any) -> None:
    try:
        results.put(("ok", promote_one(url, reference, barrier.wait)))
    except BaseException as exc:  # reported to the test
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_concurrent_promotions_with_processes(server: EmbeddedRegistry, unique: str) -> None:
    name = f"race-procs-{unique}"
    register_versions(server, name, PROCESS_WRITERS)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESS_WRITERS)
    results = context.Queue()
    processes = [
        context.Process(target=_writer, args=(server.url, f"{name}:1.0.{i}", barrier, results), daemon=True)
        for i in range(PROCESS_WRITERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors
    check_race_outcome(server.url, name, [detail for _, detail in outcomes])


def test_concurrent_promotions_with_threads(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"race-threads-{unique}"
    register_versions(registry, name, WRITERS)
    barrier = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(promote_one, registry.url, f"{name}:1.0.{i}", barrier.wait) for i in range(WRITERS)]
        results = [f.result(timeout=120) for f in futures]
    check_race_outcome(registry.url, name, results)


def test_concurrent_alias_moves_leave_one_holder(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"race-alias-{unique}"
    count = 8
    register_versions(registry, name, count)
    barrier = threading.Barrier(count)

    def move(i: int) -> PromotionResult:
        conn = connect_model_registry(registry.url)
        try:
            barrier.wait()
            return promote_model_version(conn, f"{name}:1.0.{i}", aliases=["champion"], reason="race")
        finally:
            conn.close()

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(move, range(count)))
    conn = connect_model_registry(registry.url)
    try:
        model = find_model_by_name(conn, name)
        events = read_lifecycle_events(conn, str(model["id"]))
        holders = [v for v in list_model_versions(conn, model) if "kml:@champion" in (v.get("customProperties") or {})]
        resolved = resolve_model_reference(conn, f"{name}@champion")
    finally:
        conn.close()
    alias_events = [e for e in events if e["type"] == "alias"]
    assert len(alias_events) == count and all(r.changed for r in results)
    for before, after in itertools.pairwise(alias_events):
        assert after["previous_version_id"] == before["version_id"]
    assert [v["id"] for v in holders] == [alias_events[-1]["version_id"]]
    assert resolved.version["id"] == alias_events[-1]["version_id"]
