"""The registry's checks: reachable, the credentials accepted, the v1 API served, writes allowed.

One GET of ``/api/model_registry/v1/registered_models?pageSize=1`` (the official client's own probe) answers the
first three. Who answered tells them apart: nothing (refused, unknown host, TLS), Istio (403 ``RBAC: access
denied``), an auth proxy (401/403), a registry that only serves the older ``v1alpha3`` API (404 there, 200 under
``/api/model_registry/v1alpha3``), another server (404 or 200 with something that is not the registry's JSON).

The write check is a dry probe that writes nothing, by construction: the registry has no DELETE, so a probe that
created something would leave it behind. Two requests that every proxy in front of the registry (Istio's
AuthorizationPolicy, kube-rbac-proxy, which maps POST to ``create`` and PATCH to ``patch``) authorizes like real
writes, and that the registry itself then refuses before touching its database:

* ``POST /registered_models`` with ``{}``: the server checks the required ``name`` first and answers 422;
* ``PATCH /registered_models/2147483647`` with ``{}`` after a GET showed that id does not exist: the server looks
  the model up first and answers 404 (ids are 32-bit; this one is the largest).

An answer in the registry's own error format (``{"code", "message"}``) with those statuses means the write reached
the registry; 401/403 means it was refused on the way. (Verified in the Go server, opendatahub-io/model-registry
``internal/server/openapi/v1``: ``RequiredError`` -> 422 before the service runs; ``UpdateRegisteredModel`` reads
the existing model first, ``GetRegisteredModelById`` -> 404.) What this cannot see: a database that refuses writes
(a read-only replica); the first real write would.
"""

from __future__ import annotations

from collections.abc import Callable

from kfp_model_lifecycle.client import RegistryConnection, describe_registry_error, registry_error_detail
from kfp_model_lifecycle.client.failures import ISTIO_DENIAL_FIX, ISTIO_DENIAL_TEXT, redact_secrets
from kfp_model_lifecycle.doctor.checklist import Check, failed, passed, skipped
from kfp_model_lifecycle.doctor.registry_http import ALPHA_BASE, API_BASE, Answer, exchange

REACHABLE = "registry reachable"
AUTH = "registry accepts the credentials"
V1_API = "registry serves the REST API v1"
WRITES = "registry allows writes"
PROBE_MODEL_ID = "2147483647"
"""The largest 32-bit id: the PATCH probe's target, checked to not exist first."""
EXAMPLE_URL = "http://model-registry-service.kubeflow.svc.cluster.local:8080"
UNAUTHORIZED_FIX = (
    "provide a token the registry (or the proxy in front of it) accepts: KML_REGISTRY_TOKEN (--token-file on the"
    " command line; token_secret_name in a pipeline, a Secret exposed as KML_REGISTRY_TOKEN), or run as a service"
    " account it accepts (its token is sent over https, and over http with KML_REGISTRY_SEND_SA_TOKEN=true)"
)
FORBIDDEN_FIX = (
    "the token was accepted but lacks permission: behind kube-rbac-proxy (OpenShift AI / ODH, port 8443) grant the"
    " service account 'get' on the registry's Service (a Role with verbs [get] on services/<registry name> and a"
    " RoleBinding in the registry's namespace), or use a token that has it"
)
WRITE_FORBIDDEN_FIX = (
    "reads are allowed but writes ({methods}) are refused on the way to the registry: behind kube-rbac-proxy the"
    " verbs follow the HTTP method (POST: create, PATCH: patch) -- grant them on services/<registry name>; behind"
    " Istio allow POST and PATCH in the AuthorizationPolicy for this caller. register/promote/approve/deploy write;"
    " only reading commands (kml models list/show/search/audit) work without writes"
)


def token_text(source: str) -> str:
    """Where the token came from, for a check's detail (never the token).

    Args:
        source: ``RegistryConnection.token_source``.

    Returns:
        e.g. ``token from the environment variable KML_REGISTRY_TOKEN`` or ``no token``.
    """
    if source.startswith("none"):
        return "no token" + source[len("none") :]
    return f"token from {source}"


def _no_answer_check(conn: RegistryConnection, answer: Answer, secrets: list[str]) -> Check:
    exc = answer.error or RuntimeError("no answer")
    detail = registry_error_detail(exc, secrets)
    message = str(describe_registry_error(exc, conn.url, "reach the registry", secrets=secrets))
    rest = message.split(f"{detail}.", 1)[-1]
    fix = (rest.split(" Fix: ", 1)[-1] if " Fix: " in rest else rest).strip() or message
    return failed(REACHABLE, f"no answer from {conn.url}: {detail}", fix)


def reachable_check(conn: RegistryConnection, answer: Answer, secrets: list[str]) -> Check:
    """Whether an HTTP server answers at the registry URL at all.

    Args:
        conn: The connection.
        answer: The answer to the v1 list probe.
        secrets: Values to keep out of messages.

    Returns:
        The check.
    """
    if answer.status is None:
        return _no_answer_check(conn, answer, secrets)
    return passed(REACHABLE, f"{conn.url} answers (HTTP {answer.status} to GET {API_BASE}/registered_models)")


def _is_istio(answer: Answer) -> bool:
    return answer.status == 403 and answer.body.strip().lower().startswith(ISTIO_DENIAL_TEXT)


def auth_check(conn: RegistryConnection, answer: Answer, secrets: list[str]) -> Check:
    """Whether the registry (or the proxy in front of it) accepts the credentials.

    Args:
        conn: The connection.
        answer: The answer to the v1 list probe.
        secrets: Values to keep out of messages.

    Returns:
        The check: failed on 401 and 403 (Istio's ``RBAC: access denied`` explained), skipped when nothing or
        another server answered.
    """
    token = token_text(conn.token_source)
    said = redact_secrets(answer.message, secrets)
    if answer.status is None:
        return skipped(AUTH, "not checked: nothing answered", "fix the registry address first")
    if answer.status == 401:
        return failed(AUTH, f"HTTP 401 Unauthorized ({token}): {said}", UNAUTHORIZED_FIX)
    if _is_istio(answer):
        return failed(
            AUTH,
            f"HTTP 403 '{ISTIO_DENIAL_TEXT}' from Istio's AuthorizationPolicy, not from the registry ({token})",
            ISTIO_DENIAL_FIX,
        )
    if answer.status == 403:
        return failed(AUTH, f"HTTP 403 Forbidden ({token}): {said}", FORBIDDEN_FIX)
    if 200 <= answer.status < 300:
        return passed(AUTH, f"accepted ({token})")
    return skipped(AUTH, f"not checked: HTTP {answer.status} is not the registry's answer", "see the v1 API check")


def _looks_like_list(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("items"), list) and "size" in data


def v1_api_check(conn: RegistryConnection, answer: Answer) -> Check:
    """Whether the answer to the v1 list probe is the Model Registry's REST API v1.

    Args:
        conn: The connection (asked again under ``/api/model_registry/v1alpha3`` after a 404).
        answer: The answer to the v1 list probe.

    Returns:
        The check.
    """
    status = answer.status
    if status is None or status in (401, 403):
        return skipped(V1_API, "not checked: the request did not get through", "fix the checks above first")
    if 200 <= status < 300:
        if _looks_like_list(answer.json):
            return passed(V1_API, f"GET {API_BASE}/registered_models answers the registry's list")
        kind = answer.content_type or "no content type"
        return failed(
            V1_API,
            f"HTTP {status} with something that is not the registry's JSON ({kind}): another server answers",
            f"point registry_url at the Model Registry's REST service (scheme, host and port), e.g. {EXAMPLE_URL}",
        )
    if status == 404:
        return _after_404(conn, answer)
    return failed(
        V1_API,
        f"HTTP {status} to GET {API_BASE}/registered_models: {answer.message}",
        "check the registry's health (its pods and database) and the address, then run again",
    )


def _after_404(conn: RegistryConnection, answer: Answer) -> Check:
    alpha = exchange(conn, "GET", f"{ALPHA_BASE}/registered_models", query={"pageSize": "1"})
    if alpha.status is not None and 200 <= alpha.status < 300 and _looks_like_list(alpha.json):
        return failed(
            V1_API,
            f"404 under {API_BASE}, but {ALPHA_BASE} answers: this registry only serves the older v1alpha3 API",
            "upgrade the Model Registry server to a release that serves the REST API v1 (newer releases serve both;"
            " this package speaks v1, with model-registry==0.3.18), or point registry_url at one that does",
        )
    return failed(
        V1_API,
        f"HTTP 404 to GET {API_BASE}/registered_models ({answer.message or 'no body'}): something answers here, but"
        " not the Model Registry REST API",
        f"point registry_url at the registry's REST service (scheme, host and port only), e.g. {EXAMPLE_URL}",
    )


def _write_reached(answer: Answer, expected: tuple[int, ...]) -> bool:
    return answer.status in expected and answer.registry_error


def writes_check(conn: RegistryConnection, *, enabled: bool = True) -> Check:
    """Whether writes get through to the registry, with the dry probe described in the module (writes nothing).

    Args:
        conn: The connection (after the v1 check passed).
        enabled: Run the probe (else the check is skipped and not required).

    Returns:
        The check.
    """
    if not enabled:
        return skipped(WRITES, "not checked (turned off)", required=False)
    exists = exchange(conn, "GET", f"{API_BASE}/registered_models/{PROBE_MODEL_ID}")
    if exists.status != 404:
        return skipped(WRITES, f"not checked: registered model id {PROBE_MODEL_ID} exists or cannot be read")
    probes: list[tuple[str, Callable[[], Answer], tuple[int, ...]]] = [
        ("POST", lambda: exchange(conn, "POST", f"{API_BASE}/registered_models", body={}), (400, 422)),
        ("PATCH", lambda: exchange(conn, "PATCH", f"{API_BASE}/registered_models/{PROBE_MODEL_ID}", body={}), (404,)),
    ]
    refused: list[str] = []
    for method, send, expected in probes:
        answer = send()
        if _write_reached(answer, expected):
            continue
        if answer.status in (401, 403):
            refused.append(f"{method}: HTTP {answer.status}" + (" (Istio)" if _is_istio(answer) else ""))
            continue
        return failed(
            WRITES,
            f"unexpected answer to the dry {method} probe: HTTP {answer.status} {answer.message}".strip(),
            "check that registry_url points at the Model Registry REST service and that it is healthy",
        )
    if refused:
        return failed(
            WRITES, f"writes refused ({'; '.join(refused)})", WRITE_FORBIDDEN_FIX.format(methods=", ".join(refused))
        )
    return passed(WRITES, "POST and PATCH reach the registry (dry probes the registry refused itself; nothing written)")


def registry_checks(conn: RegistryConnection, *, write_probe: bool, secrets: list[str]) -> list[Check]:
    """Every registry check, in order; a check whose premise failed is skipped.

    Args:
        conn: A connection made without the probe.
        write_probe: Run the write check.
        secrets: Values to keep out of messages (the token).

    Returns:
        reachable, credentials, v1 API and writes.
    """
    answer = exchange(conn, "GET", f"{API_BASE}/registered_models", query={"pageSize": "1"})
    reach = reachable_check(conn, answer, secrets)
    auth = auth_check(conn, answer, secrets)
    api = v1_api_check(conn, answer)
    if api.ok:
        writes = writes_check(conn, enabled=write_probe)
    else:
        writes = skipped(WRITES, "not checked: the registry's API did not answer", required=write_probe)
    return [reach, auth, api, writes]
