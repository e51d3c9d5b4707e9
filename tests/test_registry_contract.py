"""Contract check of the embedded Model Registry against the REST API v1 OpenAPI spec (``../shared``).

Every operation of the spec gets a real request that succeeds; its body is validated against the success
response schema the spec declares for the status code returned. ``jsonschema`` is not installed in the venv,
so a small validator below resolves ``$ref``/``allOf``/``oneOf`` (with discriminators) and checks types,
required fields, enums, patterns, ``additionalProperties`` and undeclared fields.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

SPEC = Path("model-registry") / "model-registry-v1.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MISSING = "987654321"

# -- a small OpenAPI 3.0 schema validator --------------------------------------------------------------------

TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (local references only) until a schema without one."""
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def declared(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Property names a schema declares, through ``$ref`` and ``allOf``."""
    schema = resolve(spec, schema)
    names = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        names |= declared(spec, sub)
    return names


def validate(
    spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$", whole: bool = True
) -> list[str]:
    """Errors of ``value`` against ``schema`` (empty when valid).

    ``whole`` is False for the parts of an ``allOf``: only the whole schema can tell undeclared fields.
    """
    schema = resolve(spec, schema)
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += validate(spec, sub, value, where, whole=False)
    if "oneOf" in schema:
        errors += _one_of(spec, schema, value, where)
    expected = schema.get("type")
    bool_as_number = isinstance(value, bool) and expected in ("integer", "number")
    if expected is not None and (not isinstance(value, TYPES[expected]) or bool_as_number):
        return [*errors, f"{where}: expected {expected}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: {value!r} is shorter than {schema['minLength']}")
        if schema.get("format") == "int64" and not re.fullmatch(r"-?[0-9]+", value):
            errors.append(f"{where}: {value!r} is not an int64 string")
    if isinstance(value, dict):
        errors += [f"{where}: missing required {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key in value:
                errors += validate(spec, sub, value[key], f"{where}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in set(value) - set(properties):
                errors += validate(spec, extra, value[key], f"{where}.{key}")
        elif (whole or extra is False) and "oneOf" not in schema and (properties or "allOf" in schema):
            undeclared = sorted(set(value) - declared(spec, schema))
            errors += [f"{where}: undeclared field {key!r}" for key in undeclared]
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(spec, schema["items"], item, f"{where}[{i}]")
    return errors


def _one_of(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> list[str]:
    discriminator = schema.get("discriminator")
    if discriminator and isinstance(value, dict):
        tag = value.get(discriminator["propertyName"])
        target = discriminator.get("mapping", {}).get(tag)
        if target is None:
            return [f"{where}: {discriminator['propertyName']}={tag!r} is not one of the mapped types"]
        return validate(spec, {"$ref": target}, value, where)
    matches = sum(not validate(spec, sub, value, where) for sub in schema["oneOf"])
    return [] if matches == 1 else [f"{where}: matches {matches} schemas of oneOf, expected exactly 1"]


def response_schema(spec: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any]:
    declared_responses = operation["responses"]
    assert str(status) in declared_responses, f"status {status} is not declared: {sorted(declared_responses)}"
    response = resolve(spec, declared_responses[str(status)])
    return response["content"]["application/json"]["schema"]


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec(shared_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((shared_dir / SPEC).read_text())


@pytest.fixture(scope="module")
def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (HTTP method, path template, operation), straight from the spec's paths."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                assert operation["operationId"] not in found, operation["operationId"]
                found[operation["operationId"]] = (method.upper(), path, operation)
    return found


@pytest.fixture(scope="module")
def http(registry: EmbeddedRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, headers={"Connection": "close"}, timeout=10) as client:
        yield client


PROPS = {
    "int": {"int_value": "10", "metadataType": "MetadataIntValue"},
    "double": {"double_value": 0.97, "metadataType": "MetadataDoubleValue"},
    "string": {"string_value": "x", "metadataType": "MetadataStringValue"},
    "label": {"string_value": "", "metadataType": "MetadataStringValue"},
    "bool": {"bool_value": True, "metadataType": "MetadataBoolValue"},
    "struct": {"struct_value": base64.b64encode(b'{"a": 1}').decode(), "metadataType": "MetadataStructValue"},
    "proto": {"type": "t", "proto_value": base64.b64encode(b"\x08\x01").decode(), "metadataType": "MetadataProtoValue"},
}
MODEL_FIELDS = {
    "description": "d",
    "owner": "ann",
    "readme": "# model",
    "maturity": "Generally Available",
    "language": ["en"],
    "tasks": ["text-generation"],
    "provider": "me",
    "logo": "data:image/png;base64,AA==",
    "license": "apache-2.0",
    "licenseLink": "https://www.apache.org/licenses/LICENSE-2.0",
    "libraryName": "transformers",
    "customProperties": PROPS,
}
MODEL_ARTIFACT = {
    "artifactType": "model-artifact",
    "uri": "s3://bucket/model",
    "state": "LIVE",
    "modelFormatName": "onnx",
    "modelFormatVersion": "1",
    "storageKey": "key",
    "storagePath": "path",
    "serviceAccountName": "sa",
    "modelSourceKind": "kfp",
    "modelSourceClass": "pipelinerun",
    "modelSourceGroup": "ns",
    "modelSourceId": "run",
    "modelSourceName": "run name",
    "customProperties": PROPS,
}
ARTIFACTS = {
    "model-artifact": MODEL_ARTIFACT,
    "doc-artifact": {"artifactType": "doc-artifact", "uri": "https://docs", "state": "LIVE"},
    "dataset-artifact": {
        "artifactType": "dataset-artifact",
        "uri": "s3://d",
        "digest": "sha256:0",
        "sourceType": "s3",
        "source": "s3://d",
        "schema": "{}",
        "profile": "{}",
    },
    "metric": {"artifactType": "metric", "value": 0.5, "timestamp": "1700000000000", "step": "1"},
    "parameter": {"artifactType": "parameter", "value": "0.01", "parameterType": "number"},
}


@dataclass
class Context:
    """Entities every request can refer to; ``ids`` fills the spec's path parameters."""

    ids: dict[str, str]
    artifacts: dict[str, str]  # artifactType -> id (all linked to the model version)
    tag: str


@pytest.fixture(scope="module")
def context(http: httpx.Client) -> Context:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post("/api/model_registry/v1" + path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    tag = "ctx"
    model = post("/registered_models", {"name": f"{tag}-model", "externalId": f"{tag}-model", **MODEL_FIELDS})
    version = post(
        "/model_versions",
        {"name": "v1", "registeredModelId": model["id"], "author": "ann", "customProperties": PROPS},
    )
    artifacts = {
        kind: post(f"/model_versions/{version['id']}/artifacts", {"name": f"{tag}-{kind}", **body})["id"]
        for kind, body in ARTIFACTS.items()
    }
    env = post("/serving_environments", {"name": f"{tag}-env", "description": "ns"})
    isvc = post(
        "/inference_services",
        {
            "name": f"{tag}-isvc",
            "registeredModelId": model["id"],
            "servingEnvironmentId": env["id"],
            "modelVersionId": version["id"],
            "runtime": "kserve",
            "customProperties": PROPS,
        },
    )
    post(f"/inference_services/{isvc['id']}/serves", {"name": f"{tag}-serve", "modelVersionId": version["id"]})
    ids = {
        "id": artifacts["metric"],
        "registered_model_id": model["id"],
        "model_version_id": version["id"],
        "model_artifact_id": artifacts["model-artifact"],
        "serving_environment_id": env["id"],
        "inference_service_id": isvc["id"],
    }
    return Context(ids, artifacts, tag)


# -- one successful request (or more) per operation ----------------------------------------------------------


@dataclass(frozen=True)
class Req:
    status: int
    query: dict[str, str] | None = None
    body: Any = None
    path_ids: dict[str, str] | None = None  # overrides of Context.ids


def _find(c: Context, name: str, parent: str | None = None) -> list[Req]:
    query = {"name": name} | ({"parentResourceId": c.ids[parent]} if parent else {})
    return [Req(200, query)]


def _lists(c: Context) -> list[Req]:
    """No options (everything), a first page with a next token, and an ordered filtered page."""
    return [
        Req(200),
        Req(200, {"pageSize": "1", "orderBy": "CREATE_TIME", "sortOrder": "DESC"}),
        Req(200, {"filterQuery": f'name LIKE "{c.tag}%" OR id > 0', "orderBy": "LAST_UPDATE_TIME"}),
    ]


def _isvc_body(c: Context, u: str) -> dict[str, Any]:
    return {
        "name": f"isvc-{u}",
        "registeredModelId": c.ids["registered_model_id"],
        "servingEnvironmentId": c.ids["serving_environment_id"],
        "desiredState": "UNDEPLOYED",
    }


CASES: dict[str, Callable[[Context, str], list[Req]]] = {
    # artifacts
    "findArtifact": lambda c, u: _find(c, f"{c.tag}-metric", "model_version_id"),
    "getArtifacts": lambda c, u: [*_lists(c), *(Req(200, {"artifactType": kind}) for kind in ARTIFACTS)],
    "createArtifact": lambda c, u: [Req(201, body={"name": f"a-{u}-{k}", **b}) for k, b in ARTIFACTS.items()],
    "getArtifact": lambda c, u: [Req(200, path_ids={"id": i}) for i in c.artifacts.values()],
    "updateArtifact": lambda c, u: [Req(200, body={"artifactType": "metric", "value": 0.7, "customProperties": PROPS})],
    # model artifacts
    "findModelArtifact": lambda c, u: _find(c, f"{c.tag}-model-artifact", "model_version_id"),
    "getModelArtifacts": lambda c, u: _lists(c),
    "createModelArtifact": lambda c, u: [Req(201, body={"name": f"ma-{u}", **MODEL_ARTIFACT})],
    "getModelArtifact": lambda c, u: [Req(200)],
    "updateModelArtifact": lambda c, u: [Req(200, body={"uri": "s3://bucket/v2", "state": "LIVE"})],
    # model versions
    "findModelVersion": lambda c, u: _find(c, "v1", "registered_model_id"),
    "getModelVersions": lambda c, u: _lists(c),
    "createModelVersion": lambda c, u: [
        Req(201, body={"name": f"mv-{u}", "registeredModelId": c.ids["registered_model_id"], "customProperties": PROPS})
    ],
    "getModelVersion": lambda c, u: [Req(200)],
    "updateModelVersion": lambda c, u: [Req(200, body={"description": "d2", "author": "bob"})],
    "getModelVersionArtifacts": lambda c, u: [
        *_lists(c),
        Req(200, {"artifactType": "metric", "name": f"{c.tag}-metric"}),
    ],
    "upsertModelVersionArtifact": lambda c, u: [
        Req(201, body={"name": f"up-{u}", **ARTIFACTS["doc-artifact"]}),
        Req(200, body={"id": c.artifacts["parameter"], "artifactType": "parameter", "value": "0.02"}),
    ],
    # registered models
    "findRegisteredModel": lambda c, u: [*_find(c, f"{c.tag}-model"), Req(200, {"externalId": f"{c.tag}-model"})],
    "getRegisteredModels": lambda c, u: _lists(c),
    "createRegisteredModel": lambda c, u: [Req(201, body={"name": f"rm-{u}", **MODEL_FIELDS})],
    "getRegisteredModel": lambda c, u: [Req(200)],
    "updateRegisteredModel": lambda c, u: [Req(200, body={"description": "d2", "state": "LIVE", "tasks": ["x"]})],
    "getRegisteredModelVersions": lambda c, u: [*_lists(c), Req(200, {"name": "v1"})],
    "createRegisteredModelVersion": lambda c, u: [
        Req(201, body={"name": f"rmv-{u}", "registeredModelId": c.ids["registered_model_id"], "state": "LIVE"})
    ],
    # serving environments
    "findServingEnvironment": lambda c, u: _find(c, f"{c.tag}-env"),
    "getServingEnvironments": lambda c, u: _lists(c),
    "createServingEnvironment": lambda c, u: [Req(201, body={"name": f"env-{u}", "customProperties": PROPS})],
    "getServingEnvironment": lambda c, u: [Req(200)],
    "updateServingEnvironment": lambda c, u: [Req(200, body={"description": "d2"})],
    "getEnvironmentInferenceServices": lambda c, u: _lists(c),
    "createEnvironmentInferenceService": lambda c, u: [Req(201, body=_isvc_body(c, u))],
    # inference services
    "findInferenceService": lambda c, u: _find(c, f"{c.tag}-isvc", "serving_environment_id"),
    "getInferenceServices": lambda c, u: _lists(c),
    "createInferenceService": lambda c, u: [Req(201, body=_isvc_body(c, u))],
    "getInferenceService": lambda c, u: [Req(200)],
    "updateInferenceService": lambda c, u: [Req(200, body={"runtime": "vllm", "desiredState": "DEPLOYED"})],
    "getInferenceServiceModel": lambda c, u: [Req(200)],
    "getInferenceServiceVersion": lambda c, u: [Req(200)],
    "getInferenceServiceServes": lambda c, u: _lists(c),
    "createInferenceServiceServe": lambda c, u: [
        Req(201, body={"name": f"s-{u}", "modelVersionId": c.ids["model_version_id"], "lastKnownState": "RUNNING"})
    ],
}


def send(http: httpx.Client, method: str, path: str, ids: dict[str, str], req: Req) -> httpx.Response:
    url = path.format(**(ids | (req.path_ids or {})))
    return http.request(method, url, params=req.query, json=req.body)


def test_spec_has_exactly_40_operations(operations: dict[str, Any]) -> None:
    assert len(operations) == 40


def test_every_spec_operation_has_a_request_here(operations: dict[str, Any]) -> None:
    assert set(operations) == set(CASES)


def test_every_spec_operation_is_routed(operations: dict[str, Any], http: httpx.Client) -> None:
    unrouted = http.get("/api/model_registry/v1/no_such_endpoint")
    assert unrouted.status_code == 404
    for operation_id, (method, path, _) in operations.items():
        response = http.request(method, re.sub(r"{[^}]+}", MISSING, path), json={} if method != "GET" else None)
        assert response.status_code != 405, (operation_id, response.text)
        assert response.status_code < 500, (operation_id, response.text)
        if response.status_code == 404:
            assert response.json() != unrouted.json(), f"{operation_id}: {method} {path} is not routed"


@pytest.mark.parametrize("operation_id", sorted(CASES))
def test_success_response_matches_spec(
    spec: dict[str, Any],
    operations: dict[str, tuple[str, str, dict[str, Any]]],
    context: Context,
    http: httpx.Client,
    unique: str,
    operation_id: str,
) -> None:
    method, path, operation = operations[operation_id]
    for req in CASES[operation_id](context, unique):
        response = send(http, method, path, context.ids, req)
        assert response.status_code == req.status, (req, response.text)
        errors = validate(spec, response_schema(spec, operation, req.status), response.json())
        assert errors == [], (req, errors)


def test_a_list_page_carries_a_next_page_token(context: Context, http: httpx.Client) -> None:
    # The context links 5 artifacts to its version, so the list checks above validated a real token, not only "".
    page = http.get(f"/api/model_registry/v1/model_versions/{context.ids['model_version_id']}/artifacts?pageSize=1")
    assert page.json()["nextPageToken"] != ""


ERRORS: dict[tuple[str, int], Req] = {
    ("getRegisteredModel", 404): Req(404, path_ids={"registered_model_id": MISSING}),
    ("getRegisteredModels", 400): Req(400, {"pageSize": "0"}),
    ("findModelVersion", 400): Req(400, {"name": "v1"}),
    ("createRegisteredModel", 409): Req(409, body={"name": "ctx-model"}),
    ("createModelVersion", 422): Req(422, body={"name": "no-parent"}),
    ("updateModelVersion", 400): Req(400, body={"name": "renamed"}),
}


@pytest.mark.parametrize(("operation_id", "status"), list(ERRORS), ids=[f"{o}-{s}" for o, s in ERRORS])
def test_error_response_matches_spec(
    spec: dict[str, Any],
    operations: dict[str, tuple[str, str, dict[str, Any]]],
    context: Context,
    http: httpx.Client,
    operation_id: str,
    status: int,
) -> None:
    method, path, operation = operations[operation_id]
    response = send(http, method, path, context.ids, ERRORS[operation_id, status])
    assert response.status_code == status, response.text
    schema = response_schema(spec, operation, status)
    assert resolve(spec, schema) is spec["components"]["schemas"]["Error"]
    assert validate(spec, schema, response.json()) == []


# -- the validator itself ------------------------------------------------------------------------------------


def _valid_list() -> dict[str, Any]:
    artifact = {"id": "1", "artifactType": "metric", "value": 1.0, "customProperties": {"p": PROPS["int"]}}
    return {"items": [artifact], "nextPageToken": "", "pageSize": 0, "size": 1}


BROKEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "missing-required": lambda d: d.pop("size"),
    "wrong-type": lambda d: d.update(pageSize="0"),
    "id-not-a-string": lambda d: d["items"][0].update(id=1),
    "id-not-int64": lambda d: d["items"][0].update(id="one"),
    "unknown-discriminator": lambda d: d["items"][0].update(artifactType="model"),
    "undeclared-field": lambda d: d["items"][0].update(uri="s3://x"),  # metrics have no uri
    "bad-enum": lambda d: d["items"][0].update(state="GONE"),
    "bad-metadata-value": lambda d: d["items"][0]["customProperties"]["p"].update(int_value=10),
    "extra-metadata-key": lambda d: d["items"][0]["customProperties"]["p"].update(string_value="x"),
}


def test_validator_accepts_a_valid_artifact_list(spec: dict[str, Any]) -> None:
    assert validate(spec, {"$ref": "#/components/schemas/ArtifactList"}, _valid_list()) == []


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_validator_reports_broken_artifact_list(spec: dict[str, Any], breakage: str) -> None:
    broken = _valid_list()
    BROKEN[breakage](broken)
    assert validate(spec, {"$ref": "#/components/schemas/ArtifactList"}, broken) != []
