"""The Model Registry REST API v1 (all 40 operations) as a Starlette application over :class:`.store.Store`.

This module routes: each path of the API to the handler of each method (:mod:`.handlers`), behind the access
policy and body limit (:mod:`.middleware`), with the registry's error bodies (:mod:`.errors`,
``{"code": "<HTTP status text>", "message": "..."}``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kfp_model_lifecycle.local.registry.conventions import BASE_PATH
from kfp_model_lifecycle.local.registry.errors import EXCEPTION_HANDLERS
from kfp_model_lifecycle.local.registry.handlers import RegistryApi
from kfp_model_lifecycle.local.registry.middleware import AccessPolicy, AuthAndLog
from kfp_model_lifecycle.local.registry.store import Store

__all__ = ["BASE_PATH", "build_app", "routes"]

Handler = Callable[[Request], Awaitable[Response]]


def routes(api: RegistryApi) -> list[Route]:
    """The 40 operations of ``api`` under :data:`BASE_PATH`."""
    table: list[tuple[str, dict[str, Handler]]] = [
        ("/registered_models", {"GET": api.list_registered_models, "POST": api.create_registered_model}),
        ("/registered_models/{id}", {"GET": api.get_registered_model, "PATCH": api.update_registered_model}),
        (
            "/registered_models/{id}/versions",
            {"GET": api.list_registered_model_versions, "POST": api.create_registered_model_version},
        ),
        ("/registered_model", {"GET": api.find_registered_model}),
        ("/model_versions", {"GET": api.list_model_versions, "POST": api.create_model_version}),
        ("/model_versions/{id}", {"GET": api.get_model_version, "PATCH": api.update_model_version}),
        (
            "/model_versions/{id}/artifacts",
            {"GET": api.list_model_version_artifacts, "POST": api.upsert_model_version_artifact},
        ),
        ("/model_version", {"GET": api.find_model_version}),
        ("/model_artifacts", {"GET": api.list_model_artifacts, "POST": api.create_model_artifact}),
        ("/model_artifacts/{id}", {"GET": api.get_model_artifact, "PATCH": api.update_model_artifact}),
        ("/model_artifact", {"GET": api.find_model_artifact}),
        ("/artifacts", {"GET": api.list_artifacts, "POST": api.create_artifact}),
        ("/artifacts/{id}", {"GET": api.get_artifact, "PATCH": api.update_artifact}),
        ("/artifact", {"GET": api.find_artifact}),
        (
            "/serving_environments",
            {"GET": api.list_serving_environments, "POST": api.create_serving_environment},
        ),
        (
            "/serving_environments/{id}",
            {"GET": api.get_serving_environment, "PATCH": api.update_serving_environment},
        ),
        (
            "/serving_environments/{id}/inference_services",
            {"GET": api.list_environment_inference_services, "POST": api.create_environment_inference_service},
        ),
        ("/serving_environment", {"GET": api.find_serving_environment}),
        ("/inference_services", {"GET": api.list_inference_services, "POST": api.create_inference_service}),
        (
            "/inference_services/{id}",
            {"GET": api.get_inference_service, "PATCH": api.update_inference_service},
        ),
        ("/inference_services/{id}/model", {"GET": api.get_inference_service_model}),
        ("/inference_services/{id}/version", {"GET": api.get_inference_service_version}),
        (
            "/inference_services/{id}/serves",
            {"GET": api.list_inference_service_serves, "POST": api.create_inference_service_serve},
        ),
        ("/inference_service", {"GET": api.find_inference_service}),
    ]
    return [Route(BASE_PATH + path, _dispatch(methods), methods=list(methods)) for path, methods in table]


def _dispatch(methods: dict[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method  # Starlette answers HEAD without the body
        return await methods[method](request)

    return endpoint


def build_app(
    store: Store, *, token: str | None = None, policy: AccessPolicy | None = None, patch_window: float = 0.0
) -> Starlette:
    """The ASGI application serving the registry API over ``store``.

    Args:
        store: The database.
        token: When set, every request must carry ``Authorization: Bearer <token>`` (else 401); ignored when
            ``policy`` is given.
        policy: Who may call and how big a body may be (default: ``token`` only, 1 MiB bodies).
        patch_window: Seconds between an update's read and its write (see :class:`.handlers.RegistryApi`).

    Returns:
        A Starlette application.
    """
    policy = policy or AccessPolicy(token=token)
    api = RegistryApi(store, patch_window=patch_window)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()  # also on SIGTERM: uvicorn shuts down gracefully first, so the WAL is checkpointed

    return Starlette(
        routes=routes(api),
        lifespan=lifespan,
        middleware=[Middleware(AuthAndLog, policy=policy)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
