"""Where the Model Registry is and how to talk to it: base URL, token, retry and timeout settings.

Connection settings are the same in every component, the CLI and the Python API:

* ``registry_url``: full base URL with scheme and port, e.g.
  ``https://model-registry-service.kubeflow.svc.cluster.local:8443``; when empty, the environment variable
  ``KML_REGISTRY_URL``.
* Token: the environment variable ``KML_REGISTRY_TOKEN`` (filled from a Kubernetes Secret by the pipeline
  entry points), else the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (as the official client does), else the
  pod's service-account token -- the latter only for ``https`` URLs, so it never travels in clear text, unless
  ``KML_REGISTRY_SEND_SA_TOKEN=true`` opts in to sending it over an in-cluster ``http`` route (the Istio ingress
  gateway of a Kubeflow cluster, which admits pipeline pods only with a bearer token). When the entry points
  mounted a token Secret (``KML_REGISTRY_TOKEN_SECRET`` names it) but the pod has no token, a KFP pod fails at once
  with a message naming the Secret and key (the Secret is mounted as optional, so a missing one does not leave the
  pod hanging in ``CreateContainerConfigError``).
* Retries: transient failures (connection errors, timeouts, HTTP 5xx and 429) are retried with bounded
  exponential backoff; ``KML_REGISTRY_MAX_ATTEMPTS`` (default 5), ``KML_REGISTRY_BACKOFF_SECONDS`` (first delay,
  default 1, doubling up to 10 times it) and ``KML_REGISTRY_TIMEOUT_SECONDS`` (per request, default 30) tune it.

The token is never logged, returned or put in an error message: functions here return where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from kfp_model_lifecycle.errors import RegistryTokenMissingError

URL_ENV = "KML_REGISTRY_URL"
TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
TOKEN_PATH_ENV = "KF_PIPELINES_SA_TOKEN_PATH"  # noqa: S105 - the official client's variable name
MAX_ATTEMPTS_ENV = "KML_REGISTRY_MAX_ATTEMPTS"
BACKOFF_ENV = "KML_REGISTRY_BACKOFF_SECONDS"
TIMEOUT_ENV = "KML_REGISTRY_TIMEOUT_SECONDS"
SEND_SA_TOKEN_ENV = "KML_REGISTRY_SEND_SA_TOKEN"  # noqa: S105 - the variable's name
TOKEN_SECRET_ENV = "KML_REGISTRY_TOKEN_SECRET"  # noqa: S105 - the variable's name
TOKEN_SECRET_KEY_ENV = "KML_REGISTRY_TOKEN_SECRET_KEY"  # noqa: S105 - the variable's name
KFP_POD_ENV = "KFP_POD_NAME"
TRUE_TEXTS = ("1", "true", "yes", "on")
# KML_REGISTRY_TOKEN_SECRET when the Secret's name is a pipeline parameter (known only when the run starts)
SECRET_PARAMETER_PREFIX = "pipeline parameter "  # noqa: S105 - not a secret
SA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
API_BASE_PATH = "/api/model_registry/v1"
DEFAULT_PORTS = {"http": 80, "https": 443}
TLS_PORTS = (443, 8443)


@dataclass(frozen=True)
class RegistryAddress:
    """A checked registry base URL, split into the parts the clients need.

    Attributes:
        scheme: ``http`` or ``https``.
        host: Host name or IP address (without brackets).
        port: The URL's port, else 80 for http and 443 for https.
    """

    scheme: str
    host: str
    port: int

    @property
    def server_address(self) -> str:
        """``scheme://host``: the form ``ModelRegistry(server_address=...)`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}"

    @property
    def url(self) -> str:
        """The canonical base URL ``scheme://host:port``."""
        return f"{self.server_address}:{self.port}"

    @property
    def is_secure(self) -> bool:
        """Whether the scheme is https."""
        return self.scheme == "https"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry and timeout settings of registry calls.

    Attributes:
        max_attempts: Attempts in total for a transient failure (at least 1).
        base_delay: First delay in seconds; it doubles each attempt.
        max_delay: Largest delay in seconds.
        timeout: Seconds per request, connecting included.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 10.0
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetryPolicy:
        """The policy from ``KML_REGISTRY_MAX_ATTEMPTS``, ``KML_REGISTRY_BACKOFF_SECONDS`` and ``..._TIMEOUT_SECONDS``.

        Args:
            env: Environment to read (default ``os.environ``).

        Returns:
            The policy; the largest delay is ten times the first, at most 60 s.

        Raises:
            ValueError: When a variable is not a number or below its minimum.
        """
        env = os.environ if env is None else env
        attempts = int(_number(env, MAX_ATTEMPTS_ENV, 5, 1))
        base = _number(env, BACKOFF_ENV, 1.0, 0)
        timeout = _number(env, TIMEOUT_ENV, 30.0, 0.1)
        return cls(max_attempts=attempts, base_delay=base, max_delay=min(60.0, base * 10), timeout=timeout)


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
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
    env = os.environ if env is None else env
    url = (registry_url or "").strip() or (env.get(URL_ENV) or "").strip()
    if not url:
        raise ValueError(
            "no Model Registry address: set the registry_url input to the registry's base URL with scheme and port,"
            " e.g. 'http://model-registry-service.kubeflow.svc.cluster.local:8080' (or 'https://...:8443'),"
            f" or set the environment variable {URL_ENV} in the pod"
        )
    return url


def parse_registry_url(registry_url: str) -> RegistryAddress:
    """Check a registry base URL and split it into scheme, host and port.

    Args:
        registry_url: e.g. ``https://model-registry-service.kubeflow.svc.cluster.local:8443``. A trailing ``/`` or
            the API base path ``/api/model_registry/v1`` is accepted and dropped.

    Returns:
        The address.

    Raises:
        ValueError: For a missing or unsupported scheme, credentials, a path, query or fragment, or a bad port;
            the message shows the corrected URL where one can be guessed.
    """
    raw = (registry_url or "").strip()
    if "://" not in raw:
        guess = raw.lstrip("/")
        port_text = guess.rsplit(":", 1)[-1].split("/")[0] if ":" in guess else ""
        scheme = "https" if port_text in {str(p) for p in TLS_PORTS} else "http"
        raise ValueError(
            f"registry_url {raw!r} has no scheme: write it as '{scheme}://{guess}'"
            " (http for the registry's plain REST port, usually 8080; https for its TLS port, usually 8443)"
        )
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    _check_scheme_and_credentials(raw, parts.scheme, parts)
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"registry_url {raw!r} has no host name: e.g. '{scheme}://model-registry-service:8080'")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"registry_url {raw!r} has an invalid port: expected a number from 1 to 65535") from None
    address = RegistryAddress(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme])
    path = parts.path.rstrip("/")
    if path not in ("", API_BASE_PATH) or parts.query or parts.fragment:
        raise ValueError(
            f"registry_url {raw!r} has a path, query or fragment: give only scheme, host and port, e.g."
            f" '{address.url}' (the client adds {API_BASE_PATH} itself)"
        )
    return address


def _check_scheme_and_credentials(raw: str, scheme: str, parts: SplitResult) -> None:
    if scheme.lower() not in DEFAULT_PORTS:
        try:
            port = parts.port
        except ValueError:
            port = None
        scheme_hint = "https" if port in TLS_PORTS else "http"
        rest = raw.split("://", 1)[1]
        raise ValueError(
            f"registry_url {raw!r} uses the unsupported scheme {scheme!r}: the Model Registry REST API needs"
            f" http:// or https://, e.g. '{scheme_hint}://{rest}'"
        )
    if parts.username or parts.password:
        raise ValueError(
            "registry_url must not contain credentials (user:password@): remove them and provide a token through"
            " a Kubernetes Secret (token_secret_name) instead"
        )


def resolve_registry_token(
    scheme: str, env: Mapping[str, str] | None = None, sa_token_path: str = SA_TOKEN_PATH
) -> tuple[str | None, str]:
    """Find the bearer token for the registry, and say where it came from (never the token itself).

    Order: the environment variable ``KML_REGISTRY_TOKEN`` (set from a Secret by the pipeline entry points);
    else the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (the official client's variable: an explicit choice,
    used for any scheme); else the pod's service-account token file, for ``https`` -- and for ``http`` only when
    ``KML_REGISTRY_SEND_SA_TOKEN`` is true (an in-cluster route such as the Istio ingress gateway).

    Args:
        scheme: ``http`` or ``https``.
        env: Environment to read (default ``os.environ``).
        sa_token_path: The service-account token file.

    Returns:
        ``(token or None, description of the source)``.

    Raises:
        FileNotFoundError: When ``KF_PIPELINES_SA_TOKEN_PATH`` names a file that cannot be read.
        RegistryTokenMissingError: In a KFP pod whose token Secret (``KML_REGISTRY_TOKEN_SECRET``, set by the
            entry points' ``token_secret_name``) did not provide a token: the Secret or key is missing or empty.
        ValueError: When ``KML_REGISTRY_SEND_SA_TOKEN`` is not a boolean.
    """
    env = os.environ if env is None else env
    token = (env.get(TOKEN_ENV) or "").strip()
    if token:
        return token, f"the environment variable {TOKEN_ENV}"
    check_token_secret(env)
    explicit_path = (env.get(TOKEN_PATH_ENV) or "").strip()
    if explicit_path:
        try:
            token = _read_text(explicit_path)
        except OSError as exc:
            raise FileNotFoundError(
                f"{TOKEN_PATH_ENV} names {explicit_path!r}, which cannot be read ({exc.strerror}):"
                " mount the token there or unset the variable"
            ) from None
        if token:
            return token, f"the file {explicit_path} ({TOKEN_PATH_ENV})"
    return _service_account_token(scheme, env, sa_token_path)


def _service_account_token(scheme: str, env: Mapping[str, str], sa_token_path: str) -> tuple[str | None, str]:
    """The pod's service-account token for https, or for http when ``KML_REGISTRY_SEND_SA_TOKEN`` opts in."""
    has_sa_token = bool(sa_token_path) and os.path.isfile(sa_token_path)
    opted_in = send_sa_token_over_http(env)
    if has_sa_token and (scheme == "https" or opted_in):
        try:
            token = _read_text(sa_token_path)
        except OSError:
            token = ""
        if token:
            if scheme == "https":
                return token, "the pod's service-account token"
            return token, f"the pod's service-account token (over http: {SEND_SA_TOKEN_ENV}=true)"
    if scheme != "https" and has_sa_token:
        return None, (
            f"none (the service-account token is only sent over https, or over http with {SEND_SA_TOKEN_ENV}=true)"
        )
    return None, "none"


def send_sa_token_over_http(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``KML_REGISTRY_SEND_SA_TOKEN`` opts in to sending the service-account token over plain http.

    Args:
        env: Environment to read (default ``os.environ``).

    Returns:
        True for ``true``/``1``/``yes``/``on`` (any case); False when unset or ``false``/``0``/``no``/``off``.

    Raises:
        ValueError: For any other value.
    """
    env = os.environ if env is None else env
    text = (env.get(SEND_SA_TOKEN_ENV) or "").strip().lower()
    if text in TRUE_TEXTS:
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {SEND_SA_TOKEN_ENV}={text!r} is not a boolean: use 'true' or 'false'")


def check_token_secret(env: Mapping[str, str] | None = None) -> None:
    """Fail fast in a KFP pod whose registry token Secret was configured but gave no token.

    The pipeline entry points mount the Secret as optional (so a missing Secret does not leave the pod in
    ``CreateContainerConfigError`` and the run hanging) and name it in ``KML_REGISTRY_TOKEN_SECRET`` /
    ``KML_REGISTRY_TOKEN_SECRET_KEY``. Local runs (no ``KFP_POD_NAME``) never mount Secrets: there the other
    token sources are used.

    Args:
        env: Environment to read (default ``os.environ``).

    Raises:
        RegistryTokenMissingError: When a Secret was configured, ``KML_REGISTRY_TOKEN`` is empty and this is a
            KFP pod; the message names the Secret, the key and the fix.
    """
    env = os.environ if env is None else env
    secret = (env.get(TOKEN_SECRET_ENV) or "").strip()
    if not secret or (env.get(TOKEN_ENV) or "").strip() or not (env.get(KFP_POD_ENV) or "").strip():
        return
    key = (env.get(TOKEN_SECRET_KEY_ENV) or "").strip() or "token"
    namespace = (env.get("POD_NAMESPACE") or "").strip()
    if secret.startswith(SECRET_PARAMETER_PREFIX):
        parameter = secret[len(SECRET_PARAMETER_PREFIX) :]
        shown, name = f"named by the pipeline parameter {parameter!r}", "<secret name>"
    else:
        shown, name = repr(secret), secret
    raise RegistryTokenMissingError(
        f"no Model Registry token: the pipeline takes it from the Kubernetes Secret {shown} (key {key!r};"
        f" token_secret_name/token_secret_key), but {TOKEN_ENV} is empty in this pod: the Secret does not exist in"
        f" namespace {namespace or '(the pipeline namespace)'}, has no key {key!r}, or its value is empty. Fix:"
        f" kubectl create secret generic {name} --from-literal={key}=<token> -n {namespace or '<namespace>'}"
        " (or pass the token_secret_key the Secret uses)"
    )


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()
