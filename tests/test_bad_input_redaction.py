"""Token hygiene: a server (or proxy) whose error echoes the request never puts the token into an exception text, a
log line or ``kml`` stderr -- it reads ``***`` there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from mr_openapi import exceptions as mr_exc

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.cli import main
from kfp_model_lifecycle.client import describe_registry_error
from kfp_model_lifecycle.errors import RegistryError
from kfp_model_lifecycle.lifecycle.run import run_promote_model

TOKEN = "kml-test-token-5f1c9e"


class EchoServer:
    """A registry stand-in that answers every request with an error whose message echoes the request.

    Args:
        status: The HTTP status to answer with.
        bare: Echo only the token's value (``unknown token <value>``) instead of the request's headers.
    """

    def __init__(self, status: int, *, bare: bool = False) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization") or ""
                echoed = (
                    f"unknown token {auth.removeprefix('Bearer ')}"
                    if outer.bare
                    else f"{self.requestline} {self.headers}"
                )
                body = json.dumps({"code": "Bad Request", "message": echoed}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.status, self.bare = status, bare
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo_headers() -> Iterator[EchoServer]:
    with EchoServer(400) as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry or token variables from the environment."""
    isolated_env.setenv("KML_REGISTRY_BACKOFF_SECONDS", "0.01")


def test_the_echo_server_does_echo_the_token(echo_headers: EchoServer) -> None:
    """Without redaction the message would carry the token (so the tests below test something)."""
    response = httpx.get(echo_headers.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 400 and TOKEN in response.text


def test_lifecycle_errors_never_carry_the_token(echo_headers: EchoServer) -> None:
    with pytest.raises(RegistryError) as info, Lifecycle(echo_headers.url, token=TOKEN, env={}) as lc:
        lc.models()
    assert TOKEN not in str(info.value) and "Authorization: ***" in str(info.value)
    with (
        EchoServer(400, bare=True) as bare,
        pytest.raises(RegistryError) as info,
        Lifecycle(bare.url, token=TOKEN) as lc,
    ):
        lc.models()
    assert TOKEN not in str(info.value) and "unknown token ***" in str(info.value)


@pytest.mark.parametrize("bare", [False, True])
def test_component_jobs_errors_and_retry_logs_never_carry_the_token(
    bare: bool, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"KML_REGISTRY_TOKEN": TOKEN, "KML_REGISTRY_MAX_ATTEMPTS": "2"}
    with EchoServer(503, bare=bare) as server, caplog.at_level("DEBUG"), pytest.raises(RegistryError) as info:
        run_promote_model(model_reference="iris:1.0.0", stage="staging", registry_url=server.url, env=env)
    assert TOKEN not in str(info.value) and "***" in str(info.value)
    assert caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize("bare", [False, True])
def test_kml_stderr_never_carries_the_token(
    bare: bool, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KML_REGISTRY_TOKEN", TOKEN)
    with EchoServer(400, bare=bare) as server:
        assert main(["models", "list", "--registry-url", server.url]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and TOKEN not in err + out and "***" in err


def test_describe_registry_error_redacts_headers_bearer_tokens_and_configured_secrets() -> None:
    body = json.dumps({"message": f"denied: Authorization: Bearer {TOKEN}; retry with token={TOKEN}"})
    error = describe_registry_error(mr_exc.BadRequestException(status=400, body=body), "http://mr:8080", "list")
    assert TOKEN not in str(error) and "Authorization: ***" in str(error)
    bare = json.dumps({"message": f"user {TOKEN} unknown"})
    plain = describe_registry_error(mr_exc.BadRequestException(status=400, body=bare), "http://mr:8080", "list")
    assert TOKEN in str(plain)  # nothing marks a bare value as a secret...
    secret = describe_registry_error(
        mr_exc.BadRequestException(status=400, body=bare), "http://mr:8080", "list", secrets=[TOKEN]
    )
    assert TOKEN not in str(secret) and "user *** unknown" in str(secret)  # ...unless it is the configured one
    from kfp_model_lifecycle.client.failures import redact_secrets  # (new: imported here, the others run on old code)

    assert redact_secrets("nextPageToken=abc and Bearer xyz", ["ab"]) == "nextPageToken=abc and Bearer ***"
