"""What the real Model Registry needs from the library, against the embedded registry.

* ``model-registry://`` deploys: KServe's storage initializer (kubeflow/hub ``cmd/csi``) takes the version's
  artifacts ``orderBy=CREATE_TIME, sortOrder=DESC`` and needs the first to be the model artifact; the registry UI
  shows the first by id. So after registration with datasets and any lifecycle event or recorded predictions, the
  model artifact must still be the version's only artifact. Events older releases linked to versions still read.
* Integers beyond 32 bits register and read back; a spurious 409 on PATCH is re-read and re-applied.
* A registry behind Istio: 403 ``RBAC: access denied`` names Istio; the service-account token reaches an http
  gateway only on opt-in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.comparison.recorded_predictions import find_predictions_uri
from kfp_model_lifecycle.comparison.run import run_compare_models
from kfp_model_lifecycle.errors import ApprovalRequiredError, RegistryAuthError, RegistryError
from kfp_model_lifecycle.lifecycle import (
    approve_model_version,
    lifecycle_history,
    plain_properties,
    promote_model_version,
    record_lifecycle_event,
    set_lifecycle_policy,
)
from kfp_model_lifecycle.lifecycle.events import build_lifecycle_event_artifact
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetInput
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import VersionDraft, register_model_version
from kfp_model_lifecycle.registration.artifacts import build_model_artifact, version_dataset_artifacts
from kfp_model_lifecycle.registration.run import RegistrationResult, run_register_model

GATES = [{"metric": "accuracy", "higher_is_better": True, "min_absolute_change": 0.01}]


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    isolated_env.setenv("KML_REGISTRY_BACKOFF_SECONDS", "0.01")


@pytest.fixture
def conn(registry: EmbeddedRegistry) -> Iterator[RegistryConnection]:
    connection = connect_model_registry(registry.url)
    yield connection
    connection.close()


def _get(registry: EmbeddedRegistry, path: str, **params: Any) -> Any:
    response = httpx.get(registry.api_url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _register(registry: EmbeddedRegistry, name: str, tmp_path: Path, **kwargs: Any) -> RegistrationResult:
    data = tmp_path / f"{name}-train.csv"
    data.write_text("x,y\n1,0\n")
    datasets = [DatasetInput("train", "train", str(data), str(data)), DatasetInput("eval", "eval", "s3://d/eval")]
    arguments = {"model_uri": f"s3://models/{name}", "model_name": name, "datasets": datasets, "run_id": "run-1"}
    return run_register_model(**{**arguments, **kwargs}, registry_url=registry.url, env={})


def _newest_artifact(registry: EmbeddedRegistry, version_id: str) -> dict[str, Any]:
    """The artifact KServe's model-registry:// initializer takes: the first of CREATE_TIME DESC."""
    page = _get(registry, f"/model_versions/{version_id}/artifacts", orderBy="CREATE_TIME", sortOrder="DESC")
    return page["items"][0]


def _assert_deployable(registry: EmbeddedRegistry, version_id: str, uri: str) -> None:
    newest = _newest_artifact(registry, version_id)
    assert newest["artifactType"] == "model-artifact" and newest["uri"] == uri
    linked = _get(registry, f"/model_versions/{version_id}/artifacts")["items"]  # the registry UI takes the first
    assert [a["artifactType"] for a in linked] == ["model-artifact"]


# -- item 1: model-registry:// deploys after any lifecycle event ------------------------------------------


def test_model_artifact_stays_the_newest_after_datasets_events_and_predictions(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, tmp_path: Path
) -> None:
    name = f"deployable-{unique}"
    first = _register(registry, name, tmp_path, metrics={"accuracy": 0.90}, run_id="run-1")
    _assert_deployable(registry, first.version_id, f"s3://models/{name}")
    datasets = version_dataset_artifacts(conn, first.version_id)
    assert [a["customProperties"]["role"]["string_value"] for a in datasets] == ["train", "eval"]
    assert [a["id"] for a in datasets] == list(first.dataset_artifact_ids)

    promote_model_version(conn, f"{name}:1.0.0", stage="staging", aliases=["champion"], actor="alice")
    approve_model_version(conn, f"{name}:1.0.0", approver="bob", comment="ok")
    promote_model_version(conn, f"{name}:1.0.0", stage="production", actor="alice")
    record_lifecycle_event(
        conn, f"{name}:1.0.0", "deployment", to_state="serving", details={"at_ms": 1_700_000_000_000}
    )
    set_lifecycle_policy(conn, name, require_approval=True, actor="carol")

    second = _register(registry, name, tmp_path, model_uri=f"s3://models/{name}-2", metrics={"accuracy": 0.95},
                       run_id="run-2")  # fmt: skip
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("label,prediction,score\n1,1,0.9\n0,0,0.1\n")
    compared = run_compare_models(
        candidate=f"{name}:1.0.1",
        gates=GATES,
        candidate_predictions_path=str(predictions),
        candidate_predictions_uri=f"s3://predictions/{unique}.csv",
        registry_url=registry.url,
    )
    assert compared.predictions_recorded == "created"
    assert find_predictions_uri(conn, {"id": second.version_id}) == f"s3://predictions/{unique}.csv"
    with pytest.raises(ApprovalRequiredError):  # recorded as a rejection event, then raised
        promote_model_version(conn, f"{name}:1.0.1", stage="production", actor="alice")
    approve_model_version(conn, f"{name}:1.0.1", status="rejected", approver="bob", comment="not yet")

    events = lifecycle_history(conn, name)["events"]
    assert {"stage", "alias", "approval", "deployment", "policy", "rejection"} <= {e["type"] for e in events}
    for version, uri in ((first, f"s3://models/{name}"), (second, f"s3://models/{name}-2")):
        _assert_deployable(registry, version.version_id, uri)
    # every artifact the library created has the name it gave (the server would invent a UUID otherwise)
    created = _get(registry, "/artifacts", filterQuery=f'kml_event_model_id = "{first.model_id}"')["items"]
    assert len(created) == len(events) and all(a["name"].startswith(f"kml-event-{first.model_id}-") for a in created)
    assert {a["name"] for a in version_dataset_artifacts(conn, second.version_id)} == {
        f"train-dataset-of-version-{second.version_id}",
        f"eval-dataset-of-version-{second.version_id}",
        f"predictions-dataset-of-version-{second.version_id}",  # what compare_models recorded
    }


def test_events_older_releases_linked_to_versions_still_read(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, tmp_path: Path
) -> None:
    """History and state read both: events linked to the version (older releases) and standalone ones."""
    name = f"legacy-{unique}"
    registered = _register(registry, name, tmp_path, datasets=[])
    model = _get(registry, f"/registered_models/{registered.model_id}")
    common = {"version_id": registered.version_id, "version": "1.0.0", "actor": "old", "time": "2025-01-01T00:00:00Z"}
    legacy = [
        {**common, "type": "stage", "from": "", "to": "staging", "token": "t1"},
        {**common, "type": "alias", "alias": "champion", "from": "", "to": "1.0.0", "token": "t2"},
    ]
    for seq, event in enumerate(legacy, start=1):  # as releases before this one wrote them: linked to the version
        body = build_lifecycle_event_artifact(model, seq, event)
        httpx.post(f"{registry.api_url}/model_versions/{registered.version_id}/artifacts", json=body).raise_for_status()

    result = promote_model_version(conn, f"{name}@champion", stage="production", actor="new")
    assert result.stage == "production"
    events = lifecycle_history(conn, name)["events"]
    assert [(e["seq"], e["type"], e["actor"]) for e in events] == [(1, "stage", "old"), (2, "alias", "old"),
                                                                   (3, "stage", "new")]  # fmt: skip
    assert events[2]["from"] == "staging"  # decided on the state the legacy events imply
    linked = _get(registry, f"/model_versions/{registered.version_id}/artifacts")["items"]
    assert sorted(a["artifactType"] for a in linked) == ["doc-artifact", "doc-artifact", "model-artifact"]
    assert events[2]["artifact_id"] not in {a["id"] for a in linked}  # the new event is not linked


# -- item 2: integers beyond 32 bits ------------------------------------------------------------------------


def test_large_integers_register_and_read_back_as_numbers(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, tmp_path: Path
) -> None:
    name = f"ints-{unique}"
    result = _register(
        registry,
        name,
        tmp_path,
        datasets=[],
        hyperparameters={"seed": 2**40, "max_iter": 300, "huge": 2**60},
        model_metadata={"trained_at_ms": 1_700_000_000_123, "n_samples": 3_000_000_000},
        metrics={"accuracy": 0.9, "samples": 5_000_000_000},
    )
    version = _get(registry, f"/model_versions/{result.version_id}")
    wire = version["customProperties"]
    for key in ("hp_seed", "model_meta_trained_at_ms", "model_meta_n_samples", "samples"):
        assert wire[key]["metadataType"] == "MetadataDoubleValue", key
    assert wire["hp_max_iter"] == {"int_value": "300", "metadataType": "MetadataIntValue"}
    assert wire["hp_huge"]["metadataType"] == "MetadataStringValue"
    values = plain_properties(version)
    assert values["hp_seed"] == 2**40 and isinstance(values["hp_seed"], int)
    assert values["model_meta_trained_at_ms"] == 1_700_000_000_123 and values["samples"] == 5_000_000_000
    assert values["hp_huge"] == str(2**60)
    found = _get(registry, "/model_versions", filterQuery=f"hp_seed = {2**40}")["items"]
    assert [v["id"] for v in found] == [result.version_id]  # an integer literal matches the double
    event = record_lifecycle_event(conn, f"{name}:1.0.0", "note", details={"epoch_ms": 1_700_000_000_456})
    assert event["epoch_ms"] == 1_700_000_000_456


# -- item 4: a spurious 409 on PATCH is re-read and re-applied ---------------------------------------------


class _ConcurrentWriter:
    """A connection whose first PATCH for each given action meets another writer: it adds a property, then 409.

    That is what the real server answers the loser of two concurrent PATCHes adding the same new property key.
    """

    def __init__(self, conn: RegistryConnection, registry: EmbeddedRegistry, actions: dict[str, str]) -> None:
        self._conn = conn
        self._registry = registry
        self.pending = dict(actions)  # action prefix -> REST path of the entity the other writer changes
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def call(self, action: str, operation: Any, *, tolerate: tuple[int, ...] = ()) -> Any:
        for prefix, path in list(self.pending.items()):
            if action.startswith(prefix):
                del self.pending[prefix]
                self._other_writer(path)
                self.conflicts += 1
                raise RegistryError(f"could not {action}: HTTP 409: ... already exists", status=409)
        return self._conn.call(action, operation, tolerate=tolerate)

    def _other_writer(self, path: str) -> None:
        url = self._registry.api_url + path
        entity = httpx.get(url, timeout=10).raise_for_status().json()
        props = {
            **entity.get("customProperties", {}),
            "other_writer": {"string_value": "kept", "metadataType": "MetadataStringValue"},
        }
        httpx.patch(url, json={"customProperties": props}, timeout=10).raise_for_status()


def test_lifecycle_view_and_policy_writes_survive_a_conflicting_patch(
    registry: EmbeddedRegistry, conn: RegistryConnection, unique: str, tmp_path: Path
) -> None:
    name = f"conflict-{unique}"
    result = _register(registry, name, tmp_path, datasets=[])
    racing = _ConcurrentWriter(
        conn,
        registry,
        {
            f"update lifecycle properties of model version {result.version_id}": (
                f"/model_versions/{result.version_id}"
            ),
            "update lifecycle properties of registered model": f"/registered_models/{result.model_id}",
        },
    )
    promote_model_version(racing, f"{name}:1.0.0", stage="production", aliases=["champion"])  # type: ignore[arg-type]
    assert racing.conflicts == 2 and not racing.pending
    version = plain_properties(_get(registry, f"/model_versions/{result.version_id}"))
    assert version["kml_stage"] == "production" and "kml:@champion" in version
    assert version["other_writer"] == "kept" and version["kfp_run_id"] == "run-1"  # re-read, not overwritten
    model = plain_properties(_get(registry, f"/registered_models/{result.model_id}"))
    assert model["kml_production_version_id"] == result.version_id and model["other_writer"] == "kept"

    racing.pending = {"update the lifecycle policy of registered model": f"/registered_models/{result.model_id}"}
    change = set_lifecycle_policy(racing, name, require_approval=True, demote_to="staging")  # type: ignore[arg-type]
    assert racing.conflicts == 3 and change.changed and change.event_seq > 0
    model = plain_properties(_get(registry, f"/registered_models/{result.model_id}"))
    assert model["kml_requires_approval"] is True and model["kml_demote_to"] == "staging"


def test_concurrent_promotions_on_a_registry_with_the_real_servers_patch_race(unique: str, tmp_path: Path) -> None:
    """The embedded registry's patch window makes the real server's race likely: two PATCHes adding the same new key
    while both are in flight, the later one answers 409. Both promotions must still land, with all their keys."""
    name = f"race-{unique}"
    with EmbeddedRegistry(tmp_path / "race.db", patch_window=0.3) as racy:
        for i in range(2):
            run_register_model(model_uri=f"s3://{name}/{i}", model_name=name, run_id=f"r{i}", registry_url=racy.url,
                               env={})  # fmt: skip
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def promote(i: int) -> None:
            with connect_model_registry(racy.url, env={}) as own:
                barrier.wait()
                try:
                    promote_model_version(own, f"{name}:1.0.{i}", aliases=[f"alias{i}"])
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=promote, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with connect_model_registry(racy.url, env={}) as conn:
            history = lifecycle_history(conn, name)
            model = plain_properties(history["model"])
    assert errors == []
    assert {e["alias"] for e in history["events"]} == {"alias0", "alias1"}
    assert {"kml_alias_alias0", "kml_alias_alias1"} <= set(model) and model["kml_event_seq"] == 2


# -- item 5: the registry behind Istio -----------------------------------------------------------------------


class _IstioGuard:
    """An http route to the registry that, like Kubeflow's Istio policy for callers without a sidecar, answers
    ``403`` ``text/plain`` ``RBAC: access denied`` unless the request carries the accepted bearer token."""

    def __init__(self, upstream: str, accepted: str) -> None:
        self.authorizations: list[str] = []
        guard = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                authorization = self.headers.get("Authorization", "")
                guard.authorizations.append(authorization)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if authorization != f"Bearer {accepted}":
                    status, data, kind = 403, b"RBAC: access denied", "text/plain"
                else:
                    forwarded = httpx.request(self.command, upstream + self.path, content=body, timeout=10,
                                              headers={"Content-Type": "application/json"})  # fmt: skip
                    status, data = forwarded.status_code, forwarded.content
                    kind = forwarded.headers.get("content-type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def guard(registry: EmbeddedRegistry) -> Iterator[_IstioGuard]:
    server = _IstioGuard(registry.url, accepted="sa-token-good")
    yield server
    server.close()


def test_istio_denial_is_recognised_and_the_sa_token_goes_over_http_only_on_opt_in(
    guard: _IstioGuard, tmp_path: Path
) -> None:
    sa_token = tmp_path / "token"
    sa_token.write_text("sa-token-good\n")
    with pytest.raises(RegistryAuthError) as info:
        connect_model_registry(guard.url, env={"KML_REGISTRY_MAX_ATTEMPTS": "1"}, sa_token_path=str(sa_token))
    assert guard.authorizations == [""]  # no token over http by default
    text = str(info.value)
    assert "RBAC: access denied" in text and "Istio" in text and "KML_REGISTRY_SEND_SA_TOKEN=true" in text
    assert "RoleBinding" not in text

    opted_in = {"KML_REGISTRY_SEND_SA_TOKEN": "true"}
    with connect_model_registry(guard.url, env=opted_in, sa_token_path=str(sa_token)) as conn:
        assert "over http" in conn.token_source
        body = models.RegisteredModelCreate(name=f"through-gateway-{tmp_path.name}")
        created = conn.call("create a model", lambda api: api.create_registered_model(body))
    assert created and created["name"].startswith("through-gateway-")
    assert set(guard.authorizations[1:]) == {"Bearer sa-token-good"}

    sa_token.write_text("sa-token-revoked-123")
    with pytest.raises(RegistryAuthError) as info:
        connect_model_registry(guard.url, env=opted_in, sa_token_path=str(sa_token))
    assert "Istio" in str(info.value) and "sa-token-revoked-123" not in str(info.value)


def test_through_the_embedded_registrys_istio_guard(unique: str, tmp_path: Path) -> None:
    """End to end through the embedded registry's guard: its Service port denies like Istio, its gateway port
    serves requests with the service-account token, which the library sends over http only on opt-in."""
    sa_token = tmp_path / "token"
    sa_token.write_text("pod-sa-token\n")
    opted_in = {"KML_REGISTRY_SEND_SA_TOKEN": "true"}
    with EmbeddedRegistry(tmp_path / "guarded.db", istio_guard=True, token="pod-sa-token") as guarded:
        assert guarded.gateway_url
        with pytest.raises(RegistryAuthError) as info:  # the Service, from a pod without a sidecar
            connect_model_registry(guarded.url, env=opted_in, sa_token_path=str(sa_token))
        assert "Istio" in str(info.value) and "pod-sa-token" not in str(info.value)
        with pytest.raises(RegistryAuthError, match="Istio"):  # the gateway, without the opt-in: no token sent
            connect_model_registry(guarded.gateway_url, env={}, sa_token_path=str(sa_token))
        with connect_model_registry(guarded.gateway_url, env=opted_in, sa_token_path=str(sa_token)) as conn:
            name = f"gated-{unique}"
            draft = VersionDraft(
                model_name=name,
                version="patch",
                external_id=f"kfp:gated:{unique}",
                properties={},
                model_artifact=build_model_artifact(name, "s3://models/gated", RunContext()),
            )
            registered = register_model_version(conn, draft)
            promoted = promote_model_version(conn, f"{name}:1.0.0", stage="production", actor="pipeline")
    assert registered.version_name == "1.0.0" and promoted.stage == "production"
