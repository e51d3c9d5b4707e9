"""Request handlers of the 40 operations of the Model Registry REST API v1, over one :class:`.store.Store`.

Behaviour follows the real Kubeflow Model Registry server: ids and timestamps as strings, find endpoints,
409 on duplicate names, PATCH replacing the whole ``customProperties`` map, immutable names, artifacts told
apart by ``artifactType`` and linked to versions by id, keyset pagination and ``filterQuery`` on every list.
Requests are read by :mod:`.validation`, bodies validated by :mod:`.entities`; :mod:`.app` routes to the handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kfp_model_lifecycle.local.registry import entities as e
from kfp_model_lifecycle.local.registry.conventions import MODEL_ARTIFACT
from kfp_model_lifecycle.local.registry.entities import EntityKind
from kfp_model_lifecycle.local.registry.errors import ApiError, bad_request, not_found
from kfp_model_lifecycle.local.registry.names import UUID_OWNER, check_external_id, check_stored_name, generated_name
from kfp_model_lifecycle.local.registry.query import ListOptions, Scope, parse_id
from kfp_model_lifecycle.local.registry.responses import RegistryJSONResponse as JSONResponse
from kfp_model_lifecycle.local.registry.responses import RenderedJSONResponse, json_bytes
from kfp_model_lifecycle.local.registry.store import Store
from kfp_model_lifecycle.local.registry.validation import int_id, json_body, list_options, lookup, name_scope

T = TypeVar("T")

# Kinds the real server names with a generated UUID when they are created without a name.
_GENERATED_NAMES = frozenset({"artifact", "inference_service", "serve_model"})


def _names(kind: EntityKind, data: dict[str, Any], owner: str | None) -> dict[str, Any]:
    """``data`` with a generated name where the real server generates one, its name and externalId checked."""
    if data.get("name") is None and kind.kind in _GENERATED_NAMES:
        data["name"] = generated_name()
    if data.get("name") is not None:
        check_stored_name(kind.label, data["name"], owner)
    check_external_id(kind.label, data.get("externalId"))
    return data


class RegistryApi:
    """Request handlers of the 40 operations, bound to one store.

    Lists and writes run in worker threads (each with its own reader connection, or the writer), so a slow
    filter or a write waiting for another process never stalls the other requests.

    Args:
        store: The database.
        patch_window: Seconds between an update's read of the stored custom properties and its write; a key it
            adds that another write stored meanwhile answers 409, like on the real server (0: no window).
    """

    def __init__(self, store: Store, *, patch_window: float = 0.0) -> None:
        self.store = store
        self.patch_window = patch_window

    @staticmethod
    async def _run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_in_threadpool(function, *args, **kwargs)

    # -- helpers -----------------------------------------------------------------------------------------

    def _require(self, kind: EntityKind, rid: str | int, *, subtype: str | None = None) -> dict[str, Any]:
        rid = int_id(str(rid), kind.label)
        entity = self.store.get(kind, rid, subtype)
        if entity is None:
            raise not_found(f"{kind.label} with id {rid} not found")
        return entity

    def _ref_exists(self, kind: EntityKind, rid: Any, field: str, status: int = 400) -> None:
        parsed = parse_id(rid)
        if parsed is None or self.store.get(kind, parsed) is None:
            raise ApiError(status, f"{field} {rid!r}: no {kind.label} with this id exists")

    def _list_json(self, kind: EntityKind, scope: Scope | None, options: ListOptions) -> bytes:
        items, token = self.store.list_json(kind, scope, options)
        tail = {"nextPageToken": token, "pageSize": options.page_size or 0, "size": len(items)}
        return b'{"items":[' + ",".join(items).encode() + b"]," + json_bytes(tail)[1:]

    async def _list(self, request: Request, kind: EntityKind, scope: Scope | None = None) -> Response:
        options = list_options(request)
        # Read and rendered in a worker thread: a list of 10,000 versions does not hold up the event loop.
        return RenderedJSONResponse(await self._run(self._list_json, kind, scope, options))

    def _find(
        self,
        request: Request,
        kind: EntityKind,
        *,
        parent_required: bool = False,
        artifact: bool = False,
        subtype: str | None = None,
    ) -> JSONResponse:
        query = lookup(request, kind, parent_required=parent_required)
        entity = self.store.find(kind, query.scope(artifact=artifact, subtype=subtype))
        if entity is None:
            raise not_found(f"no {kind.label} found for {query.describe()}")
        return JSONResponse(entity)

    async def _seen_keys(self, kind: EntityKind, rid: int) -> frozenset[str] | None:
        """With a patch window: the stored custom property keys, read before waiting the window out."""
        if self.patch_window <= 0:
            return None
        stored = self.store.get(kind, rid) or {}
        await asyncio.sleep(self.patch_window)
        return frozenset(stored.get("customProperties") or {})

    async def _update(
        self, kind: EntityKind, rid: int, changes: dict[str, Any], link_version: int | None = None
    ) -> dict[str, Any] | None:
        check_external_id(kind.label, changes.get("externalId"))
        seen = await self._seen_keys(kind, rid)
        return await self._run(self.store.update, kind, rid, changes, link_version=link_version, seen_keys=seen)

    async def _patch(self, kind: EntityKind, rid: int, body: Any) -> JSONResponse:
        changes = e.validate_body(kind.update, body, ignore=e.READ_ONLY_FIELDS)
        updated = await self._update(kind, rid, changes)
        if updated is None:
            raise not_found(f"{kind.label} with id {rid} not found")
        return JSONResponse(updated)

    async def _create(self, kind: EntityKind, data: dict[str, Any], owner: str | None, **where: Any) -> JSONResponse:
        created = await self._run(self.store.create, kind, _names(kind, data, owner), **where)
        return JSONResponse(created, status_code=201)

    # -- registered models -------------------------------------------------------------------------------

    async def list_registered_models(self, request: Request) -> Response:
        """GET /registered_models (getRegisteredModels)."""
        return await self._list(request, e.REGISTERED_MODEL)

    async def create_registered_model(self, request: Request) -> Response:
        """POST /registered_models (createRegisteredModel)."""
        data = e.validate_body(e.REGISTERED_MODEL.create, await json_body(request))
        return await self._create(e.REGISTERED_MODEL, data, None)

    async def get_registered_model(self, request: Request) -> Response:
        """GET /registered_models/{id} (getRegisteredModel)."""
        return JSONResponse(self._require(e.REGISTERED_MODEL, request.path_params["id"]))

    async def update_registered_model(self, request: Request) -> Response:
        """PATCH /registered_models/{id} (updateRegisteredModel)."""
        rid = int_id(request.path_params["id"], e.REGISTERED_MODEL.label)
        return await self._patch(e.REGISTERED_MODEL, rid, await json_body(request))

    async def find_registered_model(self, request: Request) -> Response:
        """GET /registered_model (findRegisteredModel)."""
        return self._find(request, e.REGISTERED_MODEL)

    async def list_registered_model_versions(self, request: Request) -> Response:
        """GET /registered_models/{id}/versions (getRegisteredModelVersions)."""
        model = self._require(e.REGISTERED_MODEL, request.path_params["id"])
        return await self._list(request, e.MODEL_VERSION, name_scope(request, parent_id=int(model["id"])))

    async def create_registered_model_version(self, request: Request) -> Response:
        """POST /registered_models/{id}/versions (createRegisteredModelVersion)."""
        model = self._require(e.REGISTERED_MODEL, request.path_params["id"])
        body = await json_body(request)
        if isinstance(body, dict):
            given = body.get("registeredModelId")
            if given is not None and str(given) != model["id"]:
                raise bad_request(
                    f"registeredModelId {given!r} does not match the registered model {model['id']} in the path"
                )
            body = {**body, "registeredModelId": model["id"]}
        return await self._create_version(body)

    # -- model versions ----------------------------------------------------------------------------------

    async def _create_version(self, body: Any) -> JSONResponse:
        data = e.validate_body(e.MODEL_VERSION.create, body, ignore=e.READ_ONLY_FIELDS)
        parent = data["registeredModelId"]
        self._ref_exists(e.REGISTERED_MODEL, parent, "registeredModelId", status=404)
        return await self._create(e.MODEL_VERSION, data, str(parent), parent_id=int(parent))

    async def list_model_versions(self, request: Request) -> Response:
        """GET /model_versions (getModelVersions)."""
        return await self._list(request, e.MODEL_VERSION)

    async def create_model_version(self, request: Request) -> Response:
        """POST /model_versions (createModelVersion)."""
        return await self._create_version(await json_body(request))

    async def get_model_version(self, request: Request) -> Response:
        """GET /model_versions/{id} (getModelVersion)."""
        return JSONResponse(self._require(e.MODEL_VERSION, request.path_params["id"]))

    async def update_model_version(self, request: Request) -> Response:
        """PATCH /model_versions/{id} (updateModelVersion)."""
        rid = int_id(request.path_params["id"], e.MODEL_VERSION.label)
        return await self._patch(e.MODEL_VERSION, rid, await json_body(request))

    async def find_model_version(self, request: Request) -> Response:
        """GET /model_version (findModelVersion)."""
        return self._find(request, e.MODEL_VERSION, parent_required=True)

    async def list_model_version_artifacts(self, request: Request) -> Response:
        """GET /model_versions/{id}/artifacts (getModelVersionArtifacts)."""
        version = self._require(e.MODEL_VERSION, request.path_params["id"])
        subtype = request.query_params.get("artifactType") or None
        kind = e.artifact_kind(subtype)
        return await self._list(
            request, kind, name_scope(request, linked_to_version=int(version["id"]), subtype=subtype)
        )

    async def upsert_model_version_artifact(self, request: Request) -> Response:
        """POST /model_versions/{id}/artifacts (upsertModelVersionArtifact): create+link, or link by id."""
        version = self._require(e.MODEL_VERSION, request.path_params["id"])
        version_id = int(version["id"])
        body = await json_body(request)
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
            updated = await self._update(kind, int(existing["id"]), changes, link_version=version_id)
            return JSONResponse(updated, status_code=200)
        return await self._create_artifact(body, parent_id=version_id, link_version=version_id)

    # -- artifacts ---------------------------------------------------------------------------------------

    async def _create_artifact(
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
        owner = UUID_OWNER if link_version is None else str(link_version)
        return await self._create(kind, data, owner, parent_id=parent_id, subtype=subtype, link_version=link_version)

    async def _patch_artifact(self, rid: int, body: Any, subtype: str | None) -> JSONResponse:
        existing = self._require(e.artifact_kind(None), rid, subtype=subtype)
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        stored = existing["artifactType"]
        given = body.get("artifactType")
        if given is not None and given != stored:
            raise bad_request(f"artifactType cannot change from {stored!r} to {given!r}")
        return await self._patch(e.artifact_kind(stored), rid, body)

    async def list_artifacts(self, request: Request) -> Response:
        """GET /artifacts (getArtifacts)."""
        subtype = request.query_params.get("artifactType") or None
        return await self._list(request, e.artifact_kind(subtype), Scope(subtype=subtype))

    async def create_artifact(self, request: Request) -> Response:
        """POST /artifacts (createArtifact)."""
        return await self._create_artifact(await json_body(request))

    async def get_artifact(self, request: Request) -> Response:
        """GET /artifacts/{id} (getArtifact)."""
        return JSONResponse(self._require(e.artifact_kind(None), request.path_params["id"]))

    async def update_artifact(self, request: Request) -> Response:
        """PATCH /artifacts/{id} (updateArtifact)."""
        rid = int_id(request.path_params["id"], "artifact")
        return await self._patch_artifact(rid, await json_body(request), None)

    async def find_artifact(self, request: Request) -> Response:
        """GET /artifact (findArtifact)."""
        return self._find(request, e.artifact_kind(None), parent_required=True, artifact=True)

    async def list_model_artifacts(self, request: Request) -> Response:
        """GET /model_artifacts (getModelArtifacts)."""
        return await self._list(request, e.artifact_kind(MODEL_ARTIFACT), Scope(subtype=MODEL_ARTIFACT))

    async def create_model_artifact(self, request: Request) -> Response:
        """POST /model_artifacts (createModelArtifact)."""
        return await self._create_artifact(await json_body(request), default_type=MODEL_ARTIFACT)

    async def get_model_artifact(self, request: Request) -> Response:
        """GET /model_artifacts/{id} (getModelArtifact)."""
        kind = e.artifact_kind(MODEL_ARTIFACT)
        return JSONResponse(self._require(kind, request.path_params["id"], subtype=MODEL_ARTIFACT))

    async def update_model_artifact(self, request: Request) -> Response:
        """PATCH /model_artifacts/{id} (updateModelArtifact)."""
        rid = int_id(request.path_params["id"], "model artifact")
        return await self._patch_artifact(rid, await json_body(request), MODEL_ARTIFACT)

    async def find_model_artifact(self, request: Request) -> Response:
        """GET /model_artifact (findModelArtifact)."""
        kind = e.artifact_kind(MODEL_ARTIFACT)
        return self._find(request, kind, parent_required=True, artifact=True, subtype=MODEL_ARTIFACT)

    # -- serving environments ----------------------------------------------------------------------------

    async def list_serving_environments(self, request: Request) -> Response:
        """GET /serving_environments (getServingEnvironments)."""
        return await self._list(request, e.SERVING_ENVIRONMENT)

    async def create_serving_environment(self, request: Request) -> Response:
        """POST /serving_environments (createServingEnvironment)."""
        data = e.validate_body(e.SERVING_ENVIRONMENT.create, await json_body(request))
        return await self._create(e.SERVING_ENVIRONMENT, data, None)

    async def get_serving_environment(self, request: Request) -> Response:
        """GET /serving_environments/{id} (getServingEnvironment)."""
        return JSONResponse(self._require(e.SERVING_ENVIRONMENT, request.path_params["id"]))

    async def update_serving_environment(self, request: Request) -> Response:
        """PATCH /serving_environments/{id} (updateServingEnvironment)."""
        rid = int_id(request.path_params["id"], e.SERVING_ENVIRONMENT.label)
        return await self._patch(e.SERVING_ENVIRONMENT, rid, await json_body(request))

    async def find_serving_environment(self, request: Request) -> Response:
        """GET /serving_environment (findServingEnvironment)."""
        return self._find(request, e.SERVING_ENVIRONMENT)

    async def list_environment_inference_services(self, request: Request) -> Response:
        """GET /serving_environments/{id}/inference_services (getEnvironmentInferenceServices)."""
        env = self._require(e.SERVING_ENVIRONMENT, request.path_params["id"])
        return await self._list(request, e.INFERENCE_SERVICE, name_scope(request, parent_id=int(env["id"])))

    async def create_environment_inference_service(self, request: Request) -> Response:
        """POST /serving_environments/{id}/inference_services (createEnvironmentInferenceService)."""
        env = self._require(e.SERVING_ENVIRONMENT, request.path_params["id"])
        body = await json_body(request)
        if isinstance(body, dict):
            given = body.get("servingEnvironmentId")
            if given is not None and str(given) != env["id"]:
                raise bad_request(
                    f"servingEnvironmentId {given!r} does not match the serving environment {env['id']} in the path"
                )
            body = {**body, "servingEnvironmentId": env["id"]}
        return await self._create_inference_service(body)

    # -- inference services ------------------------------------------------------------------------------

    def _check_model_version(self, version_id: Any, model_id: Any) -> None:
        self._ref_exists(e.MODEL_VERSION, version_id, "modelVersionId")
        version = self.store.get(e.MODEL_VERSION, int(version_id)) or {}
        if str(version.get("registeredModelId")) != str(model_id):
            raise bad_request(
                f"modelVersionId {version_id!r} belongs to registered model {version.get('registeredModelId')},"
                f" not to registeredModelId {model_id!r}"
            )

    async def _create_inference_service(self, body: Any) -> JSONResponse:
        data = e.validate_body(e.INFERENCE_SERVICE.create, body, ignore=e.READ_ONLY_FIELDS)
        self._ref_exists(e.SERVING_ENVIRONMENT, data["servingEnvironmentId"], "servingEnvironmentId")
        self._ref_exists(e.REGISTERED_MODEL, data["registeredModelId"], "registeredModelId")
        if data.get("modelVersionId") is not None:
            self._check_model_version(data["modelVersionId"], data["registeredModelId"])
        env_id = data["servingEnvironmentId"]
        return await self._create(e.INFERENCE_SERVICE, data, str(env_id), parent_id=int(env_id))

    async def list_inference_services(self, request: Request) -> Response:
        """GET /inference_services (getInferenceServices)."""
        return await self._list(request, e.INFERENCE_SERVICE)

    async def create_inference_service(self, request: Request) -> Response:
        """POST /inference_services (createInferenceService)."""
        return await self._create_inference_service(await json_body(request))

    async def get_inference_service(self, request: Request) -> Response:
        """GET /inference_services/{id} (getInferenceService)."""
        return JSONResponse(self._require(e.INFERENCE_SERVICE, request.path_params["id"]))

    async def update_inference_service(self, request: Request) -> Response:
        """PATCH /inference_services/{id} (updateInferenceService)."""
        existing = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        body = await json_body(request)
        if isinstance(body, dict) and body.get("modelVersionId") is not None:
            self._check_model_version(body["modelVersionId"], existing["registeredModelId"])
        return await self._patch(e.INFERENCE_SERVICE, int(existing["id"]), body)

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
            items, _ = await self._run(
                self.store.list,
                e.MODEL_VERSION,
                Scope(parent_id=int(isvc["registeredModelId"])),
                ListOptions(page_size=1, descending=True),
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
        return await self._list(request, e.SERVE_MODEL, name_scope(request, parent_id=int(isvc["id"])))

    async def create_inference_service_serve(self, request: Request) -> Response:
        """POST /inference_services/{id}/serves (createInferenceServiceServe)."""
        isvc = self._require(e.INFERENCE_SERVICE, request.path_params["id"])
        data = e.validate_body(e.SERVE_MODEL.create, await json_body(request), ignore=e.READ_ONLY_FIELDS)
        self._ref_exists(e.MODEL_VERSION, data["modelVersionId"], "modelVersionId")
        return await self._create(e.SERVE_MODEL, data, str(isvc["id"]), parent_id=int(isvc["id"]))
