"""The fake Kubernetes API server: the part of the API that deploying an InferenceService uses.

Served paths (``{ns}`` a namespace, ``{name}`` an InferenceService):

- ``/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices``: GET list (``labelSelector``,
  ``fieldSelector`` on ``metadata.name``/``metadata.namespace``, ``watch=true`` with ``resourceVersion`` and
  ``timeoutSeconds``), POST create (201; 409 AlreadyExists).
- ``.../inferenceservices/{name}``: GET, PUT (replace; 409 Conflict on a stale ``metadata.resourceVersion``),
  PATCH (``application/merge-patch+json`` per RFC 7386, nulls delete; ``application/json-patch+json`` per
  RFC 6902), DELETE. ``dryRun=All`` validates without writing.
- ``.../inferenceservices/{name}/status``: GET, PUT, PATCH of the status only (forbidden by default, like
  the RBAC of a pipeline's service account).
- ``/apis/serving.kserve.io/v1beta1/inferenceservices``: GET across namespaces.
- ``/apis/authorization.k8s.io/v1/selfsubjectaccessreviews``: POST, answered from the forbidden set.
- ``/api``, ``/apis``, ``/apis/serving.kserve.io[/v1beta1]``, ``/version``: minimal discovery; ``/openapi/v3``
  with a permissive InferenceService schema, enough for ``kubectl apply`` (no field validation: unknown fields are
  kept, as with ``fieldValidation=Ignore``).

Errors are ``v1 Status`` objects worded like the real API server's, so client code handles them the same way.
Writes of ``status`` through the main resource are ignored (only the controller writes status).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kfp_model_lifecycle.local.cluster.store import (
    API_VERSION,
    DEFAULT_FORBIDDEN,
    DEFAULT_NAMESPACE,
    DEFAULT_USER,
    GROUP,
    KIND,
    PLURAL,
    RESOURCES,
    VERBS,
    VERSION,
    ApiError,
    Store,
    bad_request,
    status_object,
)

__all__ = ["DEFAULT_FORBIDDEN", "DEFAULT_NAMESPACE", "DEFAULT_USER", "ApiServer", "json_patch", "merge_patch"]

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.api")

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
KUBE_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-kml-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


# -- patches ---------------------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386): objects merge recursively, ``null`` deletes, anything else replaces.

    Args:
        target: The document to patch (not modified).
        patch: The merge patch.

    Returns:
        The patched document.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}: it must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"json patch path {path!r} does not exist")  # fmt: skip
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise bad_request(f"json patch: index {last!r} out of range in {path!r}")
        parent.insert(index, value)
    else:
        raise bad_request(f"json patch: cannot add below a scalar at {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise bad_request("json patch: cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], path)
    _resolve(parent, parts[-1:], path)
    if isinstance(parent, dict):
        del parent[parts[-1]]
    else:
        del parent[int(parts[-1])]
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a JSON patch (RFC 6902: add, remove, replace, move, copy, test).

    Args:
        target: The document to patch (not modified).
        operations: The list of operations.

    Returns:
        The patched document.

    Raises:
        ApiError: 400/422 on a malformed patch, a missing path or a failed ``test``.
    """
    if not isinstance(operations, list):
        raise bad_request("a json patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"json patch: malformed operation {op!r}")
        kind, path = op["op"], op["path"]
        parts = _pointer(path)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch: {kind} at {path!r} needs a value")
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]), path)
        elif kind == "remove":
            doc = _remove(doc, parts, path)
        elif kind == "replace":
            _resolve(doc, parts, path)
            doc = _add(_remove(doc, parts, path) if parts else doc, parts, copy.deepcopy(op["value"]), path)
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, source, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, source, op.get("from", ""))
            doc = _add(doc, parts, value, path)
        elif kind == "test":
            if _resolve(doc, parts, path) != op["value"]:
                raise ApiError(422, "Invalid", f"json patch: test operation failed at {path!r}")
        else:
            raise bad_request(f"json patch: unknown operation {kind!r}")
    return doc


# -- selectors -------------------------------------------------------------------------------------------------


def _label_matches(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a`` (comma = AND)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif " in " in term or " notin " in term:
            raise bad_request(f"labelSelector {selector!r}: set-based selectors are not supported by the stand-in")
        elif term not in labels:
            return False
    return True


def _field_matches(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = (s.strip() for s in term.replace("!=", "=").replace("==", "=").split("=", 1))
        if key not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f'field label not supported: "{key}" (use metadata.name or metadata.namespace)')
        actual = obj["metadata"].get(key.split(".", 1)[1])
        if (actual == value) == negate:
            return False
    return True


def _selected(obj: dict[str, Any], query: dict[str, str]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    if query.get("labelSelector") and not _label_matches(labels, query["labelSelector"]):
        return False
    return not (query.get("fieldSelector") and not _field_matches(obj, query["fieldSelector"]))


# -- the application -------------------------------------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.status(), status_code=exc.code)


async def _http_error(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    if code == 405:
        body = status_object(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    else:
        body = status_object(404, "NotFound", "the server could not find the requested resource")
    return JSONResponse(body, status_code=code)


class _BearerAuth:
    """ASGI middleware: 401 Unauthorized unless the request carries ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.expected is not None:
            header = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(header, self.expected):
                response = JSONResponse(status_object(401, "Unauthorized", "Unauthorized"), status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiServer:
    """The request handlers over a :class:`Store`, with authentication and the forbidden (verb, resource) set.

    Args:
        store: The objects.
        token: Optional bearer token every request must carry (401 Unauthorized otherwise).
        forbidden: (verb, resource) pairs answered with 403 Forbidden, e.g. ``("patch", "inferenceservices")``
            or ``("get", "inferenceservices/status")``; verbs are get list watch create update patch delete.
        user: The user named in 403 messages (a service account, like a pipeline pod's).
    """

    def __init__(
        self,
        store: Store,
        *,
        token: str | None = None,
        forbidden: Iterable[tuple[str, str]] = DEFAULT_FORBIDDEN,
        user: str = DEFAULT_USER,
    ) -> None:
        self.store = store
        self.token = token
        self.user = user
        self.closing = threading.Event()  # set on shutdown: open watches end
        self.forbidden: set[tuple[str, str]] = set()
        for verb, resource in forbidden:
            self.forbid(verb, resource)

    def forbid(self, verb: str, resource: str = PLURAL) -> None:
        """Answer ``verb`` on ``resource`` with 403 Forbidden from now on."""
        if verb not in VERBS or resource not in RESOURCES:
            raise ValueError(
                f"forbid({verb!r}, {resource!r}): verb must be one of {VERBS}, resource one of {RESOURCES}"
            )
        self.forbidden.add((verb, resource))

    def allow(self, verb: str, resource: str = PLURAL) -> None:
        """Stop answering ``verb`` on ``resource`` with 403."""
        self.forbidden.discard((verb, resource))

    def build_app(self) -> Starlette:
        """The ASGI application."""
        base = f"/apis/{GROUP}/{VERSION}"
        routes = [
            Route("/version", self._version, methods=["GET"]),
            Route("/api", self._core_versions, methods=["GET"]),
            Route("/apis", self._groups, methods=["GET"]),
            Route(f"/apis/{GROUP}", self._group, methods=["GET"]),
            Route(base, self._resources, methods=["GET"]),
            Route(f"{base}/{PLURAL}", self._list_all, methods=["GET"]),
            Route(f"{base}/namespaces/{{ns}}/{PLURAL}", self._collection, methods=["GET", "POST"]),
            Route(
                f"{base}/namespaces/{{ns}}/{PLURAL}/{{name}}",
                self._item,
                methods=["GET", "PUT", "PATCH", "DELETE"],
            ),
            Route(
                f"{base}/namespaces/{{ns}}/{PLURAL}/{{name}}/status",
                self._status,
                methods=["GET", "PUT", "PATCH"],
            ),
            Route("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self._access_review, methods=["POST"]),
            Route("/openapi/v3", self._openapi_index, methods=["GET"]),
            Route(f"/openapi/v3/apis/{GROUP}/{VERSION}", self._openapi_group, methods=["GET"]),
        ]
        return Starlette(
            routes=routes,
            middleware=[Middleware(_BearerAuth, token=self.token)],
            exception_handlers={ApiError: _api_error, 404: _http_error, 405: _http_error},
        )

    # -- helpers -----------------------------------------------------------------------------------------------

    def _authorize(self, verb: str, resource: str, namespace: str | None, name: str | None = None) -> None:
        if (verb, resource) not in self.forbidden:
            return
        subject = f'{PLURAL}.{GROUP} "{name}"' if name else f"{PLURAL}.{GROUP}"
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{GROUP}" {scope}'
        )
        logger.info("403 %s", message)
        raise ApiError(403, "Forbidden", message, name=name, kind=PLURAL)

    @staticmethod
    async def _json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from None

    @staticmethod
    def _dry_run(request: Request) -> bool:
        value = request.query_params.get("dryRun")
        if value not in (None, "", "All"):
            raise bad_request(f"dryRun={value!r}: the only supported value is All")
        return value == "All"

    @staticmethod
    def _respond(body: dict[str, Any], code: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=code)

    # -- discovery ---------------------------------------------------------------------------------------------

    async def _version(self, request: Request) -> Response:
        return self._respond(KUBE_VERSION)

    async def _core_versions(self, request: Request) -> Response:
        return self._respond({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})

    def _group_body(self) -> dict[str, Any]:
        version = {"groupVersion": API_VERSION, "version": VERSION}
        return {"name": GROUP, "versions": [version], "preferredVersion": version}

    async def _groups(self, request: Request) -> Response:
        return self._respond({"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group_body()]})

    async def _group(self, request: Request) -> Response:
        return self._respond({"kind": "APIGroup", "apiVersion": "v1", **self._group_body()})

    async def _resources(self, request: Request) -> Response:
        verbs = ["delete", "get", "list", "patch", "create", "update", "watch"]
        resources = [
            {"name": PLURAL, "singularName": "inferenceservice", "namespaced": True, "kind": KIND, "verbs": verbs,
             "shortNames": ["isvc"], "categories": ["all"]},
            {"name": f"{PLURAL}/status", "singularName": "", "namespaced": True, "kind": KIND,
             "verbs": ["get", "patch", "update"]},
        ]  # fmt: skip
        return self._respond(
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION, "resources": resources}
        )

    async def _openapi_index(self, request: Request) -> Response:
        url = f"/openapi/v3/apis/{GROUP}/{VERSION}?hash=kml"
        return self._respond({"paths": {f"apis/{GROUP}/{VERSION}": {"serverRelativeURL": url}}})

    async def _openapi_group(self, request: Request) -> Response:
        """A permissive schema (the real CRD schema is not bundled): lets ``kubectl apply`` validate and send."""
        gvk = [{"group": GROUP, "version": VERSION, "kind": KIND}]
        schema = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": gvk,
        }
        operation = {
            "x-kubernetes-group-version-kind": gvk[0],
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
        }
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}"
        return self._respond(
            {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes (kml local cluster)", "version": KUBE_VERSION["gitVersion"]},
                "paths": {base: {"post": operation}, f"{base}/{{name}}": {"patch": operation, "put": operation}},
                "components": {"schemas": {f"io.kserve.serving.{VERSION}.{KIND}": schema}},
            }
        )

    # -- InferenceServices -------------------------------------------------------------------------------------

    async def _list_all(self, request: Request) -> Response:
        return await self._list(request, None)

    async def _collection(self, request: Request) -> Response:
        namespace = request.path_params["ns"]
        if request.method == "GET":
            return await self._list(request, namespace)
        self._authorize("create", PLURAL, namespace)
        body = await self._json(request)
        obj = self.store.create(namespace, body, dry_run=self._dry_run(request))
        logger.info("created %s/%s (generation %s)", namespace, obj["metadata"]["name"], obj["metadata"]["generation"])
        return self._respond(obj, 201)

    async def _list(self, request: Request, namespace: str | None) -> Response:
        query = dict(request.query_params)
        if str(query.get("watch", "")).lower() in ("true", "1"):
            self._authorize("watch", PLURAL, namespace)
            return self._watch(namespace, query)
        self._authorize("list", PLURAL, namespace)
        items, resource_version = self.store.list(namespace)
        return self._respond(
            {
                "apiVersion": API_VERSION,
                "kind": f"{KIND}List",
                "items": [obj for obj in items if _selected(obj, query)],
                "metadata": {"resourceVersion": resource_version},
            }
        )

    def _watch(self, namespace: str | None, query: dict[str, str]) -> Response:
        """A watch: ADDED for what exists (without resourceVersion), then every change, as JSON lines."""
        try:
            timeout = float(query.get("timeoutSeconds") or 1800)
            since = int(query["resourceVersion"]) if query.get("resourceVersion") not in (None, "", "0") else None
        except ValueError:
            raise bad_request("resourceVersion and timeoutSeconds must be numbers") from None

        def wanted(obj: dict[str, Any]) -> bool:
            return (namespace is None or obj["metadata"].get("namespace") == namespace) and _selected(obj, query)

        async def events() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            position = since
            if position is None:
                items, rv = self.store.list(namespace)
                position = int(rv)
                for obj in items:
                    if wanted(obj):
                        yield json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"
            while loop.time() < deadline and not self.closing.is_set():
                history = self.store.events_since(position)
                if history is None:
                    gone = status_object(410, "Expired", f"too old resource version: {position}")
                    yield json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"
                    return
                for rv, kind, obj in history:
                    position = rv
                    if wanted(obj):
                        yield json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                wait = min(0.5, max(0.0, deadline - loop.time()))
                await loop.run_in_executor(None, self.store.wait_for_change, position, wait)

        return StreamingResponse(events(), media_type="application/json")

    async def _item(self, request: Request) -> Response:
        namespace, name = request.path_params["ns"], request.path_params["name"]
        method = request.method
        if method == "GET":
            self._authorize("get", PLURAL, namespace, name)
            return self._respond(self.store.get(namespace, name))
        if method == "PUT":
            self._authorize("update", PLURAL, namespace, name)
            body = await self._json(request)
            obj = self.store.replace(namespace, name, body, dry_run=self._dry_run(request))
            logger.info("replaced %s/%s (generation %s)", namespace, name, obj["metadata"]["generation"])
            return self._respond(obj)
        if method == "PATCH":
            self._authorize("patch", PLURAL, namespace, name)
            obj = await self._patch(request, namespace, name, None)
            logger.info("patched %s/%s (generation %s)", namespace, name, obj["metadata"]["generation"])
            return self._respond(obj)
        self._authorize("delete", PLURAL, namespace, name)
        obj, gone = self.store.delete(namespace, name, dry_run=self._dry_run(request))
        logger.info("deleted %s/%s%s", namespace, name, "" if gone else " (finalizing)")
        if gone:
            details = {"name": name, "group": GROUP, "kind": PLURAL, "uid": obj["metadata"].get("uid")}
            return self._respond(status_object(200, "", "", details))
        return self._respond(obj)

    async def _status(self, request: Request) -> Response:
        namespace, name = request.path_params["ns"], request.path_params["name"]
        resource = f"{PLURAL}/status"
        if request.method == "GET":
            self._authorize("get", resource, namespace, name)
            return self._respond(self.store.get(namespace, name))
        if request.method == "PUT":
            self._authorize("update", resource, namespace, name)
            body = await self._json(request)
            return self._respond(
                self.store.replace(namespace, name, body, subresource="status", dry_run=self._dry_run(request))
            )
        self._authorize("patch", resource, namespace, name)
        return self._respond(await self._patch(request, namespace, name, "status"))

    async def _patch(self, request: Request, namespace: str, name: str, subresource: str | None) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await self._json(request)
        if content_type == MERGE_PATCH:
            if not isinstance(body, dict):
                raise bad_request("a merge patch must be a JSON object")

            def apply(current: dict[str, Any]) -> dict[str, Any]:
                result = merge_patch(current, body)
                # A resourceVersion in the patch is a precondition; otherwise the current one applies.
                if (body.get("metadata") or {}).get("resourceVersion") is None:
                    result.setdefault("metadata", {})["resourceVersion"] = None
                return result

        elif content_type == JSON_PATCH:

            def apply(current: dict[str, Any]) -> dict[str, Any]:
                rv = current["metadata"]["resourceVersion"]
                result = json_patch(current, body)
                if isinstance(result, dict) and (result.get("metadata") or {}).get("resourceVersion") == rv:
                    result["metadata"]["resourceVersion"] = None
                return result

        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE_PATCH} (got {content_type or 'none'}; custom resources take no strategic "
                "merge patch or server-side apply)",
            )
        return self.store.patch(namespace, name, apply, subresource=subresource, dry_run=self._dry_run(request))

    async def _access_review(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise bad_request("a SelfSubjectAccessReview must be a JSON object")
        attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        served = attributes.get("group") == GROUP and resource in RESOURCES and attributes.get("verb") in VERBS
        allowed = served and (attributes.get("verb"), resource) not in self.forbidden
        status: dict[str, Any] = {"allowed": bool(allowed)}
        if not allowed:
            status["reason"] = (
                "forbidden by the local cluster's forbidden set"
                if served
                else "the local cluster stand-in serves only inferenceservices.serving.kserve.io"
            )
        result = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": status,
        }
        return self._respond(result, 201)
