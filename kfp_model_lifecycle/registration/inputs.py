"""Checking ``register_model``'s inputs before anything is read or written: types, values, metrics.

A registration writes the registered model, then the version, then its artifacts; a value the registry refuses
half-way (an integer description, a NaN metric) would leave the model or a version without its model artifact.
So every input is checked here first (see :mod:`kfp_model_lifecycle.lifecycle.inputs` for the rules), and the
mapping and list inputs come back normalised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import (
    check_finite_metrics,
    check_flag,
    check_mapping,
    check_text,
    check_text_list,
    described,
    shown,
)
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetInput
from kfp_model_lifecycle.registration.properties import NUMBER_TEXT

# Inputs that are text ("" when None).
TEXT_INPUTS = (
    "model_uri",
    "model_path",
    "model_format_name",
    "model_format_version",
    "description",
    "author",
    "owner",
    "storage_key",
    "storage_path",
    "service_account_name",
    "code_version",
    "training_image",
    "run_id",
    "run_name",
    "pipeline_name",
    "task_name",
    "namespace",
    "kfp_ui_url",
    "registry_url",
    "ca_bundle_path",
    "output_path",
)
VERSION_EXAMPLE = "'patch' (or 'minor', 'major', or a name such as '2.0.0')"


class RegistrationSource(StrEnum):
    """Where a registration comes from."""

    PIPELINE = "pipeline"
    """A pipeline task: the model artifact names its KFP run (``modelSourceKind=kfp``, ``pipelinerun``)."""
    MANUAL = "manual"
    """Python or ``kml models register``: no KFP run to name, and no retried task to deduplicate."""


@dataclass(frozen=True)
class CheckedInputs:
    """The mapping and list inputs of a registration, checked and normalised.

    Attributes:
        version: The ``version`` input ("" means ``patch``).
        model_metadata: The model artifact's metadata.
        metrics: Metric name -> finite float.
        hyperparameters: Name -> value.
        labels: Label texts.
        datasets: The dataset inputs.
        source: Where the registration comes from.
    """

    version: str
    model_metadata: dict[str, Any]
    metrics: dict[str, float]
    hyperparameters: dict[str, Any]
    labels: list[str]
    datasets: list[DatasetInput]
    source: RegistrationSource


def check_metric_values(metrics: Any, name: str = "metrics") -> dict[str, float]:
    """Metric name -> number: numbers and numeric text (KFP hands dict values over as text) as floats.

    Args:
        metrics: The ``metrics`` input (a mapping, or None).
        name: The parameter's name.

    Returns:
        The metrics as finite floats.

    Raises:
        InvalidInputError: For a non-mapping, a key that is not text, a value that is not a number, NaN or an
            infinity (the registry stores finite doubles only; text would match searches wrongly).
    """
    given = check_mapping(metrics, name, example="{'accuracy': 0.93}")
    values: dict[str, float] = {}
    for key, value in given.items():
        if isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"{name}[{shown(key)}] must be a number, got {described(value)}: metrics are recorded as numbers"
                " (so `accuracy > 0.9` finds them); record other values as hyperparameters or model metadata"
            )
        values[key] = float(value)
    check_finite_metrics(values, name)
    return values


def _check_datasets(datasets: Any) -> list[DatasetInput]:
    if datasets is None:
        return []
    if isinstance(datasets, DatasetInput):
        return [datasets]
    if isinstance(datasets, str | bytes | Mapping) or not hasattr(datasets, "__iter__"):
        raise InvalidInputError(
            f"datasets must be a list of DatasetInput, got {described(datasets)}: e.g."
            " [DatasetInput('train', uri='s3://bucket/train.csv')] (the Python API takes {'train': 's3://...'})"
        )
    items = list(datasets)
    for i, item in enumerate(items):
        if not isinstance(item, DatasetInput):
            raise InvalidInputError(f"datasets[{i}] must be a DatasetInput, got {described(item)}")
    return items


def check_registration_inputs(arguments: Mapping[str, Any]) -> CheckedInputs:
    """Check every input of ``run_register_model`` (its keyword arguments, as given).

    Args:
        arguments: Parameter name -> value.

    Returns:
        The normalised mapping and list inputs.

    Raises:
        InvalidInputError: Naming the first input of the wrong type or value, and what to pass.
    """
    for name in TEXT_INPUTS:
        check_text(arguments.get(name), name)
    version = arguments.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidInputError(
            f"version must be text, got {described(version)}: pass {VERSION_EXAMPLE}; for a version named"
            f" {str(version)!r} write version={str(version)!r}"
        )
    check_flag(arguments.get("verify_tls", True), "verify_tls")
    check_mapping(arguments.get("env"), "env", example="dict(os.environ)")
    context = arguments.get("context")
    if context is not None and not isinstance(context, RunContext):
        raise InvalidInputError(f"context must be a RunContext (or None), got {described(context)}")
    try:
        source = RegistrationSource(check_text(arguments.get("source"), "source") or RegistrationSource.PIPELINE)
    except ValueError:
        raise InvalidInputError(
            f"source {shown(arguments.get('source'))} is not one of {', '.join(RegistrationSource)}"
        ) from None
    return CheckedInputs(
        version=version or "",
        model_metadata=check_mapping(
            arguments.get("model_metadata"), "model_metadata", example="{'framework': 'sklearn'}"
        ),
        metrics=check_metric_values(arguments.get("metrics")),
        hyperparameters=check_mapping(arguments.get("hyperparameters"), "hyperparameters", example="{'max_depth': 5}"),
        labels=check_text_list(arguments.get("labels"), "labels", example="['nightly']"),
        datasets=_check_datasets(arguments.get("datasets")),
        source=source,
    )
