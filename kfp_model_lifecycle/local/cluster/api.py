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
- ``/apis/apps/v1/namespaces/{ns}/deployments/{name}``: GET of the predictor Deployment ``<isvc>-predictor`` of a
  RawDeployment (Standard) InferenceService, with the rollout status the Deployment controller writes
  (:mod:`.deployments`); the only apps/v1 object the stand-in serves.
- ``/apis/authorization.k8s.io/v1/selfsubjectaccessreviews``: POST, answered from the forbidden set.
- Secrets (``/api/v1/namespaces/{ns}/secrets[/{name}]``) and KServe's CustomResourceDefinition
  (``/apis/apiextensions.k8s.io/v1/customresourcedefinitions[/{name}]``): :mod:`.core_resources`. Started with
  ``kserve=False`` the server is a cluster without KServe: no CRD, nothing under ``serving.kserve.io``.
- ``/api``, ``/apis``, ``/apis/serving.kserve.io[/v1beta1]``, ``/version``: minimal discovery; ``/openapi/v3``
  with a permissive InferenceService schema, enough for ``kubectl apply`` (no field validation: unknown fields are
  kept, as with ``fieldValidation=Ignore``).

Errors are ``v1 Status`` objects worded like the real API server's, so client code handles them the same way.
Writes of ``status`` through the main resource are ignored (only the controller writes status).

This module authenticates, authorizes and routes; the pieces live beside it: :mod:`.store` (objects and write
semantics), :mod:`.patches` (merge and JSON patches), :mod:`.selectors`, :mod:`.watch` and :mod:`.discovery`.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kfp_model_lifecycle.local.cluster import discovery
from kfp_model_lifecycle.local.cluster.core_resources import CoreResources
from kfp_model_lifecycle.local.cluster.patches import json_patch, merge_patch, patch_applier
from kfp_model_lifecycle.local.cluster.selectors import selected
from kfp_model_lifecycle.local.cluster.store import (
    API_VERSION,
    DEFAULT_FORBIDDEN,
    DEFAULT_NAMESPACE,
    DEFAULT_USER,
    DEPLOYMENTS,
    GROUP,
    KIND,
    PLURAL,
    RESOURCE_GROUPS,
    RESOURCES,
    VERBS,
    VERSION,
    ApiError,
    Store,
    bad_request,
    status_object,
)
from kfp_model_lifecycle.local.cluster.watch import WatchRequest, watch_events

__all__ = ["DEFAULT_FORBIDDEN", "DEFAULT_NAMESPACE", "DEFAULT_USER", "ApiServer", "json_patch", "merge_patch"]

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.api")

Handler = Callable[[Request], Awaitable[Response]]


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


def _static(body: dict[str, Any]) -> Handler:
    """An endpoint answering ``body`` (a discovery document)."""

    async def endpoint(request: Request) -> Response:
        return JSONResponse(body)

    return endpoint


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
        deployments: ``(namespace, name) -> Deployment or None``: the controller's predictor Deployments.
        kserve: Whether KServe is installed (False: no CRD and no ``serving.kserve.io`` API, as in a cluster
            without KServe).
    """

    def __init__(
        self,
        store: Store,
        *,
        token: str | None = None,
        forbidden: Iterable[tuple[str, str]] = DEFAULT_FORBIDDEN,
        user: str = DEFAULT_USER,
        deployments: Callable[[str, str], dict[str, Any] | None] | None = None,
        kserve: bool = True,
    ) -> None:
        self.store = store
        self.kserve = kserve
        self.core = CoreResources(self, kserve=kserve)
        self.deployments = deployments or (lambda namespace, name: None)
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
        routes = [
            Route("/version", _static(discovery.KUBE_VERSION), methods=["GET"]),
            Route("/api", _static(discovery.CORE_VERSIONS), methods=["GET"]),
            *self.core.routes(),
            *(self._kserve_routes() if self.kserve else []),
            Route("/apis/apps/v1", _static(discovery.APPS_RESOURCES), methods=["GET"]),
            Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", self._deployment, methods=["GET"]),
            Route("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self._access_review, methods=["POST"]),
            Route("/openapi/v3", _static(discovery.OPENAPI_INDEX), methods=["GET"]),
        ]
        return Starlette(
            routes=routes,
            middleware=[Middleware(_BearerAuth, token=self.token)],
            exception_handlers={ApiError: _api_error, 404: _http_error, 405: _http_error},
        )

    def _kserve_routes(self) -> list[Route]:
        """What KServe's CRD adds to the API server: InferenceServices, their discovery and OpenAPI."""
        base = f"/apis/{GROUP}/{VERSION}"
        return [
            Route(f"/apis/{GROUP}", _static(discovery.API_GROUP), methods=["GET"]),
            Route(base, _static(discovery.API_RESOURCES), methods=["GET"]),
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
            Route(f"/openapi/v3/apis/{GROUP}/{VERSION}", _static(discovery.OPENAPI_GROUP), methods=["GET"]),
        ]

    # -- helpers -----------------------------------------------------------------------------------------------

    def _authorize(self, verb: str, resource: str, namespace: str | None, name: str | None = None) -> None:
        if (verb, resource) not in self.forbidden:
            return
        group = RESOURCE_GROUPS.get(resource, GROUP)
        plural = resource.split("/")[0]
        qualified = f"{plural}.{group}" if group else plural  # the core group ("") has no suffix
        subject = f'{qualified} "{name}"' if name else qualified
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" {scope}'
        )
        logger.info("403 %s", message)
        error = ApiError(403, "Forbidden", message, name=name, kind=plural)
        if group:
            error.details["group"] = group
        else:
            error.details.pop("group", None)
        raise error

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
                "items": [obj for obj in items if selected(obj, query)],
                "metadata": {"resourceVersion": resource_version},
            }
        )

    def _watch(self, namespace: str | None, query: dict[str, str]) -> Response:
        """A watch: ADDED for what exists (without resourceVersion), then every change, as JSON lines."""
        request = WatchRequest.parse(namespace, query)
        return StreamingResponse(watch_events(self.store, request, self.closing), media_type="application/json")

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
        apply = patch_applier(content_type, await self._json(request))
        return self.store.patch(namespace, name, apply, subresource=subresource, dry_run=self._dry_run(request))

    async def _deployment(self, request: Request) -> Response:
        """GET of a RawDeployment InferenceService's predictor Deployment (404 for anything else)."""
        namespace, name = request.path_params["ns"], request.path_params["name"]
        self._authorize("get", DEPLOYMENTS, namespace, name)
        found = self.deployments(namespace, name)
        if found is None:
            error = ApiError(404, "NotFound", f'deployments.apps "{name}" not found', name=name, kind=DEPLOYMENTS)
            error.details["group"] = "apps"
            raise error
        return self._respond(found)

    async def _access_review(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise bad_request("a SelfSubjectAccessReview must be a JSON object")
        attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        served = RESOURCE_GROUPS.get(resource) == attributes.get("group", "") and attributes.get("verb") in VERBS
        allowed = served and (attributes.get("verb"), resource) not in self.forbidden
        status: dict[str, Any] = {"allowed": bool(allowed)}
        if not allowed:
            status["reason"] = (
                "forbidden by the local cluster's forbidden set"
                if served
                else "the local cluster stand-in serves only inferenceservices.serving.kserve.io and deployments.apps"
            )
        result = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": status,
        }
        return self._respond(result, 201)
