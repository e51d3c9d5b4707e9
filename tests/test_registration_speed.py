"""The next SemVer without listing every version: correctness of the newest-first walk and its high-water marks.

Each version ``register_model`` writes records ``semver_high_water`` (the model's highest SemVer then, its own name
included); the next bump reads the newest versions only, back to the first page holding a mark. These tests check
the answers stay those of a full listing -- concurrent bumps, explicit names, versions of other clients without
marks, names that are not SemVer, archived versions, pages -- and that the walk reads a bounded number of versions.
No timings here: ``bench/registration.py`` measures them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import RegistrationResult, run_register_model, writes
from kfp_model_lifecycle.registration.versions import HIGH_WATER_PROPERTY, NewestFirstWalk, bump_semver


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry, token or pod variables from the environment running the tests."""


def _post(registry: EmbeddedRegistry, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(registry.api_url + path, json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def _other_client_versions(registry: EmbeddedRegistry, model_name: str, names: list[str]) -> str:
    """Versions written by another client (no high-water mark), oldest first; returns the model id."""
    found = httpx.get(registry.api_url + "/registered_model", params={"name": model_name}, timeout=10)
    model = found.json() if found.status_code == 200 else _post(registry, "/registered_models", {"name": model_name})
    for name in names:
        _post(registry, "/model_versions", {"name": name, "registeredModelId": model["id"]})
    return str(model["id"])


def _register(registry: EmbeddedRegistry, name: str, version: str = "patch", run: str = "") -> RegistrationResult:
    return run_register_model(
        model_uri=f"s3://models/{name}/{run or version}",
        model_name=name,
        version=version,
        registry_url=registry.url,
        context=RunContext(run_id=run or f"run-{version}-{threading.get_ident()}", task_name="register"),
        env={},
    )


def _walk(registry: EmbeddedRegistry, model_id: str) -> NewestFirstWalk:
    with connect_model_registry(registry.url, env={}) as conn:
        return writes.walk_newest_versions(conn, model_id, "m")


def _small_pages(monkeypatch: pytest.MonkeyPatch, first: int = 3, then: int = 4) -> None:
    monkeypatch.setattr(writes, "FIRST_PAGE_SIZE", str(first))
    monkeypatch.setattr(writes, "WALK_PAGE_SIZE", str(then))


def _threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def _semver_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


def test_unit_walk_takes_names_and_marks_and_ignores_what_is_not_semver() -> None:
    walk = NewestFirstWalk()
    for name, mark in [("latest", ""), ("1.0.0-rc1", ""), ("v9", "garbage"), ("1.2.3", "")]:
        walk.add(name, mark)
    assert (walk.highest, walk.marked, walk.walked) == ((1, 2, 3), False, 4)
    walk.add("experiment", "2.0.0")  # a marked version whose own name is not SemVer
    assert (walk.highest, walk.marked) == ((2, 0, 0), True)
    assert walk.mark_for("experiment-b") == "2.0.0" and walk.mark_for("10.0.0") == "10.0.0"
    assert walk.mark_for("2.0.1", floor=(2, 0, 5)) == "2.0.5"
    assert NewestFirstWalk().mark_for("latest") == ""
    assert bump_semver(None, "major") == "1.0.0" and bump_semver((1, 9, 9), "minor") == "1.10.0"


def test_every_registered_version_records_the_high_water_mark(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"marks-{unique}"
    results = [_register(registry, name, v, run=f"r{i}") for i, v in enumerate(["patch", "minor", "exp", "patch"])]
    assert [r.version_name for r in results] == ["1.0.0", "1.1.0", "exp", "1.1.1"]
    marks = []
    for r in results:
        version = httpx.get(f"{registry.api_url}/model_versions/{r.version_id}", timeout=10).json()
        marks.append(version["customProperties"][HIGH_WATER_PROPERTY]["string_value"])
    assert marks == ["1.0.0", "1.1.0", "1.1.0", "1.1.1"]  # 'exp' carries the highest SemVer of its time


def test_the_walk_reads_only_the_newest_page_once_a_marked_version_exists(
    registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"flat-{unique}"
    older = [f"1.{i // 10}.{i % 10}" for i in range(int(writes.FIRST_PAGE_SIZE) * 3)]  # 60 unmarked versions
    model_id = _other_client_versions(registry, name, older)
    unmarked = _walk(registry, model_id)
    assert unmarked.walked == len(older) and not unmarked.marked  # no mark yet: read to the end, once
    assert _register(registry, name, run="first").version_name == "1.5.10"
    walk = _walk(registry, model_id)
    assert walk.walked == int(writes.FIRST_PAGE_SIZE) and walk.marked  # the full listing read all 61
    assert _register(registry, name, run="second").version_name == "1.5.11"


def test_highest_version_far_behind_newer_unmarked_versions_across_pages(
    registry: EmbeddedRegistry, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_pages(monkeypatch)
    name = f"deep-{unique}"
    # the highest SemVer is the OLDEST version; then names that are not SemVer or lower, from another client
    _other_client_versions(registry, name, ["7.3.9", "latest", "1.0.0", "v8", "2.0.0-rc1", "0.1.0", "champion"])
    assert _register(registry, name, run="a").version_name == "7.3.10"
    # a marked version (mark 7.3.10) now sits behind eleven newer unmarked ones, over several pages
    _other_client_versions(registry, name, [f"0.0.{i}" for i in range(11)])
    assert _register(registry, name, "minor", run="b").version_name == "7.4.0"


def test_explicit_versions_of_other_clients_and_of_ours_move_the_next_bump(
    registry: EmbeddedRegistry, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_pages(monkeypatch, first=2, then=2)
    name = f"explicit-{unique}"
    assert _register(registry, name, run="a").version_name == "1.0.0"
    _other_client_versions(registry, name, ["5.0.0"])  # another client, no mark
    assert _register(registry, name, run="b").version_name == "5.0.1"
    assert _register(registry, name, "9.9.9", run="c").version_name == "9.9.9"  # ours, explicit
    assert _register(registry, name, "not-semver", run="d").version_name == "not-semver"
    _other_client_versions(registry, name, ["0.0.1", "0.0.2", "0.0.3"])  # push 9.9.9 out of the first pages
    assert _register(registry, name, "major", run="e").version_name == "10.0.0"


def test_archived_versions_count(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"archived-{unique}"
    top = _register(registry, name, "3.0.0", run="a")
    url = f"{registry.api_url}/model_versions/{top.version_id}"
    response = httpx.patch(url, json={"state": "ARCHIVED"}, timeout=10)
    assert response.status_code == 200, response.text
    _other_client_versions(registry, name, ["1.0.0"])
    assert _register(registry, name, run="b").version_name == "3.0.1"  # names of archived versions stay taken


def test_parallel_bumps_on_a_model_with_history_get_distinct_next_versions(
    registry: EmbeddedRegistry, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_pages(monkeypatch)
    name = f"race-{unique}"
    _other_client_versions(registry, name, ["2.4.0", "1.0.0", "latest"])
    results = _threads(8, lambda i: _register(registry, name, run=f"p{i}"))
    names = sorted((r.version_name for r in results), key=_semver_key)
    assert names == [f"2.4.{i}" for i in range(1, 9)]
    assert len({r.version_id for r in results}) == 8
    assert _register(registry, name, run="after").version_name == "2.4.9"


def test_parallel_bumps_mixed_with_explicit_versions(
    registry: EmbeddedRegistry, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_pages(monkeypatch)
    name = f"mixed-{unique}"
    assert _register(registry, name, run="base").version_name == "1.0.0"
    requests = ["patch"] * 6 + ["4.0.0", "4.1.0"]
    results = _threads(len(requests), lambda i: _register(registry, name, requests[i], run=f"m{i}"))
    by_request = [r.version_name for r in results]
    assert by_request[6:] == ["4.0.0", "4.1.0"]  # explicit names are taken as given
    assert len(set(by_request)) == len(requests)  # every bump got a name of its own
    versions = httpx.get(f"{registry.api_url}/registered_models/{results[0].model_id}/versions", timeout=10).json()
    assert len(versions["items"]) == len(requests) + 1
    highest = max((r.version_name for r in results), key=_semver_key)  # 4.1.0, or a bump that came after it
    major, minor, patch = _semver_key(highest)
    assert (major, minor) == (4, 1)
    assert _register(registry, name, run="after").version_name == f"4.1.{patch + 1}"
