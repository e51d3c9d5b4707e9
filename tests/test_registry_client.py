"""The embedded Model Registry driven through the official client, ``model_registry.ModelRegistry`` 0.3.18.

Every test talks HTTP to the module's shared registry (``registry`` / ``client`` fixtures of conftest) and
uses unique names, so the tests are independent of each other and of their order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
from model_registry import ModelRegistry
from model_registry.exceptions import StoreError
from model_registry.types import (
    ArtifactState,
    ModelArtifact,
    ModelVersion,
    ModelVersionState,
    Pager,
    RegisteredModel,
    RegisteredModelState,
)
from mr_openapi import ModelRegistryServiceApi
from mr_openapi.exceptions import BadRequestException

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

METADATA: dict[str, int | float | str | bool] = {
    "epochs": 12,
    "zero": 0,
    "negative": -7,
    "big": 999_999_999,  # the largest int the v1 spec (and the client) allow: ^-?([1-9][0-9]{0,8}|0)$
    "accuracy": 0.9731,
    "loss": -0.25,
    "framework": "pytorch",
    "label": "",  # the registry UI shows an empty string property as a label
    "unicode": "modèle ✓",
    "approved": True,
    "deprecated": False,
}

ARTIFACT_ARGS: dict[str, str] = {
    "model_format_name": "onnx",
    "model_format_version": "1.17",
    "storage_key": "aws-connection-models",
    "storage_path": "models/fraud/1",
    "service_account_name": "model-puller",
    "model_source_kind": "kfp",
    "model_source_class": "pipelinerun",
    "model_source_group": "team-fraud",
    "model_source_id": "run-6c1f",
    "model_source_name": "train-fraud-2026-11-27",
}


@pytest.fixture(scope="module", autouse=True)
def _light_ssl_context(client: ModelRegistry) -> None:
    """Speed only: the client builds a fresh ``ssl`` context for every call, even over plain http.

    Loading the system CA bundle each time costs ~50 ms a call; handing it one CA certificate instead keeps
    the hundreds of calls of this module fast. TLS is never used against the loopback registry.
    """
    pem = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    start = pem.index("-----BEGIN CERTIFICATE-----")
    client._api.config.ca_cert_data = pem[start : pem.index(end, start) + len(end)] + "\n"


def _register(client: ModelRegistry, name: str, version: str, **kwargs: Any) -> ModelVersion:
    """Register ``name``/``version`` and return the created version (register_model returns the model)."""
    kwargs.setdefault("model_format_name", "onnx")
    kwargs.setdefault("model_format_version", "1")
    uri = kwargs.pop("uri", f"s3://models/{name}/{version}")
    client.register_model(name, uri, version=version, **kwargs)
    mv = client.get_model_version(name, version)
    assert mv is not None
    return mv


def _run(client: ModelRegistry, work: Callable[[ModelRegistryServiceApi], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``work(api)`` with the client's low-level async API (``mr_openapi.ModelRegistryServiceApi``)."""

    async def go() -> Any:
        async with client._api.get_client() as api:
            return await work(api)

    return client.async_runner(go())


# -- register_model and read back --------------------------------------------------------------------------


def test_register_model_with_every_argument_reads_back_field_by_field(
    client: ModelRegistry, registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"fraud-{unique}"
    before_ms = int(time.time() * 1000)
    rm = client.register_model(
        name,
        "s3://bucket/models/fraud/1?endpoint=http%3A%2F%2Fminio%3A9000",
        version="1.0.0",
        author="alice",
        owner="bob",
        version_description="first candidate",
        metadata=METADATA,
        **ARTIFACT_ARGS,
    )
    after_ms = int(time.time() * 1000)

    # register_model returns the RegisteredModel
    assert isinstance(rm, RegisteredModel)
    assert rm.name == name
    assert rm.owner == "bob"
    assert rm.id is not None

    got_rm = client.get_registered_model(name)
    assert got_rm is not None
    assert got_rm.id == rm.id
    assert got_rm.name == name
    assert got_rm.owner == "bob"
    assert got_rm.state == RegisteredModelState.LIVE
    assert got_rm.description is None
    assert got_rm.external_id is None
    assert got_rm.custom_properties is None
    assert before_ms - 1000 <= int(got_rm.create_time_since_epoch or 0) <= after_ms + 1000
    assert got_rm.last_update_time_since_epoch == got_rm.create_time_since_epoch

    mv = client.get_model_version(name, "1.0.0")
    assert mv is not None
    assert mv.name == "1.0.0"
    assert mv.author == "alice"
    assert mv.description == "first candidate"
    assert mv.state == ModelVersionState.LIVE
    assert mv.registered_model_id == rm.id
    assert mv.external_id is None
    assert mv.custom_properties == METADATA
    for key, value in METADATA.items():  # types survive, not just values (True != 1, 0.0 != 0 ...)
        assert type(mv.custom_properties[key]) is type(value), key
    assert int(mv.id or 0) > int(rm.id)
    assert before_ms - 1000 <= int(mv.create_time_since_epoch or 0) <= after_ms + 1000

    ma = client.get_model_artifact(name, "1.0.0")
    assert isinstance(ma, ModelArtifact)
    assert ma.name == name  # register_model names the artifact after the model
    assert ma.uri == "s3://bucket/models/fraud/1?endpoint=http%3A%2F%2Fminio%3A9000"
    for arg, value in ARTIFACT_ARGS.items():
        assert getattr(ma, arg) == value, arg
    assert ma.state == ArtifactState.UNKNOWN
    assert ma.description is None
    assert ma.custom_properties is None
    assert int(ma.id or 0) > int(mv.id or 0)

    # the wire form the client decoded: ids and times as strings, ints as strings, typed tagged unions
    raw = httpx.get(f"{registry.api_url}/model_versions/{mv.id}", timeout=10).json()
    assert raw["id"] == mv.id
    assert raw["registeredModelId"] == rm.id
    props = raw["customProperties"]
    assert props["epochs"] == {"int_value": "12", "metadataType": "MetadataIntValue"}
    assert props["big"] == {"int_value": "999999999", "metadataType": "MetadataIntValue"}
    assert props["accuracy"] == {"double_value": 0.9731, "metadataType": "MetadataDoubleValue"}
    assert props["label"] == {"string_value": "", "metadataType": "MetadataStringValue"}
    assert props["deprecated"] == {"bool_value": False, "metadataType": "MetadataBoolValue"}
    raw_artifact = httpx.get(f"{registry.api_url}/model_artifacts/{ma.id}", timeout=10).json()
    assert raw_artifact["artifactType"] == "model-artifact"
    assert raw_artifact["modelSourceKind"] == "kfp"
    assert raw_artifact["storageKey"] == "aws-connection-models"


@pytest.fixture
def minimal_registration(client: ModelRegistry, unique: str) -> tuple[str, ModelVersion]:
    name = f"minimal-{unique}"
    return name, _register(client, name, "v1")


def test_register_model_minimal_arguments_use_client_author(
    client: ModelRegistry, minimal_registration: tuple[str, ModelVersion]
) -> None:
    name, mv = minimal_registration
    rm = client.get_registered_model(name)
    assert rm is not None
    assert rm.owner == "tester"  # the client's author
    assert mv.author == "tester"
    assert mv.description is None
    assert mv.custom_properties is None
    ma = client.get_model_artifact(name, "v1")
    assert ma is not None
    assert ma.uri == f"s3://models/{name}/v1"
    assert ma.storage_key is None
    assert ma.model_source_kind is None


def test_lookups_of_missing_entities(client: ModelRegistry, unique: str) -> None:
    assert client.get_registered_model(f"missing-{unique}") is None
    with pytest.raises(StoreError, match="does not exist"):
        client.get_model_version(f"missing-{unique}", "v1")
    name = f"lookup-{unique}"
    _register(client, name, "v1")
    assert client.get_model_version(name, "v2") is None
    with pytest.raises(StoreError, match="does not exist"):
        client.get_model_artifact(name, "v2")


# -- duplicates and second versions ------------------------------------------------------------------------


def test_registering_an_existing_version_raises_and_a_second_version_works(
    client: ModelRegistry, registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"dup-{unique}"
    v1 = _register(client, name, "v1", metadata={"run": 1})
    rm = client.get_registered_model(name)
    assert rm is not None

    with pytest.raises(StoreError, match="already exists"):
        client.register_model(name, "s3://other/uri", model_format_name="onnx", model_format_version="1", version="v1")
    # nothing changed: still one version, its artifact still the first one
    assert [v.name for v in client.get_model_versions(name)] == ["v1"]
    ma1 = client.get_model_artifact(name, "v1")
    assert ma1 is not None
    assert ma1.uri == f"s3://models/{name}/v1"

    v2 = _register(client, name, "v2", metadata={"run": 2})
    assert v2.registered_model_id == rm.id  # the same model, not a new one
    assert int(v2.id or 0) > int(v1.id or 0)
    again = client.get_registered_model(name)
    assert again is not None
    assert again.id == rm.id
    assert [v.name for v in client.get_model_versions(name)] == ["v1", "v2"]
    ma2 = client.get_model_artifact(name, "v2")
    assert ma2 is not None
    assert ma2.id != ma1.id
    assert ma2.uri == f"s3://models/{name}/v2"
    v1_again = client.get_model_version(name, "v1")
    assert v1_again is not None
    assert v1_again.custom_properties == {"run": 1}

    # exactly one registered model with this name exists
    found = httpx.get(
        f"{registry.api_url}/registered_models", params={"filterQuery": f'name = "{name}"'}, timeout=10
    ).json()
    assert found["size"] == 1


def test_same_version_name_under_another_model_is_allowed(client: ModelRegistry, unique: str) -> None:
    a = _register(client, f"a-{unique}", "prod")
    b = _register(client, f"b-{unique}", "prod")
    assert a.id != b.id
    assert a.registered_model_id != b.registered_model_id


def test_duplicate_model_name_via_low_level_api_is_a_conflict(client: ModelRegistry, unique: str) -> None:
    from mr_openapi import RegisteredModelCreate
    from mr_openapi.exceptions import ConflictException

    name = f"conflict-{unique}"
    client.register_model(name, "s3://x/y", model_format_name="onnx", model_format_version="1", version="v1")
    with pytest.raises(ConflictException):
        _run(client, lambda api: api.create_registered_model(RegisteredModelCreate(name=name)))


# -- update() ----------------------------------------------------------------------------------------------


@pytest.fixture
def registered(client: ModelRegistry, unique: str) -> str:
    name = f"upd-{unique}"
    client.register_model(
        name,
        "s3://models/upd/1",
        version="v1",
        version_description="before",
        metadata={"stage": "candidate", "score": 0.5},
        owner="team-a",
        **ARTIFACT_ARGS,
    )
    return name


def test_update_registered_model(client: ModelRegistry, registered: str) -> None:
    rm = client.get_registered_model(registered)
    assert rm is not None
    rm.description = "fraud detector"
    rm.custom_properties = {"team": "risk", "tier": 1}
    first = client.update(rm)
    assert first.custom_properties == {"team": "risk", "tier": 1}

    rm = client.get_registered_model(registered)
    assert rm is not None
    rm.state = RegisteredModelState.ARCHIVED
    rm.custom_properties = {"reason": "superseded", "archived": True}  # replaces the whole map
    updated = client.update(rm)
    assert updated.state == RegisteredModelState.ARCHIVED

    again = client.get_registered_model(registered)
    assert again is not None
    assert again.id == rm.id
    assert again.name == registered
    assert again.owner == "team-a"
    assert again.description == "fraud detector"
    assert again.state == RegisteredModelState.ARCHIVED
    assert again.custom_properties == {"reason": "superseded", "archived": True}
    assert again.create_time_since_epoch == rm.create_time_since_epoch
    assert int(again.last_update_time_since_epoch or 0) >= int(rm.last_update_time_since_epoch or 0)
    assert int(again.last_update_time_since_epoch or 0) >= int(again.create_time_since_epoch or 0)


def test_update_model_version(client: ModelRegistry, registered: str) -> None:
    mv = client.get_model_version(registered, "v1")
    assert mv is not None
    assert mv.custom_properties == {"stage": "candidate", "score": 0.5}
    created = mv.create_time_since_epoch
    mv.description = "after"
    mv.state = ModelVersionState.ARCHIVED
    mv.custom_properties = {"stage": "archived", "runs": 3}
    returned = client.update(mv)
    assert returned.description == "after"
    assert returned.custom_properties == {"stage": "archived", "runs": 3}

    again = client.get_model_version(registered, "v1")
    assert again is not None
    assert again.id == mv.id
    assert again.name == "v1"
    assert again.author == "tester"
    assert again.registered_model_id == mv.registered_model_id
    assert again.description == "after"
    assert again.state == ModelVersionState.ARCHIVED
    assert again.custom_properties == {"stage": "archived", "runs": 3}  # "score" is gone
    assert again.create_time_since_epoch == created
    assert int(again.last_update_time_since_epoch or 0) >= int(created or 0)

    # the version still belongs to its model and still lists its artifact
    assert [v.id for v in client.get_model_versions(registered)] == [mv.id]
    assert client.get_model_artifact(registered, "v1") is not None


def test_update_without_custom_properties_keeps_them(client: ModelRegistry, registered: str) -> None:
    mv = client.get_model_version(registered, "v1")
    assert mv is not None
    mv.custom_properties = None  # the client then omits customProperties from the PATCH
    mv.description = "only the description"
    client.update(mv)
    again = client.get_model_version(registered, "v1")
    assert again is not None
    assert again.description == "only the description"
    assert again.custom_properties == {"stage": "candidate", "score": 0.5}


def test_update_model_artifact(client: ModelRegistry, registered: str) -> None:
    ma = client.get_model_artifact(registered, "v1")
    assert ma is not None
    ma.description = "weights"
    ma.state = ArtifactState.MARKED_FOR_DELETION
    ma.custom_properties = {"sha256": "abc123", "bytes": 1024}
    ma.uri = "s3://models/upd/1-moved"
    ma.model_format_version = "1.18"
    client.update(ma)

    again = client.get_model_artifact(registered, "v1")  # found through the version: still linked
    assert again is not None
    assert again.id == ma.id
    assert again.name == registered
    assert again.description == "weights"
    assert again.state == ArtifactState.MARKED_FOR_DELETION
    assert again.custom_properties == {"sha256": "abc123", "bytes": 1024}
    assert again.uri == "s3://models/upd/1-moved"
    assert again.model_format_version == "1.18"
    for arg, value in ARTIFACT_ARGS.items():
        if arg != "model_format_version":
            assert getattr(again, arg) == value, arg

    again.custom_properties = {"sha256": "def456"}  # replaced again: "bytes" disappears
    again.state = ArtifactState.LIVE
    client.update(again)
    third = client.get_model_artifact(registered, "v1")
    assert third is not None
    assert third.custom_properties == {"sha256": "def456"}
    assert third.state == ArtifactState.LIVE


def test_update_without_id_is_rejected_by_the_client(client: ModelRegistry, unique: str) -> None:
    with pytest.raises(StoreError, match="must have an ID"):
        client.update(RegisteredModel(name=f"no-id-{unique}"))


# -- pagers ------------------------------------------------------------------------------------------------

N_VERSIONS = 7
PAGE_SIZE = 3
ORDERS: dict[str, Callable[[Any], tuple[int, int]]] = {
    "order_by_id": lambda x: (int(x.id), 0),
    "order_by_creation_time": lambda x: (int(x.create_time_since_epoch), int(x.id)),
    "order_by_update_time": lambda x: (int(x.last_update_time_since_epoch), int(x.id)),
}


@pytest.fixture(scope="module")
def paged_model(client: ModelRegistry) -> tuple[str, list[str]]:
    """A model with 7 versions whose update-time order differs from their id/creation order."""
    name = f"paged-{random.randrange(1 << 32):08x}"
    for i in range(N_VERSIONS):
        _register(client, name, f"v{i}", metadata={"i": i})
    update_order = [f"v{i}" for i in (4, 0, 6, 2, 5, 1, 3)]
    for version in update_order:
        time.sleep(0.003)  # distinct millisecond timestamps
        mv = client.get_model_version(name, version)
        assert mv is not None
        mv.description = f"touched {version}"
        client.update(mv)
    return name, update_order


def _all_versions(client: ModelRegistry, name: str) -> list[ModelVersion]:
    rm = client.get_registered_model(name)
    assert rm is not None and rm.id is not None
    return client.async_runner(client._api.get_model_versions(rm.id))


def _apply(pager: Pager[Any], order: str, descending: bool) -> Pager[Any]:
    pager = getattr(pager, order)()
    return pager.descending() if descending else pager.ascending()


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", list(ORDERS))
def test_model_versions_pager_every_order(
    client: ModelRegistry, paged_model: tuple[str, list[str]], order: str, descending: bool
) -> None:
    name, update_order = paged_model
    expected = sorted(_all_versions(client, name), key=ORDERS[order], reverse=descending)
    assert len(expected) == N_VERSIONS
    if order == "order_by_update_time":  # the fixture's updates really reordered them
        assert [v.name for v in expected] == (update_order[::-1] if descending else update_order)
    elif order == "order_by_creation_time":
        assert [v.name for v in expected] == [f"v{i}" for i in (range(6, -1, -1) if descending else range(7))]

    pager = _apply(client.get_model_versions(name).page_size(PAGE_SIZE), order, descending)
    got = list(pager)
    assert [v.id for v in got] == [v.id for v in expected]
    assert len({v.id for v in got}) == N_VERSIONS  # every version exactly once


def test_model_versions_pager_fetches_pages_of_the_requested_size(
    client: ModelRegistry, paged_model: tuple[str, list[str]]
) -> None:
    name, _ = paged_model
    pager = client.get_model_versions(name).page_size(PAGE_SIZE).order_by_id()
    pages = [pager.next_page(), pager.next_page(), pager.next_page()]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert pager.options.next_page_token == ""  # the last page says so
    assert [v.name for p in pages for v in p] == [f"v{i}" for i in range(N_VERSIONS)]


@pytest.mark.parametrize("page_size", [1, 2, N_VERSIONS, N_VERSIONS + 5])
def test_model_versions_pager_any_page_size(
    client: ModelRegistry, paged_model: tuple[str, list[str]], page_size: int
) -> None:
    name, _ = paged_model
    got = [v.name for v in client.get_model_versions(name).page_size(page_size).order_by_id().descending()]
    assert got == [f"v{i}" for i in range(N_VERSIONS - 1, -1, -1)]


def test_pager_default_order_is_id_ascending(client: ModelRegistry, paged_model: tuple[str, list[str]]) -> None:
    name, _ = paged_model
    assert [v.name for v in client.get_model_versions(name).page_size(PAGE_SIZE)] == [
        f"v{i}" for i in range(N_VERSIONS)
    ]
    assert [v.name for v in client.get_model_versions(name)] == [f"v{i}" for i in range(N_VERSIONS)]


def test_pager_can_be_restarted_and_reordered(client: ModelRegistry, paged_model: tuple[str, list[str]]) -> None:
    name, _ = paged_model
    pager = client.get_model_versions(name).page_size(PAGE_SIZE).order_by_id()
    first = [next(pager).name for _ in range(4)]
    assert first == ["v0", "v1", "v2", "v3"]
    assert [v.name for v in pager.descending()] == [f"v{i}" for i in range(N_VERSIONS - 1, -1, -1)]


@pytest.fixture(scope="module")
def tied_model(client: ModelRegistry, registry: EmbeddedRegistry) -> str:
    """A model with 12 versions created (and then updated) as fast as possible: many share a millisecond."""
    name = f"tied-{random.randrange(1 << 32):08x}"
    with httpx.Client(base_url=registry.api_url, timeout=30, trust_env=False, verify=False) as http:  # noqa: S501
        model_id = http.post("/registered_models", json={"name": name}).json()["id"]
        ids = [
            http.post(f"/registered_models/{model_id}/versions", json={"name": f"t{i:02d}"}).json()["id"]
            for i in range(12)
        ]
        for rid in reversed(ids):
            assert http.patch(f"/model_versions/{rid}", json={"description": "again"}).status_code == 200
    return name


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", ["order_by_creation_time", "order_by_update_time"])
@pytest.mark.parametrize("page_size", [1, 2, 5])
def test_pager_with_equal_timestamps_breaks_ties_by_id(
    client: ModelRegistry, tied_model: str, order: str, descending: bool, page_size: int
) -> None:
    expected = sorted(_all_versions(client, tied_model), key=ORDERS[order], reverse=descending)
    got = list(_apply(client.get_model_versions(tied_model).page_size(page_size), order, descending))
    assert [v.id for v in got] == [v.id for v in expected]


@pytest.fixture(scope="module")
def paged_models(client: ModelRegistry, paged_model: tuple[str, list[str]]) -> list[str]:
    """Seven more registered models, some of them updated out of order."""
    prefix = f"pm-{random.randrange(1 << 32):08x}"
    names = [f"{prefix}-{i}" for i in range(N_VERSIONS)]
    for name in names:
        client.register_model(name, f"s3://m/{name}", model_format_name="onnx", model_format_version="1", version="1")
    for name in (names[5], names[1], names[3]):
        time.sleep(0.003)
        rm = client.get_registered_model(name)
        assert rm is not None
        rm.description = "touched"
        client.update(rm)
    return names


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", list(ORDERS))
def test_registered_models_pager_every_order(
    client: ModelRegistry, paged_models: list[str], order: str, descending: bool
) -> None:
    everything = client.async_runner(client._api.get_registered_models())  # one unpaged list
    assert {m.name for m in everything} >= set(paged_models)
    assert len(everything) > 2 * PAGE_SIZE  # more than two pages
    expected = sorted(everything, key=ORDERS[order], reverse=descending)

    got = list(_apply(client.get_registered_models().page_size(PAGE_SIZE), order, descending))
    assert [m.id for m in got] == [m.id for m in expected]
    assert len({m.id for m in got}) == len(everything)
    mine = [m.name for m in got if m.name in paged_models]
    if order == "order_by_update_time":
        untouched = [n for i, n in enumerate(paged_models) if i not in (5, 1, 3)]
        touched = [paged_models[i] for i in (5, 1, 3)]
        assert mine == (untouched + touched)[:: -1 if descending else 1]
    else:
        assert mine == paged_models[:: -1 if descending else 1]


# -- the low-level async API: filterQuery on typed custom properties -------------------------------------


@pytest.fixture(scope="module")
def filtered_model(client: ModelRegistry) -> tuple[str, str]:
    """A model whose versions carry typed metadata; returns (model name, model id)."""
    suffix = f"{random.randrange(1 << 32):08x}"
    name = f"filtered-{suffix}"
    rows: dict[str, dict[str, int | float | str | bool]] = {
        "a": {"accuracy": 0.91, "epochs": 10, "framework": "pytorch", "approved": True, "suite": suffix},
        "b": {"accuracy": 0.97, "epochs": 20, "framework": "tensorflow", "approved": False, "suite": suffix},
        "c": {"accuracy": 0.99, "epochs": 5, "framework": "jax", "approved": True, "suite": suffix},
        "d": {"accuracy": 0.5, "epochs": 40, "framework": "PyTorch-lightning", "approved": False, "suite": suffix},
    }
    for version, metadata in rows.items():
        _register(client, name, version, metadata=metadata, model_format_name="onnx" if version != "c" else "jax")
    rm = client.get_registered_model(name)
    assert rm is not None and rm.id is not None
    return name, rm.id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("accuracy > 0.95", {"b", "c"}),
        ("accuracy >= 0.91 AND accuracy < 0.99", {"a", "b"}),
        ("accuracy.double_value <= 0.91", {"a", "d"}),
        ("accuracy > 0", {"a", "b", "c", "d"}),  # int literal on a double property
        ("epochs = 10", {"a"}),
        ("epochs.int_value >= 20", {"b", "d"}),
        ("epochs != 10", {"b", "c", "d"}),
        ("framework = 'pytorch'", {"a"}),
        ('framework.string_value = "jax"', {"c"}),
        ('framework LIKE "%torch%"', {"a"}),
        ('framework ILIKE "%torch%"', {"a", "d"}),
        ('framework IN ("jax", "tensorflow")', {"b", "c"}),
        ("approved = true", {"a", "c"}),
        ("approved.bool_value = FALSE", {"b", "d"}),
        ('(framework = "jax" OR epochs > 30) AND approved = false', {"d"}),
        ('framework = "jax" or epochs > 30 and approved = true', {"c"}),
        ('name = "b" OR name = "d"', {"b", "d"}),
        ('name LIKE "%" AND state = "LIVE"', {"a", "b", "c", "d"}),
        ('framework = "nothing"', set()),
    ],
)
def test_filter_query_on_model_versions(
    client: ModelRegistry, filtered_model: tuple[str, str], query: str, expected: set[str]
) -> None:
    _, model_id = filtered_model
    scoped = f'registeredModelId = "{model_id}" AND ({query})'
    result = _run(client, lambda api: api.get_model_versions(filter_query=scoped))
    assert {v.name for v in result.items or []} == expected
    assert result.size == len(expected)

    # the same filter through the version list of the model
    result = _run(client, lambda api: api.get_registered_model_versions(model_id, filter_query=query))
    assert {v.name for v in result.items or []} == expected


def test_filter_query_with_paging_and_order(client: ModelRegistry, filtered_model: tuple[str, str]) -> None:
    from mr_openapi import OrderByField, SortOrder

    _, model_id = filtered_model
    query = f'registeredModelId = "{model_id}" AND epochs > 1'
    first = _run(
        client,
        lambda api: api.get_model_versions(
            filter_query=query, page_size="3", order_by=OrderByField.ID, sort_order=SortOrder.DESC
        ),
    )
    assert [v.name for v in first.items] == ["d", "c", "b"]
    assert first.next_page_token
    second = _run(
        client,
        lambda api: api.get_model_versions(
            filter_query=query,
            page_size="3",
            order_by=OrderByField.ID,
            sort_order=SortOrder.DESC,
            next_page_token=first.next_page_token,
        ),
    )
    assert [v.name for v in second.items] == ["a"]
    assert second.next_page_token == ""


def test_filter_query_on_registered_models_and_artifacts(
    client: ModelRegistry, filtered_model: tuple[str, str]
) -> None:
    name, model_id = filtered_model
    models = _run(client, lambda api: api.get_registered_models(filter_query=f'name = "{name}"'))
    assert [m.id for m in models.items] == [model_id]
    models = _run(client, lambda api: api.get_registered_models(filter_query=f'name LIKE "{name[:-3]}%"'))
    assert [m.id for m in models.items] == [model_id]

    arts = _run(
        client, lambda api: api.get_model_artifacts(filter_query=f'name = "{name}" AND modelFormatName = "jax"')
    )
    assert len(arts.items) == 1
    assert arts.items[0].uri == f"s3://models/{name}/c"
    arts = _run(client, lambda api: api.get_model_artifacts(filter_query=f'name = "{name}"'))
    assert len(arts.items) == 4


@pytest.mark.parametrize("query", ["accuracy >", "name = ", "(name = 'a'", "name === 'a'", "AND"])
def test_invalid_filter_query_is_a_bad_request(client: ModelRegistry, query: str) -> None:
    with pytest.raises(BadRequestException):
        _run(client, lambda api: api.get_model_versions(filter_query=query))
