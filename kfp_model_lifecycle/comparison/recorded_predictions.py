"""A version's per-example predictions, linked to it in the registry so a later comparison can use them.

The candidate's predictions Dataset is linked as a ``dataset-artifact`` named ``predictions-dataset`` with the
customProperty ``role = "predictions"`` (the shape register_model uses for its datasets); when that version is
the baseline of a later comparison, :func:`find_predictions_uri` finds the URI there.
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


def find_predictions_uri(conn: RegistryConnection, version: Mapping[str, Any]) -> str:
    """Where a version's per-example predictions were recorded, or "".

    Looks for a ``dataset-artifact`` of the version whose ``role`` customProperty is ``predictions`` (what
    :func:`record_predictions_artifact` links; the newest wins), then for the version's customProperty
    ``kml_predictions_uri``.

    Args:
        conn: From ``connect_model_registry``.
        version: The ModelVersion (wire form).

    Returns:
        The URI or "".
    """
    found = [
        a
        for a in dataset_artifacts(conn, str(version.get("id") or ""))
        if property_value(a.get("customProperties"), "role") == PREDICTIONS_ROLE and a.get("uri")
    ]
    if found:
        return str(sorted(found, key=_id_number)[-1]["uri"])
    return str(property_value(version.get("customProperties"), PREDICTIONS_URI_PROPERTY) or "")


def record_predictions_artifact(
    conn: RegistryConnection, version_id: str, uri: str, *, kfp_artifact_name: str = ""
) -> str:
    """Link the version's per-example predictions as a ``dataset-artifact`` (role ``predictions``).

    A later comparison in which this version is the baseline finds them with :func:`find_predictions_uri`.
    Idempotent: an existing ``predictions-dataset`` artifact with the same URI is left alone; one with another
    URI is updated.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.
        uri: The predictions Dataset's URI.
        kfp_artifact_name: The KFP artifact's name, recorded for lineage.

    Returns:
        ``created``, ``updated`` or ``unchanged``.
    """
    existing = [a for a in dataset_artifacts(conn, version_id) if a.get("name") == PREDICTIONS_ARTIFACT_NAME]
    if existing and existing[0].get("uri") == uri:
        return "unchanged"
    body: dict[str, Any] = {
        "artifactType": DATASET_ARTIFACT_TYPE,
        "name": PREDICTIONS_ARTIFACT_NAME,
        "uri": uri,
        "state": "LIVE",
        "customProperties": {
            "role": _string_property(PREDICTIONS_ROLE),
            "kfp_artifact_name": _string_property(kfp_artifact_name),
        },
    }
    if existing:
        body["id"] = str(existing[0]["id"])
    conn.call(
        f"link the predictions dataset to model version {version_id}",
        lambda api: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(body)),
    )
    return "updated" if existing else "created"
