"""A version's per-example predictions, recorded in the registry so a later comparison can use them.

The candidate's predictions Dataset is recorded as a ``dataset-artifact`` named
``predictions-dataset-of-version-<version id>`` with the customProperty ``role = "predictions"`` (the shape
register_model uses for its datasets) and the ``externalId`` ``kml-predictions:<version id>``; when that version is
the baseline of a later comparison, :func:`find_predictions_uri` finds the URI there. The artifact is NOT linked to
the version: KServe's ``model-registry://`` storage initializer takes a version's newest artifact and fails unless
it is the model artifact (kubeflow/hub ``cmd/csi``), and the predictions are written after registration. The
version is named in the reference property ``kml_model_version_id``. Predictions that earlier releases linked to
versions are still found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mr_openapi import models
from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.comparison.conventions import (
    DATASET_ARTIFACT_TYPE,
    PREDICTIONS_ARTIFACT_NAME,
    PREDICTIONS_ROLE,
    PREDICTIONS_URI_PROPERTY,
)
from kfp_model_lifecycle.comparison.versions import property_value

PREDICTIONS_EXTERNAL_ID = "kml-predictions:{version_id}"
REFERENCE_VERSION_ID = "kml_model_version_id"


def _string_property(value: str) -> dict[str, str]:
    return {"string_value": value, "metadataType": "MetadataStringValue"}


def _id_number(artifact: Mapping[str, Any]) -> int:
    text = str(artifact.get("id") or "0")
    return int(text) if text.isdigit() else 0


def dataset_artifacts(conn: RegistryConnection, version_id: str) -> list[dict[str, Any]]:
    """The ``dataset-artifact`` items linked to a model version (the first 100), in wire form.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        The artifacts.
    """
    page = conn.call(
        f"list dataset artifacts of model version {version_id}",
        lambda api: api.get_model_version_artifacts(
            version_id, artifact_type=ArtifactTypeQueryParam(DATASET_ARTIFACT_TYPE), page_size="100"
        ),
    )
    return list((page or {}).get("items") or [])


def recorded_predictions(conn: RegistryConnection, version_id: str) -> dict[str, Any] | None:
    """The predictions artifact :func:`record_predictions_artifact` wrote for a version, or None.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        The artifact in wire form (found by its externalId ``kml-predictions:<version id>``), or None.
    """
    external_id = PREDICTIONS_EXTERNAL_ID.format(version_id=version_id)
    return conn.call(
        f"find the predictions of model version {version_id}",
        lambda api: api.find_artifact(external_id=external_id),
        tolerate=(404,),
    )


def find_predictions_uri(conn: RegistryConnection, version: Mapping[str, Any]) -> str:
    """Where a version's per-example predictions were recorded, or "".

    Looks for the artifact :func:`record_predictions_artifact` writes, then for a ``dataset-artifact`` linked to
    the version whose ``role`` customProperty is ``predictions`` (what earlier releases linked; the newest wins),
    then for the version's customProperty ``kml_predictions_uri``.

    Args:
        conn: From ``connect_model_registry``.
        version: The ModelVersion (wire form).

    Returns:
        The URI or "".
    """
    version_id = str(version.get("id") or "")
    recorded = recorded_predictions(conn, version_id) if version_id else None
    if recorded and recorded.get("uri"):
        return str(recorded["uri"])
    found = [
        a
        for a in dataset_artifacts(conn, version_id)
        if property_value(a.get("customProperties"), "role") == PREDICTIONS_ROLE and a.get("uri")
    ]
    if found:
        return str(sorted(found, key=_id_number)[-1]["uri"])
    return str(property_value(version.get("customProperties"), PREDICTIONS_URI_PROPERTY) or "")


def record_predictions_artifact(
    conn: RegistryConnection, version_id: str, uri: str, *, kfp_artifact_name: str = ""
) -> str:
    """Record the version's per-example predictions as a ``dataset-artifact`` (role ``predictions``).

    A later comparison in which this version is the baseline finds them with :func:`find_predictions_uri`. The
    artifact is created on its own (``POST /artifacts``, externalId ``kml-predictions:<version id>``), not linked
    to the version. Idempotent: an existing one with the same URI is left alone; one with another URI gets the new
    URI.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.
        uri: The predictions Dataset's URI.
        kfp_artifact_name: The KFP artifact's name, recorded for lineage.

    Returns:
        ``created``, ``updated`` or ``unchanged``.
    """
    existing = recorded_predictions(conn, version_id)
    if existing is None:
        body: dict[str, Any] = {
            "artifactType": DATASET_ARTIFACT_TYPE,
            "name": f"{PREDICTIONS_ARTIFACT_NAME}-of-version-{version_id}",
            "externalId": PREDICTIONS_EXTERNAL_ID.format(version_id=version_id),
            "uri": uri,
            "state": "LIVE",
            "customProperties": {
                "role": _string_property(PREDICTIONS_ROLE),
                "kfp_artifact_name": _string_property(kfp_artifact_name),
                REFERENCE_VERSION_ID: _string_property(str(version_id)),
            },
        }
        created = conn.call(
            f"record the predictions dataset of model version {version_id}",
            lambda api: api.create_artifact(models.ArtifactCreate.from_dict(body)),
            tolerate=(409,),
        )
        if created:
            return "created"
        existing = recorded_predictions(conn, version_id) or {}  # recorded concurrently
    if existing.get("uri") == uri:
        return "unchanged"
    update = {"artifactType": DATASET_ARTIFACT_TYPE, "uri": uri, "state": "LIVE"}
    artifact_id = str(existing.get("id"))
    conn.call(
        f"update the predictions dataset of model version {version_id}",
        lambda api: api.update_artifact(artifact_id, models.ArtifactUpdate.from_dict(update)),
    )
    return "updated"
