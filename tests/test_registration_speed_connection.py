"""Cheap connections: sessions reused from the process's pool, no TLS context for http, JSON read without models.

What a registration pays before its first request (an event loop, the generated client, a TLS context that loads
the system's CA certificates even for http, a probe GET, a TCP connection) is paid once per process and registry.
These tests check the reuse is safe: one connection per session at a time, the probe once, stale keep-alive
connections dropped, nothing shared across ``fork``, and the same answers and errors as before.
"""

from __future__ import annotations

import logging
import os
import ssl
import uuid
from pathlib import Path
from typing import Any

import pytest
from mr_openapi import ApiClient, Configuration, models, rest

from kfp_model_lifecycle.client import connect_model_registry, connection
from kfp_model_lifecycle.errors import RegistryError
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """No registry, token or pod variables from the environment running the tests."""


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs probed ("reach the registry") while the test runs."""
    seen: list[str] = []
    original = connection.RegistryConnection.call

    def call(self: connection.RegistryConnection, action: str, operation: Any, **kwargs: Any) -> Any:
        if action == "reach the registry":
            seen.append(self.url)
        return original(self, action, operation, **kwargs)

    monkeypatch.setattr(connection.RegistryConnection, "call", call)
    return seen


def _fresh_env() -> dict[str, str]:
    """A token no other test uses, so the connection gets a session of its own (tokens are part of the key)."""
    return {"KML_REGISTRY_TOKEN": f"t-{uuid.uuid4().hex}"}


def test_a_closed_connection_hands_its_session_to_the_next_one_which_is_not_probed_again(
    registry: EmbeddedRegistry, probes: list[str]
) -> None:
    env = _fresh_env()
    first = connect_model_registry(registry.url, env=env)
    api = first.api
    first.call("list models", lambda a: a.get_registered_models(page_size="1"))
    first.close()
    with pytest.raises(RuntimeError, match="is closed: connect again"):
        first.call("list models", lambda a: a.get_registered_models(page_size="1"))
    second = connect_model_registry(registry.url, env=env)
    assert second.api is api  # the same session: loop, client and TCP connections
    assert probes == [registry.url]  # probed once for both
    assert second.call("list models", lambda a: a.get_registered_models(page_size="1")) is not None
    second.close()
    second.close()  # closing twice is harmless


def test_open_connections_never_share_a_session(registry: EmbeddedRegistry) -> None:
    env = _fresh_env()
    one = connect_model_registry(registry.url, env=env)
    two = connect_model_registry(registry.url, env=env)
    try:
        assert one.api is not two.api
    finally:
        one.close()
        two.close()
    other_token = connect_model_registry(registry.url, env=_fresh_env())
    try:
        assert other_token.api not in (one.api, two.api)  # a different token never gets these sessions
    finally:
        other_token.close()


def test_http_builds_no_tls_context(registry: EmbeddedRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_tls(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        raise AssertionError("a TLS context was built for an http registry")

    monkeypatch.setattr(ssl, "create_default_context", no_tls)
    with connect_model_registry(registry.url, env=_fresh_env()) as conn:
        assert conn.api.api_client.rest_client.ssl_context is False
        created = conn.call(
            "create a model",
            lambda a: a.create_registered_model(models.RegisteredModelCreate(name=f"plain-{uuid.uuid4().hex[:8]}")),
        )
    assert created and created["id"]


def test_the_plain_http_client_has_the_generated_clients_attributes() -> None:
    config = Configuration(host="http://127.0.0.1:1")
    generated = ApiClient(config)
    plain = connection.PlainHttpApiClient(config)
    assert set(vars(plain)) == set(vars(generated))  # fails when a model-registry upgrade adds attributes
    assert set(vars(plain.rest_client)) == set(vars(rest.RESTClientObject(config)))
    assert plain.default_headers == generated.default_headers and plain.cookie is generated.cookie


def test_idle_tcp_connections_are_closed_before_a_session_is_reused(
    registry: EmbeddedRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _fresh_env()
    with connect_model_registry(registry.url, env=env) as conn:
        conn.call("list models", lambda a: a.get_registered_models(page_size="1"))
        http_session = conn.api.api_client.rest_client.pool_manager
    assert http_session is not None and not http_session.closed  # kept open while the session is idle ...
    monkeypatch.setattr(connection, "KEEP_ALIVE_SECONDS", 0.0)
    with connect_model_registry(registry.url, env=env) as conn:
        assert http_session.closed  # ... and closed when it was idle too long: a server may have closed it
        assert conn.api.api_client.rest_client.pool_manager is None
        assert conn.call("list models", lambda a: a.get_registered_models(page_size="1")) is not None


def test_a_pooled_session_works_after_the_registry_restarts_on_the_same_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = _fresh_env()
    with EmbeddedRegistry(tmp_path / "a.db") as first:
        port = first.port
        with connect_model_registry(first.url, env=env) as conn:
            conn.call("list models", lambda a: a.get_registered_models(page_size="1"))
    with (
        EmbeddedRegistry(tmp_path / "a.db", port=port) as second,
        caplog.at_level(logging.WARNING),
        connect_model_registry(second.url, env=env) as conn,
    ):
        created = conn.call(
            "create a model", lambda a: a.create_registered_model(models.RegisteredModelCreate(name="after-restart"))
        )
    assert created and created["name"] == "after-restart"
    assert "transient failure" not in caplog.text


def test_a_session_from_another_process_is_closed_not_pooled(registry: EmbeddedRegistry) -> None:
    conn = connect_model_registry(registry.url, env=_fresh_env())
    session = conn._session
    assert session is not None
    conn.close()
    pool = connection.SessionPool()
    session.key = connection.SessionKey(**{**vars(session.key), "pid": os.getpid() + 1})  # as after a fork
    pool.give_back(session)
    assert session.closed and pool.take(session.key) is None


def test_raw_json_operations_answer_and_fail_like_the_validated_ones(registry: EmbeddedRegistry) -> None:
    name = f"raw-{uuid.uuid4().hex[:8]}"
    with connect_model_registry(registry.url, env={}) as conn:
        model = conn.call("create", lambda a: a.create_registered_model(models.RegisteredModelCreate(name=name)))
        assert model is not None
        raw = conn.call("get raw", lambda a: a.get_registered_model_without_preload_content(model["id"]))
        validated = conn.call("get", lambda a: a.get_registered_model(model["id"]))
        assert {k: raw[k] for k in validated} == validated  # the models drop read-only fields; raw JSON keeps them
        missing = conn.call(
            "get missing", lambda a: a.get_registered_model_without_preload_content("99999999"), tolerate=(404,)
        )
        assert missing is None
        with pytest.raises(RegistryError) as info:
            conn.call(
                "create twice",
                lambda a: a.create_registered_model_without_preload_content(models.RegisteredModelCreate(name=name)),
            )
        assert info.value.status == 409 and "create twice" in str(info.value)
