"""The real server's spurious 409 on concurrent PATCHes, imitated deterministically (``patch_window``).

Upstream (kubeflow/hub ``internal/platform/db/repository/generic_repository.go``): an update reads the entity's
stored custom properties, then inserts the ones it does not find. Two concurrent PATCHes that both add the same
new key both read "absent"; the second insert hits the property table's primary key and the request answers
``409 {"code": "Conflict", "message": "model version with name <name> already exists: conflict"}`` although
nothing is wrong with it. ``EmbeddedRegistry(patch_window=S)`` (``kml registry serve --patch-window S``) makes
every update wait ``S`` seconds between that read and its write, so requests that overlap collide every time:
a client that does not retry a 409 on PATCH fails here, one that re-reads and re-applies succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

WINDOW = 0.5
PROP = {"string_value": "", "metadataType": "MetadataStringValue"}


@pytest.fixture(scope="module")
def racy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(tmp_path_factory.mktemp("race") / "r.db", patch_window=WINDOW) as registry:
        yield registry


def _version(registry: EmbeddedRegistry, tag: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    with httpx.Client(base_url=registry.api_url) as http:
        model = http.post("/registered_models", json={"name": f"race-{tag}"}).json()
        body = {"name": "v1", "registeredModelId": model["id"], "customProperties": props or {}}
        created = http.post("/model_versions", json=body)
        assert created.status_code == 201, created.text
        return dict(created.json())


def _concurrently(registry: EmbeddedRegistry, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send the PATCHes at the same moment, one connection each; the answers in the order of ``bodies``."""
    barrier = threading.Barrier(len(bodies))
    answers: list[httpx.Response | None] = [None] * len(bodies)

    def patch(i: int) -> None:
        with httpx.Client(base_url=registry.api_url, timeout=30) as http:
            barrier.wait()
            answers[i] = http.patch(path, json=bodies[i])

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [a for a in answers if a is not None]


def test_two_patches_adding_the_same_new_key_get_one_spurious_409(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique, {"kept": PROP})
    bodies = [{"customProperties": {"kept": PROP, "kml:@champion": PROP, f"writer{i}": PROP}} for i in range(2)]
    answers = _concurrently(racy, f"/model_versions/{version['id']}", bodies)
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert conflict.json() == {"code": "Conflict", "message": "model version with name v1 already exists: conflict"}


def test_a_client_that_does_not_retry_loses_its_write(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique)
    path = f"/model_versions/{version['id']}"
    bodies = [{"customProperties": {"stage": PROP, "by-a": PROP}}, {"customProperties": {"stage": PROP, "by-b": PROP}}]
    answers = _concurrently(racy, path, bodies)
    stored = set(httpx.get(racy.api_url + path).json()["customProperties"])
    loser = "by-b" if answers[0].status_code == 200 else "by-a"
    assert loser not in stored  # the 409 was real: that write is not there


def test_a_client_that_rereads_and_retries_gets_both_writes_in(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique)
    path = f"/model_versions/{version['id']}"
    results: list[int] = []

    def add(key: str, barrier: threading.Barrier) -> None:
        with httpx.Client(base_url=racy.api_url, timeout=30) as http:
            barrier.wait()
            for _ in range(5):  # read-modify-write, re-read on 409
                props = http.get(path).json()["customProperties"]
                answer = http.patch(path, json={"customProperties": {**props, "shared": PROP, key: PROP}})
                if answer.status_code != 409:
                    results.append(answer.status_code)
                    return

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=add, args=(key, barrier)) for key in ("by-a", "by-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200]
    assert {"shared", "by-a", "by-b"} <= set(httpx.get(racy.api_url + path).json()["customProperties"])


def test_patches_one_after_the_other_never_conflict(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique)
    path = f"/model_versions/{version['id']}"
    with httpx.Client(base_url=racy.api_url, timeout=30) as http:
        assert http.patch(path, json={"customProperties": {"new": PROP}}).status_code == 200
        assert http.patch(path, json={"customProperties": {"new": PROP, "newer": PROP}}).status_code == 200


def test_concurrent_patches_that_add_no_new_key_both_succeed(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique, {"a": PROP})
    path = f"/model_versions/{version['id']}"
    answers = _concurrently(racy, path, [{"description": "one"}, {"customProperties": {"a": PROP}}])
    assert [a.status_code for a in answers] == [200, 200]


def test_other_entities_and_upserts_race_the_same_way(racy: EmbeddedRegistry, unique: str) -> None:
    version = _version(racy, unique)
    doc = {"artifactType": "doc-artifact", "name": f"doc-{unique}"}
    artifact = httpx.post(f"{racy.api_url}/model_versions/{version['id']}/artifacts", json=doc).json()
    path = f"/artifacts/{artifact['id']}"
    bodies = [{"artifactType": "doc-artifact", "customProperties": {"k": PROP, f"w{i}": PROP}} for i in range(2)]
    answers = _concurrently(racy, path, bodies)
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert "doc artifact with name" in next(a for a in answers if a.status_code == 409).json()["message"]


def test_without_a_window_concurrent_patches_do_not_conflict(registry: EmbeddedRegistry, unique: str) -> None:
    version = _version(registry, unique)
    bodies = [{"customProperties": {"same": PROP, f"w{i}": PROP}} for i in range(2)]
    answers = _concurrently(registry, f"/model_versions/{version['id']}", bodies)
    assert [a.status_code for a in answers] == [200, 200]
