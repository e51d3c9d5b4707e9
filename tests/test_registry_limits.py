"""What the embedded registry stores as the real server stores it, and what it refuses as the real server refuses it.

Verified in the upstream Go server (kubeflow/hub): ``int_value`` is parsed with ``strconv.ParseInt(v, 10, 32)``;
names are stored owner-prefixed in ``varchar(255)``; an artifact, InferenceService or ServeModel created without
a name gets a UUID; ``externalId`` is unique per table (Artifact / Context / Execution); ``struct_value`` must be
base64 of a JSON object; Go's JSON decoder refuses ``1e400`` and turns lone surrogates into U+FFFD. Whatever a
client sends, the answer is a 2xx or a 4xx with the registry's JSON error body, never a 500.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sqlite3
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def http(registry: EmbeddedRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.api_url, timeout=30, trust_env=False) as client:
        yield client


def error(response: httpx.Response, status: int) -> str:
    """Check a JSON error answer and return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == HTTPStatus(status).phrase
    return str(body["message"])


def created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def ints(value: str) -> dict[str, Any]:
    return {"big": {"int_value": value, "metadataType": "MetadataIntValue"}}


@pytest.fixture(scope="module")
def graph(http: httpx.Client) -> dict[str, str]:
    """A model, a version, an environment, an inference service, a serve model and two artifacts (their ids)."""
    model = created(http.post("/registered_models", json={"name": "limits-model"}))["id"]
    version = created(http.post("/model_versions", json={"name": "v1", "registeredModelId": model}))["id"]
    env = created(http.post("/serving_environments", json={"name": "limits-env"}))["id"]
    body = {"name": "limits-isvc", "servingEnvironmentId": env, "registeredModelId": model}
    isvc = created(http.post("/inference_services", json=body))["id"]
    serve = created(http.post(f"/inference_services/{isvc}/serves", json={"modelVersionId": version}))["id"]
    doc = {"artifactType": "doc-artifact", "name": "limits-doc"}
    artifact = created(http.post(f"/model_versions/{version}/artifacts", json=doc))["id"]
    metric = created(http.post("/artifacts", json={"artifactType": "metric", "name": "limits-metric", "value": 1.0}))
    return {
        "model": model,
        "version": version,
        "env": env,
        "isvc": isvc,
        "serve": serve,
        "artifact": artifact,
        "metric": metric["id"],
    }


def writes(g: dict[str, str], tag: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every operation that stores custom properties: (method, path, a valid body without them)."""
    isvc = {"servingEnvironmentId": g["env"], "registeredModelId": g["model"]}
    return {
        "createRegisteredModel": ("POST", "/registered_models", {"name": f"m-{tag}"}),
        "updateRegisteredModel": ("PATCH", f"/registered_models/{g['model']}", {}),
        "createModelVersion": ("POST", "/model_versions", {"name": f"v-{tag}", "registeredModelId": g["model"]}),
        "createRegisteredModelVersion": ("POST", f"/registered_models/{g['model']}/versions", {"name": f"w-{tag}"}),
        "updateModelVersion": ("PATCH", f"/model_versions/{g['version']}", {}),
        "upsertModelVersionArtifact": (
            "POST",
            f"/model_versions/{g['version']}/artifacts",
            {"artifactType": "dataset-artifact", "name": f"d-{tag}"},
        ),
        "createModelArtifact": ("POST", "/model_artifacts", {"name": f"a-{tag}"}),
        "createArtifact": ("POST", "/artifacts", {"artifactType": "parameter", "name": f"p-{tag}"}),
        "updateArtifact": ("PATCH", f"/artifacts/{g['artifact']}", {}),
        "createServingEnvironment": ("POST", "/serving_environments", {"name": f"e-{tag}"}),
        "updateServingEnvironment": ("PATCH", f"/serving_environments/{g['env']}", {}),
        "createInferenceService": ("POST", "/inference_services", {**isvc, "name": f"i-{tag}"}),
        "updateInferenceService": ("PATCH", f"/inference_services/{g['isvc']}", {}),
        "createInferenceServiceServe": (
            "POST",
            f"/inference_services/{g['isvc']}/serves",
            {"modelVersionId": g["version"]},
        ),
    }


WRITES = list(writes(dict.fromkeys(("model", "version", "env", "isvc", "artifact"), "1"), ""))


# -- int_value: 32 bits, parsed like Go's strconv.ParseInt -----------------------------------------------------


@pytest.mark.parametrize("op", WRITES)
@pytest.mark.parametrize("value", ["2147483648", "-2147483649", "9999999999", "9223372036854775807"])
def test_int_value_beyond_32_bits_is_refused_like_the_real_server(
    http: httpx.Client, graph: dict[str, str], unique: str, op: str, value: str
) -> None:
    method, path, body = writes(graph, unique)[op]
    message = error(http.request(method, path, json={**body, "customProperties": ints(value)}), 400)
    assert f'strconv.ParseInt: parsing "{value}": value out of range for key big' in message
    assert "MetadataDoubleValue or MetadataStringValue" in message  # says how to store a large integer


@pytest.mark.parametrize("op", WRITES)
def test_int_value_at_the_32_bit_limits_is_stored(
    http: httpx.Client, graph: dict[str, str], unique: str, op: str
) -> None:
    method, path, body = writes(graph, unique)[op]
    props = {**ints("2147483647"), "low": {"int_value": "-2147483648", "metadataType": "MetadataIntValue"}}
    stored = created(
        http.request(method, path, json={**body, "customProperties": props}), 201 if method == "POST" else 200
    )
    assert stored["customProperties"] == props


@pytest.mark.parametrize(("sent", "stored"), [("+7", "7"), ("007", "7"), ("-0", "0"), ("1000000000", "1000000000")])
def test_int_value_is_read_back_as_the_number_it_parses_to(
    http: httpx.Client, unique: str, sent: str, stored: str
) -> None:
    model = created(http.post("/registered_models", json={"name": f"int-{unique}", "customProperties": ints(sent)}))
    assert model["customProperties"]["big"]["int_value"] == stored
    assert http.get(f"/registered_models/{model['id']}").json()["customProperties"]["big"]["int_value"] == stored


@pytest.mark.parametrize("value", ["", " 5", "5 ", "1_000", "1e3", "0x10", "five", "٣"])
def test_int_value_that_go_cannot_parse_is_invalid_syntax(http: httpx.Client, unique: str, value: str) -> None:
    body = {"name": f"syntax-{unique}", "customProperties": ints(value)}
    assert f"parsing {json.dumps(value)}: invalid syntax" in error(http.post("/registered_models", json=body), 400)


def test_int_value_sent_as_a_json_number_is_refused(http: httpx.Client, unique: str) -> None:
    body = {"name": f"number-{unique}", "customProperties": {"n": {"int_value": 5, "metadataType": "MetadataIntValue"}}}
    assert "int_value must be a string" in error(http.post("/registered_models", json=body), 400)


# -- names: generated when missing, owner-prefixed in 255 characters --------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/artifacts", {"artifactType": "doc-artifact"}),
        ("/artifacts", {"artifactType": "metric", "value": 1.0}),
        ("/model_artifacts", {"uri": "s3://b/m"}),
        ("{version}/artifacts", {"artifactType": "dataset-artifact"}),
        ("/inference_services", {"servingEnvironmentId": "{env}", "registeredModelId": "{model}"}),
        ("{isvc}/serves", {"modelVersionId": "{version_id}"}),
    ],
)
def test_entities_created_without_a_name_get_a_uuid_name(
    http: httpx.Client, graph: dict[str, str], path: str, body: dict[str, Any]
) -> None:
    refs = {
        "{version}": f"/model_versions/{graph['version']}",
        "{isvc}": f"/inference_services/{graph['isvc']}",
    }
    for ref, value in refs.items():
        path = path.replace(ref, value)
    values = {"{env}": graph["env"], "{model}": graph["model"], "{version_id}": graph["version"]}
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    entity = created(http.post(path, json=body))
    assert UUID_RE.match(entity["name"]), entity


def _longest(http: httpx.Client, path: str, body: dict[str, Any], fits: int, letter: str = "n") -> None:
    """``fits`` characters are stored, one more is refused naming the limit."""
    assert created(http.post(path, json={**body, "name": letter * fits}))["name"] == letter * fits
    message = error(http.post(path, json={**body, "name": letter * (fits + 1)}), 400)
    assert f"at most {fits} fit here" in message
    assert "Data too long for column 'name'" in message  # what the real server's database says


def test_registered_model_and_environment_names_fit_255_characters(http: httpx.Client) -> None:
    _longest(http, "/registered_models", {}, 255)
    _longest(http, "/serving_environments", {}, 255)


def test_a_version_name_shares_255_characters_with_its_model_id(http: httpx.Client, graph: dict[str, str]) -> None:
    model = graph["model"]
    _longest(http, "/model_versions", {"registeredModelId": model}, 255 - len(model) - 1)
    _longest(http, f"/registered_models/{model}/versions", {}, 255 - len(model) - 1, letter="w")


def test_owned_names_share_255_characters_with_their_owner_id(http: httpx.Client, graph: dict[str, str]) -> None:
    env, isvc, version = graph["env"], graph["isvc"], graph["version"]
    isvc_body = {"servingEnvironmentId": env, "registeredModelId": graph["model"]}
    _longest(http, "/inference_services", isvc_body, 255 - len(env) - 1)
    _longest(http, f"/inference_services/{isvc}/serves", {"modelVersionId": version}, 255 - len(isvc) - 1)
    _longest(http, f"/model_versions/{version}/artifacts", {"artifactType": "doc-artifact"}, 255 - len(version) - 1)


def test_an_artifact_outside_a_version_shares_255_characters_with_a_uuid(http: httpx.Client) -> None:
    _longest(http, "/artifacts", {"artifactType": "doc-artifact"}, 255 - 37)
    _longest(http, "/model_artifacts", {}, 255 - 37, letter="a")


def test_a_100000_character_name_is_refused_not_stored(http: httpx.Client) -> None:
    message = error(http.post("/registered_models", json={"name": "x" * 100_000}), 400)
    assert "100000 characters is too long" in message


def test_external_id_and_property_names_fit_255_characters(http: httpx.Client, unique: str) -> None:
    created(http.post("/registered_models", json={"name": f"ext-{unique}", "externalId": "e" * 250 + unique[:5]}))
    message = error(http.post("/registered_models", json={"name": f"ext2-{unique}", "externalId": "e" * 256}), 400)
    assert "externalId of 256 characters" in message
    props = {"k" * 256: {"string_value": "", "metadataType": "MetadataStringValue"}}
    message = error(http.post("/registered_models", json={"name": f"prop-{unique}", "customProperties": props}), 400)
    assert "custom property name of 256 characters" in message


# -- externalId: unique per table of the real server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("/registered_models", {}), ("/serving_environments", {})),
        (("/registered_models", {}), ("/model_versions", {"registeredModelId": "{model}"})),
        (("/serving_environments", {}), ("/inference_services", {"servingEnvironmentId": "{env}"})),
        (("/artifacts", {"artifactType": "doc-artifact"}), ("/model_artifacts", {})),
        (("/artifacts", {"artifactType": "metric"}), ("{version}/artifacts", {"artifactType": "dataset-artifact"})),
    ],
)
def test_external_id_is_unique_across_the_kinds_of_one_server_table(
    http: httpx.Client, graph: dict[str, str], unique: str, first: tuple[str, dict], second: tuple[str, dict]
) -> None:
    def post(path: str, body: dict[str, Any], name: str) -> httpx.Response:
        path = path.replace("{version}", f"/model_versions/{graph['version']}")
        values = {"{model}": graph["model"], "{env}": graph["env"]}
        body = {k: values.get(v, v) for k, v in body.items()}
        if path == "/inference_services":
            body["registeredModelId"] = graph["model"]
        return http.post(path, json={**body, "name": name, "externalId": f"shared-{unique}"})

    created(post(*first, f"first-{unique}"))
    message = error(post(*second, f"second-{unique}"), 409)
    assert f"externalId 'shared-{unique}' is taken" in message


def test_a_serve_model_may_share_an_external_id_with_a_context(
    http: httpx.Client, graph: dict[str, str], unique: str
) -> None:
    created(http.post("/registered_models", json={"name": f"ctx-{unique}", "externalId": f"x-{unique}"}))
    body = {"modelVersionId": graph["version"], "externalId": f"x-{unique}"}
    created(http.post(f"/inference_services/{graph['isvc']}/serves", json=body))  # Execution table: another scope


# -- bodies the real server refuses: 400, never 500 -------------------------------------------------------------


@pytest.mark.parametrize("number", [b"1e400", b"-1e999", b"1" + b"0" * 400])
def test_non_finite_doubles_are_refused_and_lists_keep_working(http: httpx.Client, number: bytes) -> None:
    body = (
        b'{"name": "inf", "customProperties": {"x": {"double_value": '
        + number
        + b', "metadataType": "MetadataDoubleValue"}}}'
    )
    assert "out of range" in error(http.post("/registered_models", content=body), 400)
    metric = b'{"artifactType": "metric", "name": "inf-metric", "value": ' + number + b"}"
    assert "out of range" in error(http.post("/artifacts", content=metric), 400)
    assert http.get("/registered_models").status_code == 200
    assert http.get("/artifacts").status_code == 200


def test_rows_with_infinities_stored_by_older_versions_are_still_readable(
    registry: EmbeddedRegistry, http: httpx.Client, unique: str
) -> None:
    model = created(http.post("/registered_models", json={"name": f"old-{unique}"}))
    metric = created(http.post("/artifacts", json={"artifactType": "metric", "name": f"old-{unique}", "value": 1.0}))
    custom = {"x": {"double_value": float("inf"), "metadataType": "MetadataDoubleValue"}}
    with sqlite3.connect(registry.db_path) as conn:  # what an older version wrote for {"double_value": 1e400}
        conn.execute("UPDATE resource SET custom = ? WHERE id = ?", (json.dumps(custom), int(model["id"])))
        fields = json.dumps({"artifactType": "metric", "value": float("-inf"), "state": "UNKNOWN"})
        conn.execute("UPDATE resource SET fields = ? WHERE id = ?", (fields, int(metric["id"])))
    got = http.get(f"/registered_models/{model['id']}")
    assert got.status_code == 200, got.text
    assert got.json()["customProperties"]["x"]["double_value"] == 1.7976931348623157e308
    assert http.get(f"/artifacts/{metric['id']}").json()["value"] == -1.7976931348623157e308
    assert http.get("/registered_models").status_code == 200
    assert http.get("/artifacts", params={"filterQuery": f'name = "old-{unique}"'}).status_code == 200


def test_deeply_nested_json_is_a_400_and_the_server_stays_healthy(http: httpx.Client) -> None:
    for depth in (1000, 100_000):
        body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        assert "nested too deeply" in error(http.post("/registered_models", content=body), 400)
    assert http.get("/registered_models").status_code == 200


def test_an_unpaired_surrogate_is_stored_as_the_replacement_character(http: httpx.Client, unique: str) -> None:
    props = '{"k\\ud800": {"string_value": "x\\ud83d", "metadataType": "MetadataStringValue"}}'
    body = f'{{"name": "sur-{unique}", "description": "a\\udc00b", "customProperties": {props}}}'.encode()
    model = created(http.post("/registered_models", content=body))
    assert model["description"] == "a\ufffdb"
    assert model["customProperties"] == {"k\ufffd": {"string_value": "x\ufffd", "metadataType": "MetadataStringValue"}}
    pair = created(http.post("/registered_models", content=f'{{"name": "pair-{unique}\\ud83d\\ude00"}}'.encode()))
    assert pair["name"] == f"pair-{unique}\U0001f600"  # a valid pair stays one character


def test_invalid_utf8_is_read_as_the_replacement_character(http: httpx.Client, unique: str) -> None:
    body = b'{"name": "utf-' + unique.encode() + b'", "description": "a\xffb"}'
    model = created(http.post("/registered_models", content=body))
    assert model["description"] == "a\ufffdb"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("not base64!", "illegal base64"),
        ("e30", "illegal base64"),  # "{}" without its padding
        (base64.b64encode(b"[1, 2]").decode(), "JSON object"),
        (base64.b64encode(b'"text"').decode(), "JSON object"),
        (base64.b64encode(b"{not json").decode(), "JSON object"),
    ],
)
def test_struct_value_must_be_base64_of_a_json_object(
    http: httpx.Client, unique: str, value: str, fragment: str
) -> None:
    props = {"s": {"struct_value": value, "metadataType": "MetadataStructValue"}}
    message = error(http.post("/registered_models", json={"name": f"struct-{unique}", "customProperties": props}), 400)
    assert fragment in message


def test_struct_value_of_a_json_object_is_stored(http: httpx.Client, unique: str) -> None:
    value = base64.b64encode(b'{"layers": [1, 2]}').decode()
    props = {"s": {"struct_value": value, "metadataType": "MetadataStructValue"}}
    assert created(http.post("/registered_models", json={"name": f"ok-{unique}", "customProperties": props}))


# -- the body limit: 413 --------------------------------------------------------------------------------------


def test_a_10_mb_description_is_refused_with_413(http: httpx.Client) -> None:
    message = error(http.post("/registered_models", json={"name": "huge", "description": "d" * 10_000_000}), 413)
    assert "1,048,576 bytes" in message
    assert http.get("/registered_model", params={"name": "huge"}).status_code == 404


def test_100000_properties_are_refused_with_413(http: httpx.Client) -> None:
    props = {f"p{i}": {"string_value": "", "metadataType": "MetadataStringValue"} for i in range(100_000)}
    error(http.post("/registered_models", json={"name": "many-props", "customProperties": props}), 413)


def test_a_chunked_body_over_the_limit_is_refused_with_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "chunked", "description": "'
        for _ in range(20):
            yield b"d" * 100_000
        yield b'"}'

    error(http.post("/registered_models", content=chunks()), 413)
    assert http.get("/registered_model", params={"name": "chunked"}).status_code == 404


def test_the_body_limit_is_configurable(tmp_path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db", max_body_bytes=200) as small, httpx.Client(base_url=small.api_url) as http:
        assert http.post("/registered_models", json={"name": "fits"}).status_code == 201
        assert "200 bytes" in error(http.post("/registered_models", json={"name": "x", "description": "d" * 300}), 413)


# -- errors of the HTTP layer are JSON too -------------------------------------------------------------------------


def _raw_request(registry: EmbeddedRegistry, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection((registry.host, registry.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/model_registry/v1/registered_model?name=" + b"n" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
    ],
    ids=["100000-character-name-in-url", "garbage", "bad-header"],
)
def test_requests_the_http_layer_refuses_get_the_json_error_body(
    registry: EmbeddedRegistry, request_bytes: bytes
) -> None:
    status, headers, body = _raw_request(registry, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == "Bad Request"
    assert "invalid HTTP request" in json.loads(body)["message"]


def test_the_root_still_answers_404_after_all_of_this(http: httpx.Client, registry: EmbeddedRegistry) -> None:
    assert httpx.get(registry.url + "/").status_code == 404
    assert http.get("/registered_models").status_code == 200
