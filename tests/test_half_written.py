"""Nothing half-shown: a version whose registration died before its model artifact, and a view a promotion left behind.

Item 5: such a version is incomplete -- ``name@latest``, ``kml models list`` and searches pass over it, ``show`` marks
it, promotion/approval/deployment refuse it, and a retried registration completes it. Item 6: after a promotion
that died between its audit-trail event and the view, readers (search, list, show, references) answer what the
trail says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mr_openapi import ModelRegistryServiceApi

from kfp_model_lifecycle.cli import main
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.errors import NotFoundError, RegistryAuthError, RegistryError
from kfp_model_lifecycle.lifecycle import promotion
from kfp_model_lifecycle.lifecycle.approval import approve_model_version
from kfp_model_lifecycle.lifecycle.audit import lifecycle_history
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.queries import list_models, search_models, show_model, show_version
from kfp_model_lifecycle.lifecycle.references import resolve_model_reference
from kfp_model_lifecycle.lineage import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import run_register_model
from kfp_model_lifecycle.registration.artifacts import build_model_artifact, ensure_model_artifact


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry or token variables from the environment."""


@pytest.fixture
def conn(registry: EmbeddedRegistry) -> Iterator[RegistryConnection]:
    connection = connect_model_registry(registry.url)
    yield connection
    connection.close()


def _register(registry: EmbeddedRegistry, name: str, run_id: str, accuracy: float) -> Any:
    return run_register_model(
        model_uri=f"s3://models/{name}/{run_id}",
        model_name=name,
        model_format_name="sklearn",
        metrics={"accuracy": accuracy},
        registry_url=registry.url,
        context=RunContext(run_id=run_id, task_name="register-model"),
        env={},
    )


def _half_written(registry: EmbeddedRegistry, name: str, monkeypatch: pytest.MonkeyPatch, accuracy: float) -> None:
    """Register a version whose task dies before its model artifact is linked (the registration's last write)."""

    async def die(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("pod killed before the model artifact was written")

    with monkeypatch.context() as patch:
        patch.setattr(ModelRegistryServiceApi, "upsert_model_version_artifact", die)
        with pytest.raises(RegistryError, match="pod killed"):
            _register(registry, name, "run-half", accuracy)


def _events(conn: RegistryConnection, name: str) -> list[dict[str, Any]]:
    return lifecycle_history(conn, name)["events"]


def test_an_incomplete_version_is_passed_over_marked_and_refused_until_a_retry_completes_it(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"half-{unique}"
    _register(registry, name, "run-good", 0.91)
    _half_written(registry, name, monkeypatch, 0.97)  # 1.0.1: properties written, no model artifact

    latest = resolve_model_reference(conn, f"{name}@latest")
    assert latest.reference == f"{name}:1.0.0" and "1.0.1" in latest.selector  # passed over, and said so
    [summary] = [m for m in list_models(conn) if m.name == name]
    assert (summary.latest, summary.incomplete, summary.versions) == ("1.0.0", ["1.0.1"], 2)
    assert all(row.model != name for row in search_models(conn, "accuracy > 0.95"))
    [marked] = [r for r in search_models(conn, "accuracy > 0.95", include_incomplete=True) if r.model == name]
    assert marked.reference == f"{name}:1.0.1" and marked.complete is False
    details = show_version(conn, f"{name}:1.0.1")
    assert details.complete is False and details.model_uri == "" and details.metrics == {"accuracy": 0.97}
    overview = show_model(conn, name)
    assert [(v.version, v.complete) for v in overview.versions] == [("1.0.0", True), ("1.0.1", False)]

    before = _events(conn, name)
    for refused in (
        lambda: promote_model_version(conn, f"{name}:1.0.1", stage="production"),
        lambda: promote_model_version(conn, f"{name}:1.0.1", aliases=["champion"]),
        lambda: approve_model_version(conn, f"{name}:1.0.1", comment="looks fine"),
    ):
        with pytest.raises(NotFoundError, match=r":1\.0\.1 cannot be (promoted|approved): it is incomplete"):
            refused()
    with pytest.raises(NotFoundError, match=r"cannot be deployed: it is incomplete.*re-run the task"):
        resolve_model_reference(conn, f"{name}:1.0.1", purpose="deployed")  # what deploy_model resolves with
    assert _events(conn, name) == before  # nothing recorded, not even a rejection
    # cleaning up is allowed: rejecting or archiving it
    approve_model_version(conn, f"{name}:1.0.1", status="rejected", comment="its task died")
    assert promote_model_version(conn, f"{name}@latest", stage="production").reference == f"{name}:1.0.0"

    retried = _register(registry, name, "run-half", 0.97)  # the retried task finds its version and completes it
    assert (retried.version_name, retried.reused) == ("1.0.1", True)
    assert resolve_model_reference(conn, f"{name}@latest").reference == f"{name}:1.0.1"
    assert [r.reference for r in search_models(conn, "accuracy > 0.95", model=name)] == [f"{name}:1.0.1"]
    assert show_version(conn, f"{name}:1.0.1").complete is True
    assert promote_model_version(conn, f"{name}:1.0.1", aliases=["champion"]).aliases == ["champion"]


def test_archiving_an_incomplete_version_is_allowed(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"arch-{unique}"
    _half_written(registry, name, monkeypatch, 0.5)
    with pytest.raises(NotFoundError, match=r"has no complete version: the registrations of 1\.0\.0 did not finish"):
        resolve_model_reference(conn, f"{name}@latest")
    assert promote_model_version(conn, f"{name}:1.0.0", stage="archived").stage == "archived"


def test_the_cli_shows_incomplete_versions_as_such(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"cli-half-{unique}"
    _register(registry, name, "run-good", 0.91)
    _half_written(registry, name, monkeypatch, 0.97)
    capsys.readouterr()
    assert main(["models", "search", "accuracy > 0.95", "--model", name, "--registry-url", registry.url]) == 0
    out, err = capsys.readouterr()
    assert "(none)" in out and f"not shown: {name}:1.0.1 (incomplete: its registration did not finish" in err
    assert main(["models", "show", f"{name}:1.0.1", "--registry-url", registry.url]) == 0
    shown = capsys.readouterr().out
    assert (
        "INCOMPLETE: its registration did not finish" in shown and "cannot be promoted, approved or deployed" in shown
    )
    assert main(["models", "show", name, "--registry-url", registry.url]) == 0
    assert f"{name}:1.0.1 (incomplete)" in capsys.readouterr().out
    assert main(["models", "list", "--registry-url", registry.url]) == 0
    assert "1.0.0 (1.0.1: incomplete)" in capsys.readouterr().out
    code = main(["models", "promote", f"{name}:1.0.1", "--stage", "staging", "--registry-url", registry.url])
    assert code == 1 and "cannot be promoted: it is incomplete" in capsys.readouterr().err


def test_complete_versions_are_found_with_one_list_not_one_request_per_version(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"cheap-{unique}"
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model_id = http.post("/registered_models", json={"name": name}).raise_for_status().json()["id"]
        ids = []
        for i in range(6):
            body = {"name": f"1.0.{i}", "registeredModelId": model_id}
            ids.append(http.post("/model_versions", json=body).raise_for_status().json()["id"])
    for vid in ids[:5]:  # linked as registration links them; the sixth is incomplete
        ensure_model_artifact(conn, vid, build_model_artifact(name, f"s3://m/{vid}", RunContext()))
    from kfp_model_lifecycle.lifecycle import completeness  # (new module: imported here, the others run on old code)

    asked: list[str] = []
    original = completeness.is_complete
    monkeypatch.setattr(completeness, "is_complete", lambda c, v: asked.append(str(v["id"])) or original(c, v))
    assert completeness.complete_version_ids(conn, [{"id": vid} for vid in ids]) == set(ids[:5])
    assert asked == [ids[5]]  # one filtered list answered for the five; only the incomplete one was asked alone


def test_versions_registered_by_other_clients_count_as_complete(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str
) -> None:
    name = f"legacy-{unique}"
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model_id = http.post("/registered_models", json={"name": name}).raise_for_status().json()["id"]
        for version in ("1.0.0", "1.0.1"):
            body = {"name": version, "registeredModelId": model_id}
            created = http.post("/model_versions", json=body).raise_for_status().json()
            if version == "1.0.0":  # linked without the reference property, as the official client does
                artifact = {"artifactType": "model-artifact", "name": name, "uri": "s3://m"}
                http.post(f"/model_versions/{created['id']}/artifacts", json=artifact).raise_for_status()
    assert resolve_model_reference(conn, f"{name}@latest").reference == f"{name}:1.0.0"
    rows = search_models(conn, "", model=name, include_incomplete=True)
    assert [(r.version, r.complete) for r in rows] == [("1.0.0", True), ("1.0.1", False)]


# -- item 6: readers see the audit trail's truth ---------------------------------------------------------------


def _crashed_promotion(
    conn: RegistryConnection, monkeypatch: pytest.MonkeyPatch, reference: str, **change: Any
) -> None:
    """A promotion that appends its event and dies before it writes the view."""

    def die(*args: Any, **kwargs: Any) -> None:
        raise ConnectionResetError("pod killed between the audit-trail event and the view")

    with monkeypatch.context() as patch:
        patch.setattr(promotion, "sync_lifecycle_view", die)
        with pytest.raises(ConnectionResetError):
            promote_model_version(conn, reference, **change)


def _stored(registry: EmbeddedRegistry, conn: RegistryConnection, name: str) -> dict[str, Any]:
    model_id = resolve_model_reference(conn, f"{name}:1.0.0", repair=False, with_artifact=False).model["id"]
    response = httpx.get(f"{registry.api_url}/registered_models/{model_id}", timeout=10)
    return plain_properties(response.raise_for_status().json())


def test_readers_see_a_promotion_that_died_before_its_view(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"crash-{unique}"
    for i in range(2):
        _register(registry, name, f"run-{i}", 0.9 + i / 100)
    promote_model_version(conn, f"{name}:1.0.0", stage="production", aliases=["champion"])
    _crashed_promotion(conn, monkeypatch, f"{name}:1.0.1", stage="production", aliases=["champion"])
    trail = _events(conn, name)
    assert [(e["type"], e["version"]) for e in trail[-2:]] == [("stage", "1.0.1"), ("alias", "1.0.1")]  # the trail
    stored = _stored(registry, conn, name)
    assert stored["kml_production_version_id"] != trail[-1]["version_id"]  # ...but not the stored view

    # A reader that may not write reads through the stale view: the trail's truth, nothing stored.
    assert resolve_model_reference(conn, name, repair=False).reference == f"{name}:1.0.1"
    assert _stored(registry, conn, name) == stored
    # Searches are evaluated by the registry on the stored view: it is repaired first.
    assert [r.reference for r in search_models(conn, 'stage = "production"', model=name)] == [f"{name}:1.0.1"]
    assert _stored(registry, conn, name)["kml_production_version_id"] == trail[-1]["version_id"]
    assert [r.reference for r in search_models(conn, 'stage = "archived"', model=name)] == [f"{name}:1.0.0"]


def test_a_search_of_every_model_repairs_the_views_behind_their_trail(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"crash-all-{unique}"
    for i in range(2):
        _register(registry, name, f"run-{i}", 0.9)
    promote_model_version(conn, f"{name}:1.0.0", aliases=["champion"])
    _crashed_promotion(conn, monkeypatch, f"{name}:1.0.1", stage="staging", aliases=["champion"])
    found = {r.reference for r in search_models(conn, 'stage = "staging" AND alias = "champion"')}
    assert f"{name}:1.0.1" in found and f"{name}:1.0.0" not in found
    [row] = [r for r in search_models(conn, 'alias = "champion"') if r.model == name]
    assert row.reference == f"{name}:1.0.1" and row.aliases == ["champion"] and row.stage == "staging"


def test_list_and_show_read_through_when_the_view_cannot_be_repaired(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"readonly-{unique}"
    for i in range(2):
        _register(registry, name, f"run-{i}", 0.9)
    promote_model_version(conn, f"{name}:1.0.0", stage="production")
    _crashed_promotion(conn, monkeypatch, f"{name}:1.0.1", stage="production")
    stored = _stored(registry, conn, name)

    from kfp_model_lifecycle.lifecycle import freshness  # (new module: imported here, the others run on old code)

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise RegistryAuthError("403: this token may only read", status=403)

    monkeypatch.setattr(freshness, "sync_lifecycle_view", forbidden)
    [summary] = [m for m in list_models(conn) if m.name == name]
    assert summary.production == "1.0.1"
    overview = show_model(conn, name)
    assert overview.production == "1.0.1"
    assert {v.version: v.stage for v in overview.versions} == {"1.0.0": "archived", "1.0.1": "production"}
    assert show_version(conn, name).version_name == "1.0.1" and show_version(conn, name).stage == "production"
    assert _stored(registry, conn, name) == stored  # read through, nothing written
