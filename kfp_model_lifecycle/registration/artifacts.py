"""The version's artifacts: the ModelArtifact with the KFP lineage, the dataset artifacts, and linking them.

Artifacts are matched by name, so completing a half-written version (or repeating a write whose answer was lost)
adds only what is missing and never a second copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import RegistryError
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetRecord
from kfp_model_lifecycle.log import logger
from kfp_model_lifecycle.registration.properties import to_metadata_value

MODEL_SOURCE_KIND = "kfp"
MODEL_SOURCE_CLASS = "pipelinerun"
LIVE = "LIVE"
PAGE_SIZE = "100"


@dataclass(frozen=True)
class ModelFormat:
    """The model's serving format, by which KServe selects a runtime ("" when unknown).

    Attributes:
        name: e.g. ``sklearn``.
        version: e.g. ``1``.
    """

    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class ArtifactStorage:
    """How KServe reads the model artifact ("" when not needed).

    Attributes:
        key: Name of the storage connection (secret) KServe uses to read the URI.
        path: Path inside the storage, when the URI is not enough.
        service_account_name: Service account with access to the storage.
    """

    key: str = ""
    path: str = ""
    service_account_name: str = ""


def build_model_artifact(
    model_name: str,
    model_uri: str,
    context: RunContext,
    model_format: ModelFormat | None = None,
    storage: ArtifactStorage | None = None,
) -> Wire:
    """The ModelArtifact (wire form) with the KFP lineage in its ``modelSource*`` fields.

    Named after the model, as the official client does (so ``ModelRegistry.get_model_artifact(name, version)``
    finds it). ``modelSourceKind="kfp"``, ``modelSourceClass="pipelinerun"``, ``modelSourceGroup=<namespace>``,
    ``modelSourceId=<run id>``, ``modelSourceName=<run name>``; unknown values are left out.

    Args:
        model_name: The registered model's name.
        model_uri: The model artifact's URI.
        context: From ``collect_run_context``.
        model_format: The serving format (default: unknown).
        storage: How KServe reads the artifact (default: from the URI alone).

    Returns:
        The request body for ``POST /model_versions/{id}/artifacts``.
    """
    model_format = model_format or ModelFormat()
    storage = storage or ArtifactStorage()
    body = {
        "artifactType": "model-artifact",
        "name": model_name,
        "uri": model_uri,
        "state": LIVE,
        "modelFormatName": model_format.name,
        "modelFormatVersion": model_format.version,
        "storageKey": storage.key,
        "storagePath": storage.path,
        "serviceAccountName": storage.service_account_name,
        "modelSourceKind": MODEL_SOURCE_KIND,
        "modelSourceClass": MODEL_SOURCE_CLASS,
        "modelSourceGroup": context.namespace,
        "modelSourceId": context.run_id,
        "modelSourceName": context.run_name,
    }
    return {k: v for k, v in body.items() if v}


def build_dataset_artifacts(datasets: Sequence[DatasetRecord] | None) -> list[Wire]:
    """``dataset-artifact`` records (wire form) for the datasets, linked to the version later.

    Args:
        datasets: From ``describe_dataset_input``.

    Returns:
        One body per dataset with a URI: name ``<role>-dataset``, ``uri``, ``digest`` (``sha256:<hex>`` when
        the content was readable) and the role and KFP artifact name as custom properties.
    """
    bodies = []
    for dataset in datasets or []:
        if not dataset.uri:
            continue
        body: Wire = {
            "artifactType": "dataset-artifact",
            "name": f"{dataset.role or 'data'}-dataset",
            "uri": dataset.uri,
            "state": LIVE,
            "customProperties": {
                "role": to_metadata_value(dataset.role),
                "kfp_artifact_name": to_metadata_value(dataset.name),
            },
        }
        if dataset.sha256:
            body["digest"] = f"sha256:{dataset.sha256}"
        bodies.append(body)
    return bodies


def version_artifacts(conn: RegistryConnection, version_id: str) -> dict[str, Wire]:
    """The artifacts linked to a model version, by name.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        Artifact name -> the artifact as stored.
    """
    items = conn.list_all(
        f"list artifacts of model version {version_id}",
        lambda api, token: api.get_model_version_artifacts(version_id, page_size=PAGE_SIZE, next_page_token=token),
    )
    return {str(item.get("name")): item for item in items}


def ensure_version_artifacts(conn: RegistryConnection, version_id: str, artifacts: Sequence[Wire]) -> dict[str, Wire]:
    """Create and link the artifacts the version lacks (matched by name); existing ones are kept as they are.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.
        artifacts: Artifact bodies (wire form, with ``artifactType`` and ``name``).

    Returns:
        Artifact name -> the artifact as stored.

    Raises:
        RegistryError: When an artifact can neither be created nor found.
    """
    existing = version_artifacts(conn, version_id)
    for body in artifacts:
        name = str(body["name"])
        if name in existing:
            _warn_if_elsewhere(existing[name], body, version_id)
            continue
        created = conn.call(
            f"add {body['artifactType']} {name!r} to model version {version_id}",
            lambda api, b=body: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(b)),
            tolerate=(409,),
        )
        if not created:
            existing = version_artifacts(conn, version_id)  # added concurrently, or by an earlier attempt
            if name not in existing:
                raise RegistryError(
                    f"Model Registry at {conn.url}: adding artifact {name!r} to model version {version_id}"
                    " conflicted (409) but the version has no artifact of that name: re-run the task",
                    status=409,
                )
            created = existing[name]
        existing[name] = created
    return existing


def _warn_if_elsewhere(stored: Wire, body: Wire, version_id: str) -> None:
    """Warn when an artifact the version already has points at another URI than this run's."""
    if body.get("uri") and stored.get("uri") != body.get("uri"):
        logger.warning(
            "artifact %r of version %s already points at %s (kept; this run has %s)",
            body["name"],
            version_id,
            stored.get("uri"),
            body.get("uri"),
        )
