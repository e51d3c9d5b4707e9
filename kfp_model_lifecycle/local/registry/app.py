"""The Model Registry REST API v1 (all 40 operations) as a Starlette application over :class:`.store.Store`.

Behaviour follows the real Kubeflow Model Registry server: ids and timestamps as strings, find endpoints,
409 on duplicate names, PATCH replacing the whole ``customProperties`` map, immutable names, artifacts told
apart by ``artifactType`` and linked to versions by id, keyset pagination and ``filterQuery`` on every list,
and error bodies ``{"code": "<HTTP status text>", "message": "..."}``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kfp_model_lifecycle.local.registry import entities as e
from kfp_model_lifecycle.local.registry.entities import ApiError, EntityKind, bad_request, not_found
from kfp_model_lifecycle.local.registry.store import ORDER_COLUMNS, Store, parse_id

BASE_PATH = "/api/model_registry/v1"
logger = logging.getLogger("kfp_model_lifecycle.local.registry")
_PAGE_SIZE = re.compile(r"^[1-9][0-9]{0,8}$")

Handler = Callable[[Request], Awaitable[Response]]


def error_response(status: int, message: str) -> JSONResponse:
    """The registry's error body: ``{"code": <HTTP status text>, "message": ...}``."""
    # Like the real server, a 422 (missing required field) still says "Bad Request" in its body.
    code = "Bad Request" if status == 422 else HTTPStatus(status).phrase
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise bad_request("request body is empty: expected a JSON object")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None


def _int_id(value: str, label: str) -> int:
    rid = parse_id(value)
    if rid is None:
        raise not_found(f"{label} with id {value!r} not found: ids are positive decimal integers")
    return rid


def _list_options(request: Request) -> dict[str, Any]:
    q = request.query_params
    opts: dict[str, Any] = {"filter_query": q.get("filterQuery"), "page_token": q.get("nextPageToken") or None}
    page_size = q.get("pageSize")
    if page_size is not None and page_size != "":
        if not _PAGE_SIZE.match(page_size):
            raise bad_request(f"invalid pageSize {page_size!r}: expected a positive integer")
        opts["page_size"] = int(page_size)
    order_by = q.get("orderBy") or "ID"
    if order_by not in ORDER_COLUMNS:
        raise bad_request(f"invalid orderBy {order_by!r}: expected one of {', '.join(ORDER_COLUMNS)}")
    opts["order_by"] = order_by
    sort_order = q.get("sortOrder") or "ASC"
    if sort_order not in ("ASC", "DESC"):
        raise bad_request(f"invalid sortOrder {sort_order!r}: expected ASC or DESC")
    opts["descending"] = sort_order == "DESC"
    return opts


class RegistryApi:
    """Request handlers of the 40 operations, bound to one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- helpers -----------------------------------------------------------------------------------------

    def _require(self, kind: EntityKind, rid: str | int, *, subtype: str | None = None) -> dict[str, Any]:
        rid = _int_id(str(rid), kind.label)
        entity = self.store.get(kind, rid, subtype)
        if entity is None:
            raise not_found(f"{kind.label} with id {rid} not found")
        return entity

    def _ref_exists(self, kind: EntityKind, rid: Any, field: str, status: int = 400) -> None:
        parsed = parse_id(rid)
        if parsed is None or self.store.get(kind, parsed) is None:
            raise ApiError(status, f"{field} {rid!r}: no {kind.label} with this id exists")

    def _list(self, request: Request, kind: EntityKind, **scope: Any) -> JSONResponse:
        opts = _list_options(request)
        items, token = self.store.list(kind, **opts, **scope)
        return JSONResponse(
            {"items": items, "nextPageToken": token, "pageSize": opts.get("page_size", 0), "size": len(items)}
        )

    def _find(
        self,
        request: Request,
        kind: EntityKind,
        *,
        parent_required: bool = False,
        artifact: bool = False,
        subtype: str | None = None,
    ) -> JSONResponse:
        q = request.query_params
        name, external_id, parent = q.get("name"), q.get("externalId"), q.get("parentResourceId")
        if not name and not external_id:
            raise bad_request(
                "missing query parameters: give name"
                + (" and parentResourceId" if parent_required else "")
                + " or externalId"
            )
        if name and not external_id and parent_required and not parent:
            raise bad_request(f"missing parentResourceId: a {kind.label} name is unique only within its parent")
        criteria: dict[str, Any] = {"name": name or None, "external_id": external_id or None, "subtype": subtype}
        if parent:
            parent_id = parse_id(parent)
            if parent_id is None:
                raise bad_request(f"invalid parentResourceId {parent!r}: expected a positive decimal id")
            criteria["linked_to_version" if artifact else "parent_id"] = parent_id
        entity = self.store.find(kind, **criteria)
        if entity is None:
            described = ", ".join(
                f"{k}={v!r}"
                for k, v in (("name", name), ("externalId", external_id), ("parentResourceId", parent))
                if v
            )
            raise not_found(f"no {kind.label} found for {described}")
        return JSONResponse(entity)

    def _patch(self, kind: EntityKind, rid: int, body: Any, model: type | None = None) -> JSONResponse:
        changes = e.validate_body(model or kind.update, body, ignore=e.READ_ONLY_FIELDS)
        updated = self.store.update(kind, rid, changes)
        if updated is None:
            raise not_found(f"{kind.label} with id {rid} not found")
        return JSONResponse(updated)

    # -- registered models -------------------------------------------------------------------------------

    async def list_registered_models(self, request: Request) -> Response:
        """GET /registered_models (getRegisteredModels)."""
        return self._list(request, e.REGISTERED_MODEL)

    async def create_registered_model(self, request: Request) -> Response:
        """POST /registered_models (createRegisteredModel)."""
        data = e.validate_body(e.REGISTERED_MODEL.create, await _json_body(request))
        return JSONResponse(self.store.create(e.REGISTERED_MODEL, data), status_code=201)

    async def get_registered_model(self, request: Request) -> Response:
        """GET /registered_models/{id} (getRegisteredModel)."""
        return JSONResponse(self._require(e.REGISTERED_MODEL, request.path_params["id"]))

    async def update_registered_model(self, request: Request) -> Response:
        """PATCH /registered_models/{id} (updateRegisteredModel)."""
        rid = _int_id(request.path_params["id"], e.REGISTERED_MODEL.label)
        return self._patch(e.REGISTERED_MODEL, rid, await _json_body(request))

    async def find_registered_model(self, request: Request) -> Response:
        """GET /registered_model (findRegisteredModel)."""
        return self._find(request, e.REGISTERED_MODEL)

    async def list_registered_model_versions(self, request: Request) -> Response:
        """GET /registered_models/{id}/versions (getRegisteredModelVersions)."""
        model = self._require(e.REGISTERED_MODEL, request.path_params["id"])
        q = request.query_params
        return self._list(
            request, e.MODEL_VERSION, parent_id=int(model["id"]), name=q.get("name"), external_id=q.get("externalId")
        )

    async def create_registered_model_version(self, request: Request) -> Response:
        """POST /registered_models/{id}/versions (createRegisteredModelVersion)."""
        model = self._require(e.REGISTERED_MODEL, request.path_params["id"])
        body = await _json_body(request)
        if isinstance(body, dict):
            given = body.get("registeredModelId")
            if given is not None and str(given) != model["id"]:
                raise bad_request(
                    f"registeredModelId {given!r} does not match the registered model {model['id']} in the path"
                )
            body = {**body, "registeredModelId": model["id"]}
        return self._create_version(body)

    # -- model versions ----------------------------------------------------------------------------------

    def _create_version(self, body: Any) -> JSONResponse:
        data = e.validate_body(e.MODEL_VERSION.create, body, ignore=e.READ_ONLY_FIELDS)
        parent = data["registeredModelId"]
        self._ref_exists(e.REGISTERED_MODEL, parent, "registeredModelId", status=404)
        return JSONResponse(self.store.create(e.MODEL_VERSION, data, parent_id=int(parent)), status_code=201)

    async def list_model_versions(self, request: Request) -> Response:
        """GET /model_versions (getModelVersions)."""
        return self._list(request, e.MODEL_VERSION)

    async def create_model_version(self, request: Request) -> Response:
        """POST /model_versions (createModelVersion)."""
        return self._create_version(await _json_body(request))

    async def get_model_version(self, request: Request) -> Response:
        """GET /model_versions/{id} (getModelVersion)."""
        return JSONResponse(self._require(e.MODEL_VERSION, request.path_params["id"]))

    async def update_model_version(self, request: Request) -> Response:
        """PATCH /model_versions/{id} (updateModelVersion)."""
        rid = _int_id(request.path_params["id"], e.MODEL_VERSION.label)
        return self._patch(e.MODEL_VERSION, rid, await _json_body(request))

    async def find_model_version(self, request: Request) -> Response:
        """GET /model_version (findModelVersion)."""
        return self._find(request, e.MODEL_VERSION, parent_required=True)

    async def list_model_version_artifacts(self, request: Request) -> Response:
        """GET /model_versions/{id}/artifacts (getModelVersionArtifacts)."""
        version = self._require(e.MODEL_VERSION, request.path_params["id"])
        q = request.query_params
        subtype = q.get("artifactType") or None
        kind = e.artifact_kind(subtype)
        return self._list(
            request,
            kind,
            linked_to_version=int(version["id"]),
            subtype=subtype,
            name=q.get("name"),
            external_id=q.get("externalId"),
        )

    async def upsert_model_version_artifact(self, request: Request) -> Response:
        """POST /model_versions/{id}/artifacts (upsertModelVersionArtifact): create+link, or link by id."""
        version = self._require(e.MODEL_VERSION, request.path_params["id"])
        version_id = int(version["id"])
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        if body.get("id") is not None:
            existing = self._require(e.artifact_kind(None), body["id"])
            subtype = existing["artifactType"]
            given = body.get("artifactType")
            if given is not None and given != subtype:
                raise bad_request(f"artifactType cannot change from {subtype!r} to {given!r}")
            if body.get("name") is not None and body["name"] != existing.get("name"):
                raise bad_request(f"name is immutable: artifact {existing['id']} is named {existing.get('name')!r}")
            kind = e.artifact_kind(subtype)
            changes = e.validate_body(kind.update, body, ignore=e.READ_ONLY_FIELDS | {"name"})
            updated = self.store.update(kind, int(existing["id"]), changes, link_version=version_id)
            return JSONResponse(updated, status_code=200)
        return self._create_artifact(body, parent_id=version_id, link_version=version_id)

    # -- artifacts ---------------------------------------------------------------------------------------

    def _create_artifact(
        self,
        body: Any,
        *,
        parent_id: int = 0,
        link_version: int | None = None,
        default_type: str | None = None,
    ) -> JSONResponse:
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        subtype = body.get("artifactType") or default_type
        if subtype is None:
            raise bad_request(f"artifactType is required: one of {', '.join(e.ARTIFACT_TYPES)}")
        if default_type is not None and subtype != default_type:
            raise bad_request(f"artifactType must be {default_type!r} here, got {subtype!r}")
        kind = e.artifact_kind(subtype)
        data = e.validate_body(kind.create, body, ignore=e.READ_ONLY_FIELDS)
        data["artifactType"] = subtype
        created = self.store.create(kind, data, parent_id=parent_id, subtype=subtype, link_version=link_version)
        return JSONResponse(created, status_code=201)

    def _patch_artifact(self, rid: int, body: Any, subtype: str | None) -> JSONResponse:
        existing = self._require(e.artifact_kind(None), rid, subtype=subtype)
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        stored = existing["artifactType"]
        given = body.get("artifactType")
        if given is not None and given != stored:
            raise bad_request(f"artifactType cannot change from {stored!r} to {given!r}")
        return self._patch(e.artifact_kind(stored), rid, body)

    async def list_artifacts(self, request: Request) -> Response:
        """GET /artifacts (getArtifacts)."""
        subtype = request.query_params.get("artifactType") or None
        return self._list(request, e.artifact_kind(subtype), subtype=subtype)

    async def create_artifact(self, request: Request) -> Response:
        """POST /artifacts (createArtifact)."""
        return self._create_artifact(await _json_body(request))

    async def get_artifact(self, request: Request) -> Response:
        """GET /artifacts/{id} (getArtifact)."""
        return JSONResponse(self._require(e.artifact_kind(None), request.path_params["id"]))

    async def update_artifact(self, request: Request) -> Response:
        """PATCH /artifacts/{id} (updateArtifact)."""
        rid = _int_id(request.path_params["id"], "artifact")
        return self._patch_artifact(rid, await _json_body(request), None)

    async def find_artifact(self, request: Request) -> Response:
        """GET /artifact (findArtifact)."""
        return self._find(request, e.artifact_kind(None), parent_required=True, artifact=True)

    async def list_model_artifacts(self, request: Request) -> Response:
        """GET /model_artifacts (getModelArtifacts)."""
        return self._list(request, e.artifact_kind("model-artifact"), subtype="model-artifact")

    async def create_model_artifact(self, request: Request) -> Response:
        """POST /model_artifacts (createModelArtifact)."""
        return self._create_artifact(await _json_body(request), default_type="model-artifact")

    async def get_model_artifact(self, request: Request) -> Response:
        """GET /model_artifacts/{id} (getModelArtifact)."""
        kind = e.artifact_kind("model-artifact")
        return JSONResponse(self._require(kind, request.path_params["id"], subtype="model-artifact"))

    async def update_model_artifact(self, request: Request) -> Response:
        """PATCH /model_artifacts/{id} (updateModelArtifact)."""
        rid = _int_id(request.path_params["id"], "model artifact")
        return self._patch_artifact(rid, await _json_body(request), "model-artifact")

    async def find_model_artifact(self, request: Request) -> Response:
        """GET /model_artifact (findModelArtifact)."""
        kind = e.artifact_kind("model-artifact")
        return self._find(request, kind, parent_required=True, artifact=True, subtype="model-artifact")

    # -- serving environments ----------------------------------------------------------------------------

    async def list_serving_environments(self, request: Request) -> Response:
        """GET /serving_environments (getServingEnvironments)."""
        return self._list(request, e.SERVING_ENVIRONMENT)

    async def create_serving_environment(self, request: Request) -> Response:
        """POST /serving_environments (createServingEnvironment)."""
        data = e.validate_body(e.SERVING_ENVIRONMENT.create, await _json_body(request))
        return JSONResponse(self.store.create(e.SERVING_ENVIRONMENT, data), status_code=201)

    async def get_serving_environment(self, request: Request) -> Response:
        """GET /serving_environments/{id} (getServingEnvironment)."""
        return JSONResponse(self._require(e.SERVING_ENVIRONMENT, request.path_params["id"]))

    async def update_serving_environment(self, request: Request) -> Response:
        """PATCH /serving_environments/{id} (updateServingEnvironment)."""
        rid = _int_id(request.path_params["id"], e.SERVING_ENVIRONMENT.label)
        return self._patch(e.SERVING_ENVIRONMENT, rid, await _json_body(request))

    async def find_serving_environment(self, request: Request) -> Response:
        """GET /serving_environment (findServingEnvironment)."""
        return self._find(request, e.SERVING_ENVIRONMENT)

    async def list_environment_inference_services(self, request: Request) -> Response:
        """GET /serving_environments/{id}/inference_services (getEnvironmentInferenceServices)."""
        env = self._require(e.SERVING_ENVIRONMENT, request.path_params["id"])
        q = request.query_params
        return self._list(
            request, e.INFERENCE_SERVICE, parent_id=int(env["id"]), name=q.get("name"), external_id=q.get("externalId")
        )

    async def create_environment_inference_service(self, request: Request) -> Response:
        """POST /serving_environments/{id}/inference_services (createEnvironmentInferenceService)."""
        env = self._require(e.SERVING_ENVIRONMENT, request.path_params["id"])
        body = await _json_body(request)
        if isinstance(body, dict):
            given = body.get("servingEnvironmentId")
            if given is not None and str(given) != env["id"]:
                raise bad_request(
                    f"servingEnvironmentId {given!r} does not match the serving environment {env['id']} in the path"
                )
            body = {**body, "servingEnvironmentId": env["id"]}
        return self._create_inference_service(body)

    # -- inference services ------------------------------------------------------------------------------

    def _check_model_version(self, version_id: Any, model_id: Any) -> None:
        self._ref_exists(e.MODEL_VERSION, version_id, "modelVersionId")
        version = self.store.get(e.MODEL_VERSION, int(version_id)) or {}
        if str(version.get("registeredModelId")) != str(model_id):
            raise bad_request(
                f"modelVersionId {version_id!r} belongs to registered model {version.get('registeredModelId')},"
                f" not to registeredModelId {model_id!r}"
            )

    def _create_inference_service(self, body: Any) -> JSONResponse:
        data = e.validate_body(e.INFERENCE_SERVICE.create, body, ignore=e.READ_ONLY_FIELDS)
        self._ref_exists(e.SERVING_ENVIRONMENT, data["servingEnvironmentId"], "servingEnvironmentId")
        self._ref_exists(e.REGISTERED_MODEL, data["registeredModelId"], "registeredModelId")
        if data.get("modelVersionId") is not None:
            self._check_model_version(data["modelVersionId"], data["registeredModelId"])
        created = self.store.create(e.INFERENCE_SERVICE, data, parent_id=int(data["servingEnvironmentId"]))
        return JSONResponse(created, status_code=201)

    async def list_inference_services(self, request: Request) -> Response:
        """GET /inference_services (getInferenceServices)."""
        return self._list(request, e.INFERENCE_SERVICE)

    async def create_inference_service(self, request: Request) -> Response:
        """POST /inference_services (createInferenceService)."""
        return self._create_inference_service(await _json_body(request))

    async def get_inference_service(self, request: Request) -> Response:
        """GET /inference_services/{id} (getInferenceService)."""
        return JSONResponse(self._require(e.INFERENCE_SERVICE, request.path_params["id"]))

    async def update_inference_service(self, request: Request) -> Response:
        """PATCH /inference_services/{id} (updateInferenceService)."""
        existing = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        body = await _json_body(request)
        if isinstance(body, dict) and body.get("modelVersionId") is not None:
            self._check_model_version(body["modelVersionId"], existing["registeredModelId"])
        return self._patch(e.INFERENCE_SERVICE, int(existing["id"]), body)

    async def find_inference_service(self, request: Request) -> Response:
        """GET /inference_service (findInferenceService)."""
        return self._find(request, e.INFERENCE_SERVICE)

    async def get_inference_service_model(self, request: Request) -> Response:
        """GET /inference_services/{id}/model (getInferenceServiceModel)."""
        isvc = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        return JSONResponse(self._require(e.REGISTERED_MODEL, isvc["registeredModelId"]))

    async def get_inference_service_version(self, request: Request) -> Response:
        """GET /inference_services/{id}/version (getInferenceServiceVersion)."""
        isvc = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        version_id = isvc.get("modelVersionId")
        if version_id is None:
            # Like the real server: without a pinned version, the newest version of the model is served.
            items, _ = self.store.list(
                e.MODEL_VERSION, parent_id=int(isvc["registeredModelId"]), page_size=1, descending=True
            )
            if not items:
                raise not_found(
                    f"registered model {isvc['registeredModelId']} of inference service {isvc['id']} has no versions"
                )
            return JSONResponse(items[0])
        return JSONResponse(self._require(e.MODEL_VERSION, version_id))

    async def list_inference_service_serves(self, request: Request) -> Response:
        """GET /inference_services/{id}/serves (getInferenceServiceServes)."""
        isvc = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        q = request.query_params
        return self._list(
            request, e.SERVE_MODEL, parent_id=int(isvc["id"]), name=q.get("name"), external_id=q.get("externalId")
        )

    async def create_inference_service_serve(self, request: Request) -> Response:
        """POST /inference_services/{id}/serves (createInferenceServiceServe)."""
        isvc = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        data = e.validate_body(e.SERVE_MODEL.create, await _json_body(request), ignore=e.READ_ONLY_FIELDS)
        self._ref_exists(e.MODEL_VERSION, data["modelVersionId"], "modelVersionId")
        created = self.store.create(e.SERVE_MODEL, data, parent_id=int(isvc["id"]))
        return JSONResponse(created, status_code=201)

    # -- routing -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The 40 operations under :data:`BASE_PATH`."""
        table: list[tuple[str, dict[str, Handler]]] = [
            ("/registered_models", {"GET": self.list_registered_models, "POST": self.create_registered_model}),
            ("/registered_models/{id}", {"GET": self.get_registered_model, "PATCH": self.update_registered_model}),
            (
                "/registered_models/{id}/versions",
                {"GET": self.list_registered_model_versions, "POST": self.create_registered_model_version},
            ),
            ("/registered_model", {"GET": self.find_registered_model}),
            ("/model_versions", {"GET": self.list_model_versions, "POST": self.create_model_version}),
            ("/model_versions/{id}", {"GET": self.get_model_version, "PATCH": self.update_model_version}),
            (
                "/model_versions/{id}/artifacts",
                {"GET": self.list_model_version_artifacts, "POST": self.upsert_model_version_artifact},
            ),
            ("/model_version", {"GET": self.find_model_version}),
            ("/model_artifacts", {"GET": self.list_model_artifacts, "POST": self.create_model_artifact}),
            ("/model_artifacts/{id}", {"GET": self.get_model_artifact, "PATCH": self.update_model_artifact}),
            ("/model_artifact", {"GET": self.find_model_artifact}),
            ("/artifacts", {"GET": self.list_artifacts, "POST": self.create_artifact}),
            ("/artifacts/{id}", {"GET": self.get_artifact, "PATCH": self.update_artifact}),
            ("/artifact", {"GET": self.find_artifact}),
            (
                "/serving_environments",
                {"GET": self.list_serving_environments, "POST": self.create_serving_environment},
            ),
            (
                "/serving_environments/{id}",
                {"GET": self.get_serving_environment, "PATCH": self.update_serving_environment},
            ),
            (
                "/serving_environments/{id}/inference_services",
                {"GET": self.list_environment_inference_services, "POST": self.create_environment_inference_service},
            ),
            ("/serving_environment", {"GET": self.find_serving_environment}),
            ("/inference_services", {"GET": self.list_inference_services, "POST": self.create_inference_service}),
            (
                "/inference_services/{id}",
                {"GET": self.get_inference_service, "PATCH": self.update_inference_service},
            ),
            ("/inference_services/{id}/model", {"GET": self.get_inference_service_model}),
            ("/inference_services/{id}/version", {"GET": self.get_inference_service_version}),
            (
                "/inference_services/{id}/serves",
                {"GET": self.list_inference_service_serves, "POST": self.create_inference_service_serve},
            ),
            ("/inference_service", {"GET": self.find_inference_service}),
        ]
        return [Route(BASE_PATH + path, _dispatch(methods), methods=list(methods)) for path, methods in table]


def _dispatch(methods: dict[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method  # Starlette answers HEAD without the body
        return await methods[method](request)

    return endpoint


class _AuthAndLog:
    """ASGI middleware: bearer-token check (when a token is configured) and one debug log line per request.

    The token is compared in constant time and never logged.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        if self._expected is not None:
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(given, self._expected):
                response = error_response(401, "missing or invalid bearer token: send 'Authorization: Bearer <token>'")
                await response(scope, receive, send)
                _log(scope, 401, start)
                return

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            _log(scope, status, start)


def _log(scope: Scope, status: int, start: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.perf_counter() - start) * 1000
        logger.debug("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed_ms)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no such endpoint; the Model Registry API is under {BASE_PATH}")
    return error_response(exc.status_code, str(exc.detail))


async def _unexpected(_request: Request, exc: Exception) -> Response:
    logger.exception("internal error")
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


def build_app(store: Store, *, token: str | None = None) -> Starlette:
    """The ASGI application serving the registry API over ``store``.

    Args:
        store: The database.
        token: When set, every request must carry ``Authorization: Bearer <token>`` (else 401).

    Returns:
        A Starlette application.
    """
    api = RegistryApi(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()  # also on SIGTERM: uvicorn shuts down gracefully first, so the WAL is checkpointed

    return Starlette(
        routes=api.routes(),
        lifespan=lifespan,
        middleware=[Middleware(_AuthAndLog, token=token)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
    )
