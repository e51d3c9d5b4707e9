"""Secrets and CustomResourceDefinitions of the local API server: what installation checks read.

- ``/api/v1/namespaces/{ns}/secrets``: GET list, POST create (201; 409 AlreadyExists; ``stringData`` merged into
  base64 ``data`` and dropped, as the API server does; ``data`` values that are not base64 answer 400, keys outside
  ``[-._a-zA-Z0-9]+`` 422); ``.../secrets/{name}``: GET (404 NotFound). Tests may also call
  :meth:`SecretStore.put` (``LocalCluster.create_secret``).
- ``/apis/apiextensions.k8s.io/v1/customresourcedefinitions[/{name}]``: GET list and GET of KServe's
  ``inferenceservices.serving.kserve.io`` (served ``v1beta1``, ``Established``; a permissive schema, not KServe's
  2 MB one). A stand-in started without KServe (``LocalCluster(kserve=False)``) has no CRD and does not serve
  ``serving.kserve.io`` at all, like a cluster where KServe is not installed.
- Discovery: ``/api/v1`` (secrets), ``/apis/apiextensions.k8s.io/v1``, and ``/apis`` listing the groups served.

Authorization is the API server's (``--forbid get:secrets``, ``get:customresourcedefinitions``). By default a
pipeline's service account may read Secrets of its namespace (Kubeflow's ``kubeflow-edit``) but not the
cluster-scoped CRDs.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kfp_model_lifecycle.local.cluster import discovery
from kfp_model_lifecycle.local.cluster.store import (
    CRDS,
    EXTENSIONS_GROUP,
    GROUP,
    KIND,
    PLURAL,
    SECRETS,
    VERSION,
    ApiError,
    bad_request,
    now_rfc3339,
)

if TYPE_CHECKING:
    from kfp_model_lifecycle.local.cluster.api import ApiServer

Handler = Callable[[Request], Awaitable[Response]]

CRD_NAME = f"{PLURAL}.{GROUP}"
SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
MAX_SECRET_NAME = 253


def secret_not_found(name: str) -> ApiError:
    """404 for a Secret, as the API server words it (core group: no ``group`` in the details)."""
    error = ApiError(404, "NotFound", f'{SECRETS} "{name}" not found', name=name, kind=SECRETS)
    error.details.pop("group", None)
    return error


def crd_not_found(name: str) -> ApiError:
    """404 for a CustomResourceDefinition."""
    error = ApiError(404, "NotFound", f'{CRDS}.{EXTENSIONS_GROUP} "{name}" not found', name=name, kind=CRDS)
    error.details["group"] = EXTENSIONS_GROUP
    return error


def _invalid_secret(name: str, field: str, value: Any, detail: str) -> ApiError:
    error = ApiError(422, "Invalid", f'Secret "{name}" is invalid: {field}: Invalid value: "{value}": {detail}')
    error.details = {"name": name, "kind": "Secret"}
    return error


def _checked_data(name: str, body: Mapping[str, Any]) -> dict[str, str]:
    """``data`` (base64 checked) with ``stringData`` merged in, as the API server stores a Secret."""
    data = body.get("data") or {}
    strings = body.get("stringData") or {}
    if not isinstance(data, dict) or not isinstance(strings, dict):
        raise bad_request("data and stringData must be objects")
    stored: dict[str, str] = {}
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            message = f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data ({key})'
            raise bad_request(message) from None
        stored[str(key)] = str(value)
    for key, value in strings.items():
        stored[str(key)] = base64.b64encode(str(value).encode()).decode()
    for key in stored:
        if not SECRET_KEY.fullmatch(key):
            raise _invalid_secret(name, f"data[{key}]", key, "a valid config key must consist of alphanumeric"
                                  " characters, '-', '_' or '.'")  # fmt: skip
    return stored


class SecretStore:
    """Secrets by namespace and name, in memory (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self._rv = 0

    def create(self, namespace: str, body: Any) -> dict[str, Any]:
        """Store a new Secret, as ``POST /api/v1/namespaces/{ns}/secrets``.

        Args:
            namespace: The namespace.
            body: The Secret.

        Returns:
            The stored Secret (``data`` base64, no ``stringData``).

        Raises:
            ApiError: 400 for a malformed body, 422 for a bad name or key, 409 when it exists.
        """
        if not isinstance(body, dict):
            raise bad_request("a Secret must be a JSON object")
        meta = dict(body.get("metadata") or {})
        name = str(meta.get("name") or "")
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if not SECRET_NAME.fullmatch(name) or len(name) > MAX_SECRET_NAME:
            raise _invalid_secret(name, "metadata.name", name, "a lowercase RFC 1123 subdomain must consist of"
                                  " lower case alphanumeric characters, '-' or '.'")  # fmt: skip
        data = _checked_data(name, body)
        with self._lock:
            if (namespace, name) in self._secrets:
                error = ApiError(409, "AlreadyExists", f'{SECRETS} "{name}" already exists', name=name, kind=SECRETS)
                error.details.pop("group", None)
                raise error
            self._rv += 1
            meta.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                resourceVersion=str(self._rv),
                creationTimestamp=now_rfc3339(),
            )
            secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": body.get("type") or "Opaque"}
            if data:
                secret["data"] = data
            self._secrets[(namespace, name)] = secret
            return copy.deepcopy(secret)

    def put(self, namespace: str, name: str, values: Mapping[str, str]) -> dict[str, Any]:
        """Create a Secret from plain values (tests; ``LocalCluster.create_secret``).

        Args:
            namespace: The namespace.
            name: The Secret.
            values: Key -> plain text value (stored base64, as ``stringData`` is).

        Returns:
            The stored Secret.
        """
        return self.create(namespace, {"metadata": {"name": name}, "stringData": dict(values)})

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """A Secret.

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self._lock:
            found = self._secrets.get((namespace, name))
            if found is None:
                raise secret_not_found(name)
            return copy.deepcopy(found)

    def list(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        """The Secrets of a namespace, by name, and the store's resourceVersion."""
        with self._lock:
            items = [copy.deepcopy(s) for (ns, _), s in sorted(self._secrets.items()) if ns == namespace]
            return items, str(self._rv)


def inference_service_crd() -> dict[str, Any]:
    """KServe's InferenceService CRD as the API server returns it (a permissive schema; established)."""
    names = {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": "inferenceservice",
             "shortNames": ["isvc"]}  # fmt: skip
    condition = {"lastTransitionTime": "2026-01-01T00:00:00Z", "message": "the initial names have been accepted",
                 "reason": "InitialNamesAccepted", "status": "True"}  # fmt: skip
    return {
        "apiVersion": f"{EXTENSIONS_GROUP}/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "uid": "00000000-0000-0000-0000-00000000c4d0",
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }
            ],
            "conversion": {"strategy": "None"},
        },
        "status": {
            "acceptedNames": names,
            "conditions": [
                {**condition, "type": "NamesAccepted", "reason": "NoConflicts", "message": "no conflicts"},
                {**condition, "type": "Established"},
            ],
            "storedVersions": [VERSION],
        },
    }


CORE_RESOURCES: dict[str, Any] = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": SECRETS, "singularName": "secret", "namespaced": True, "kind": "Secret",
         "verbs": ["create", "get", "list"]},
    ],
}  # fmt: skip
"""``GET /api/v1``: the only core resource the stand-in serves."""

EXTENSIONS_RESOURCES: dict[str, Any] = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{EXTENSIONS_GROUP}/v1",
    "resources": [
        {"name": CRDS, "singularName": "customresourcedefinition", "namespaced": False,
         "kind": "CustomResourceDefinition", "verbs": ["get", "list"], "shortNames": ["crd", "crds"],
         "categories": ["api-extensions"]},
    ],
}  # fmt: skip
"""``GET /apis/apiextensions.k8s.io/v1``."""


def api_group_list(kserve: bool) -> dict[str, Any]:
    """``GET /apis``: the groups served (``serving.kserve.io`` only with KServe installed).

    Args:
        kserve: Whether KServe is installed.

    Returns:
        The APIGroupList.
    """
    extensions = {"groupVersion": f"{EXTENSIONS_GROUP}/v1", "version": "v1"}
    groups = [
        {"name": EXTENSIONS_GROUP, "versions": [extensions], "preferredVersion": extensions},
        *(g for g in discovery.API_GROUP_LIST["groups"] if kserve or g["name"] != GROUP),
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class CoreResources:
    """The handlers of Secrets, CRDs and their discovery, authorized by the :class:`ApiServer` they belong to.

    Args:
        server: The API server (its ``_authorize`` decides 403s).
        kserve: Whether KServe (its CRD) is installed.
    """

    def __init__(self, server: ApiServer, *, kserve: bool = True) -> None:
        self.server = server
        self.kserve = kserve
        self.secrets = SecretStore()

    def routes(self) -> list[Route]:
        """The routes to add to the API server's application."""
        crds = f"/apis/{EXTENSIONS_GROUP}/v1/{CRDS}"
        return [
            Route("/apis", _static(api_group_list(self.kserve)), methods=["GET"]),
            Route("/api/v1", _static(CORE_RESOURCES), methods=["GET"]),
            Route("/api/v1/namespaces/{ns}/secrets", self._secret_collection, methods=["GET", "POST"]),
            Route("/api/v1/namespaces/{ns}/secrets/{name}", self._secret, methods=["GET"]),
            Route(f"/apis/{EXTENSIONS_GROUP}/v1", _static(EXTENSIONS_RESOURCES), methods=["GET"]),
            Route(crds, self._crd_list, methods=["GET"]),
            Route(f"{crds}/{{name}}", self._crd, methods=["GET"]),
        ]

    async def _secret_collection(self, request: Request) -> Response:
        namespace = request.path_params["ns"]
        if request.method == "POST":
            self.server._authorize("create", SECRETS, namespace)
            created = self.secrets.create(namespace, await self.server._json(request))
            return JSONResponse(created, status_code=201)
        self.server._authorize("list", SECRETS, namespace)
        items, resource_version = self.secrets.list(namespace)
        listed = {"apiVersion": "v1", "kind": "SecretList", "items": items}
        return JSONResponse({**listed, "metadata": {"resourceVersion": resource_version}})

    async def _secret(self, request: Request) -> Response:
        namespace, name = request.path_params["ns"], request.path_params["name"]
        self.server._authorize("get", SECRETS, namespace, name)
        return JSONResponse(self.secrets.get(namespace, name))

    def _crds(self) -> list[dict[str, Any]]:
        return [inference_service_crd()] if self.kserve else []

    async def _crd_list(self, request: Request) -> Response:
        self.server._authorize("list", CRDS, None)
        return JSONResponse(
            {
                "apiVersion": f"{EXTENSIONS_GROUP}/v1",
                "kind": "CustomResourceDefinitionList",
                "items": self._crds(),
                "metadata": {"resourceVersion": "1"},
            }
        )

    async def _crd(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.server._authorize("get", CRDS, None, name)
        found = next((crd for crd in self._crds() if crd["metadata"]["name"] == name), None)
        if found is None:
            raise crd_not_found(name)
        return JSONResponse(found)


def _static(body: dict[str, Any]) -> Handler:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(body)

    return endpoint


__all__ = ["CRD_NAME", "CoreResources", "SecretStore", "api_group_list", "inference_service_crd"]
