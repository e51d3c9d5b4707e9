"""The entity types of the Model Registry REST API v1 and validation of request bodies.

The wire format is the one the official client expects: the generated ``mr_openapi`` models of
``model-registry==0.3.18`` define and validate every request body here (unknown fields, wrong types,
bad enum values), so the embedded server accepts exactly what the client sends; custom property values are
checked by :mod:`.metadata` as the real server stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydantic

from kfp_model_lifecycle.local.registry.client_models import models as m
from kfp_model_lifecycle.local.registry.errors import ApiError, bad_request
from kfp_model_lifecycle.local.registry.filter_query import Field
from kfp_model_lifecycle.local.registry.metadata import validate_metadata_value

# Fields every entity stores in its own columns (the rest go into the JSON ``fields`` column).
BASE_FIELDS = ("id", "name", "externalId", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "customProperties")
# Server-assigned fields that clients may echo back in a body (ignored there, like the real server does).
READ_ONLY_FIELDS = frozenset({"id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"})
ID_FIELDS = frozenset({"registeredModelId", "servingEnvironmentId", "modelVersionId"})


@dataclass(frozen=True)
class EntityKind:
    """How one entity type of the API is stored, validated and filtered.

    Attributes:
        kind: The value of the ``kind`` column.
        label: Human name used in error messages.
        create: Body model of the create operation.
        update: Body model of the update (PATCH) operation.
        fields: Wire names of the entity's own fields stored in the JSON ``fields`` column.
        parent_field: Wire field naming the parent resource (unique names are per parent), if any.
        defaults: Values set when a create body omits them.
    """

    kind: str
    label: str
    create: type[pydantic.BaseModel]
    update: type[pydantic.BaseModel]
    fields: tuple[str, ...]
    parent_field: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def filter_fields(self) -> dict[str, Field]:
        """The refs a ``filterQuery`` on this entity resolves to entity fields (the rest are custom properties)."""
        refs = {
            "id": Field("r.id", "id"),
            "name": Field("r.name", "str"),
            "externalId": Field("r.external_id", "str"),
            "createTimeSinceEpoch": Field("r.create_time", "int"),
            "lastUpdateTimeSinceEpoch": Field("r.update_time", "int"),
        }
        for name in self.fields:
            if name in ID_FIELDS:
                refs[name] = Field(f"json_extract(r.fields, '$.{name}')", "id")
            elif name == "value" and self.kind == "artifact":
                refs[name] = Field(f"json_extract(r.fields, '$.{name}')", "float")
            else:
                refs[name] = Field(f"json_extract(r.fields, '$.{name}')", "str")
        return refs


def _own_fields(model: type[pydantic.BaseModel]) -> tuple[str, ...]:
    names = [f.alias or n for n, f in model.model_fields.items()]
    return tuple(n for n in names if n not in BASE_FIELDS)


REGISTERED_MODEL = EntityKind(
    "registered_model",
    "registered model",
    m.RegisteredModelCreate,
    m.RegisteredModelUpdate,
    _own_fields(m.RegisteredModel),
    defaults={"state": "LIVE"},
)
MODEL_VERSION = EntityKind(
    "model_version",
    "model version",
    m.ModelVersionCreate,
    m.ModelVersionUpdate,
    _own_fields(m.ModelVersion),
    parent_field="registeredModelId",
    defaults={"state": "LIVE"},
)
SERVING_ENVIRONMENT = EntityKind(
    "serving_environment",
    "serving environment",
    m.ServingEnvironmentCreate,
    m.ServingEnvironmentUpdate,
    _own_fields(m.ServingEnvironment),
)
INFERENCE_SERVICE = EntityKind(
    "inference_service",
    "inference service",
    m.InferenceServiceCreate,
    m.InferenceServiceUpdate,
    _own_fields(m.InferenceService),
    parent_field="servingEnvironmentId",
    defaults={"desiredState": "DEPLOYED"},
)
SERVE_MODEL = EntityKind(
    "serve_model",
    "serve model",
    m.ServeModelCreate,
    m.ServeModelUpdate,
    _own_fields(m.ServeModel),
    defaults={"lastKnownState": "UNKNOWN"},
)

# Artifacts share one id space and one table kind; ``artifactType`` tells them apart.
ARTIFACT_TYPES: dict[str, tuple[type[pydantic.BaseModel], type[pydantic.BaseModel], type[pydantic.BaseModel]]] = {
    "model-artifact": (m.ModelArtifactCreate, m.ModelArtifactUpdate, m.ModelArtifact),
    "doc-artifact": (m.DocArtifactCreate, m.DocArtifactUpdate, m.DocArtifact),
    "dataset-artifact": (m.DataSetCreate, m.DataSetUpdate, m.DataSet),
    "metric": (m.MetricCreate, m.MetricUpdate, m.Metric),
    "parameter": (m.ParameterCreate, m.ParameterUpdate, m.Parameter),
}
_ALL_ARTIFACT_FIELDS = tuple(dict.fromkeys(f for t in ARTIFACT_TYPES.values() for f in _own_fields(t[2])))


def artifact_kind(artifact_type: str | None) -> EntityKind:
    """The entity kind for one artifact type, or for all artifacts when ``artifact_type`` is None."""
    if artifact_type is None:
        return EntityKind("artifact", "artifact", m.ModelArtifactCreate, m.ModelArtifactUpdate, _ALL_ARTIFACT_FIELDS)
    if artifact_type not in ARTIFACT_TYPES:
        allowed = ", ".join(ARTIFACT_TYPES)
        raise bad_request(f"invalid artifactType {artifact_type!r}: expected one of {allowed}")
    create, update, out = ARTIFACT_TYPES[artifact_type]
    return EntityKind(
        "artifact",
        artifact_type.replace("-", " "),
        create,
        update,
        _own_fields(out),
        defaults={"artifactType": artifact_type, "state": "UNKNOWN"},
    )


def _describe_validation_error(exc: pydantic.ValidationError) -> tuple[int, str]:
    missing = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "missing"]
    if missing:
        return 422, f"required field(s) missing: {', '.join(missing)}"
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    return 400, "; ".join(parts)


def validate_body(
    model: type[pydantic.BaseModel], body: Any, *, ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Validate a JSON request body against an ``mr_openapi`` model and return it in wire form.

    Args:
        model: The generated body model (e.g. ``ModelVersionCreate``).
        body: The decoded JSON body.
        ignore: Extra keys accepted and dropped (server-assigned fields a client may echo back).

    Returns:
        The body as a dict with wire (camelCase) names, defaults applied and ``None`` values dropped.

    Raises:
        ApiError: 400 for a non-object body, unknown fields, wrong types or bad enum values; 422 when a
            required field is missing.
    """
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    allowed = {f.alias or n for n, f in model.model_fields.items()}
    for key in body:
        if key not in allowed and key not in ignore:
            raise bad_request(f'json: unknown field "{key}"')
    body = {k: v for k, v in body.items() if k in allowed}
    # Custom properties are validated one by one here (cheaper than the generated oneOf wrapper, same rules).
    props = body.pop("customProperties", None)
    if props is not None and not isinstance(props, dict):
        raise bad_request("customProperties: expected an object of metadata values")
    try:
        obj = model.model_validate(body)
    except pydantic.ValidationError as exc:
        status, message = _describe_validation_error(exc)
        raise ApiError(status, message) from None
    data = obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    if props is not None:
        data["customProperties"] = {name: validate_metadata_value(name, value) for name, value in props.items()}
    return data
