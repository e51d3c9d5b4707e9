"""The discovery documents of the local API server: version, API groups and resources, OpenAPI v3.

Just enough for the ``kubernetes`` client and ``kubectl`` (``get``, ``apply``, ``describe``, ``delete``) to find
InferenceServices (and ``get`` the predictor Deployments of RawDeployment ones). The OpenAPI schema is permissive
(the real CRD schema is not bundled): unknown fields are kept, as with ``fieldValidation=Ignore``.
"""

from __future__ import annotations

from typing import Any

from kfp_model_lifecycle.local.cluster.store import API_VERSION, GROUP, KIND, PLURAL, VERSION

KUBE_VERSION: dict[str, Any] = {
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
"""``GET /version``."""

CORE_VERSIONS: dict[str, Any] = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
"""``GET /api``."""

_GROUP_VERSION = {"groupVersion": API_VERSION, "version": VERSION}
_GROUP = {"name": GROUP, "versions": [_GROUP_VERSION], "preferredVersion": _GROUP_VERSION}

_APPS_VERSION = {"groupVersion": "apps/v1", "version": "v1"}
_APPS = {"name": "apps", "versions": [_APPS_VERSION], "preferredVersion": _APPS_VERSION}

API_GROUP_LIST: dict[str, Any] = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_APPS, _GROUP]}
"""``GET /apis``."""

API_GROUP: dict[str, Any] = {"kind": "APIGroup", "apiVersion": "v1", **_GROUP}
"""``GET /apis/serving.kserve.io``."""

API_RESOURCES: dict[str, Any] = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": API_VERSION,
    "resources": [
        {"name": PLURAL, "singularName": "inferenceservice", "namespaced": True, "kind": KIND,
         "verbs": ["delete", "get", "list", "patch", "create", "update", "watch"],
         "shortNames": ["isvc"], "categories": ["all"]},
        {"name": f"{PLURAL}/status", "singularName": "", "namespaced": True, "kind": KIND,
         "verbs": ["get", "patch", "update"]},
    ],
}  # fmt: skip
"""``GET /apis/serving.kserve.io/v1beta1``."""

APPS_RESOURCES: dict[str, Any] = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "apps/v1",
    "resources": [
        {"name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
         "verbs": ["get"], "shortNames": ["deploy"], "categories": ["all"]},
    ],
}  # fmt: skip
"""``GET /apis/apps/v1``: the predictor Deployments of RawDeployment InferenceServices (read only)."""

OPENAPI_INDEX: dict[str, Any] = {
    "paths": {f"apis/{GROUP}/{VERSION}": {"serverRelativeURL": f"/openapi/v3/apis/{GROUP}/{VERSION}?hash=kml"}}
}
"""``GET /openapi/v3``."""

_GVK = {"group": GROUP, "version": VERSION, "kind": KIND}
_OPERATION = {
    "x-kubernetes-group-version-kind": _GVK,
    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
}
_COLLECTION_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}"

OPENAPI_GROUP: dict[str, Any] = {
    "openapi": "3.0.0",
    "info": {"title": "Kubernetes (kml local cluster)", "version": KUBE_VERSION["gitVersion"]},
    "paths": {
        _COLLECTION_PATH: {"post": _OPERATION},
        f"{_COLLECTION_PATH}/{{name}}": {"patch": _OPERATION, "put": _OPERATION},
    },
    "components": {
        "schemas": {
            f"io.kserve.serving.{VERSION}.{KIND}": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-group-version-kind": [_GVK],
            }
        }
    },
}
"""``GET /openapi/v3/apis/serving.kserve.io/v1beta1``: a permissive schema that lets ``kubectl apply`` send."""
