"""An open connection to the Kubeflow Model Registry: one HTTP session, retries, timeouts and clear errors.

Calls go through the registry's generated REST client (``mr_openapi.ModelRegistryServiceApi``, shipped with the
official ``model-registry`` package), which has all 40 operations of the v1 API (filter queries, serving records,
artifacts by id) that the high-level ``model_registry.ModelRegistry`` facade does not offer. Responses come back
as plain dicts in wire form (camelCase keys, ids as strings), the registry's own JSON.

Typical use::

    with connect_model_registry("http://127.0.0.1:8080") as conn:
        model = conn.call("find model 'iris'", lambda api: api.find_registered_model(name="iris"), tolerate=(404,))
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from mr_openapi import ApiClient, Configuration, ModelRegistryServiceApi

from kfp_model_lifecycle.client.failures import describe_registry_error
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

log = logging.getLogger(LOGGER_NAME)


class RegistryConnection:
    """A connection to one Model Registry; close it (or use it as a context manager) when done.

    Attributes:
        address: The registry's checked base URL.
        token_source: Where the token came from (never the token itself).
        policy: Retry and timeout settings.
        api: The generated low-level API (one HTTP session for all calls).
    """

    def __init__(
        self, address: RegistryAddress, api_client: ApiClient, *, token_source: str, policy: RetryPolicy
    ) -> None:
        self.address = address
        self.token_source = token_source
        self.policy = policy
        self.api = ModelRegistryServiceApi(api_client)
        self._api_client = api_client
        self._loop = asyncio.new_event_loop()

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
        if self._loop.is_closed():
            raise RuntimeError(f"the connection to the Model Registry at {self.url} is closed: connect again")
        return self._loop.run_until_complete(asyncio.wait_for(coroutine, self.policy.timeout))

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
            operation: ``lambda api: api.<operation>(...)`` on the generated API.
            tolerate: HTTP statuses that are expected answers rather than errors (e.g. ``(404,)`` for a find,
                ``(409,)`` for a create that may race); for those the call returns None.

        Returns:
            The response body in wire form (camelCase keys, ids as strings), or None for a tolerated status.

        Raises:
            RegistryError: A subclass naming the problem and the fix (see ``describe_registry_error``).
        """
        policy = self.policy
        try:
            result, _ = call_with_backoff(
                lambda: self.run(operation(self.api)),
                max_attempts=policy.max_attempts,
                base_delay=policy.base_delay,
                max_delay=policy.max_delay,
            )
        except Exception as exc:
            if getattr(exc, "status", None) in tolerate:
                return None
            raise describe_registry_error(exc, self.url, action, attempts_made(exc)) from None
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
        """Close the HTTP session and the event loop; closing twice is harmless."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._api_client.close())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def __enter__(self) -> RegistryConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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
        probe: Check that the registry answers (with retries) before returning.

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
    config = Configuration(
        host=address.url,
        access_token=token,
        ssl_ca_cert=ca_bundle_path or None,
        verify_ssl=bool(verify_tls) if address.is_secure else False,
    )
    try:
        api_client = ApiClient(config)  # loads the CA bundle
    except ssl.SSLError as exc:
        raise ValueError(
            f"ca_bundle_path {ca_bundle_path!r} is not a usable PEM CA bundle ({exc.reason or exc}): pass the PEM"
            " file of the CA that signed the registry's certificate"
        ) from None
    conn = RegistryConnection(address, api_client, token_source=token_source, policy=policy)
    log.info("Model Registry %s (token: %s)", address.url, token_source)
    if probe:
        try:
            conn.call("reach the registry", lambda api: api.get_registered_models(page_size="1"))
        except BaseException:
            conn.close()
            raise
    return conn


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
