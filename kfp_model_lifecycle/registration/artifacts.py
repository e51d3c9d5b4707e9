"""The version's artifacts: the ModelArtifact with the KFP lineage, and the dataset artifacts that reference it.

Only the ModelArtifact is linked to the version. KServe's ``model-registry://`` storage initializer
(kubeflow/hub ``cmd/csi``, ``modelregistry_provider.go``) lists the version's artifacts newest first
(``orderBy=CREATE_TIME``, ``sortOrder=DESC``) and fails with "no model artifact found" unless the first one is a
model artifact, while the registry UI shows the version's FIRST artifact (by id) as its model: so the model
artifact must be the version's only artifact. It carries the reference property ``kml_model_version_id`` (readers
tell complete versions by it). Dataset artifacts are created on their own (``POST /artifacts``),
named ``<role>-dataset-of-version-<version id>``, with the ``externalId`` ``kml-dataset:<version id>:<index>``
(unique in the registry: a retried or concurrent write finds the one already created) and the reference
properties ``kml_model_version_id``, ``kml_registered_model_id``, ``kml_model_name`` and ``kml_version_name``;
:func:`version_dataset_artifacts` lists them (and the ones earlier releases linked to versions). The model
artifact is matched by name, so completing a half-written version (or repeating a write whose answer was lost)
adds only what is missing and never a second copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mr_openapi import models
from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import RegistryError
from kfp_model_lifecycle.lifecycle import MODEL_ARTIFACT_VERSION_ID
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetRecord
from kfp_model_lifecycle.log import logger
from kfp_model_lifecycle.registration.names import bounded_external_id, check_artifact_name
from kfp_model_lifecycle.registration.properties import to_metadata_value

MODEL_SOURCE_KIND = "kfp"
MODEL_SOURCE_CLASS = "pipelinerun"
LIVE = "LIVE"
PAGE_SIZE = "100"
MODEL_ARTIFACT_TYPE = "model-artifact"
DATASET_ARTIFACT_TYPE = "dataset-artifact"
DATASET_EXTERNAL_ID = "kml-dataset:{version_id}:{index}"
# reference properties of artifacts that belong to a version without being linked to it
REFERENCE_VERSION_ID = "kml_model_version_id"
REFERENCE_MODEL_ID = "kml_registered_model_id"
REFERENCE_MODEL_NAME = "kml_model_name"
REFERENCE_VERSION_NAME = "kml_version_name"


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
    *,
    pipeline_run: bool = True,
) -> Wire:
    """The ModelArtifact (wire form) with the KFP lineage in its ``modelSource*`` fields.

    Named after the model, as the official client does (so ``ModelRegistry.get_model_artifact(name, version)``
    finds it). ``modelSourceKind="kfp"``, ``modelSourceClass="pipelinerun"``, ``modelSourceGroup=<namespace>``,
    ``modelSourceId=<run id>``, ``modelSourceName=<run name>``; unknown values are left out, and so are all five for
    a registration made outside a pipeline (``pipeline_run=False``: there is no run to name).

    Args:
        model_name: The registered model's name.
        model_uri: The model artifact's URI.
        context: From ``collect_run_context``.
        model_format: The serving format (default: unknown).
        storage: How KServe reads the artifact (default: from the URI alone).
        pipeline_run: Whether a KFP pipeline run registers the model.

    Returns:
        The request body for ``POST /model_versions/{id}/artifacts``.
    """
    model_format = model_format or ModelFormat()
    storage = storage or ArtifactStorage()
    body = {
        "artifactType": MODEL_ARTIFACT_TYPE,
        "name": check_artifact_name(model_name, linked=True),
        "uri": model_uri,
        "state": LIVE,
        "modelFormatName": model_format.name,
        "modelFormatVersion": model_format.version,
        "storageKey": storage.key,
        "storagePath": storage.path,
        "serviceAccountName": storage.service_account_name,
    }
    if pipeline_run:
        body.update(
            modelSourceKind=MODEL_SOURCE_KIND,
            modelSourceClass=MODEL_SOURCE_CLASS,
            modelSourceGroup=context.namespace,
            modelSourceId=context.run_id,
            modelSourceName=context.run_name,
        )
    return {k: v for k, v in body.items() if v}


def build_dataset_artifacts(datasets: Sequence[DatasetRecord] | None) -> list[Wire]:
    """``dataset-artifact`` records (wire form) for the datasets; :func:`ensure_dataset_artifacts` writes them.

    Args:
        datasets: From ``describe_dataset_input``.

    Returns:
        One body per dataset with a URI: name ``<role>-dataset``, ``uri``, ``digest`` (``sha256:<hex>`` when
        the content was readable) and the role and KFP artifact name as custom properties.

    Raises:
        InvalidInputError: For a role so long that the artifact name does not fit the registry.
    """
    bodies = []
    for dataset in datasets or []:
        if not dataset.uri:
            continue
        body: Wire = {
            "artifactType": DATASET_ARTIFACT_TYPE,
            "name": check_artifact_name(f"{dataset.role or 'data'}-dataset", linked=False),
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


def model_artifact_for_version(body: Wire, version_id: str) -> Wire:
    """The ModelArtifact body to link to a version: with the reference property ``kml_model_version_id``.

    Every write that links a model artifact sends this body, so readers tell complete versions with one filtered
    list (``lifecycle.completeness``) instead of one request per version.

    Args:
        body: From :func:`build_model_artifact`.
        version_id: The ModelVersion it is linked to.

    Returns:
        A copy of ``body`` with the property.
    """
    properties = dict(body.get("customProperties") or {})
    properties[MODEL_ARTIFACT_VERSION_ID] = to_metadata_value(str(version_id))
    return {**body, "customProperties": properties}


def ensure_model_artifact(conn: RegistryConnection, version_id: str, body: Wire) -> Wire:
    """Link the ModelArtifact to the version unless it has it already (matched by name).

    The artifact gets the reference property ``kml_model_version_id`` (the version's id), so readers find which
    versions are complete with one filtered list instead of one request per version.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.
        body: From :func:`build_model_artifact`.

    Returns:
        The model artifact as stored.

    Raises:
        RegistryError: When the artifact can neither be created nor found.
    """
    name = str(body["name"])
    existing = version_artifacts(conn, version_id)
    if name in existing:
        _warn_if_elsewhere(existing[name], body, version_id)
        return existing[name]
    others = sorted(a.get("artifactType") or "?" for a in existing.values())
    if others:
        logger.warning(
            "model version %s already has linked artifacts (%s): the model artifact is linked after them, so"
            " KServe's model-registry:// initializer (which takes the newest) finds it",
            version_id,
            ", ".join(others),
        )
    linked = model_artifact_for_version(body, version_id)
    created = conn.call(
        f"add {body['artifactType']} {name!r} to model version {version_id}",
        lambda api: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(linked)),
        tolerate=(409,),
    )
    if created:
        return created
    existing = version_artifacts(conn, version_id)  # added concurrently, or by an earlier attempt
    if name not in existing:
        raise RegistryError(
            f"Model Registry at {conn.url}: adding artifact {name!r} to model version {version_id} conflicted"
            " (409) but the version has no artifact of that name: re-run the task",
            status=409,
        )
    return existing[name]


def ensure_dataset_artifacts(
    conn: RegistryConnection, model: Mapping[str, object], version: Mapping[str, object], bodies: Sequence[Wire]
) -> list[Wire]:
    """Create the version's dataset artifacts that do not exist yet, NOT linked to it (see the module docstring).

    Each gets the ``externalId`` ``kml-dataset:<version id>:<index>`` and the reference properties; a retried or
    concurrent write meets 409 and reads the existing one. Datasets that an earlier version of this package linked
    to the version (same name) are kept and not created again.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel (wire form).
        version: The ModelVersion (wire form).
        bodies: From :func:`build_dataset_artifacts`, in order.

    Returns:
        The dataset artifacts as stored, in the order of ``bodies``.
    """
    if not bodies:
        return []
    version_id = str(version["id"])
    linked = {
        n: a for n, a in version_artifacts(conn, version_id).items() if a.get("artifactType") == DATASET_ARTIFACT_TYPE
    }
    stored = []
    for index, body in enumerate(bodies):
        if str(body["name"]) in linked:
            stored.append(linked[str(body["name"])])
            continue
        stored.append(_ensure_dataset_artifact(conn, _referenced(body, model, version, index), version_id))
    return stored


def _referenced(body: Wire, model: Mapping[str, object], version: Mapping[str, object], index: int) -> Wire:
    """The dataset artifact's body with its externalId and the properties that tie it to the version."""
    references = {
        REFERENCE_VERSION_ID: str(version["id"]),
        REFERENCE_MODEL_ID: str(model["id"]),
        REFERENCE_MODEL_NAME: str(model.get("name") or ""),
        REFERENCE_VERSION_NAME: str(version.get("name") or ""),
    }
    properties = dict(body.get("customProperties") or {})
    properties.update({key: to_metadata_value(value) for key, value in references.items()})
    external_id = bounded_external_id(DATASET_EXTERNAL_ID.format(version_id=version["id"], index=index))
    name = check_artifact_name(f"{body['name']}-of-version-{version['id']}", linked=False)
    return {**body, "name": name, "externalId": external_id, "customProperties": properties}


def _ensure_dataset_artifact(conn: RegistryConnection, body: Wire, version_id: str) -> Wire:
    external_id = str(body["externalId"])
    created = conn.call(
        f"record dataset artifact {body['name']!r} ({external_id})",
        lambda api: api.create_artifact(models.ArtifactCreate.from_dict(body)),
        tolerate=(409,),
    )
    if created:
        return created
    found = conn.call(
        f"find dataset artifact {external_id!r}",
        lambda api: api.find_artifact(external_id=external_id),
        tolerate=(404,),
    )
    if not found:
        raise RegistryError(
            f"Model Registry at {conn.url}: recording dataset artifact {external_id!r} conflicted (409) but no"
            " artifact has that externalId: re-run the task",
            status=409,
        )
    _warn_if_elsewhere(found, body, version_id)
    return found


def version_dataset_artifacts(conn: RegistryConnection, version_id: str) -> list[Wire]:
    """The dataset artifacts of a model version: those referencing it, and those linked to it by older releases.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        The artifacts in wire form, by id.
    """
    query = f'{REFERENCE_VERSION_ID} = "{version_id}"'
    referencing = conn.list_all(
        f"list dataset artifacts of model version {version_id}",
        lambda api, token: api.get_artifacts(
            filter_query=query,
            artifact_type=ArtifactTypeQueryParam(DATASET_ARTIFACT_TYPE),
            page_size=PAGE_SIZE,
            next_page_token=token,
        ),
    )
    linked = [a for a in version_artifacts(conn, version_id).values() if a.get("artifactType") == DATASET_ARTIFACT_TYPE]
    by_id = {str(a.get("id")): a for a in [*referencing, *linked]}
    return sorted(by_id.values(), key=lambda a: int(str(a.get("id") or 0)))


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
