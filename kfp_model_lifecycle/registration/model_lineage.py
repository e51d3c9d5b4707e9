"""Where the model came from, as far as the pod can tell: run, format, code, image, datasets; and what is missing.

Everything found is logged with where it came from, and everything missing with how to provide it, so a run that
records less lineage than expected says why in its log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.lineage.context import RunContext, is_missing_value
from kfp_model_lifecycle.lineage.sources import (
    DatasetInput,
    DatasetRecord,
    describe_dataset_input,
    find_code_version,
    find_training_image,
)
from kfp_model_lifecycle.log import logger
from kfp_model_lifecycle.registration.artifacts import ModelFormat

# model.metadata keys the model format defaults to, first match wins
MODEL_FORMAT_NAME_KEYS = ("model_format_name", "framework", "format")
MODEL_FORMAT_VERSION_KEYS = ("model_format_version", "framework_version", "format_version")
# what is recorded of the model besides the run -> how to provide it when it is missing
MISSING_HINTS = {
    "model_format_name": "set model_format_name, or model.metadata['framework'] in the training component"
    " (KServe needs it)",
    "code_version": "pass code_version, set model.metadata['code_version'], or a CI variable such as GIT_COMMIT",
    "training_image": "pass training_image or set model.metadata['training_image'] when training",
}


@dataclass(frozen=True)
class ModelLineage:
    """The lineage found for one registration, with where each value came from and what is missing.

    Attributes:
        context: The KFP run (from ``collect_run_context``).
        model_format: The serving format.
        code_version: Git commit or other code version ("" when unknown).
        code_version_source: Where ``code_version`` came from.
        training_image: The image the model was trained in ("" when unknown).
        training_image_source: Where ``training_image`` came from.
        datasets: The dataset inputs with their digests, in order.
        missing: Field -> how to provide it, for every value that could not be found.
    """

    context: RunContext
    model_format: ModelFormat
    code_version: str
    code_version_source: str
    training_image: str
    training_image_source: str
    datasets: tuple[DatasetRecord, ...]
    missing: dict[str, str]


def _first_given(explicit: str, metadata: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``explicit`` when given, else the first of ``metadata[key]`` that is; stripped, "" when none is."""
    if not is_missing_value(explicit):
        return explicit.strip()
    for key in keys:
        if not is_missing_value(metadata.get(key)):
            return str(metadata[key]).strip()
    return ""


def resolve_model_format(name: str, version: str, metadata: Mapping[str, Any]) -> ModelFormat:
    """The model format: the inputs, else the model's metadata (``framework``, ``framework_version``...).

    Args:
        name: The ``model_format_name`` input.
        version: The ``model_format_version`` input.
        metadata: The model artifact's metadata.

    Returns:
        The format; its parts are "" when unknown.
    """
    return ModelFormat(
        name=_first_given(name, metadata, MODEL_FORMAT_NAME_KEYS),
        version=_first_given(version, metadata, MODEL_FORMAT_VERSION_KEYS),
    )


def describe_datasets(datasets: Sequence[DatasetInput]) -> tuple[DatasetRecord, ...]:
    """The datasets with their digests; a dataset whose content cannot be read is logged and recorded without one.

    Args:
        datasets: The dataset inputs.

    Returns:
        One record per input, in order.
    """
    records = tuple(describe_dataset_input(dataset) for dataset in datasets)
    for record in records:
        if record.problem:
            logger.warning("dataset %s (%s): no sha256 digest: %s", record.role, record.uri, record.problem)
    return records


def find_model_lineage(
    context: RunContext,
    model_format: ModelFormat,
    metadata: Mapping[str, Any],
    code_version: str,
    training_image: str,
    datasets: Sequence[DatasetInput],
    env: Mapping[str, str] | None = None,
) -> ModelLineage:
    """The lineage of the model beyond the run: code version, training image, datasets; and what is missing.

    Args:
        context: From ``collect_run_context``.
        model_format: From :func:`resolve_model_format`.
        metadata: The model artifact's metadata.
        code_version: The ``code_version`` input.
        training_image: The ``training_image`` input.
        datasets: The dataset inputs.
        env: Environment to read for CI variables and ``KML_TRAINING_IMAGE`` (default ``os.environ``).

    Returns:
        The lineage; ``missing`` holds the run context's missing fields, then the model's.
    """
    code, code_source = find_code_version(code_version, metadata, env)
    image, image_source = find_training_image(training_image, metadata, env)
    found = {"model_format_name": model_format.name, "code_version": code, "training_image": image}
    missing = dict(context.missing) | {field: MISSING_HINTS[field] for field, value in found.items() if not value}
    return ModelLineage(
        context=context,
        model_format=model_format,
        code_version=code,
        code_version_source=code_source,
        training_image=image,
        training_image_source=image_source,
        datasets=describe_datasets(datasets),
        missing=missing,
    )


def log_lineage(lineage: ModelLineage) -> None:
    """Log every lineage value with where it came from, what is missing with how to provide it, and lookup notes.

    Args:
        lineage: From :func:`find_model_lineage`.
    """
    context = lineage.context
    for field, source in sorted(context.sources.items()):
        logger.info("lineage: %s = %r (from %s)", field, context.value(field), source)
    if lineage.code_version:
        logger.info("lineage: code_version = %r (from %s)", lineage.code_version, lineage.code_version_source)
    if lineage.training_image:
        logger.info("lineage: training_image = %r (from %s)", lineage.training_image, lineage.training_image_source)
    for field, hint in lineage.missing.items():
        logger.warning("lineage: could not find %s -- not recorded; to record it: %s", field, hint)
    for note in context.notes:
        logger.info("lineage: %s", note)
