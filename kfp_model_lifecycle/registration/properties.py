"""The ModelVersion's ``customProperties``: lineage, datasets, hyperparameters, metrics and labels, typed.

Metrics are doubles (so ``accuracy > 0.9`` works in a ``filterQuery``), hyperparameters ``hp_<name>`` with their
own types, the model artifact's other metadata ``model_meta_<key>``, labels string properties with value "" (shown
as labels by the registry UI), and the lineage ``kfp_*``, ``code_version`` and ``training_image`` strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kfp_model_lifecycle.lifecycle import lifecycle_property
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.lineage.sources import DatasetRecord
from kfp_model_lifecycle.registration.names import check_property_key

HYPERPARAMETER_PREFIX = "hp_"
MODEL_METADATA_PREFIX = "model_meta_"
# model.metadata keys that are not recorded as model_meta_*: the output convention, the display name, and the
# hyperparameters (recorded as hp_*)
MODEL_METADATA_NOT_RECORDED = ("registered_models", "display_name", "hyperparameters")
INTEGER_TEXT = re.compile(r"[+-]?\d+")
NUMBER_TEXT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")

Properties = dict[str, dict[str, Any]]


def to_metadata_value(value: Any) -> dict[str, Any] | None:
    """A Python value as a registry ``customProperties`` value (``MetadataValue`` wire form).

    Args:
        value: bool, int, float, str; dicts, lists and tuples become JSON strings, other objects ``str(value)``;
            NaN and infinities are recorded as strings (JSON has no number for them). Integers outside 32 bits
            become doubles (exact up to 2**53) or, beyond, decimal text (see ``lifecycle_property``).

    Returns:
        e.g. ``{"int_value": "10", "metadataType": "MetadataIntValue"}``; None for None.
    """
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return lifecycle_property(str(value))
    if isinstance(value, (bool, int, float, str, dict, list, tuple)):
        return lifecycle_property(value)
    return lifecycle_property(str(value))


def parameter_value(value: Any) -> Any:
    """A hyperparameter as recorded: numeric strings become numbers, anything else is kept.

    Pipeline parameters inside a dict reach the pod as strings (``"150"``, ``"0.25"``).

    Args:
        value: The hyperparameter's value.

    Returns:
        An int or float for a numeric string, else ``value``.
    """
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()):
        return float(value)
    return value


class _PropertyMap:
    """The properties being built, and notes on values that were skipped or replaced."""

    def __init__(self) -> None:
        self.values: Properties = {}
        self.notes: list[str] = []

    def put(self, key: str, value: Any, group: str) -> None:
        meta = to_metadata_value(value)
        if not key or meta is None:
            return
        check_property_key(key, group)
        if key in self.values:
            self.notes.append(f"{group} {key!r} replaces an earlier property of the same name")
        self.values[key] = meta

    def put_labels(self, labels: Iterable[str]) -> None:
        for label in labels:
            if isinstance(label, str) and label.strip():
                self.put(label.strip(), "", "label")

    def put_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> None:
        for name, value in hyperparameters.items():
            if value is None:
                self.notes.append(f"hyperparameter {name!r} is None: not recorded")
                continue
            self.put(f"{HYPERPARAMETER_PREFIX}{name}", parameter_value(value), "hyperparameter")

    def put_model_metadata(self, metadata: Mapping[str, Any]) -> None:
        for name, value in metadata.items():
            if name not in MODEL_METADATA_NOT_RECORDED and value is not None:
                self.put(f"{MODEL_METADATA_PREFIX}{name}", value, "model metadata")

    def put_metrics(self, metrics: Mapping[str, Any]) -> None:
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.notes.append(f"metric {name!r} = {value!r} is not a number: not recorded")
                continue
            self.put(str(name), float(value), "metric")

    def put_datasets(self, datasets: Sequence[DatasetRecord]) -> None:
        for i, dataset in enumerate(datasets):
            self.put(f"dataset_{i}_uri", dataset.uri, "dataset")
            self.put(f"dataset_{i}_role", dataset.role, "dataset")
            if dataset.sha256:
                self.put(f"dataset_{i}_sha256", dataset.sha256, "dataset")

    def put_lineage(self, lineage: Mapping[str, str]) -> None:
        for key, value in lineage.items():
            if value:
                self.put(key, str(value), "lineage")


def merged_hyperparameters(
    model_metadata: Mapping[str, Any], hyperparameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The hyperparameters to record: ``model_metadata["hyperparameters"]`` overridden by ``hyperparameters``.

    Args:
        model_metadata: The model artifact's metadata.
        hyperparameters: The ``hyperparameters`` input.

    Returns:
        Name -> value.
    """
    nested = model_metadata.get("hyperparameters")
    merged = dict(nested) if isinstance(nested, Mapping) else {}
    merged.update(hyperparameters or {})
    return merged


def build_version_properties(
    context: RunContext,
    *,
    model_uri: str,
    datasets: Sequence[DatasetRecord] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    model_metadata: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    code_version: str = "",
    training_image: str = "",
) -> tuple[Properties, list[str]]:
    """The ModelVersion's ``customProperties``: lineage, datasets, hyperparameters, metrics and labels.

    Keys: ``kfp_run_id``, ``kfp_run_display_name`` (the run's display name, what ``PIPELINE_JOB_NAME`` becomes;
    also under ``kfp_run_name``, the key earlier versions wrote), ``kfp_pipeline_name``, ``kfp_namespace``,
    ``kfp_task_name``, ``kfp_run_url``, ``kfp_model_uri``, ``code_version``, ``training_image`` (strings; absent
    when unknown);
    ``dataset_<i>_uri``, ``dataset_<i>_sha256``, ``dataset_<i>_role``; ``hp_<name>`` typed (int, double, bool,
    string; dicts and lists as JSON strings; numeric strings as numbers) from ``model_metadata["hyperparameters"]``
    overridden by ``hyperparameters``; the other ``model_metadata`` keys as ``model_meta_<key>``;
    metrics under their own names as doubles (so ``accuracy > 0.9`` works in a filterQuery); labels as string
    properties with value "" (shown as labels by the registry UI). On a name clash the later group wins, in
    the order labels, hyperparameters, model metadata, metrics, datasets, lineage. Integers beyond 32 bits are
    stored as doubles (exact up to 2**53), beyond that as decimal text; a key longer than 255 characters fails.

    Args:
        context: From ``collect_run_context``.
        model_uri: The model artifact's URI.
        datasets: From ``describe_dataset_input``, in order.
        hyperparameters: The ``hyperparameters`` input.
        model_metadata: The model artifact's metadata (its ``hyperparameters`` dict, if any, as ``hp_*``; the rest
            as ``model_meta_*``).
        metrics: The Metrics artifact's metadata (name -> number).
        labels: Label strings.
        code_version: Git commit or other code version ("" when unknown).
        training_image: Training image ("" when unknown).

    Returns:
        ``(properties, notes)``: the wire-form map and notes on values that were skipped or overridden.

    Raises:
        InvalidInputError: For a property name longer than the registry stores (255 characters).
    """
    metadata = model_metadata or {}
    props = _PropertyMap()
    props.put_labels(labels or [])
    props.put_hyperparameters(merged_hyperparameters(metadata, hyperparameters))
    props.put_model_metadata(metadata)
    props.put_metrics(metrics or {})
    props.put_datasets(datasets or [])
    props.put_lineage(
        {
            "kfp_run_id": context.run_id,
            "kfp_run_name": context.run_name,
            "kfp_run_display_name": context.run_name,
            "kfp_pipeline_name": context.pipeline_name,
            "kfp_namespace": context.namespace,
            "kfp_task_name": context.task_name,
            "kfp_run_url": context.run_url,
            "kfp_model_uri": model_uri,
            "code_version": code_version,
            "training_image": training_image,
        }
    )
    return props.values, props.notes
