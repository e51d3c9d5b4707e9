"""The whole ``register_model`` job on plain values: collect the lineage, register the version, write the output.

:func:`run_register_model` is what the component's task (``registration.task``) and Python callers run; it returns
a :class:`RegistrationResult`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lineage.context import RunContext, collect_run_context, is_missing_value
from kfp_model_lifecycle.lineage.sources import DatasetInput
from kfp_model_lifecycle.log import logger
from kfp_model_lifecycle.registration.artifacts import ArtifactStorage, build_dataset_artifacts, build_model_artifact
from kfp_model_lifecycle.registration.inputs import CheckedInputs, RegistrationSource, check_registration_inputs
from kfp_model_lifecycle.registration.model_lineage import (
    ModelLineage,
    find_model_lineage,
    log_lineage,
    resolve_model_format,
)
from kfp_model_lifecycle.registration.names import check_registry_name
from kfp_model_lifecycle.registration.output import output_pointer, registered_model_output, write_json_atomically
from kfp_model_lifecycle.registration.properties import Properties, build_version_properties
from kfp_model_lifecycle.registration.versions import parse_version_request
from kfp_model_lifecycle.registration.writes import (
    RegisteredVersion,
    VersionDraft,
    attempt_key,
    register_model_version,
    registration_key,
)


@dataclass(frozen=True)
class RegistrationResult(RegisteredVersion):
    """What ``register_model`` did: the registered version, the lineage it recorded, and the output's metadata.

    Attributes:
        registry_url: The registry's base URL.
        external_id: The version's idempotency key.
        context: The KFP run.
        missing: Lineage that could not be found -> how to provide it.
        properties: The version's ``customProperties`` (wire form).
        output_metadata: Metadata for the ``registered_model`` output artifact.
    """

    registry_url: str
    external_id: str
    context: RunContext
    missing: dict[str, str]
    properties: Properties
    output_metadata: dict[str, Any]


def run_register_model(
    *,
    model_uri: str,
    model_name: str,
    model_path: str = "",
    model_metadata: Mapping[str, Any] | None = None,
    version: str = "patch",
    model_format_name: str = "",
    model_format_version: str = "",
    metrics: Mapping[str, Any] | None = None,
    datasets: Sequence[DatasetInput] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    description: str = "",
    author: str = "",
    owner: str = "",
    storage_key: str = "",
    storage_path: str = "",
    service_account_name: str = "",
    code_version: str = "",
    training_image: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    output_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    source: str = RegistrationSource.PIPELINE,
) -> RegistrationResult:
    """The whole ``register_model`` job on plain values: collect lineage, connect, register, write the output.

    Args:
        model_uri: The trained model artifact's URI (recorded as the ModelArtifact ``uri``).
        model_name: Registered model name (created if missing).
        model_path: The model's local path in the pod (unused for registration; named when the URI is empty).
        model_metadata: The model artifact's metadata (format defaults, hyperparameters, code version, image).
        version: ``patch`` (default), ``minor``, ``major`` or an explicit version name.
        model_format_name: Model format; default ``model_metadata`` ``model_format_name``/``framework``/``format``.
        model_format_version: Format version; default ``model_metadata`` ``model_format_version``/
            ``framework_version``/``format_version``.
        metrics: The Metrics artifact's metadata.
        datasets: The dataset inputs.
        hyperparameters: Extra hyperparameters.
        labels: Labels for the version.
        description: Version description.
        author: Version author.
        owner: Registered model owner (when created); defaults to ``author``.
        storage_key: ModelArtifact ``storageKey``.
        storage_path: ModelArtifact ``storagePath``.
        service_account_name: ModelArtifact ``serviceAccountName``.
        code_version: Git commit; default from metadata or CI env vars.
        training_image: Training image; default from metadata or ``KML_TRAINING_IMAGE``.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name (placeholder value).
        pipeline_name: Pipeline name.
        task_name: KFP task name (placeholder value).
        namespace: Namespace (else ``POD_NAMESPACE`` or the service-account file).
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        output_path: Where to write the output pointer file ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests); default: collected here.
        source: ``pipeline`` (a KFP task: the model artifact names the run, ``modelSourceKind=kfp``) or ``manual``
            (Python or ``kml models register``: no run to name, and no warning about retried tasks). Python only.

    Returns:
        The registered version, the lineage recorded and the output artifact's metadata.

    Raises:
        InvalidInputError: For an input of the wrong type or value (a NaN metric, ``labels=5``...), an invalid model
            or version name, or a model without URI -- before anything is read or written.
    """
    checked = check_registration_inputs(dict(locals()))
    model_name = _checked_model_name(model_name, checked.version, model_uri, model_path)
    metadata = checked.model_metadata
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, env=env)
    model_format = resolve_model_format(model_format_name, model_format_version, metadata)
    lineage = find_model_lineage(context, model_format, metadata, code_version, training_image, checked.datasets, env)
    properties = _version_properties(lineage, model_uri, metadata, checked)
    log_lineage(lineage)
    pipeline = checked.source == RegistrationSource.PIPELINE
    storage = ArtifactStorage(storage_key, storage_path, service_account_name)
    artifact = build_model_artifact(model_name, model_uri, context, model_format, storage, pipeline_run=pipeline)
    draft = VersionDraft(
        model_name=model_name, version=checked.version, properties=properties, model_artifact=artifact,
        external_id=_idempotency_key(context, model_name, model_uri, warn=pipeline),
        dataset_artifacts=tuple(build_dataset_artifacts(lineage.datasets)), description=description, author=author,
        owner=owner,
    )  # fmt: skip
    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        registered = register_model_version(conn, draft)
    finally:
        conn.close()
    return _report(registered, conn.url, draft, lineage, model_uri, output_path)


def _checked_model_name(model_name: str, version: str, model_uri: str, model_path: str) -> str:
    """The model name, checked with the version and the model URI before anything is read or written."""
    name = check_registry_name(model_name, "model_name")
    parse_version_request(version)
    if is_missing_value(model_uri):
        raise InvalidInputError(
            f"the model artifact has no URI (path {model_path!r}): pass the output Model of a training task as"
            " the model input"
        )
    return name


def _version_properties(
    lineage: ModelLineage, model_uri: str, metadata: Mapping[str, Any], checked: CheckedInputs
) -> Properties:
    """The version's properties (see ``build_version_properties``); values skipped or replaced are logged."""
    properties, notes = build_version_properties(
        lineage.context,
        model_uri=model_uri,
        datasets=lineage.datasets,
        hyperparameters=checked.hyperparameters,
        model_metadata=metadata,
        metrics=checked.metrics,
        labels=checked.labels,
        code_version=lineage.code_version,
        training_image=lineage.training_image,
    )
    for note in notes:
        logger.warning("%s", note)
    return properties


def _idempotency_key(context: RunContext, model_name: str, model_uri: str, *, warn: bool = True) -> str:
    """The registration key; without a run id a one-off key for this attempt (a pipeline task is warned)."""
    key = registration_key(context, model_name, model_uri)
    if key:
        return key
    if warn:
        logger.warning(
            "no run id, so this registration has no idempotency key: a retried task may register another version"
        )
    return attempt_key(model_name)


def _report(
    registered: RegisteredVersion,
    registry_url: str,
    draft: VersionDraft,
    lineage: ModelLineage,
    model_uri: str,
    output_path: str,
) -> RegistrationResult:
    """Describe the registered version on the output (metadata and pointer file), log it, and return the result."""
    output_metadata = registered_model_output(registered, registry_url, model_uri, lineage.model_format)
    if output_path:
        write_json_atomically(output_path, output_pointer(output_metadata))
    logger.info(
        "%s model %r version %r (model id %s, version id %s) in %s",
        "returned the earlier registration of" if registered.reused else "registered",
        registered.model_name,
        registered.version_name,
        registered.model_id,
        registered.version_id,
        registry_url,
    )
    return RegistrationResult(
        **{field.name: getattr(registered, field.name) for field in fields(registered)},
        registry_url=registry_url,
        external_id=draft.external_id,
        context=lineage.context,
        missing=lineage.missing,
        properties=draft.properties,
        output_metadata=output_metadata,
    )
