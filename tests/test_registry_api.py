"""The embedded Model Registry through the official client's generated API layer (``mr_openapi``, 40 operations).

Every operation is exercised with its success case and its main error cases; error bodies are checked for the
registry's ``{"code": ..., "message": ...}`` shape. Bodies the typed client cannot send (unknown fields, wrong
types, invalid JSON, immutable names) go through raw HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from mr_openapi import ModelRegistryServiceApi
from mr_openapi import exceptions as mx
from mr_openapi import models as m

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

MISSING = "987654321"  # a well-formed id no test creates
HUGE = "99999999999999999999"  # digits only, but beyond int64
STATUS = {
    mx.BadRequestException: 400,
    mx.NotFoundException: 404,
    mx.ConflictException: 409,
    mx.UnprocessableEntityException: 422,
}


# -- plumbing ------------------------------------------------------------------------------------------------


class SyncApi:
    """``ModelRegistryServiceApi`` with every coroutine method run to completion on one loop and one session.

    A fresh ``get_client()`` per call costs ~90 ms (it builds an SSL context), so the module shares one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, api: ModelRegistryServiceApi) -> None:
        self._loop = loop
        self._api = api

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._api, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return self._loop.run_until_complete(method(*args, **kwargs))
            except mx.ServiceException:
                settle_server_error()
                raise

        return run


@pytest.fixture(scope="module")
def api(client) -> Iterator[SyncApi]:
    loop = asyncio.new_event_loop()
    manager = client._api.get_client()
    typed = loop.run_until_complete(manager.__aenter__())
    try:
        yield SyncApi(loop, typed)
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


def settle_server_error(response: httpx.Response | None = None) -> None:
    """After a 5xx, let the server thread finish and collect the garbage it left, now rather than later.

    A server-side exception leaves reference cycles holding the server thread's suspended coroutines. If the
    collector finalizes them inside pytest's ``ast.parse`` of a failure report, CPython 3.11.7 raises "AST
    constructor recursion depth mismatch" and pytest stops with INTERNALERROR.
    """
    if response is None or response.status_code >= 500:
        time.sleep(0.05)
        gc.collect()


def raw_client(base_url: str) -> httpx.Client:
    """Raw HTTP; one connection per request, so a server error never poisons the next one."""
    hooks = {"response": [settle_server_error]}
    return httpx.Client(base_url=base_url, headers={"Connection": "close"}, timeout=10, event_hooks=hooks)


@pytest.fixture(scope="module")
def raw(registry: EmbeddedRegistry) -> Iterator[httpx.Client]:
    with raw_client(registry.api_url) as http:
        yield http


def error_body(status: int, text: str | None) -> dict[str, str]:
    """Check the registry's error body and return it."""
    body = json.loads(text or "")
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str) and body["message"], body
    if status != 422:  # its code is checked in test_missing_required_field_error_code_is_bad_request
        assert body["code"] == HTTPStatus(status).phrase, body
    return body


def expect(exc_type: type[mx.ApiException], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, str]:
    """Call ``fn`` expecting the typed client to raise ``exc_type``; return the error body."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert info.value.status == STATUS[exc_type]
    return error_body(info.value.status, info.value.body)


def expect_raw(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    return error_body(status, response.text)


def unwrap(obj: Any) -> Any:
    """The concrete model inside a oneOf wrapper (``Artifact``), or the object itself."""
    return getattr(obj, "actual_instance", None) or obj


def sprop(value: str) -> m.MetadataValue:
    return m.MetadataValue(m.MetadataStringValue(string_value=value, metadataType="MetadataStringValue"))


def plain_props(props: dict[str, Any] | None) -> dict[str, Any]:
    return {k: unwrap(v).to_dict() for k, v in (props or {}).items()}


def tick() -> None:
    """Let the millisecond clock move on, so lastUpdateTimeSinceEpoch differs."""
    time.sleep(0.003)


# -- factories -----------------------------------------------------------------------------------------------


def new_model(api: SyncApi, name: str, **kwargs: Any) -> m.RegisteredModel:
    return api.create_registered_model(m.RegisteredModelCreate(name=name, **kwargs))


def new_version(api: SyncApi, model_id: str, name: str, **kwargs: Any) -> m.ModelVersion:
    return api.create_model_version(m.ModelVersionCreate(name=name, registeredModelId=model_id, **kwargs))


def new_env(api: SyncApi, name: str, **kwargs: Any) -> m.ServingEnvironment:
    return api.create_serving_environment(m.ServingEnvironmentCreate(name=name, **kwargs))


def new_isvc(api: SyncApi, env_id: str, model_id: str, **kwargs: Any) -> m.InferenceService:
    body = m.InferenceServiceCreate(servingEnvironmentId=env_id, registeredModelId=model_id, **kwargs)
    return api.create_inference_service(body)


def link(api: SyncApi, version_id: str, artifact: Any) -> Any:
    return unwrap(api.upsert_model_version_artifact(version_id, m.Artifact(artifact)))


@dataclass(frozen=True)
class Graph:
    """One connected set of entities for tests that need parents."""

    tag: str
    model: m.RegisteredModel
    version: m.ModelVersion
    env: m.ServingEnvironment
    isvc: m.InferenceService
    serve: m.ServeModel
    model_artifact: m.ModelArtifact
    metric: m.Metric


@pytest.fixture(scope="module")
def graph(api: SyncApi) -> Graph:
    tag = uuid.uuid4().hex[:8]
    model = new_model(api, f"g-{tag}")
    version = new_version(api, model.id, "v1")
    env = new_env(api, f"g-{tag}")
    isvc = new_isvc(api, env.id, model.id, name=f"g-{tag}", modelVersionId=version.id)
    serve = api.create_inference_service_serve(isvc.id, m.ServeModelCreate(modelVersionId=version.id))
    model_artifact = link(api, version.id, m.ModelArtifact(name="model", uri="s3://b/model"))
    metric = link(api, version.id, m.Metric(name="accuracy", value=0.9))
    return Graph(tag, model, version, env, isvc, serve, model_artifact, metric)


# -- general shape -------------------------------------------------------------------------------------------


def test_every_client_operation_is_exercised_in_this_module() -> None:
    operations = {
        name
        for name in vars(ModelRegistryServiceApi)
        if not name.startswith("_") and not name.endswith(("_with_http_info", "_without_preload_content"))
    }
    assert len(operations) == 40
    source = Path(__file__).read_text()
    assert {op for op in operations if not re.search(rf"\b{op}(_with_http_info)?\b", source)} == set()


def test_root_path_answers_404_with_error_body(registry: EmbeddedRegistry) -> None:
    response = httpx.get(registry.url + "/", timeout=10)
    expect_raw(response, 404)


def test_unknown_endpoint_answers_404_with_error_body(raw: httpx.Client) -> None:
    expect_raw(raw.get("/no_such_things"), 404)


def test_unsupported_method_answers_405_with_error_body(raw: httpx.Client, graph: Graph) -> None:
    expect_raw(raw.delete(f"/registered_models/{graph.model.id}"), 405)


def test_head_request_is_not_a_server_error(raw: httpx.Client) -> None:
    # Starlette routes HEAD to every GET route; the dispatcher only knows GET/POST/PATCH.
    response = raw.head("/registered_models")
    assert response.status_code in (200, 405), response.status_code


def test_ids_are_strings_of_ints_and_timestamps_are_epoch_ms_strings(api: SyncApi, raw: httpx.Client, unique) -> None:
    before = int(time.time() * 1000)
    model = new_model(api, f"shape-{unique}")
    after = int(time.time() * 1000)
    body = raw.get(f"/registered_models/{model.id}").json()
    for field in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
        assert isinstance(body[field], str) and body[field].isdigit(), (field, body[field])
    assert int(body["id"]) > 0
    assert before - 5 <= int(body["createTimeSinceEpoch"]) <= after + 5
    assert body["lastUpdateTimeSinceEpoch"] == body["createTimeSinceEpoch"]


def test_patch_changes_last_update_time_but_not_create_time(api: SyncApi, unique) -> None:
    model = new_model(api, f"lu-{unique}")
    tick()
    updated = api.update_registered_model(model.id, m.RegisteredModelUpdate(description="changed"))
    assert updated.create_time_since_epoch == model.create_time_since_epoch
    assert int(updated.last_update_time_since_epoch) > int(model.last_update_time_since_epoch)
    assert api.get_registered_model(model.id).last_update_time_since_epoch == updated.last_update_time_since_epoch


def test_patch_without_custom_properties_keeps_them(api: SyncApi, unique) -> None:
    model = new_model(api, f"keep-{unique}", customProperties={"stage": sprop("dev")})
    updated = api.update_registered_model(model.id, m.RegisteredModelUpdate(description="d"))
    assert plain_props(updated.custom_properties) == {
        "stage": {"string_value": "dev", "metadataType": "MetadataStringValue"}
    }
    assert updated.description == "d"


def test_patch_with_custom_properties_replaces_the_whole_map(api: SyncApi, unique) -> None:
    model = new_model(api, f"repl-{unique}", customProperties={"a": sprop("1"), "b": sprop("2")})
    updated = api.update_registered_model(model.id, m.RegisteredModelUpdate(customProperties={"c": sprop("3")}))
    assert set(updated.custom_properties) == {"c"}
    assert set(api.get_registered_model(model.id).custom_properties) == {"c"}


def test_patch_with_empty_custom_properties_clears_them(raw: httpx.Client, api: SyncApi, unique) -> None:
    model = new_model(api, f"clear-{unique}", customProperties={"a": sprop("1")})
    response = raw.patch(f"/registered_models/{model.id}", json={"customProperties": {}})
    assert response.status_code == 200, response.text
    assert response.json()["customProperties"] == {}


def test_custom_property_value_types_round_trip(raw: httpx.Client, unique) -> None:
    props = {
        "epochs": {"int_value": "10", "metadataType": "MetadataIntValue"},
        "accuracy": {"double_value": 0.97, "metadataType": "MetadataDoubleValue"},
        "framework": {"string_value": "sklearn", "metadataType": "MetadataStringValue"},
        "label": {"string_value": "", "metadataType": "MetadataStringValue"},
        "deployed": {"bool_value": True, "metadataType": "MetadataBoolValue"},
        "config": {
            "struct_value": base64.b64encode(b'{"k": 1}').decode(),
            "metadataType": "MetadataStructValue",
        },
    }
    created = raw.post("/registered_models", json={"name": f"props-{unique}", "customProperties": props})
    assert created.status_code == 201, created.text
    assert raw.get(f"/registered_models/{created.json()['id']}").json()["customProperties"] == props


def test_custom_property_without_metadata_type_is_rejected(raw: httpx.Client, unique) -> None:
    body = {"name": f"nomt-{unique}", "customProperties": {"a": {"string_value": "x"}}}
    expect_raw(raw.post("/registered_models", json=body), 400)


def test_int_custom_property_must_be_an_integer_string(raw: httpx.Client, unique) -> None:
    body = {
        "name": f"badint-{unique}",
        "customProperties": {"a": {"int_value": "ten", "metadataType": "MetadataIntValue"}},
    }
    expect_raw(raw.post("/registered_models", json=body), 400)


# -- malformed bodies on every operation that takes one ------------------------------------------------------


def body_ops(g: Graph, tag: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every operation with a request body: (method, path, a valid body)."""
    name = f"b-{tag}"
    isvc = {"registeredModelId": g.model.id, "servingEnvironmentId": g.env.id}
    return {
        "createRegisteredModel": ("POST", "/registered_models", {"name": name}),
        "updateRegisteredModel": ("PATCH", f"/registered_models/{g.model.id}", {"description": "d"}),
        "createRegisteredModelVersion": (
            "POST",
            f"/registered_models/{g.model.id}/versions",
            {"name": name, "registeredModelId": g.model.id},
        ),
        "createModelVersion": ("POST", "/model_versions", {"name": name, "registeredModelId": g.model.id}),
        "updateModelVersion": ("PATCH", f"/model_versions/{g.version.id}", {"description": "d"}),
        "upsertModelVersionArtifact": (
            "POST",
            f"/model_versions/{g.version.id}/artifacts",
            {"artifactType": "doc-artifact", "name": name},
        ),
        "createModelArtifact": ("POST", "/model_artifacts", {"name": name}),
        "updateModelArtifact": ("PATCH", f"/model_artifacts/{g.model_artifact.id}", {"description": "d"}),
        "createArtifact": ("POST", "/artifacts", {"artifactType": "metric", "name": name}),
        "updateArtifact": ("PATCH", f"/artifacts/{g.metric.id}", {"artifactType": "metric", "value": 1.0}),
        "createServingEnvironment": ("POST", "/serving_environments", {"name": name}),
        "updateServingEnvironment": ("PATCH", f"/serving_environments/{g.env.id}", {"description": "d"}),
        "createEnvironmentInferenceService": ("POST", f"/serving_environments/{g.env.id}/inference_services", isvc),
        "createInferenceService": ("POST", "/inference_services", isvc),
        "updateInferenceService": ("PATCH", f"/inference_services/{g.isvc.id}", {"runtime": "kserve"}),
        "createInferenceServiceServe": (
            "POST",
            f"/inference_services/{g.isvc.id}/serves",
            {"modelVersionId": g.version.id},
        ),
    }


BODY_OPS = list(body_ops(Graph("", *[SimpleNamespace(id="1")] * 7), ""))  # type: ignore[arg-type]


@pytest.mark.parametrize("op", BODY_OPS)
def test_body_with_unknown_field_is_rejected(raw: httpx.Client, graph: Graph, unique, op: str) -> None:
    method, path, body = body_ops(graph, unique)[op]
    error = expect_raw(raw.request(method, path, json={**body, "bogusField": 1}), 400)
    assert 'unknown field "bogusField"' in error["message"]


@pytest.mark.parametrize("op", BODY_OPS)
def test_body_with_wrong_field_type_is_rejected(raw: httpx.Client, graph: Graph, unique, op: str) -> None:
    method, path, body = body_ops(graph, unique)[op]
    expect_raw(raw.request(method, path, json={**body, "description": 42}), 400)


@pytest.mark.parametrize("op", BODY_OPS)
def test_body_with_invalid_json_is_rejected(raw: httpx.Client, graph: Graph, op: str) -> None:
    method, path, _ = body_ops(graph, "x")[op]
    headers = {"Content-Type": "application/json"}
    expect_raw(raw.request(method, path, content=b'{"name": ', headers=headers), 400)


@pytest.mark.parametrize("content", [b"", b"null", b"[]", b'"text"'], ids=["empty", "null", "array", "string"])
def test_body_that_is_not_an_object_is_rejected(raw: httpx.Client, content: bytes) -> None:
    expect_raw(raw.post("/registered_models", content=content, headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ("createRegisteredModel", "state"),
        ("updateRegisteredModel", "state"),
        ("createModelVersion", "state"),
        ("updateModelVersion", "state"),
        ("createModelArtifact", "state"),
        ("updateArtifact", "state"),
        ("createArtifact", "state"),
        ("createInferenceService", "desiredState"),
        ("updateInferenceService", "desiredState"),
        ("createInferenceServiceServe", "lastKnownState"),
    ],
)
def test_body_with_bad_enum_value_is_rejected(raw: httpx.Client, graph: Graph, unique, op: str, field: str) -> None:
    method, path, body = body_ops(graph, unique)[op]
    expect_raw(raw.request(method, path, json={**body, field: "NO_SUCH_STATE"}), 400)


def test_parameter_with_bad_parameter_type_is_rejected(raw: httpx.Client, unique) -> None:
    body = {"artifactType": "parameter", "name": f"p-{unique}", "value": "1", "parameterType": "complex"}
    expect_raw(raw.post("/artifacts", json=body), 400)


@pytest.mark.parametrize(
    ("op", "drop"),
    [
        ("createRegisteredModel", "name"),
        ("createRegisteredModelVersion", "name"),
        ("createModelVersion", "name"),
        ("createModelVersion", "registeredModelId"),
        ("createServingEnvironment", "name"),
        ("createInferenceService", "registeredModelId"),
        ("createInferenceService", "servingEnvironmentId"),
        ("createEnvironmentInferenceService", "registeredModelId"),
        ("createInferenceServiceServe", "modelVersionId"),
    ],
)
def test_missing_required_field_answers_422(raw: httpx.Client, graph: Graph, unique, op: str, drop: str) -> None:
    method, path, body = body_ops(graph, unique)[op]
    body = {k: v for k, v in body.items() if k != drop}
    error = expect_raw(raw.request(method, path, json=body), 422)
    assert drop in error["message"]


def test_missing_required_field_error_code_is_bad_request(raw: httpx.Client, graph: Graph) -> None:
    # The real server answers 422 with the body of a 400: {"code": "Bad Request", ...} (notes: model-registry-facts).
    response = raw.post("/model_versions", json={"registeredModelId": graph.model.id})
    assert response.status_code == 422
    assert response.json()["code"] == "Bad Request"


# -- ids that overflow, and other inputs that must not crash the server --------------------------------------


@pytest.mark.parametrize(
    "path", ["/registered_models/{}", "/model_versions/{}/artifacts", "/artifacts/{}", "/inference_services/{}/serves"]
)
def test_id_beyond_int64_in_path_is_not_a_server_error(raw: httpx.Client, path: str) -> None:
    response = raw.get(path.format(HUGE))
    assert response.status_code in (400, 404), response.text
    error_body(response.status_code, response.text)


@pytest.mark.parametrize("path", ["/model_version", "/inference_service"])
def test_parent_resource_id_beyond_int64_is_not_a_server_error(raw: httpx.Client, path: str) -> None:
    response = raw.get(path, params={"name": "x", "parentResourceId": HUGE})
    assert response.status_code in (400, 404), response.text
    error_body(response.status_code, response.text)


def test_upsert_with_artifact_id_beyond_int64_is_not_a_server_error(raw: httpx.Client, graph: Graph) -> None:
    body = {"id": HUGE, "artifactType": "metric"}
    response = raw.post(f"/model_versions/{graph.version.id}/artifacts", json=body)
    assert response.status_code in (400, 404), response.text


def test_patch_inference_service_with_model_version_id_beyond_int64_is_400(raw: httpx.Client, graph: Graph) -> None:
    response = raw.patch(f"/inference_services/{graph.isvc.id}", json={"modelVersionId": HUGE})
    expect_raw(response, 400)


def test_page_token_with_out_of_range_number_is_rejected(raw: httpx.Client) -> None:
    token = base64.urlsafe_b64encode(f"1:{HUGE}".encode()).decode()
    expect_raw(raw.get("/registered_models", params={"pageSize": "1", "nextPageToken": token}), 400)


def test_nan_in_body_is_rejected_and_does_not_break_listing(tmp_path: Path) -> None:
    # Python's json module accepts NaN/Infinity; JSON (and the Go server) does not. The typed client sends NaN
    # for float("nan"), so one bad metric must not make the registry unreadable.
    with (
        EmbeddedRegistry(tmp_path / "nan.db") as private,
        raw_client(private.api_url) as http,
    ):
        body = (
            b'{"name": "nan", "customProperties": {"x": {"double_value": NaN, "metadataType": "MetadataDoubleValue"}}}'
        )
        created = http.post("/registered_models", content=body, headers={"Content-Type": "application/json"})
        listed = http.get("/registered_models")
        assert (created.status_code, listed.status_code) == (400, 200), (created.text, listed.text)


# -- registered models ---------------------------------------------------------------------------------------


def test_create_registered_model_returns_201_and_defaults_to_live(api: SyncApi, unique) -> None:
    response = api.create_registered_model_with_http_info(
        m.RegisteredModelCreate(name=f"rm-{unique}", owner="ann", description="d", externalId=f"ext-rm-{unique}")
    )
    assert response.status_code == 201
    model = response.data
    assert (model.name, model.owner, model.description, model.state) == (f"rm-{unique}", "ann", "d", "LIVE")
    assert model.external_id == f"ext-rm-{unique}"


def test_create_registered_model_with_duplicate_name_conflicts(api: SyncApi, unique) -> None:
    new_model(api, f"dup-{unique}")
    expect(mx.ConflictException, new_model, api, f"dup-{unique}")


def test_create_registered_model_with_duplicate_external_id_conflicts(api: SyncApi, unique) -> None:
    new_model(api, f"ext1-{unique}", externalId=f"x-{unique}")
    expect(mx.ConflictException, new_model, api, f"ext2-{unique}", externalId=f"x-{unique}")


def test_get_registered_model_by_id(api: SyncApi, unique) -> None:
    model = new_model(api, f"get-{unique}")
    assert api.get_registered_model(model.id) == model


@pytest.mark.parametrize("rid", [MISSING, "abc"])
def test_get_unknown_registered_model_is_404(api: SyncApi, rid: str) -> None:
    expect(mx.NotFoundException, api.get_registered_model, rid)


def test_update_registered_model_archives_it(api: SyncApi, unique) -> None:
    model = new_model(api, f"arch-{unique}")
    updated = api.update_registered_model(model.id, m.RegisteredModelUpdate(state="ARCHIVED", owner="bob"))
    assert (updated.state, updated.owner, updated.name) == ("ARCHIVED", "bob", model.name)


def test_update_unknown_registered_model_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.update_registered_model, MISSING, m.RegisteredModelUpdate(description="d"))


def test_update_registered_model_to_taken_external_id_conflicts(api: SyncApi, unique) -> None:
    new_model(api, f"t1-{unique}", externalId=f"taken-{unique}")
    other = new_model(api, f"t2-{unique}")
    body = m.RegisteredModelUpdate(externalId=f"taken-{unique}")
    expect(mx.ConflictException, api.update_registered_model, other.id, body)


def test_update_registered_model_name_is_rejected(raw: httpx.Client, api: SyncApi, unique) -> None:
    model = new_model(api, f"immut-{unique}")
    expect_raw(raw.patch(f"/registered_models/{model.id}", json={"name": f"renamed-{unique}"}), 400)
    assert api.get_registered_model(model.id).name == f"immut-{unique}"


def test_find_registered_model_by_name_and_by_external_id(api: SyncApi, unique) -> None:
    model = new_model(api, f"find-{unique}", externalId=f"fx-{unique}")
    assert api.find_registered_model(name=f"find-{unique}").id == model.id
    assert api.find_registered_model(external_id=f"fx-{unique}").id == model.id


def test_find_unknown_registered_model_is_404(api: SyncApi, unique) -> None:
    expect(mx.NotFoundException, api.find_registered_model, name=f"nope-{unique}")


def test_find_registered_model_without_params_is_400(api: SyncApi) -> None:
    expect(mx.BadRequestException, api.find_registered_model)


def test_list_registered_models_with_filter_query(api: SyncApi, unique) -> None:
    a = new_model(api, f"lf-a-{unique}", customProperties={"team": sprop("red")})
    new_model(api, f"lf-b-{unique}", customProperties={"team": sprop("blue")})
    page = api.get_registered_models(filter_query=f'name LIKE "lf-%-{unique}" AND team = "red"')
    assert [item.id for item in page.items] == [a.id]
    assert (page.size, page.page_size, page.next_page_token) == (1, 0, "")


# -- versions of a registered model --------------------------------------------------------------------------


def test_create_registered_model_version_sets_its_parent(api: SyncApi, unique) -> None:
    model = new_model(api, f"rmv-{unique}")
    response = api.create_registered_model_version_with_http_info(
        model.id, m.ModelVersion(name="v1", registeredModelId=model.id, author="ann")
    )
    assert response.status_code == 201
    assert (response.data.registered_model_id, response.data.author, response.data.state) == (model.id, "ann", "LIVE")


def test_create_registered_model_version_for_unknown_model_is_404(api: SyncApi) -> None:
    body = m.ModelVersion(name="v1", registeredModelId=MISSING)
    expect(mx.NotFoundException, api.create_registered_model_version, MISSING, body)


def test_create_registered_model_version_with_other_model_id_is_400(api: SyncApi, graph: Graph, unique) -> None:
    model = new_model(api, f"rmv-other-{unique}")
    body = m.ModelVersion(name="v1", registeredModelId=graph.model.id)
    expect(mx.BadRequestException, api.create_registered_model_version, model.id, body)


def test_create_registered_model_version_with_duplicate_name_conflicts(api: SyncApi, unique) -> None:
    model = new_model(api, f"rmv-dup-{unique}")
    body = m.ModelVersion(name="v1", registeredModelId=model.id)
    api.create_registered_model_version(model.id, body)
    expect(mx.ConflictException, api.create_registered_model_version, model.id, body)


def test_list_registered_model_versions_lists_only_its_own(api: SyncApi, unique) -> None:
    model, other = new_model(api, f"own-{unique}"), new_model(api, f"own2-{unique}")
    mine = [new_version(api, model.id, f"v{i}").id for i in range(3)]
    new_version(api, other.id, "v0")
    page = api.get_registered_model_versions(model.id)
    assert [v.id for v in page.items] == mine
    assert page.size == 3


def test_list_registered_model_versions_filters_by_name(api: SyncApi, unique) -> None:
    model = new_model(api, f"byname-{unique}")
    new_version(api, model.id, "a")
    b = new_version(api, model.id, "b")
    assert [v.id for v in api.get_registered_model_versions(model.id, name="b").items] == [b.id]


def test_list_versions_of_unknown_model_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.get_registered_model_versions, MISSING)


# -- model versions ------------------------------------------------------------------------------------------


def test_create_model_version_returns_201_live(api: SyncApi, graph: Graph, unique) -> None:
    body = m.ModelVersionCreate(name=f"mv-{unique}", registeredModelId=graph.model.id, description="d")
    response = api.create_model_version_with_http_info(body)
    assert response.status_code == 201
    assert (response.data.state, response.data.registered_model_id) == ("LIVE", graph.model.id)


def test_create_model_version_with_same_name_in_other_model_is_allowed(api: SyncApi, unique) -> None:
    a, b = new_model(api, f"sn-a-{unique}"), new_model(api, f"sn-b-{unique}")
    assert new_version(api, a.id, "1.0").id != new_version(api, b.id, "1.0").id


def test_create_model_version_with_duplicate_name_in_model_conflicts(api: SyncApi, graph: Graph, unique) -> None:
    new_version(api, graph.model.id, f"dup-{unique}")
    expect(mx.ConflictException, new_version, api, graph.model.id, f"dup-{unique}")


def test_create_model_version_with_duplicate_external_id_conflicts(api: SyncApi, graph: Graph, unique) -> None:
    new_version(api, graph.model.id, f"e1-{unique}", externalId=f"mvx-{unique}")
    expect(mx.ConflictException, new_version, api, graph.model.id, f"e2-{unique}", externalId=f"mvx-{unique}")


def test_create_model_version_for_unknown_model_is_404(api: SyncApi, unique) -> None:
    expect(mx.NotFoundException, new_version, api, MISSING, f"orphan-{unique}")


def test_get_model_version_by_id(api: SyncApi, graph: Graph) -> None:
    assert api.get_model_version(graph.version.id).name == "v1"


def test_get_unknown_model_version_is_404(api: SyncApi, graph: Graph) -> None:
    expect(mx.NotFoundException, api.get_model_version, MISSING)
    expect(mx.NotFoundException, api.get_model_version, graph.model.id)  # an id of another kind


def test_update_model_version_archives_it(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"arch-{unique}")
    updated = api.update_model_version(version.id, m.ModelVersionUpdate(state="ARCHIVED", author="bob"))
    assert (updated.state, updated.author, updated.registered_model_id) == ("ARCHIVED", "bob", graph.model.id)


def test_update_unknown_model_version_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.update_model_version, MISSING, m.ModelVersionUpdate(description="d"))


def test_update_model_version_cannot_move_it_to_another_model(
    raw: httpx.Client, api: SyncApi, graph: Graph, unique
) -> None:
    other = new_model(api, f"dest-{unique}")
    version = new_version(api, graph.model.id, f"move-{unique}")
    expect_raw(raw.patch(f"/model_versions/{version.id}", json={"registeredModelId": other.id}), 400)
    assert api.get_model_version(version.id).registered_model_id == graph.model.id


def test_update_model_version_name_is_rejected(raw: httpx.Client, graph: Graph) -> None:
    expect_raw(raw.patch(f"/model_versions/{graph.version.id}", json={"name": "v2"}), 400)


def test_find_model_version_by_name_and_parent_or_by_external_id(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"fv-{unique}", externalId=f"fvx-{unique}")
    assert api.find_model_version(name=f"fv-{unique}", parent_resource_id=graph.model.id).id == version.id
    assert api.find_model_version(external_id=f"fvx-{unique}").id == version.id


def test_find_model_version_by_name_without_parent_is_400(api: SyncApi) -> None:
    expect(mx.BadRequestException, api.find_model_version, name="v1")


def test_find_model_version_without_params_is_400(api: SyncApi) -> None:
    expect(mx.BadRequestException, api.find_model_version)


def test_find_model_version_in_another_model_is_404(api: SyncApi, unique) -> None:
    other = new_model(api, f"fvo-{unique}")
    expect(mx.NotFoundException, api.find_model_version, name="v1", parent_resource_id=other.id)


def test_list_model_versions_across_models_with_filter(api: SyncApi, unique) -> None:
    a, b = new_model(api, f"lmv-a-{unique}"), new_model(api, f"lmv-b-{unique}")
    ids = [new_version(api, a.id, f"lmv-{unique}").id, new_version(api, b.id, f"lmv-{unique}").id]
    page = api.get_model_versions(filter_query=f'name = "lmv-{unique}"')
    assert [v.id for v in page.items] == ids


# -- artifacts -----------------------------------------------------------------------------------------------

ARTIFACT_BODIES: dict[str, Callable[[str], Any]] = {
    "model-artifact": lambda n: m.ModelArtifactCreate(name=n, uri="s3://b/m", modelFormatName="onnx"),
    "doc-artifact": lambda n: m.DocArtifactCreate(name=n, uri="https://docs/readme"),
    "dataset-artifact": lambda n: m.DataSetCreate(name=n, uri="s3://b/d", digest="sha256:1", sourceType="s3"),
    "metric": lambda n: m.MetricCreate(name=n, value=0.97, step="3", timestamp="1700000000000"),
    "parameter": lambda n: m.ParameterCreate(name=n, value="0.01", parameterType="number"),
}
ARTIFACT_CLASSES = {
    "model-artifact": m.ModelArtifact,
    "doc-artifact": m.DocArtifact,
    "dataset-artifact": m.DataSet,
    "metric": m.Metric,
    "parameter": m.Parameter,
}


def new_artifact(api: SyncApi, artifact_type: str, name: str) -> Any:
    return unwrap(api.create_artifact(m.ArtifactCreate(ARTIFACT_BODIES[artifact_type](name))))


@pytest.mark.parametrize("artifact_type", list(ARTIFACT_BODIES))
def test_create_artifact_is_discriminated_by_artifact_type(api: SyncApi, unique, artifact_type: str) -> None:
    response = api.create_artifact_with_http_info(m.ArtifactCreate(ARTIFACT_BODIES[artifact_type](f"a-{unique}")))
    assert response.status_code == 201
    created = unwrap(response.data)
    assert isinstance(created, ARTIFACT_CLASSES[artifact_type])
    assert (created.artifact_type, created.state) == (artifact_type, "UNKNOWN")
    assert isinstance(unwrap(api.get_artifact(created.id)), ARTIFACT_CLASSES[artifact_type])


def test_created_metric_keeps_its_fields(api: SyncApi, unique) -> None:
    metric = new_artifact(api, "metric", f"acc-{unique}")
    assert (metric.value, metric.step, metric.timestamp) == (0.97, "3", "1700000000000")


@pytest.mark.parametrize("body", [{"artifactType": "bogus"}, {}], ids=["unknown-type", "no-type"])
def test_create_artifact_without_a_known_artifact_type_is_400(raw: httpx.Client, unique, body: dict) -> None:
    expect_raw(raw.post("/artifacts", json={**body, "name": f"t-{unique}"}), 400)


def test_create_artifact_with_duplicate_external_id_conflicts(api: SyncApi, unique) -> None:
    api.create_artifact(m.ArtifactCreate(m.DocArtifactCreate(name=f"d1-{unique}", externalId=f"ax-{unique}")))
    body = m.ArtifactCreate(m.MetricCreate(name=f"d2-{unique}", externalId=f"ax-{unique}"))
    expect(mx.ConflictException, api.create_artifact, body)


def test_create_artifact_with_duplicate_name_conflicts(api: SyncApi, unique) -> None:
    new_artifact(api, "doc-artifact", f"same-{unique}")
    expect(mx.ConflictException, new_artifact, api, "doc-artifact", f"same-{unique}")


def test_get_unknown_artifact_is_404(api: SyncApi, graph: Graph) -> None:
    expect(mx.NotFoundException, api.get_artifact, MISSING)
    expect(mx.NotFoundException, api.get_artifact, graph.model.id)


def test_update_artifact_changes_metric_value(api: SyncApi, unique) -> None:
    metric = new_artifact(api, "metric", f"upd-{unique}")
    updated = unwrap(api.update_artifact(metric.id, m.ArtifactUpdate(m.MetricUpdate(value=0.5, state="LIVE"))))
    assert (updated.value, updated.state, updated.name) == (0.5, "LIVE", f"upd-{unique}")


def test_update_artifact_cannot_change_artifact_type(api: SyncApi, unique) -> None:
    metric = new_artifact(api, "metric", f"chg-{unique}")
    body = m.ArtifactUpdate(m.ModelArtifactUpdate(uri="s3://x"))
    expect(mx.BadRequestException, api.update_artifact, metric.id, body)
    assert unwrap(api.get_artifact(metric.id)).artifact_type == "metric"


def test_update_unknown_artifact_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.update_artifact, MISSING, m.ArtifactUpdate(m.MetricUpdate(value=1.0)))


def test_update_artifact_name_is_rejected(raw: httpx.Client, graph: Graph) -> None:
    body = {"artifactType": "metric", "name": "renamed"}
    expect_raw(raw.patch(f"/artifacts/{graph.metric.id}", json=body), 400)


def test_find_artifact_by_name_and_version_or_by_external_id(api: SyncApi, graph: Graph, unique) -> None:
    doc = link(api, graph.version.id, m.DocArtifact(name=f"fa-{unique}", externalId=f"fax-{unique}"))
    assert unwrap(api.find_artifact(name=f"fa-{unique}", parent_resource_id=graph.version.id)).id == doc.id
    assert unwrap(api.find_artifact(external_id=f"fax-{unique}")).id == doc.id


def test_find_artifact_bad_params_are_400(api: SyncApi) -> None:
    expect(mx.BadRequestException, api.find_artifact)
    expect(mx.BadRequestException, api.find_artifact, name="accuracy")


def test_find_artifact_not_linked_to_version_is_404(api: SyncApi, graph: Graph, unique) -> None:
    new_artifact(api, "doc-artifact", f"unlinked-{unique}")
    expect(mx.NotFoundException, api.find_artifact, name=f"unlinked-{unique}", parent_resource_id=graph.version.id)


def test_list_artifacts_filters_by_artifact_type(api: SyncApi, unique) -> None:
    ids = {t: new_artifact(api, t, f"lt-{unique}-{t}").id for t in ARTIFACT_BODIES}
    for artifact_type, artifact_id in ids.items():
        page = api.get_artifacts(
            artifact_type=m.ArtifactTypeQueryParam(artifact_type), filter_query=f'name LIKE "lt-{unique}-%"'
        )
        assert [unwrap(a).id for a in page.items] == [artifact_id]
    assert len(api.get_artifacts(filter_query=f'name LIKE "lt-{unique}-%"').items) == 5


def test_list_artifacts_with_unknown_artifact_type_is_400(raw: httpx.Client) -> None:
    expect_raw(raw.get("/artifacts", params={"artifactType": "bogus"}), 400)


# -- model artifacts -----------------------------------------------------------------------------------------

MODEL_ARTIFACT_FIELDS = {
    "uri": "s3://bucket/model.onnx",
    "modelFormatName": "onnx",
    "modelFormatVersion": "1",
    "storageKey": "aws-connection",
    "storagePath": "models/m",
    "serviceAccountName": "sa",
    "modelSourceKind": "kfp",
    "modelSourceClass": "pipelinerun",
    "modelSourceGroup": "ns",
    "modelSourceId": "run-1",
    "modelSourceName": "run one",
}


def test_create_model_artifact_keeps_every_model_field(api: SyncApi, unique) -> None:
    response = api.create_model_artifact_with_http_info(
        m.ModelArtifactCreate(name=f"ma-{unique}", **MODEL_ARTIFACT_FIELDS)
    )
    assert response.status_code == 201
    stored = api.get_model_artifact(response.data.id).to_dict()
    assert {k: stored[k] for k in MODEL_ARTIFACT_FIELDS} == MODEL_ARTIFACT_FIELDS
    assert stored["artifactType"] == "model-artifact"


def test_create_model_artifact_with_other_artifact_type_is_400(raw: httpx.Client, unique) -> None:
    body = {"name": f"mad-{unique}", "artifactType": "doc-artifact"}
    expect_raw(raw.post("/model_artifacts", json=body), 400)


def test_create_model_artifact_with_duplicate_external_id_conflicts(api: SyncApi, unique) -> None:
    api.create_model_artifact(m.ModelArtifactCreate(name=f"mx1-{unique}", externalId=f"max-{unique}"))
    body = m.ModelArtifactCreate(name=f"mx2-{unique}", externalId=f"max-{unique}")
    expect(mx.ConflictException, api.create_model_artifact, body)


def test_get_model_artifact_of_another_type_is_404(api: SyncApi, graph: Graph) -> None:
    assert api.get_model_artifact(graph.model_artifact.id).uri == "s3://b/model"
    expect(mx.NotFoundException, api.get_model_artifact, graph.metric.id)
    expect(mx.NotFoundException, api.get_model_artifact, MISSING)


def test_update_model_artifact_changes_its_uri(api: SyncApi, unique) -> None:
    artifact = api.create_model_artifact(m.ModelArtifactCreate(name=f"mu-{unique}", uri="s3://old"))
    updated = api.update_model_artifact(artifact.id, m.ModelArtifactUpdate(uri="s3://new"))
    assert (updated.uri, updated.name) == ("s3://new", f"mu-{unique}")


def test_update_unknown_or_non_model_artifact_is_404(api: SyncApi, graph: Graph) -> None:
    body = m.ModelArtifactUpdate(uri="s3://x")
    expect(mx.NotFoundException, api.update_model_artifact, MISSING, body)
    expect(mx.NotFoundException, api.update_model_artifact, graph.metric.id, body)


def test_update_model_artifact_cannot_change_artifact_type(raw: httpx.Client, graph: Graph) -> None:
    body = {"artifactType": "doc-artifact"}
    expect_raw(raw.patch(f"/model_artifacts/{graph.model_artifact.id}", json=body), 400)


def test_find_model_artifact_by_name_and_version_or_by_external_id(api: SyncApi, graph: Graph, unique) -> None:
    artifact = link(api, graph.version.id, m.ModelArtifact(name=f"fm-{unique}", externalId=f"fmx-{unique}"))
    assert api.find_model_artifact(name=f"fm-{unique}", parent_resource_id=graph.version.id).id == artifact.id
    assert api.find_model_artifact(external_id=f"fmx-{unique}").id == artifact.id


def test_find_model_artifact_bad_params_are_400(api: SyncApi) -> None:
    expect(mx.BadRequestException, api.find_model_artifact)
    expect(mx.BadRequestException, api.find_model_artifact, name="model")


def test_find_model_artifact_does_not_find_other_artifact_types(api: SyncApi, graph: Graph) -> None:
    expect(mx.NotFoundException, api.find_model_artifact, name="accuracy", parent_resource_id=graph.version.id)


def test_list_model_artifacts_lists_only_model_artifacts(api: SyncApi, unique) -> None:
    model_artifact = new_artifact(api, "model-artifact", f"lma-{unique}-m")
    new_artifact(api, "doc-artifact", f"lma-{unique}-d")
    page = api.get_model_artifacts(filter_query=f'name LIKE "lma-{unique}-%"')
    assert [a.id for a in page.items] == [model_artifact.id]


# -- artifacts of a model version ----------------------------------------------------------------------------


def test_upsert_without_id_creates_and_links_with_201(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"up-{unique}")
    response = api.upsert_model_version_artifact_with_http_info(
        version.id, m.Artifact(m.ModelArtifact(name="model", uri="s3://m"))
    )
    assert response.status_code == 201
    assert [unwrap(a).id for a in api.get_model_version_artifacts(version.id).items] == [unwrap(response.data).id]


def test_upsert_with_existing_id_links_it_with_200(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"link-{unique}")
    existing = new_artifact(api, "dataset-artifact", f"ds-{unique}")
    response = api.upsert_model_version_artifact_with_http_info(
        version.id, m.Artifact(m.DataSet(id=existing.id, name=existing.name))
    )
    assert response.status_code == 200
    assert unwrap(response.data).id == existing.id
    assert [unwrap(a).id for a in api.get_model_version_artifacts(version.id).items] == [existing.id]


def test_upsert_with_existing_id_updates_its_fields(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"updl-{unique}")
    existing = new_artifact(api, "model-artifact", f"mu-{unique}")
    linked = link(api, version.id, m.ModelArtifact(id=existing.id, uri="s3://new", storagePath="p"))
    assert (linked.uri, linked.storage_path, linked.model_format_name) == ("s3://new", "p", "onnx")


def test_one_artifact_can_be_linked_to_two_versions(api: SyncApi, graph: Graph, unique) -> None:
    v1, v2 = new_version(api, graph.model.id, f"two1-{unique}"), new_version(api, graph.model.id, f"two2-{unique}")
    shared = link(api, v1.id, m.DocArtifact(name=f"shared-{unique}"))
    link(api, v2.id, m.DocArtifact(id=shared.id))
    for version in (v1, v2):
        assert [unwrap(a).id for a in api.get_model_version_artifacts(version.id).items] == [shared.id]


def test_upsert_cannot_change_artifact_type(api: SyncApi, graph: Graph, unique) -> None:
    metric = new_artifact(api, "metric", f"uct-{unique}")
    body = m.Artifact(m.Parameter(id=metric.id, value="1"))
    expect(mx.BadRequestException, api.upsert_model_version_artifact, graph.version.id, body)


def test_upsert_to_unknown_version_is_404(api: SyncApi) -> None:
    body = m.Artifact(m.DocArtifact(name="doc"))
    expect(mx.NotFoundException, api.upsert_model_version_artifact, MISSING, body)


def test_upsert_with_unknown_artifact_id_is_404(api: SyncApi, graph: Graph) -> None:
    body = m.Artifact(m.DocArtifact(id=MISSING))
    expect(mx.NotFoundException, api.upsert_model_version_artifact, graph.version.id, body)


def test_upsert_with_duplicate_name_in_version_conflicts(api: SyncApi, graph: Graph, unique) -> None:
    version = new_version(api, graph.model.id, f"udn-{unique}")
    link(api, version.id, m.Metric(name="loss", value=0.1))
    body = m.Artifact(m.Metric(name="loss", value=0.2))
    expect(mx.ConflictException, api.upsert_model_version_artifact, version.id, body)


def test_upsert_linking_an_artifact_whose_name_is_taken_in_the_version_conflicts(
    api: SyncApi, graph: Graph, unique
) -> None:
    version = new_version(api, graph.model.id, f"ulk-{unique}")
    link(api, version.id, m.DocArtifact(name=f"readme-{unique}"))
    namesake = new_artifact(api, "doc-artifact", f"readme-{unique}")  # top level: another parent, so allowed
    body = m.Artifact(m.DocArtifact(id=namesake.id))
    expect(mx.ConflictException, api.upsert_model_version_artifact, version.id, body)


def test_list_model_version_artifacts_filters_by_artifact_type(api: SyncApi, graph: Graph) -> None:
    page = api.get_model_version_artifacts(graph.version.id, artifact_type=m.ArtifactTypeQueryParam("metric"))
    assert [unwrap(a).id for a in page.items] == [graph.metric.id]
    everything = api.get_model_version_artifacts(graph.version.id)
    assert {graph.metric.id, graph.model_artifact.id} <= {unwrap(a).id for a in everything.items}


def test_list_model_version_artifacts_filters_by_name(api: SyncApi, graph: Graph) -> None:
    page = api.get_model_version_artifacts(graph.version.id, name="model")
    assert [unwrap(a).id for a in page.items] == [graph.model_artifact.id]


def test_list_artifacts_of_unknown_version_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.get_model_version_artifacts, MISSING)


def test_list_model_version_artifacts_with_unknown_artifact_type_is_400(raw: httpx.Client, graph: Graph) -> None:
    response = raw.get(f"/model_versions/{graph.version.id}/artifacts", params={"artifactType": "bogus"})
    expect_raw(response, 400)


# -- serving environments ------------------------------------------------------------------------------------


def test_create_serving_environment_returns_201(api: SyncApi, unique) -> None:
    response = api.create_serving_environment_with_http_info(
        m.ServingEnvironmentCreate(name=f"env-{unique}", description="ns")
    )
    assert response.status_code == 201
    assert (response.data.name, response.data.description) == (f"env-{unique}", "ns")


def test_create_serving_environment_duplicates_conflict(api: SyncApi, unique) -> None:
    new_env(api, f"denv-{unique}", externalId=f"envx-{unique}")
    expect(mx.ConflictException, new_env, api, f"denv-{unique}")
    expect(mx.ConflictException, new_env, api, f"denv2-{unique}", externalId=f"envx-{unique}")


def test_get_serving_environment_by_id_or_404(api: SyncApi, graph: Graph) -> None:
    assert api.get_serving_environment(graph.env.id).name == graph.env.name
    expect(mx.NotFoundException, api.get_serving_environment, MISSING)


def test_update_serving_environment_description(api: SyncApi, unique) -> None:
    env = new_env(api, f"uenv-{unique}")
    updated = api.update_serving_environment(env.id, m.ServingEnvironmentUpdate(description="prod"))
    assert (updated.description, updated.name) == ("prod", env.name)


def test_update_unknown_serving_environment_is_404(api: SyncApi) -> None:
    body = m.ServingEnvironmentUpdate(description="x")
    expect(mx.NotFoundException, api.update_serving_environment, MISSING, body)


def test_update_serving_environment_name_is_rejected(raw: httpx.Client, graph: Graph) -> None:
    expect_raw(raw.patch(f"/serving_environments/{graph.env.id}", json={"name": "renamed"}), 400)


def test_find_serving_environment(api: SyncApi, unique) -> None:
    env = new_env(api, f"fenv-{unique}", externalId=f"fenvx-{unique}")
    assert api.find_serving_environment(name=f"fenv-{unique}").id == env.id
    assert api.find_serving_environment(external_id=f"fenvx-{unique}").id == env.id
    expect(mx.NotFoundException, api.find_serving_environment, name=f"none-{unique}")
    expect(mx.BadRequestException, api.find_serving_environment)


def test_list_serving_environments_with_filter(api: SyncApi, unique) -> None:
    ids = [new_env(api, f"lenv-{unique}-{i}").id for i in range(2)]
    page = api.get_serving_environments(filter_query=f'name LIKE "lenv-{unique}-%"')
    assert [e.id for e in page.items] == ids


# -- inference services --------------------------------------------------------------------------------------


def test_create_inference_service_defaults_to_deployed(api: SyncApi, graph: Graph, unique) -> None:
    response = api.create_inference_service_with_http_info(
        m.InferenceServiceCreate(
            name=f"is-{unique}", servingEnvironmentId=graph.env.id, registeredModelId=graph.model.id, runtime="kserve"
        )
    )
    assert response.status_code == 201
    isvc = response.data
    assert (isvc.desired_state, isvc.runtime, isvc.model_version_id) == ("DEPLOYED", "kserve", None)
    assert (isvc.serving_environment_id, isvc.registered_model_id) == (graph.env.id, graph.model.id)


def test_create_inference_service_with_unknown_parents_fails(api: SyncApi, graph: Graph) -> None:
    errors = (mx.BadRequestException, mx.NotFoundException)
    for env_id, model_id in ((MISSING, graph.model.id), (graph.env.id, MISSING)):
        with pytest.raises(errors) as info:
            new_isvc(api, env_id, model_id)
        error_body(info.value.status, info.value.body)


def test_create_inference_service_with_version_of_another_model_is_400(api: SyncApi, graph: Graph, unique) -> None:
    other = new_model(api, f"iso-{unique}")
    expect(mx.BadRequestException, new_isvc, api, graph.env.id, other.id, modelVersionId=graph.version.id)


def test_create_inference_service_with_duplicate_name_in_environment_conflicts(
    api: SyncApi, graph: Graph, unique
) -> None:
    new_isvc(api, graph.env.id, graph.model.id, name=f"isd-{unique}")
    expect(mx.ConflictException, new_isvc, api, graph.env.id, graph.model.id, name=f"isd-{unique}")


def test_create_environment_inference_service_sets_the_environment(api: SyncApi, graph: Graph, unique) -> None:
    env = new_env(api, f"eis-{unique}")
    body = m.InferenceServiceCreate(name="svc", servingEnvironmentId=env.id, registeredModelId=graph.model.id)
    response = api.create_environment_inference_service_with_http_info(env.id, body)
    assert response.status_code == 201
    assert response.data.serving_environment_id == env.id
    assert [i.id for i in api.get_environment_inference_services(env.id).items] == [response.data.id]


def test_create_environment_inference_service_in_unknown_environment_is_404(api: SyncApi, graph: Graph) -> None:
    body = m.InferenceServiceCreate(servingEnvironmentId=MISSING, registeredModelId=graph.model.id)
    expect(mx.NotFoundException, api.create_environment_inference_service, MISSING, body)


def test_create_environment_inference_service_with_other_environment_id_is_400(
    api: SyncApi, graph: Graph, unique
) -> None:
    env = new_env(api, f"eiso-{unique}")
    body = m.InferenceServiceCreate(servingEnvironmentId=graph.env.id, registeredModelId=graph.model.id)
    expect(mx.BadRequestException, api.create_environment_inference_service, env.id, body)


def test_list_inference_services_of_unknown_environment_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.get_environment_inference_services, MISSING)


def test_get_inference_service_by_id_or_404(api: SyncApi, graph: Graph) -> None:
    assert api.get_inference_service(graph.isvc.id).name == graph.isvc.name
    expect(mx.NotFoundException, api.get_inference_service, MISSING)


def test_update_inference_service_undeploys_it(api: SyncApi, graph: Graph, unique) -> None:
    isvc = new_isvc(api, graph.env.id, graph.model.id, name=f"und-{unique}")
    updated = api.update_inference_service(isvc.id, m.InferenceServiceUpdate(desiredState="UNDEPLOYED"))
    assert (updated.desired_state, updated.name) == ("UNDEPLOYED", isvc.name)


def test_update_unknown_inference_service_is_404(api: SyncApi) -> None:
    body = m.InferenceServiceUpdate(runtime="x")
    expect(mx.NotFoundException, api.update_inference_service, MISSING, body)


def test_update_inference_service_to_version_of_another_model_is_400(api: SyncApi, graph: Graph, unique) -> None:
    other = new_model(api, f"uio-{unique}")
    foreign = new_version(api, other.id, "v1")
    body = m.InferenceServiceUpdate(modelVersionId=foreign.id)
    expect(mx.BadRequestException, api.update_inference_service, graph.isvc.id, body)


def test_find_inference_service(api: SyncApi, graph: Graph, unique) -> None:
    isvc = new_isvc(api, graph.env.id, graph.model.id, name=f"fis-{unique}", externalId=f"fisx-{unique}")
    assert api.find_inference_service(name=f"fis-{unique}", parent_resource_id=graph.env.id).id == isvc.id
    assert api.find_inference_service(external_id=f"fisx-{unique}").id == isvc.id
    expect(mx.NotFoundException, api.find_inference_service, name=f"fis-{unique}", parent_resource_id=MISSING)
    expect(mx.BadRequestException, api.find_inference_service)


def test_list_inference_services_with_filter(api: SyncApi, graph: Graph, unique) -> None:
    ids = [new_isvc(api, graph.env.id, graph.model.id, name=f"lis-{unique}-{i}").id for i in range(2)]
    page = api.get_inference_services(filter_query=f'name LIKE "lis-{unique}-%"')
    assert [i.id for i in page.items] == ids


def test_get_inference_service_model(api: SyncApi, graph: Graph) -> None:
    assert api.get_inference_service_model(graph.isvc.id).id == graph.model.id
    expect(mx.NotFoundException, api.get_inference_service_model, MISSING)


def test_get_inference_service_version_is_the_pinned_one(api: SyncApi, graph: Graph) -> None:
    new_version(api, graph.model.id, f"newer-{graph.tag}")
    assert api.get_inference_service_version(graph.isvc.id).id == graph.version.id


def test_get_inference_service_version_without_pin_is_the_newest(api: SyncApi, unique) -> None:
    model, env = new_model(api, f"newest-{unique}"), new_env(api, f"newest-{unique}")
    isvc = new_isvc(api, env.id, model.id)
    expect(mx.NotFoundException, api.get_inference_service_version, isvc.id)  # no versions yet
    new_version(api, model.id, "1")
    newest = new_version(api, model.id, "2")
    assert api.get_inference_service_version(isvc.id).id == newest.id


def test_get_version_of_unknown_inference_service_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.get_inference_service_version, MISSING)


def test_create_inference_service_serve_defaults_to_unknown_state(api: SyncApi, graph: Graph, unique) -> None:
    body = m.ServeModelCreate(name=f"serve-{unique}", modelVersionId=graph.version.id)
    response = api.create_inference_service_serve_with_http_info(graph.isvc.id, body)
    assert response.status_code == 201
    assert (response.data.last_known_state, response.data.model_version_id) == ("UNKNOWN", graph.version.id)
    serves = api.get_inference_service_serves(graph.isvc.id, name=f"serve-{unique}")
    assert [s.id for s in serves.items] == [response.data.id]


def test_create_serve_with_duplicate_name_conflicts(api: SyncApi, graph: Graph, unique) -> None:
    body = m.ServeModelCreate(name=f"dup-{unique}", modelVersionId=graph.version.id)
    api.create_inference_service_serve(graph.isvc.id, body)
    expect(mx.ConflictException, api.create_inference_service_serve, graph.isvc.id, body)


def test_create_serve_for_unknown_inference_service_is_404(api: SyncApi, graph: Graph) -> None:
    body = m.ServeModelCreate(modelVersionId=graph.version.id)
    expect(mx.NotFoundException, api.create_inference_service_serve, MISSING, body)


def test_create_serve_of_unknown_version_fails(api: SyncApi, graph: Graph) -> None:
    body = m.ServeModelCreate(modelVersionId=MISSING)
    with pytest.raises((mx.BadRequestException, mx.NotFoundException)) as info:
        api.create_inference_service_serve(graph.isvc.id, body)
    error_body(info.value.status, info.value.body)


def test_list_serves_of_unknown_inference_service_is_404(api: SyncApi) -> None:
    expect(mx.NotFoundException, api.get_inference_service_serves, MISSING)


# -- list parameters -----------------------------------------------------------------------------------------

PARENT_ATTR = {
    "registered_model_id": "model",
    "model_version_id": "version",
    "serving_environment_id": "env",
    "inference_service_id": "isvc",
}
# list name -> (client method, raw path with {} for the parent id, parent keyword or None)
LISTS: dict[str, tuple[str, str, str | None]] = {
    "registered_models": ("get_registered_models", "/registered_models", None),
    "registered_model_versions": (
        "get_registered_model_versions",
        "/registered_models/{}/versions",
        "registered_model_id",
    ),
    "model_versions": ("get_model_versions", "/model_versions", None),
    "model_version_artifacts": ("get_model_version_artifacts", "/model_versions/{}/artifacts", "model_version_id"),
    "model_artifacts": ("get_model_artifacts", "/model_artifacts", None),
    "artifacts": ("get_artifacts", "/artifacts", None),
    "serving_environments": ("get_serving_environments", "/serving_environments", None),
    "environment_inference_services": (
        "get_environment_inference_services",
        "/serving_environments/{}/inference_services",
        "serving_environment_id",
    ),
    "inference_services": ("get_inference_services", "/inference_services", None),
    "inference_service_serves": (
        "get_inference_service_serves",
        "/inference_services/{}/serves",
        "inference_service_id",
    ),
}


def list_call(api: SyncApi, g: Graph, name: str, **kwargs: Any) -> Any:
    method, _, parent = LISTS[name]
    if parent:
        kwargs[parent] = getattr(g, PARENT_ATTR[parent]).id
    return getattr(api, method)(**kwargs)


def list_path(g: Graph, name: str) -> str:
    _, path, parent = LISTS[name]
    return path.format(getattr(g, PARENT_ATTR[parent]).id) if parent else path


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "1.5"])
@pytest.mark.parametrize("name", list(LISTS))
def test_list_rejects_bad_page_size(api: SyncApi, graph: Graph, name: str, page_size: str) -> None:
    expect(mx.BadRequestException, list_call, api, graph, name, page_size=page_size)


@pytest.mark.parametrize("name", list(LISTS))
def test_list_rejects_undecodable_next_page_token(api: SyncApi, graph: Graph, name: str) -> None:
    expect(mx.BadRequestException, list_call, api, graph, name, page_size="1", next_page_token="not a token")


@pytest.mark.parametrize("name", list(LISTS))
def test_list_rejects_malformed_filter_query(api: SyncApi, graph: Graph, name: str) -> None:
    expect(mx.BadRequestException, list_call, api, graph, name, filter_query='(name = "x"')


@pytest.mark.parametrize("name", list(LISTS))
def test_list_rejects_unknown_order_by(raw: httpx.Client, graph: Graph, name: str) -> None:
    expect_raw(raw.get(list_path(graph, name), params={"orderBy": "NAME"}), 400)


@pytest.mark.parametrize("name", list(LISTS))
def test_list_rejects_unknown_sort_order(raw: httpx.Client, graph: Graph, name: str) -> None:
    expect_raw(raw.get(list_path(graph, name), params={"sortOrder": "UP"}), 400)


@pytest.mark.parametrize("name", list(LISTS))
def test_list_without_page_size_returns_everything(api: SyncApi, graph: Graph, name: str) -> None:
    page = list_call(api, graph, name)
    assert (page.page_size, page.next_page_token, page.size) == (0, "", len(page.items))
    assert page.size >= 1


def test_list_of_unknown_parent_is_404_for_every_nested_list(api: SyncApi, graph: Graph) -> None:
    missing = Graph(graph.tag, *[SimpleNamespace(id=MISSING)] * 7)  # type: ignore[arg-type]
    for name, (_, _, parent) in LISTS.items():
        if parent:
            expect(mx.NotFoundException, list_call, api, missing, name)


# -- pagination ----------------------------------------------------------------------------------------------

ITEMS = 5
PATCH_ORDER = [3, 0, 4, 1, 2]  # so LAST_UPDATE_TIME order differs from ID order


@pytest.fixture(scope="module")
def paged(api: SyncApi) -> dict[str, dict[str, Any]]:
    """For each list: keyword arguments that scope it to exactly ``ITEMS`` fresh items."""
    tag = uuid.uuid4().hex[:8]
    like = f'name LIKE "pg-{tag}-%s-%%"'
    parent_model = new_model(api, f"pgp-{tag}")
    models = [new_model(api, f"pg-{tag}-rm-{i}") for i in range(ITEMS)]
    versions = [new_version(api, parent_model.id, f"pg-{tag}-mv-{i}") for i in range(ITEMS)]
    types = list(ARTIFACT_BODIES)
    linked = [link(api, versions[0].id, ARTIFACT_CLASSES[types[i]](name=f"pg-{tag}-art-{i}")) for i in range(ITEMS)]
    model_artifacts = [api.create_model_artifact(m.ModelArtifactCreate(name=f"pg-{tag}-ma-{i}")) for i in range(ITEMS)]
    envs = [new_env(api, f"pg-{tag}-env-{i}") for i in range(ITEMS)]
    isvcs = [new_isvc(api, envs[0].id, parent_model.id, name=f"pg-{tag}-isvc-{i}") for i in range(ITEMS)]
    for _ in range(ITEMS):
        api.create_inference_service_serve(isvcs[0].id, m.ServeModelCreate(modelVersionId=versions[0].id))
    for i in PATCH_ORDER:
        tick()
        api.update_registered_model(models[i].id, m.RegisteredModelUpdate(description="p"))
        api.update_model_version(versions[i].id, m.ModelVersionUpdate(description="p"))
        update = getattr(m, ARTIFACT_CLASSES[types[i]].__name__ + "Update")
        api.update_artifact(linked[i].id, m.ArtifactUpdate(update(description="p")))
        api.update_model_artifact(model_artifacts[i].id, m.ModelArtifactUpdate(description="p"))
        api.update_serving_environment(envs[i].id, m.ServingEnvironmentUpdate(description="p"))
        api.update_inference_service(isvcs[i].id, m.InferenceServiceUpdate(description="p"))
    return {
        "registered_models": {"filter_query": like % "rm"},
        "registered_model_versions": {"registered_model_id": parent_model.id},
        "model_versions": {"filter_query": like % "mv"},
        "model_version_artifacts": {"model_version_id": versions[0].id},
        "model_artifacts": {"filter_query": like % "ma"},
        "artifacts": {"filter_query": like % "art"},
        "serving_environments": {"filter_query": like % "env"},
        "environment_inference_services": {"serving_environment_id": envs[0].id},
        "inference_services": {"filter_query": like % "isvc"},
        "inference_service_serves": {"inference_service_id": isvcs[0].id},
    }


def sort_key(order_by: str) -> Callable[[Any], tuple[int, int]]:
    field = {"ID": "id", "CREATE_TIME": "create_time_since_epoch", "LAST_UPDATE_TIME": "last_update_time_since_epoch"}
    return lambda item: (int(getattr(item, field[order_by])), int(item.id))


def walk(api: SyncApi, method: str, scope: dict[str, Any], page_size: int, **order: Any) -> tuple[list[str], int]:
    """All ids over all pages, and the number of pages."""
    ids: list[str] = []
    token = None
    for pages in range(1, 50):
        page = getattr(api, method)(**scope, **order, page_size=str(page_size), next_page_token=token)
        assert (page.page_size, page.size) == (page_size, len(page.items))
        assert len(page.items) <= page_size
        ids += [unwrap(item).id for item in page.items]
        if page.next_page_token == "":
            return ids, pages
        token = page.next_page_token
    raise AssertionError("pagination does not end")


@pytest.mark.parametrize("sort_order", ["ASC", "DESC"])
@pytest.mark.parametrize("order_by", ["ID", "CREATE_TIME", "LAST_UPDATE_TIME"])
@pytest.mark.parametrize("name", list(LISTS))
def test_pagination_walks_every_item_exactly_once_in_order(
    api: SyncApi, paged: dict[str, dict[str, Any]], name: str, order_by: str, sort_order: str
) -> None:
    method = LISTS[name][0]
    scope = paged[name]
    items = [unwrap(i) for i in getattr(api, method)(**scope).items]
    assert len(items) == ITEMS
    expected = [i.id for i in sorted(items, key=sort_key(order_by), reverse=sort_order == "DESC")]
    order = {"order_by": m.OrderByField(order_by), "sort_order": m.SortOrder(sort_order)}
    ids, pages = walk(api, method, scope, 2, **order)
    assert ids == expected
    assert pages == 3
    unpaged = [unwrap(i).id for i in getattr(api, method)(**scope, **order).items]
    assert unpaged == expected


@pytest.mark.parametrize("name", list(LISTS))
def test_page_size_equal_to_item_count_gives_one_page_with_empty_token(
    api: SyncApi, paged: dict[str, dict[str, Any]], name: str
) -> None:
    ids, pages = walk(api, LISTS[name][0], paged[name], ITEMS)
    assert (len(ids), pages) == (ITEMS, 1)


def test_pagination_over_the_whole_unfiltered_list(api: SyncApi, paged: dict[str, dict[str, Any]]) -> None:
    everything = [r.id for r in api.get_registered_models().items]
    assert len(everything) > ITEMS
    ids, pages = walk(api, "get_registered_models", {}, 7)
    assert ids == everything
    assert pages == -(-len(everything) // 7)
