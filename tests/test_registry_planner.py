"""How lists are read: a selective filter starts from a property index, and the answers never depend on the plan.

Every filter here is listed twice, once as planned and once forced to scan the entities in order (the plan of
older versions); pages, orders and page tokens must agree item for item. The plans themselves are checked with
SQLite's ``EXPLAIN QUERY PLAN``: the cost of a selective filter is bounded by its matches, not by the table.
A slow list runs in a worker thread with its own connection, so other requests are answered meanwhile.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry, entities, planner
from kfp_model_lifecycle.local.registry.query import ListOptions, Scope
from kfp_model_lifecycle.local.registry.store import Store

N_MODELS = 6
N_VERSIONS = 300
FRAMEWORKS = ("sklearn", "xgboost", "pytorch")


def _props(rng: random.Random, k: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        "accuracy": {"double_value": round(rng.uniform(0.5, 1.0), 4), "metadataType": "MetadataDoubleValue"},
        "framework": {"string_value": rng.choice(FRAMEWORKS), "metadataType": "MetadataStringValue"},
        "validated": {"bool_value": rng.random() < 0.5, "metadataType": "MetadataBoolValue"},
    }
    if k % 3:  # an int on some versions, a double of the same name on others: int literals match both
        props["epochs"] = {"int_value": str(k % 20), "metadataType": "MetadataIntValue"}
    else:
        props["epochs"] = {"double_value": float(k % 20), "metadataType": "MetadataDoubleValue"}
    if k % 7 == 0:
        props["my.prop"] = {"string_value": f"tag-{k % 4}", "metadataType": "MetadataStringValue"}
    return props


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    rng = random.Random(7)
    db = Store(tmp_path_factory.mktemp("planner") / "r.db")
    models = [({"name": f"model-{i}", "customProperties": _props(rng, i)}, 0) for i in range(N_MODELS)]
    db.create_many(entities.REGISTERED_MODEL, models)
    versions = []
    for k in range(N_VERSIONS):
        body = {"name": f"v{k}", "registeredModelId": str(k % N_MODELS + 1), "state": "LIVE"}
        body["customProperties"] = _props(rng, k)
        versions.append((body, k % N_MODELS + 1))
    db.create_many(entities.MODEL_VERSION, versions)
    yield db
    db.close()


FILTERS = [
    "accuracy > 0.98",
    'accuracy > 0.95 AND framework = "xgboost"',
    'framework = "xgboost" AND accuracy > 0.95',
    "epochs = 7",
    "epochs IN (1, 2, 3) AND validated = true",
    "epochs.int_value >= 18",
    "epochs.double_value < 2",
    "accuracy > 0.99 OR epochs = 13",
    '(accuracy > 0.97 OR framework = "pytorch") AND validated = false',
    '(accuracy > 0.9 AND validated = true) AND framework IN ("sklearn", "pytorch")',
    '`my.prop` = "tag-1" AND name != "v7"',
    'accuracy > 0.6 AND name LIKE "v1%"',
    'framework = "sklearn" AND (name = "v3" OR name = "v4")',
    "accuracy > 0.999999",
    'framework = "keras"',
    'accuracy > 0.9 AND framework ILIKE "%BOOST"',
    "accuracy >= 0.5 AND accuracy <= 0.52",
    "registeredModelId = 2 AND accuracy > 0.8",
]


def _scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner, "choose_driver", lambda *args, **kwargs: None)


def _walk(store: Store, options: ListOptions, scope: Scope | None = None) -> list[list[str]]:
    """Every page of a list, following the tokens; the ids of each page."""
    pages = []
    while True:
        items, token = store.list(entities.MODEL_VERSION, scope, options)
        pages.append([item["id"] for item in items])
        if not token:
            return pages
        options = ListOptions(options.filter_query, token, options.page_size, options.order_by, options.descending)


@pytest.mark.parametrize("query", FILTERS)
@pytest.mark.parametrize(
    ("page_size", "order_by", "descending"),
    [
        (None, "ID", False),
        (7, "ID", False),
        (10, "ID", True),
        (25, "CREATE_TIME", True),
        (4, "LAST_UPDATE_TIME", False),
    ],
)
def test_a_planned_list_answers_exactly_like_a_scan(
    store: Store, monkeypatch: pytest.MonkeyPatch, query: str, page_size: int | None, order_by: str, descending: bool
) -> None:
    options = ListOptions(filter_query=query, page_size=page_size, order_by=order_by, descending=descending)
    planned = _walk(store, options)
    with monkeypatch.context() as patched:
        _scanned(patched)
        scanned = _walk(store, options)
    assert planned == scanned


@pytest.mark.parametrize("query", FILTERS[:4])
def test_lists_of_registered_models_and_inside_a_parent_agree_too(
    store: Store, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    options = ListOptions(filter_query=query, page_size=3)
    models = store.list(entities.REGISTERED_MODEL, None, options)
    inside = _walk(store, options, Scope(parent_id=2))
    with monkeypatch.context() as patched:
        _scanned(patched)
        assert store.list(entities.REGISTERED_MODEL, None, options) == models
        assert _walk(store, options, Scope(parent_id=2)) == inside


def _plan(store: Store, query: str, page_size: int | None = 10, scope: Scope | None = None) -> str:
    return "\n".join(store.explain(entities.MODEL_VERSION, scope, ListOptions(filter_query=query, page_size=page_size)))


def test_a_selective_filter_starts_from_its_property_index(store: Store) -> None:
    plan = _plan(store, 'accuracy > 0.99 AND framework = "xgboost"')
    assert "USING COVERING INDEX prop_double (name=? AND double_value>?)" in plan
    assert "SCAN r" not in plan and "resource_kind (kind=?)" not in plan  # no walk over the versions


def test_an_or_of_indexed_terms_starts_from_their_indexes(store: Store) -> None:
    plan = _plan(store, "accuracy > 0.999 OR epochs = 19")
    assert "prop_double (name=? AND double_value>?)" in plan
    assert "prop_int (name=? AND int_value=?)" in plan


def test_a_broad_paged_filter_scans_in_order_and_stops_when_the_page_is_full(store: Store) -> None:
    plan = _plan(store, 'framework IN ("sklearn", "xgboost", "pytorch")', page_size=5)
    assert "resource_kind (kind=?)" in plan
    assert "TEMP B-TREE" not in plan  # read in id order: no sort, so it stops after the page


def test_an_unpaged_list_always_starts_from_an_index_when_it_can(store: Store) -> None:
    assert "prop_string (name=? AND string_value=?)" in _plan(store, 'framework = "sklearn"', page_size=None)


def test_a_list_inside_a_parent_scans_the_parent(store: Store) -> None:
    plan = _plan(store, "accuracy > 0.99", scope=Scope(parent_id=1))
    assert "resource_parent (kind=? AND parent_id=?)" in plan


def test_an_entity_name_filter_uses_the_name_index(store: Store) -> None:
    assert "resource_kind_name (kind=? AND name=?)" in _plan(store, 'name = "v7"')


# -- a slow list does not stall the other requests -------------------------------------------------------------


def test_other_requests_are_answered_while_a_list_is_running(tmp_path: Path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db") as registry:
        store = registry._store
        assert store is not None
        entered, release = threading.Event(), threading.Event()
        original = store.list_json

        def slow_list(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            release.wait(60)
            return original(*args, **kwargs)

        store.list_json = slow_list  # type: ignore[method-assign]
        with httpx.Client(base_url=registry.api_url, timeout=60) as http:
            model = http.post("/registered_models", json={"name": "while-listing"}).json()
            lister = threading.Thread(target=lambda: http.get("/model_versions"))
            lister.start()
            try:
                assert entered.wait(30), "the list did not start"
                with httpx.Client(base_url=registry.api_url, timeout=30) as other:
                    # Answered while the list is still blocked (before, the event loop itself was blocked).
                    assert other.get(f"/registered_models/{model['id']}").status_code == 200
                    assert other.post("/registered_models", json={"name": "meanwhile"}).status_code == 201
                    assert not release.is_set()
            finally:
                release.set()
                lister.join(60)


# -- lists rendered by SQLite are the entities Python renders --------------------------------------------------


@pytest.mark.parametrize("query", ["", *FILTERS[:6]])
def test_lists_rendered_in_sqlite_equal_the_python_rendering(store: Store, query: str) -> None:
    options = ListOptions(filter_query=query, page_size=9, order_by="CREATE_TIME", descending=True)
    items, token = store.list(entities.MODEL_VERSION, None, options)
    texts, json_token = store.list_json(entities.MODEL_VERSION, None, options)
    assert [json.loads(text) for text in texts] == items
    assert json_token == token


def test_sqlite_rendering_keeps_every_value_and_omits_what_is_missing(tmp_path: Path) -> None:
    db = Store(tmp_path / "r.db")
    try:
        odd = {
            "name": 'quote " backslash \\ tab \t é 漢 \U0001f600',
            "externalId": "ext\u2028line",
            "description": "",
            "customProperties": {
                "tiny": {"double_value": 1e-300, "metadataType": "MetadataDoubleValue"},
                "third": {"double_value": 0.1 + 0.2, "metadataType": "MetadataDoubleValue"},
                "neg": {"int_value": "-2147483648", "metadataType": "MetadataIntValue"},
                "flag": {"bool_value": False, "metadataType": "MetadataBoolValue"},
                "struct": {"struct_value": "e30=", "metadataType": "MetadataStructValue"},
                "": {"string_value": "empty key", "metadataType": "MetadataStringValue"},
            },
        }
        db.create(entities.REGISTERED_MODEL, odd)
        db.create(entities.artifact_kind("doc-artifact"), {"uri": "s3://b/x"}, subtype="doc-artifact")
        for kind in (entities.REGISTERED_MODEL, entities.artifact_kind(None)):
            items, _ = db.list(kind)
            texts, _ = db.list_json(kind)
            assert [json.loads(text) for text in texts] == items
        assert "name" not in json.loads(db.list_json(entities.artifact_kind(None))[0][0])
    finally:
        db.close()
