"""Connecting to the Kubeflow Model Registry from a component pod: URL, token, TLS, retries, clear errors.

Every function here is embedded into component pods with ``@dsl.component(additional_funcs=...)``: each is a
plain ``def`` that imports what it needs inside its body, uses no module-level names and only annotations that
resolve after ``from typing import *``. Pass :data:`REGISTRY_CLIENT_FUNCTIONS` (all of them) to
``additional_funcs``.

Typical use inside a component::

    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path)
    try:
        model = registry_call(conn, "find registered model 'x'", lambda api: api.find_registered_model(name="x"),
                              tolerate=(404,))
    finally:
        close_model_registry(conn)

Connection settings (the same in every component):

* ``registry_url``: full base URL with scheme and port, e.g.
  ``https://model-registry-service.kubeflow.svc.cluster.local:8443``; when empty, the environment variable
  ``KML_REGISTRY_URL``.
* Token: the environment variable ``KML_REGISTRY_TOKEN`` (filled from a Kubernetes Secret by the pipeline
  entry points), else the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (as the official client does), else the
  pod's service-account token -- the latter only for ``https`` URLs, so it never travels in clear text.
* ``verify_tls`` (default True) and ``ca_bundle_path`` (a PEM bundle) for ``https``.
* Retries: transient failures (connection errors, timeouts, HTTP 5xx and 429) are retried with bounded
  exponential backoff; ``KML_REGISTRY_MAX_ATTEMPTS`` (default 5), ``KML_REGISTRY_BACKOFF_SECONDS`` (first delay,
  default 1, doubling up to 10) and ``KML_REGISTRY_TIMEOUT_SECONDS`` (per request, default 30) tune it.

The token is never logged, returned or put in an error message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any


def resolve_registry_url(registry_url: str = "", env: Mapping[str, str] | None = None) -> str:
    """The registry base URL: the parameter, else the ``KML_REGISTRY_URL`` environment variable.

    Args:
        registry_url: The component's ``registry_url`` input (may be empty).
        env: Environment to read (default ``os.environ``).

    Returns:
        The URL, stripped of surrounding white space.

    Raises:
        ValueError: When neither is set.
    """
    import os

    env = os.environ if env is None else env
    url = (registry_url or "").strip() or (env.get("KML_REGISTRY_URL") or "").strip()
    if not url:
        raise ValueError(
            "no Model Registry address: set the registry_url input to the registry's base URL with scheme and port,"
            " e.g. 'http://model-registry-service.kubeflow.svc.cluster.local:8080' (or 'https://...:8443'),"
            " or set the environment variable KML_REGISTRY_URL in the pod"
        )
    return url


def parse_registry_url(registry_url: str) -> dict[str, Any]:
    """Check a registry base URL and split it into the parts the client needs.

    Args:
        registry_url: e.g. ``https://model-registry-service.kubeflow.svc.cluster.local:8443``. A trailing ``/`` or
            the API base path ``/api/model_registry/v1`` is accepted and dropped.

    Returns:
        ``scheme``, ``host``, ``port`` (the URL's port, else 80 for http and 443 for https), ``server_address``
        (``scheme://host``, the form ``ModelRegistry(server_address=...)`` takes) and ``url``
        (``scheme://host:port``, the canonical base URL).

    Raises:
        ValueError: For a missing or unsupported scheme, credentials, a path, query or fragment, or a bad port;
            the message shows the corrected URL where one can be guessed.
    """
    from urllib.parse import urlsplit

    raw = (registry_url or "").strip()
    if "://" not in raw:
        guess = raw.lstrip("/")
        port_text = guess.rsplit(":", 1)[-1].split("/")[0] if ":" in guess else ""
        scheme = "https" if port_text in ("443", "8443") else "http"
        raise ValueError(
            f"registry_url {raw!r} has no scheme: write it as '{scheme}://{guess}'"
            " (http for the registry's plain REST port, usually 8080; https for its TLS port, usually 8443)"
        )
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    rest = raw.split("://", 1)[1]
    if scheme not in ("http", "https"):
        scheme_hint = "https" if parts.port in (443, 8443) else "http"
        raise ValueError(
            f"registry_url {raw!r} uses the unsupported scheme {parts.scheme!r}: the Model Registry REST API needs"
            f" http:// or https://, e.g. '{scheme_hint}://{rest}'"
        )
    if parts.username or parts.password:
        raise ValueError(
            "registry_url must not contain credentials (user:password@): remove them and provide a token through"
            " a Kubernetes Secret (token_secret_name) instead"
        )
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"registry_url {raw!r} has no host name: e.g. '{scheme}://model-registry-service:8080'")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"registry_url {raw!r} has an invalid port: expected a number from 1 to 65535") from None
    if port is None:
        port = 443 if scheme == "https" else 80
    host_in_url = f"[{host}]" if ":" in host else host
    canonical = f"{scheme}://{host_in_url}:{port}"
    path = parts.path.rstrip("/")
    if path in ("", "/api/model_registry/v1"):
        path = ""
    if path or parts.query or parts.fragment:
        raise ValueError(
            f"registry_url {raw!r} has a path, query or fragment: give only scheme, host and port, e.g. '{canonical}'"
            " (the client adds /api/model_registry/v1 itself)"
        )
    return {
        "scheme": scheme,
        "host": host,
        "port": port,
        "server_address": f"{scheme}://{host_in_url}",
        "url": canonical,
    }


def resolve_registry_token(
    scheme: str,
    env: Mapping[str, str] | None = None,
    sa_token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token",  # noqa: S107 - a path
) -> tuple[str | None, str]:
    """Find the bearer token for the registry, and say where it came from (never the token itself).

    Order: the environment variable ``KML_REGISTRY_TOKEN`` (set from a Secret by the pipeline entry points);
    else the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (the official client's variable: an explicit choice,
    used for any scheme); else the pod's service-account token file, for ``https`` only.

    Args:
        scheme: ``http`` or ``https``.
        env: Environment to read (default ``os.environ``).
        sa_token_path: The service-account token file.

    Returns:
        ``(token or None, description of the source)``.

    Raises:
        FileNotFoundError: When ``KF_PIPELINES_SA_TOKEN_PATH`` names a file that cannot be read.
    """
    import os

    env = os.environ if env is None else env
    token = (env.get("KML_REGISTRY_TOKEN") or "").strip()
    if token:
        return token, "the environment variable KML_REGISTRY_TOKEN"
    explicit_path = (env.get("KF_PIPELINES_SA_TOKEN_PATH") or "").strip()
    if explicit_path:
        try:
            with open(explicit_path, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise FileNotFoundError(
                f"KF_PIPELINES_SA_TOKEN_PATH names {explicit_path!r}, which cannot be read ({exc.strerror}):"
                " mount the token there or unset the variable"
            ) from None
        if token:
            return token, f"the file {explicit_path} (KF_PIPELINES_SA_TOKEN_PATH)"
    if scheme == "https" and sa_token_path and os.path.isfile(sa_token_path):
        try:
            with open(sa_token_path, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError:
            token = ""
        if token:
            return token, "the pod's service-account token"
    if scheme != "https" and sa_token_path and os.path.isfile(sa_token_path):
        return None, "none (the service-account token is only sent over https)"
    return None, "none"


def registry_retry_policy(env: Mapping[str, str] | None = None) -> dict[str, float]:
    """Retry and timeout settings, from the environment or defaults.

    Args:
        env: Environment to read (default ``os.environ``): ``KML_REGISTRY_MAX_ATTEMPTS`` (default 5),
            ``KML_REGISTRY_BACKOFF_SECONDS`` (first delay, default 1.0; doubles each attempt up to 10 times it,
            at most 60 s), ``KML_REGISTRY_TIMEOUT_SECONDS`` (per request, default 30).

    Returns:
        ``max_attempts``, ``base_delay``, ``max_delay`` and ``timeout``.

    Raises:
        ValueError: When a variable is not a positive number.
    """
    import os

    env = os.environ if env is None else env

    def number(name: str, default: float, minimum: float) -> float:
        text = (env.get(name) or "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"environment variable {name}={text!r} is not a number") from None
        if value < minimum:
            raise ValueError(f"environment variable {name}={text!r} must be at least {minimum}")
        return value

    attempts = int(number("KML_REGISTRY_MAX_ATTEMPTS", 5, 1))
    base = number("KML_REGISTRY_BACKOFF_SECONDS", 1.0, 0)
    timeout = number("KML_REGISTRY_TIMEOUT_SECONDS", 30.0, 0.1)
    return {"max_attempts": attempts, "base_delay": base, "max_delay": min(60.0, base * 10), "timeout": timeout}


def is_transient_registry_error(exc: BaseException) -> bool:
    """Whether a failed registry call is worth retrying.

    Transient: connection refused/reset/closed, DNS failures, timeouts, HTTP 5xx and 429. Not transient: TLS
    certificate or protocol errors (retrying cannot fix a wrong CA or scheme) and all other HTTP statuses.

    Args:
        exc: The exception raised by the call.

    Returns:
        True when the call should be retried.
    """
    import asyncio
    import ssl

    status = getattr(exc, "status", None)
    if isinstance(status, int) and (status == 429 or 500 <= status <= 599):
        return True
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and not any(cause is s for s in seen):
        if isinstance(cause, (ssl.SSLError, ssl.CertificateError)):
            return False
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientSSLError):
            return False
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            return True
    except ImportError:  # pragma: no cover - aiohttp comes with model-registry
        pass
    return isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError))


def registry_error_detail(exc: BaseException) -> str:
    """A short description of a failed call: HTTP status and the server's message, or the network error.

    Args:
        exc: The exception raised by the call.

    Returns:
        e.g. ``HTTP 409: a model version named '1.0.0' already exists`` or
        ``ClientConnectorError: Cannot connect to host 127.0.0.1:1 ...``.
    """
    import json

    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        body = getattr(exc, "body", None)
        message = ""
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str) and body.strip():
            try:
                decoded = json.loads(body)
                message = str(decoded.get("message") or "") if isinstance(decoded, dict) else ""
            except ValueError:
                message = body.strip()
        message = message or str(getattr(exc, "reason", "") or "")
        return f"HTTP {status}: {message[:500]}" if message else f"HTTP {status}"
    text = str(exc).strip()
    if not text and isinstance(exc, TimeoutError):
        text = "no answer in time (KML_REGISTRY_TIMEOUT_SECONDS)"
    return f"{type(exc).__name__}: {(text or repr(exc))[:500]}"


def describe_registry_error(exc: BaseException, url: str, action: str, attempts: int = 1) -> Exception:
    """Turn a failed registry call into one exception whose message names the problem and the fix.

    Args:
        exc: The exception raised by the call (after retries, when it was transient).
        url: The registry base URL (no credentials in it).
        action: What was attempted, e.g. ``"create model version '1.0.1' of 'iris'"``.
        attempts: How many attempts were made.

    Returns:
        ``PermissionError`` (401/403), ``ValueError`` (400/422: bad input), ``ConnectionError`` (unreachable,
        wrong scheme, TLS, or transient errors that did not go away) or ``RuntimeError`` (anything else).
    """
    import ssl

    detail = registry_error_detail(exc)
    status = getattr(exc, "status", None)
    tried = f" (after {attempts} attempts)" if attempts > 1 else ""
    head = f"Model Registry at {url}: could not {action}{tried}: {detail}."
    if status == 401:
        return PermissionError(
            f"{head} The registry rejected the credentials (401 Unauthorized). Fix: provide a valid bearer token"
            " -- put it in a Kubernetes Secret and pass token_secret_name/token_secret_key to the pipeline entry"
            " point (it becomes the environment variable KML_REGISTRY_TOKEN), or run the pipeline with a service"
            " account the registry accepts (its token is sent automatically over https)."
        )
    if status == 403:
        return PermissionError(
            f"{head} The token was accepted but lacks permission (403 Forbidden). Fix: grant the pipeline's"
            " service account access to this Model Registry (e.g. a RoleBinding to the registry's user role in the"
            " registry's namespace), or use a token from a Secret that has it."
        )
    if status in (400, 422):
        if "HTTP request to an HTTPS server" in detail or "plain HTTP request was sent to HTTPS" in detail:
            return ConnectionError(
                f"{head} The server speaks TLS on this port. Fix: use https:// in registry_url"
                f" ({url.replace('http://', 'https://', 1)})."
            )
        return ValueError(f"{head} Fix the value named in the message (names, versions and properties you passed).")
    if status == 404 and action.startswith("reach"):
        return ConnectionError(
            f"{head} Something answers at this address, but not the Model Registry REST API v1 under"
            " /api/model_registry/v1. Fix: point registry_url at the registry's REST service (scheme, host and"
            " port only, e.g. http://model-registry-service.kubeflow.svc.cluster.local:8080)."
        )
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and not any(cause is c for c in chain):
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in chain) or "CERTIFICATE_VERIFY_FAILED" in detail:
        return ConnectionError(
            f"{head} The server's TLS certificate could not be verified. Fix: set ca_bundle_path to a PEM file with"
            " the CA that signed it (e.g. a ConfigMap mounted into the pod), or -- only for testing --"
            " verify_tls=False."
        )
    if "WRONG_VERSION_NUMBER" in detail or "wrong version number" in detail or "record layer" in detail:
        return ConnectionError(
            f"{head} The server does not speak TLS on this port. Fix: use http:// in registry_url"
            f" ({url.replace('https://', 'http://', 1)}), or the registry's TLS port."
        )
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return ConnectionError(f"{head} TLS handshake failed. Fix: check the scheme, port and ca_bundle_path.")
    if is_transient_registry_error(exc):
        if isinstance(status, int):
            return ConnectionError(
                f"{head} The registry kept failing with a temporary error. Fix: check the registry's health"
                " (its pods and database), then re-run; KML_REGISTRY_MAX_ATTEMPTS raises the number of attempts."
            )
        scheme_hint = ""
        if url.startswith("http://") and url.rsplit(":", 1)[-1] in ("443", "8443"):
            scheme_hint = f" Port {url.rsplit(':', 1)[-1]} is usually TLS: try {url.replace('http://', 'https://')}."
        return ConnectionError(
            f"{head} The registry is unreachable. Fix: check registry_url (host and port: the Kubeflow Model"
            " Registry REST service listens on 8080 for http and 8443 for https, e.g."
            " http://model-registry-service.kubeflow.svc.cluster.local:8080), that the registry is running, and"
            f" that network policies let this pod reach it.{scheme_hint}"
        )
    return RuntimeError(head)


def make_registry_async_runner(timeout_seconds: float, loop: Any = None) -> Callable[[Any], Any]:
    """An ``async_runner`` for ``ModelRegistry``: runs one coroutine to completion, with a timeout.

    Args:
        timeout_seconds: Time limit for one coroutine (one API call, including connecting).
        loop: The event loop to run on (one per connection, so HTTP sessions and TLS settings are reused);
            None runs each coroutine on a fresh loop. Either way asyncio is not patched (no ``nest_asyncio``),
            so connections work from threads and processes.

    Returns:
        A function ``run(coroutine) -> result``.
    """

    def run_registry_coroutine(coroutine: Any) -> Any:
        import asyncio

        if loop is None:
            return asyncio.run(asyncio.wait_for(coroutine, timeout_seconds))
        return loop.run_until_complete(asyncio.wait_for(coroutine, timeout_seconds))

    return run_registry_coroutine


def call_with_backoff(
    operation: Callable[[], Any],
    *,
    max_attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 10.0,
    is_transient: Callable[[BaseException], bool] | None = None,
    describe: Callable[[BaseException], str] | None = None,
) -> tuple[Any, int]:
    """Call ``operation`` until it succeeds, retrying transient failures with bounded exponential backoff.

    The delay before attempt ``n + 1`` is ``min(max_delay, base_delay * 2 ** (n - 1))`` scaled by a random
    factor in [0.5, 1] (jitter spreads out concurrent clients); a ``Retry-After`` header in seconds is honoured
    up to ``max_delay``.

    Args:
        operation: The call (no arguments).
        max_attempts: Attempts in total (at least 1).
        base_delay: First delay in seconds.
        max_delay: Largest delay in seconds.
        is_transient: Decides whether an exception is retried (default :func:`is_transient_registry_error`).
        describe: Short text for the log line of a retried failure (default :func:`registry_error_detail`).

    Returns:
        ``(result, attempts used)``.

    Raises:
        BaseException: The last exception, unchanged, when it is not transient or attempts ran out; its
            ``kml_attempts`` attribute holds the number of attempts made.
    """
    import contextlib
    import logging
    import random
    import time

    log = logging.getLogger("kfp_model_lifecycle")
    is_transient = is_transient or is_transient_registry_error
    describe = describe or registry_error_detail
    attempts = max(1, int(max_attempts))
    for attempt in range(1, attempts + 1):
        try:
            return operation(), attempt
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                with contextlib.suppress(AttributeError):  # exceptions with __slots__
                    exc.kml_attempts = attempt  # type: ignore[attr-defined]
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            headers = getattr(exc, "headers", None)
            retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
            if retry_after and str(retry_after).strip().isdigit():
                delay = min(max_delay, max(delay, float(str(retry_after).strip())))
            log.warning(
                "transient failure (attempt %d of %d): %s; retrying in %.1fs", attempt, attempts, describe(exc), delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def registry_call(
    conn: dict[str, Any],
    action: str,
    operation: Callable[[Any], Awaitable[Any]],
    *,
    tolerate: tuple[int, ...] = (),
) -> dict[str, Any] | None:
    """Run one operation of the registry's REST API with retries, returning the response as a plain dict.

    Args:
        conn: From :func:`connect_model_registry`.
        action: What the call does, for messages, e.g. ``"find model version by externalId 'kfp:...'"``.
        operation: ``lambda api: api.<operation>(...)`` on the generated
            ``mr_openapi.ModelRegistryServiceApi`` (the official client's low-level API; all 40 operations),
            ``conn["api"]``.
        tolerate: HTTP statuses that are expected answers rather than errors (e.g. ``(404,)`` for a find,
            ``(409,)`` for a create that may race); for those the call returns None.

    Returns:
        The response body in wire form (camelCase keys, ids as strings), or None for a tolerated status.

    Raises:
        PermissionError, ValueError, ConnectionError, RuntimeError: See :func:`describe_registry_error`.
    """
    import json

    client = conn["client"]
    policy = conn["policy"]

    def attempt() -> Any:
        return client.async_runner(operation(conn["api"]))

    try:
        result, _ = call_with_backoff(
            attempt,
            max_attempts=int(policy["max_attempts"]),
            base_delay=float(policy["base_delay"]),
            max_delay=float(policy["max_delay"]),
        )
    except Exception as exc:
        if getattr(exc, "status", None) in tolerate:
            return None
        raise describe_registry_error(exc, conn["url"], action, getattr(exc, "kml_attempts", 1)) from None
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
    author: str = "kfp-model-lifecycle",
    env: Mapping[str, str] | None = None,
    sa_token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token",  # noqa: S107 - a path
    probe: bool = True,
) -> dict[str, Any]:
    """Connect to the Model Registry with the official client and check that it answers.

    Builds a ``model_registry.ModelRegistry`` whose connection is set exactly from our inputs: the token from
    :func:`resolve_registry_token`, TLS verification independent of the token (``verify_tls``,
    ``ca_bundle_path``), and an async runner with a per-request timeout. The client's own constructor is not
    used because in model-registry 0.3.18 it reads the service-account token for plain-http addresses too,
    refuses https without a token, and probes the server once with neither timeout nor retry; instead the same
    probe (``GET /registered_models?pageSize=1``) runs here through :func:`registry_call`. The instance is a
    normal ``ModelRegistry``: its high-level methods (``get_model_version``...) work.

    Args:
        registry_url: Base URL with scheme and port; empty means the ``KML_REGISTRY_URL`` environment variable.
        verify_tls: Verify the server certificate for https (default True).
        ca_bundle_path: PEM file with the CA(s) to trust for https; empty for the system CAs.
        author: Default author recorded by the client's high-level methods.
        env: Environment to read (default ``os.environ``).
        sa_token_path: The service-account token file.
        probe: Check that the registry answers (with retries) before returning.

    Returns:
        A connection: ``client`` (the ``ModelRegistry``), ``api`` (its generated low-level API, one HTTP session
        for all calls), ``url`` (canonical base URL), ``token_source`` (where the token came from, never the
        token), ``policy`` (retry settings), ``loop`` and ``api_client``. Close it with
        :func:`close_model_registry`.

    Raises:
        ValueError: For a bad ``registry_url``, retry settings or CA bundle.
        FileNotFoundError: When ``ca_bundle_path`` or ``KF_PIPELINES_SA_TOKEN_PATH`` cannot be read.
        PermissionError, ConnectionError, RuntimeError: When the probe fails (see
            :func:`describe_registry_error`).
    """
    import asyncio
    import logging
    import os
    import ssl

    from model_registry import ModelRegistry
    from model_registry.core import ModelRegistryAPIClient
    from mr_openapi import ApiClient, Configuration, ModelRegistryServiceApi

    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    parts = parse_registry_url(resolve_registry_url(registry_url, env))
    token, token_source = resolve_registry_token(parts["scheme"], env, sa_token_path)
    policy = registry_retry_policy(env)
    ca_bundle_path = (ca_bundle_path or "").strip()
    if ca_bundle_path and not os.path.isfile(ca_bundle_path):
        raise FileNotFoundError(
            f"ca_bundle_path {ca_bundle_path!r} is not a readable file: mount the CA bundle (PEM) into the pod, e.g."
            " from a ConfigMap with kfp.kubernetes.use_config_map_as_volume, and pass its path"
        )
    if parts["scheme"] == "http":
        if ca_bundle_path or not verify_tls:
            log.info("registry_url uses http: ca_bundle_path and verify_tls do not apply")
        if token:
            log.warning("sending the registry token over plain http to %s: prefer an https address", parts["url"])
    elif not verify_tls:
        log.warning("TLS certificate verification is OFF for %s (verify_tls=False): use only for testing", parts["url"])

    config = Configuration(
        host=parts["url"],
        access_token=token,
        ssl_ca_cert=ca_bundle_path or None,
        verify_ssl=bool(verify_tls) if parts["scheme"] == "https" else False,
    )
    try:
        api_client = ApiClient(config)  # loads the CA bundle
    except ssl.SSLError as exc:
        raise ValueError(
            f"ca_bundle_path {ca_bundle_path!r} is not a usable PEM CA bundle ({exc.reason or exc}): pass the PEM"
            " file of the CA that signed the registry's certificate"
        ) from None
    loop = asyncio.new_event_loop()
    client = ModelRegistry.__new__(ModelRegistry)
    client._author = author
    client._user_async_runner = make_registry_async_runner(float(policy["timeout"]), loop)
    client._api = ModelRegistryAPIClient(config)
    conn = {
        "client": client,
        "api": ModelRegistryServiceApi(api_client),
        "url": parts["url"],
        "token_source": token_source,
        "policy": policy,
        "loop": loop,
        "api_client": api_client,
    }
    log.info("Model Registry %s (token: %s)", parts["url"], token_source)
    if probe:
        try:
            registry_call(conn, "reach the registry", lambda api: api.get_registered_models(page_size="1"))
        except BaseException:
            close_model_registry(conn)
            raise
    return conn


def close_model_registry(conn: dict[str, Any]) -> None:
    """Close a connection from :func:`connect_model_registry` (its HTTP session and event loop).

    Args:
        conn: The connection; closing twice is harmless.
    """
    loop = conn.get("loop")
    if loop is None or loop.is_closed():
        return
    try:
        loop.run_until_complete(conn["api_client"].close())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def component_log(component_name: str) -> Any:
    """A context manager that shows the helpers' log lines in the component's log as ``[name] LEVEL message``.

    Every component body runs its job inside it: the ``kfp_model_lifecycle`` logger writes to stdout at INFO with
    the component's name as prefix, and is restored afterwards (also when the job fails).

    Args:
        component_name: Prefix of the log lines, e.g. ``register_model``.

    Returns:
        A context manager whose value is the logger.
    """
    import contextlib
    import logging
    import sys

    @contextlib.contextmanager
    def scope() -> Any:
        log = logging.getLogger("kfp_model_lifecycle")
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(f"[{component_name}] %(levelname)s %(message)s"))
        level, propagate = log.level, log.propagate
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        try:
            yield log
        finally:
            log.removeHandler(handler)
            log.setLevel(level)
            log.propagate = propagate

    return scope()


REGISTRY_CLIENT_FUNCTIONS = [
    component_log,
    resolve_registry_url,
    parse_registry_url,
    resolve_registry_token,
    registry_retry_policy,
    is_transient_registry_error,
    registry_error_detail,
    describe_registry_error,
    make_registry_async_runner,
    call_with_backoff,
    registry_call,
    connect_model_registry,
    close_model_registry,
]
"""Every pod helper of this module, for ``@dsl.component(additional_funcs=...)``."""
