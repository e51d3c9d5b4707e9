"""The Istio guard of the embedded registry, and the bearer token the way kube-rbac-proxy reads it.

Kubeflow guards the registry with an Istio ``AuthorizationPolicy`` (kubeflow/manifests,
``applications/model-registry/upstream/options/istio``). KFP pipeline pods run without a sidecar, so their direct
calls to the registry Service get Envoy's ``403`` with the ``text/plain`` body ``RBAC: access denied``; the
working route is the ingress gateway with a bearer token. ``EmbeddedRegistry(istio_guard=True)`` and ``kml
registry serve --istio-guard`` imitate both ends, so a client's handling of that 403 is tested end to end.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator

import httpx
import pytest
from model_registry import ModelRegistry
from mr_openapi.exceptions import ForbiddenException

from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.server import free_port, wait_until_ready

API = "/api/model_registry/v1"
TOKEN = "guard-test-token-1c9e"  # a test value, not a secret
REQUESTS = [
    ("GET", "/", None),
    ("GET", f"{API}/registered_models", None),
    ("POST", f"{API}/registered_models", {"name": "intruder"}),
    ("PATCH", f"{API}/registered_models/1", {"description": "x"}),
    ("GET", f"{API}/model_version?name=v1&parentResourceId=1", None),
]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(tmp_path_factory.mktemp("guard") / "r.db", token=TOKEN, istio_guard=True) as registry:
        yield registry


def assert_rbac_denied(response: httpx.Response) -> None:
    """Exactly what Envoy answers for a request the AuthorizationPolicy denies."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.content == b"RBAC: access denied"


def test_the_guard_exposes_a_service_and_a_gateway_url(guarded: EmbeddedRegistry) -> None:
    assert guarded.gateway_url is not None
    assert guarded.gateway_url != guarded.url
    assert guarded.gateway_port not in (None, guarded.port)


@pytest.mark.parametrize("header", [None, f"Bearer {TOKEN}", f"bearer {TOKEN}", "Bearer other"])
def test_the_service_port_denies_every_request_like_istio(guarded: EmbeddedRegistry, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with httpx.Client(base_url=guarded.url, headers=headers, trust_env=False) as http:
        for method, path, body in REQUESTS:
            assert_rbac_denied(http.request(method, path, json=body))
    with httpx.Client(base_url=guarded.gateway_url or "", trust_env=False) as http:
        assert http.get(f"{API}/registered_model", params={"name": "intruder"}, headers=_bearer()).status_code == 404


def _bearer(token: str = TOKEN, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def test_the_gateway_without_a_bearer_token_is_denied(guarded: EmbeddedRegistry) -> None:
    with httpx.Client(base_url=guarded.gateway_url or "", trust_env=False) as http:
        for method, path, body in REQUESTS:
            assert_rbac_denied(http.request(method, path, json=body))
        assert_rbac_denied(http.get(f"{API}/registered_models", headers={"Authorization": f"Basic {TOKEN}"}))


def test_the_gateway_with_another_token_answers_401_like_istio_jwt(guarded: EmbeddedRegistry) -> None:
    with httpx.Client(base_url=guarded.gateway_url or "", trust_env=False) as http:
        response = http.get(f"{API}/registered_models", headers=_bearer("not-the-token"))
    assert response.status_code == 401
    assert response.content == b"Jwt verification fails"
    assert "invalid_token" in response.headers["www-authenticate"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_gateway_serves_the_api_to_the_token_in_any_scheme_case(guarded: EmbeddedRegistry, scheme: str) -> None:
    with httpx.Client(base_url=guarded.gateway_url or "", trust_env=False, headers=_bearer(scheme=scheme)) as http:
        created = http.post(f"{API}/registered_models", json={"name": f"via-gateway-{scheme}"})
        assert created.status_code == 201, created.text
        assert http.get(f"{API}/registered_models/{created.json()['id']}").status_code == 200
        assert http.get("/").status_code == 404  # the API behind the gateway still answers 404 on "/"


def test_the_official_client_is_denied_directly_and_served_through_the_gateway(guarded: EmbeddedRegistry) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ForbiddenException) as denied:  # its constructor probes GET /registered_models
            ModelRegistry(guarded.address, guarded.port, author="pod", is_secure=False, user_token=TOKEN)
        assert "RBAC: access denied" in str(denied.value)
        client = ModelRegistry(guarded.address, guarded.gateway_port, author="pod", is_secure=False, user_token=TOKEN)
    client.register_model("guarded", "s3://b/m", model_format_name="sklearn", model_format_version="1", version="v1")
    assert client.get_model_version("guarded", "v1") is not None


def test_without_a_token_the_gateway_accepts_any_bearer_token(tmp_path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db", istio_guard=True) as registry:
        with httpx.Client(base_url=registry.gateway_url or "", trust_env=False) as http:
            assert http.get(f"{API}/registered_models", headers=_bearer("any-service-account-token")).status_code == 200
            assert_rbac_denied(http.get(f"{API}/registered_models"))
        assert_rbac_denied(httpx.get(registry.api_url + "/registered_models", headers=_bearer("x")))


def test_the_guard_works_in_a_subprocess_too(tmp_path) -> None:
    registry = EmbeddedRegistry(tmp_path / "r.db", token=TOKEN, istio_guard=True, in_process=False)
    with registry:
        assert_rbac_denied(httpx.get(registry.api_url + "/registered_models", headers=_bearer()))
        ok = httpx.get(f"{registry.gateway_url}{API}/registered_models", headers=_bearer())
        assert ok.status_code == 200, ok.text


def test_kml_registry_serve_istio_guard(tmp_path) -> None:
    port, gateway = free_port(), free_port()
    cmd = [sys.executable, "-m", "kfp_model_lifecycle.cli", "registry", "serve", "--port", str(port), "--istio-guard"]
    cmd += ["--gateway-port", str(gateway), "--db", str(tmp_path / "r.db"), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", 60, proc)  # type: ignore[arg-type]
        assert_rbac_denied(httpx.get(f"http://127.0.0.1:{port}{API}/registered_models", headers=_bearer()))
        assert httpx.get(f"http://127.0.0.1:{gateway}{API}/registered_models", headers=_bearer()).status_code == 200
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{gateway}/api/model_registry/v1" in stderr  # the banner names the gateway
    assert "RBAC: access denied" in stderr


# -- the bearer token without the guard (kube-rbac-proxy) -----------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(tmp_path_factory.mktemp("secured") / "r.db", token=TOKEN) as registry:
        yield registry


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(secured: EmbeddedRegistry, scheme: str) -> None:
    response = httpx.get(secured.api_url + "/registered_models", headers=_bearer(scheme=scheme))
    assert response.status_code == 200, response.text
