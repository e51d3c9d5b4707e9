"""An open connection to the Kubeflow Model Registry: one HTTP session, retries, timeouts and clear errors.

Calls go through the registry's generated REST client (``mr_openapi.ModelRegistryServiceApi``, shipped with the
official ``model-registry`` package), which has all 40 operations of the v1 API (filter queries, serving records,
artifacts by id) that the high-level ``model_registry.ModelRegistry`` facade does not offer. Responses come back
as plain dicts in wire form (camelCase keys, ids as strings), the registry's own JSON.

Typical use::

    with connect_model_registry("http://127.0.0.1:8080") as conn:
        model = conn.call("find model 'iris'", lambda api: api.find_registered_model(name="iris"), tolerate=(404,))

Connections are cheap to open again: closing one hands its session (event loop, generated client, TLS context,
open TCP connections) back to a per-process pool, and the next ``connect_model_registry`` with the same URL,
token and TLS settings takes it instead of building a new one, and skips the probe that session already passed.
A session is used by one connection at a time; TCP connections idle longer than :data:`KEEP_ALIVE_SECONDS` are
closed before reuse (servers close idle keep-alive connections, and a POST on one they closed would fail), and a
process started by ``fork`` never reuses its parent's sessions. For ``http://`` registries no TLS context is
built at all (``ssl.create_default_context`` loads the system's CA certificates: ~35 ms that plain http never
uses).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from mr_openapi import ApiClient, Configuration, ModelRegistryServiceApi, rest
from mr_openapi.exceptions import ApiException

from kfp_model_lifecycle.client.failures import describe_registry_error, registry_error_detail
from kfp_model_lifecycle.client.retry import attempts_made, call_with_backoff
from kfp_model_lifecycle.client.settings import (
    SA_TOKEN_PATH,
    RegistryAddress,
    RetryPolicy,
    parse_registry_url,
    resolve_registry_token,
    resolve_registry_url,
)
from kfp_model_lifecycle.log import LOGGER_NAME

T = TypeVar("T")
Wire = dict[str, Any]
ListPage = Callable[[ModelRegistryServiceApi, str | None], Awaitable[Any]]
PAGE_SIZE = "500"
MAX_PAGES = 100_000
# Idle TCP connections of a pooled session are closed before reuse when older than this (uvicorn closes idle
# keep-alive connections after 5 s, gunicorn after 2 s; a POST on a connection the server closed fails).
KEEP_ALIVE_SECONDS = 1.0
# Idle sessions kept per registry address and settings.
MAX_IDLE_SESSIONS = 4

log = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class SessionKey:
    """What a pooled session was built for: a session serves only connections with the same key.

    Attributes:
        url: The registry's base URL.
        token_digest: sha256 of the bearer token ("" for none): the token itself is never kept here.
        verify_tls: Whether the server certificate is verified (https).
        ca_bundle_path: The CA bundle file ("" for the system CAs).
        pid: The process that built the session (a forked child builds its own).
    """

    url: str
    token_digest: str
    verify_tls: bool
    ca_bundle_path: str
    pid: int


class Session:
    """One event loop and the generated API client on it (with its TLS context and TCP connections).

    Args:
        key: What the session is for.
        api_client: The generated client, built for ``key``.

    Attributes:
        probed: Whether the registry answered the probe through this session.
    """

    def __init__(self, key: SessionKey, api_client: ApiClient) -> None:
        self.key = key
        self.api_client = api_client
        self.api = ModelRegistryServiceApi(api_client)
        self.loop = asyncio.new_event_loop()
        self.probed = False
        self.released_at = time.monotonic()

    @property
    def closed(self) -> bool:
        """Whether the session was closed."""
        return self.loop.is_closed()

    def drop_idle_connections(self) -> None:
        """Close the TCP connections of the generated client's HTTP session; the next request opens new ones."""
        rest_client = self.api_client.rest_client
        self.loop.run_until_complete(rest_client.close())
        rest_client.pool_manager = None  # the generated client opens a new aiohttp session when it has none
        rest_client.retry_client = None

    def close(self) -> None:
        """Close the HTTP session and the event loop; closing twice is harmless."""
        if self.loop.is_closed():
            return
        try:
            self.loop.run_until_complete(self.api_client.close())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


class SessionPool:
    """Idle sessions by key, for the connections opened later in this process (thread-safe)."""

    def __init__(self) -> None:
        self._idle: dict[SessionKey, list[Session]] = {}
        self._lock = threading.Lock()

    def take(self, key: SessionKey) -> Session | None:
        """An idle session for ``key`` (now used by the caller alone), or None."""
        with self._lock:
            idle = self._idle.get(key) or []
            session = idle.pop() if idle else None
        if session is not None and time.monotonic() - session.released_at > KEEP_ALIVE_SECONDS:
            session.drop_idle_connections()
        return session

    def give_back(self, session: Session) -> None:
        """Keep ``session`` for later connections (or close it when enough are idle, or after a fork)."""
        if session.closed:
            return
        session.released_at = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(session.key, [])
            keep = session.key.pid == os.getpid() and len(idle) < MAX_IDLE_SESSIONS
            if keep:
                idle.append(session)
        if not keep:
            session.close()

    def close_all(self) -> None:
        """Close every idle session of this process (at exit, so no unclosed aiohttp session is reported)."""
        with self._lock:
            sessions = [s for idle in self._idle.values() for s in idle if s.key.pid == os.getpid()]
            self._idle.clear()
        for session in sessions:
            try:
                session.close()
            except Exception as exc:
                log.debug("closing an idle Model Registry session failed: %s", exc)


SESSIONS = SessionPool()
atexit.register(SESSIONS.close_all)


class RegistryConnection:
    """A connection to one Model Registry; close it (or use it as a context manager) when done.

    Closing hands its session back to the process's pool (see the module docstring): the connection object itself
    is closed for good.

    Attributes:
        address: The registry's checked base URL.
        token_source: Where the token came from (never the token itself).
        policy: Retry and timeout settings.
        api: The generated low-level API (one HTTP session for all calls).
    """

    def __init__(
        self,
        address: RegistryAddress,
        session: Session | ApiClient,
        *,
        token_source: str,
        policy: RetryPolicy,
        pool: SessionPool | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.address = address
        self._secrets = secrets  # redacted from every message (never shown, not in repr)
        self.token_source = token_source
        self.policy = policy
        if isinstance(session, ApiClient):  # a client built by the caller: not from (nor back to) the pool
            session = Session(SessionKey(address.url, "", True, "", os.getpid()), session)
        self._session: Session | None = session
        self._pool = pool
        self.api = session.api
        self._loop = session.loop

    @property
    def url(self) -> str:
        """The canonical base URL ``scheme://host:port``."""
        return self.address.url

    def __repr__(self) -> str:
        return f"RegistryConnection({self.url!r}, token: {self.token_source})"

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run one coroutine of the low-level API to completion on this connection's loop, with the timeout.

        Args:
            coroutine: e.g. ``conn.api.get_registered_models(page_size="1")``.

        Returns:
            Its result.
        """
        if asyncio.iscoroutine(coroutine) and (self._session is None or self._loop.is_closed()):
            coroutine.close()  # never to be awaited: the error below says why
        self._check_open()
        return self._loop.run_until_complete(asyncio.wait_for(coroutine, self.policy.timeout))

    def _check_open(self) -> None:
        if self._session is None or self._loop.is_closed():
            raise RuntimeError(f"the connection to the Model Registry at {self.url} is closed: connect again")

    def call(
        self,
        action: str,
        operation: Callable[[ModelRegistryServiceApi], Awaitable[Any]],
        *,
        tolerate: tuple[int, ...] = (),
    ) -> Wire | None:
        """Run one operation of the registry's REST API with retries, returning the response as a plain dict.

        Args:
            action: What the call does, for messages, e.g. ``"find model version by externalId 'kfp:...'"``.
            operation: ``lambda api: api.<operation>(...)`` on the generated API. The
                ``<operation>_without_preload_content`` variants return the JSON as the server sent it, without
                validating it into the generated models first (much faster for lists of versions with many
                properties); errors are raised alike.
            tolerate: HTTP statuses that are expected answers rather than errors (e.g. ``(404,)`` for a find,
                ``(409,)`` for a create that may race); for those the call returns None.

        Returns:
            The response body in wire form (camelCase keys, ids as strings), or None for a tolerated status.

        Raises:
            RegistryError: A subclass naming the problem and the fix (see ``describe_registry_error``).
        """
        self._check_open()
        policy = self.policy
        try:
            result, _ = call_with_backoff(
                lambda: self.run(read_response(operation(self.api))),
                max_attempts=policy.max_attempts,
                base_delay=policy.base_delay,
                max_delay=policy.max_delay,
                describe=lambda exc: registry_error_detail(exc, self._secrets),
            )
        except Exception as exc:
            if getattr(exc, "status", None) in tolerate:
                return None
            raise describe_registry_error(exc, self.url, action, attempts_made(exc), secrets=self._secrets) from None
        return to_wire(result)

    def list_all(self, action: str, list_page: ListPage) -> list[Wire]:
        """All items of a paged list operation.

        Args:
            action: What is listed, for messages.
            list_page: ``lambda api, token: api.<list operation>(..., page_size=..., next_page_token=token)``
                (``token`` is None for the first page).

        Returns:
            The items of all pages, in order.
        """
        items: list[Wire] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.call(action, lambda api, t=token: list_page(api, t)) or {}
            items.extend(page.get("items") or [])
            token = page.get("nextPageToken") or None
            if not token or token in seen:
                break
            seen.add(token)
        return items

    def close(self) -> None:
        """Close the connection: its session goes back to the pool (or is closed); closing twice is harmless."""
        session, self._session = self._session, None
        if session is None:
            return
        if self._pool is not None:
            self._pool.give_back(session)
        else:
            session.close()

    def __enter__(self) -> RegistryConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def read_response(operation: Awaitable[Any]) -> Any:
    """The result of an operation of the generated API; a raw response is read, checked and decoded.

    ``<operation>_without_preload_content`` returns the HTTP response unread: its JSON is decoded here as is,
    and an error status raises the exception the generated operation would have raised
    (``ApiException.from_response``: ``NotFoundException`` for 404, ``ConflictException`` for 409...).

    Args:
        operation: ``api.<operation>(...)``.

    Returns:
        The generated model, or the decoded JSON ({} for an empty body).
    """
    result = await operation
    if not isinstance(result, rest.RESTResponseType):
        return result
    response = rest.RESTResponse(result)
    text = (await response.read()).decode("utf-8", "replace")
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=text, data=None)
    return json.loads(text) if text.strip() else {}


def to_wire(result: Any) -> Wire:
    """A response of the generated API as a plain dict in wire form ({} for an empty response)."""
    if result is None:
        return {}
    if hasattr(result, "to_json"):
        return json.loads(result.to_json())
    return dict(result)


def connect_model_registry(
    registry_url: str = "",
    *,
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
    sa_token_path: str = SA_TOKEN_PATH,
    probe: bool = True,
) -> RegistryConnection:
    """Connect to the Model Registry and check that it answers.

    The token comes from :func:`resolve_registry_token` (never the service-account token over plain http); TLS
    verification is independent of the token (``verify_tls``, ``ca_bundle_path``); every request has the policy's
    timeout. The probe is the official client's (``GET /registered_models?pageSize=1``: a server without the v1
    API answers 404 there), with retries.

    Args:
        registry_url: Base URL with scheme and port; empty means the ``KML_REGISTRY_URL`` environment variable.
        verify_tls: Verify the server certificate for https (default True).
        ca_bundle_path: PEM file with the CA(s) to trust for https; empty for the system CAs.
        env: Environment to read (default ``os.environ``).
        sa_token_path: The service-account token file.
        probe: Check that the registry answers (with retries) before returning; a session taken from the pool
            that passed the probe before is not probed again.

    Returns:
        The open connection.

    Raises:
        ValueError: For a bad ``registry_url``, retry settings or CA bundle.
        FileNotFoundError: When ``ca_bundle_path`` or ``KF_PIPELINES_SA_TOKEN_PATH`` cannot be read.
        RegistryError: When the probe fails.
    """
    env = os.environ if env is None else env
    address = parse_registry_url(resolve_registry_url(registry_url, env))
    token, token_source = resolve_registry_token(address.scheme, env, sa_token_path)
    policy = RetryPolicy.from_env(env)
    ca_bundle_path = (ca_bundle_path or "").strip()
    _check_tls_settings(address, token, verify_tls, ca_bundle_path)
    key = SessionKey(
        url=address.url,
        token_digest=hashlib.sha256(token.encode("utf-8")).hexdigest() if token else "",
        verify_tls=bool(verify_tls) if address.is_secure else False,
        ca_bundle_path=ca_bundle_path if address.is_secure else "",
        pid=os.getpid(),
    )
    session = SESSIONS.take(key) or Session(key, _api_client(address, token, key))
    secrets = (token,) if token else ()
    conn = RegistryConnection(
        address, session, token_source=token_source, policy=policy, pool=SESSIONS, secrets=secrets
    )
    log.info("Model Registry %s (token: %s)", address.url, token_source)
    if probe and not session.probed:
        try:
            conn.call("reach the registry", lambda api: api.get_registered_models(page_size="1"))
        except BaseException:
            conn.close()
            raise
        session.probed = True
    return conn


def _api_client(address: RegistryAddress, token: str | None, key: SessionKey) -> ApiClient:
    """The generated API client for ``address``; for http without the TLS context it would never use."""
    config = Configuration(
        host=address.url,
        access_token=token,
        ssl_ca_cert=key.ca_bundle_path or None,
        verify_ssl=key.verify_tls,
    )
    if not address.is_secure:
        return PlainHttpApiClient(config)
    try:
        return ApiClient(config)  # loads the CA bundle
    except ssl.SSLError as exc:
        raise ValueError(
            f"ca_bundle_path {key.ca_bundle_path!r} is not a usable PEM CA bundle ({exc.reason or exc}): pass the"
            " PEM file of the CA that signed the registry's certificate"
        ) from None


class PlainHttpRestClient(rest.RESTClientObject):
    """The generated REST client for an ``http://`` registry: the same requests, without a TLS context.

    ``RESTClientObject.__init__`` always builds an ``ssl`` context with the system's CA certificates (~35 ms);
    this sets the same attributes without it (``ssl_context=False``: aiohttp's "no TLS"; only ``http://`` URLs are
    requested through this client). ``tests/test_registration_speed*.py`` checks the attributes stay those of the
    generated class.
    """

    def __init__(self, configuration: Configuration) -> None:
        self.maxsize = configuration.connection_pool_maxsize
        self.ssl_context = False
        self.proxy = configuration.proxy
        self.proxy_headers = configuration.proxy_headers
        self.retries = configuration.retries
        self.pool_manager = None
        self.retry_client = None


class PlainHttpApiClient(ApiClient):
    """The generated ``ApiClient`` on a :class:`PlainHttpRestClient` (same attributes, no TLS context built)."""

    def __init__(self, configuration: Configuration) -> None:
        self.configuration = configuration
        self.rest_client = PlainHttpRestClient(configuration)
        self.default_headers = {}
        self.cookie = None
        self.user_agent = "OpenAPI-Generator/1.0.0/python"
        self.client_side_validation = configuration.client_side_validation


def _check_tls_settings(address: RegistryAddress, token: str | None, verify_tls: bool, ca_bundle_path: str) -> None:
    if ca_bundle_path and not os.path.isfile(ca_bundle_path):
        raise FileNotFoundError(
            f"ca_bundle_path {ca_bundle_path!r} is not a readable file: mount the CA bundle (PEM) into the pod, e.g."
            " from a ConfigMap with kfp.kubernetes.use_config_map_as_volume, and pass its path"
        )
    if not address.is_secure:
        if ca_bundle_path or not verify_tls:
            log.info("registry_url uses http: ca_bundle_path and verify_tls do not apply")
        if token:
            log.warning("sending the registry token over plain http to %s: prefer an https address", address.url)
    elif not verify_tls:
        log.warning("TLS certificate verification is OFF for %s (verify_tls=False): use only for testing", address.url)
