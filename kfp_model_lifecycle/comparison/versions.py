"""The two sides of a comparison: model versions read from the registry, their metrics and their lineage."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.comparison.conventions import (
    HYPERPARAMETER_PREFIX,
    LINEAGE_LABELS,
    MAX_DATASETS,
    MODEL_METADATA_PREFIX,
    NON_METRIC_PREFIXES,
    STAGE_PROPERTY,
)
from kfp_model_lifecycle.comparison.formatting import format_value
from kfp_model_lifecycle.errors import NotFoundError
from kfp_model_lifecycle.lifecycle import find_model_artifact

METRIC_SOURCE_REGISTRY = "registry"
METRIC_SOURCE_RUN = "metrics artifact"
"""Where a candidate metric came from: the version's customProperties or the run's Metrics artifact."""


@dataclass(frozen=True)
class VersionRecord:
    """A model version as read from the registry (entities in wire form, with their timestamps).

    Attributes:
        model: The RegisteredModel.
        version: The ModelVersion.
        artifact: Its ModelArtifact, or None when none is linked.
    """

    model: dict[str, Any]
    version: dict[str, Any]
    artifact: dict[str, Any] | None


@dataclass(frozen=True)
class VersionSummary:
    """One side of the comparison (candidate or baseline), for the decision and the reports.

    Attributes:
        reference: ``model:version``.
        model_name: The RegisteredModel's name.
        model_id: Its id.
        version_name: The ModelVersion's name.
        version_id: Its id.
        stage: Its lifecycle stage (``kml_stage``), "" when none.
        state: ``LIVE`` or ``ARCHIVED``.
        created: Creation time in epoch milliseconds (0 when unknown).
        metrics: Metric name -> value.
        metric_sources: Metric name -> where the value came from (``registry`` or ``metrics artifact``).
        lineage: Label -> text of the recorded lineage.
        predictions: Where its per-example predictions were read from, "" when none were.
    """

    reference: str
    model_name: str = ""
    model_id: str = ""
    version_name: str = ""
    version_id: str = ""
    stage: str = ""
    state: str = ""
    created: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    metric_sources: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    predictions: str = ""


def property_value(properties: Mapping[str, Any] | None, key: str) -> Any:
    """The plain value of one ``customProperties`` entry (wire form), or None.

    Args:
        properties: A ``customProperties`` map, e.g. ``{"accuracy": {"double_value": 0.9, ...}}``.
        key: The property name.

    Returns:
        float for doubles, int for ints (sent as strings on the wire), bool, str; None when absent.
    """
    item = (properties or {}).get(key)
    if not isinstance(item, Mapping):
        return None
    kind = item.get("metadataType") or ""
    if "double_value" in item and kind in ("", "MetadataDoubleValue"):
        return float(item["double_value"])
    if "int_value" in item and kind in ("", "MetadataIntValue"):
        try:
            return int(item["int_value"])
        except (TypeError, ValueError):
            return None
    if "bool_value" in item:
        return bool(item["bool_value"])
    if "string_value" in item:
        return str(item["string_value"])
    return None


def numeric_property(properties: Mapping[str, Any] | None, key: str) -> float | None:
    """A customProperty's value when it is a number (not a bool), else None.

    Args:
        properties: A ``customProperties`` map in wire form.
        key: The property name.

    Returns:
        The value as a float, or None.
    """
    value = property_value(properties, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def created_ms(entity: Mapping[str, Any]) -> int:
    """An entity's ``createTimeSinceEpoch`` in milliseconds (0 when unknown).

    Args:
        entity: A registry entity in wire form.

    Returns:
        The time.
    """
    created = str(entity.get("createTimeSinceEpoch") or "0")
    return int(created) if created.isdigit() else 0


def version_stage(version: Mapping[str, Any]) -> str:
    """A version's lifecycle stage, "" when it has none.

    Args:
        version: A ModelVersion in wire form.

    Returns:
        e.g. ``production``.
    """
    return str(property_value(version.get("customProperties"), STAGE_PROPERTY) or "")


def version_metrics(version: Mapping[str, Any]) -> dict[str, float]:
    """The numeric customProperties of a model version that are metrics.

    register_model writes metrics as double properties under their own names; lineage, datasets,
    hyperparameters, the model artifact's metadata and lifecycle bookkeeping use the prefixes ``kfp_``,
    ``dataset_``, ``hp_``, ``model_meta_`` and ``kml_``, which are left out here.

    Args:
        version: A ModelVersion in wire form.

    Returns:
        Metric name -> value (finite numbers only), sorted by name.
    """
    found: dict[str, float] = {}
    props = version.get("customProperties") or {}
    for key in sorted(props):
        if key.startswith(NON_METRIC_PREFIXES):
            continue
        value = numeric_property(props, key)
        if value is not None and math.isfinite(value):
            found[key] = value
    return found


def version_lineage(version: Mapping[str, Any], artifact: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Where a model version came from, for the report: KFP run, code, image, data, hyperparameters, model metadata.

    Args:
        version: A ModelVersion in wire form.
        artifact: Its ModelArtifact in wire form, if known.

    Returns:
        Label -> text, only for values that are recorded.
    """
    props = version.get("customProperties") or {}
    rows: dict[str, str] = {}
    for key, label in LINEAGE_LABELS:
        value = property_value(props, key)
        if value not in (None, ""):
            rows[label] = str(value)
    if artifact:
        if artifact.get("uri") and "model URI" not in rows:
            rows["model URI"] = str(artifact["uri"])
        fmt = " ".join(str(artifact.get(k) or "") for k in ("modelFormatName", "modelFormatVersion")).strip()
        if fmt:
            rows["model format"] = fmt
    rows.update(_dataset_lineage(props))
    for label, prefix in (("hyperparameters", HYPERPARAMETER_PREFIX), ("model metadata", MODEL_METADATA_PREFIX)):
        text = prefixed_properties_text(props, prefix)
        if text:
            rows[label] = text
    if version.get("author"):
        rows["author"] = str(version["author"])
    return rows


def prefixed_properties_text(props: Mapping[str, Any], prefix: str) -> str:
    """The properties ``<prefix><key>`` as ``key=value, ...`` by key (``max_depth=8``, not ``8.0``).

    Args:
        props: A ``customProperties`` map in wire form.
        prefix: e.g. ``hp_``.

    Returns:
        The text, "" when there are none.
    """
    found = {k[len(prefix) :]: property_value(props, k) for k in sorted(props) if k.startswith(prefix)}
    return ", ".join(f"{key}={format_value(value)}" for key, value in found.items())


def _dataset_lineage(props: Mapping[str, Any]) -> dict[str, str]:
    """``<role> data`` -> ``<uri> (sha256 <digest>...)`` of the datasets recorded as ``dataset_<i>_*``."""
    rows: dict[str, str] = {}
    for i in range(MAX_DATASETS):
        uri = property_value(props, f"dataset_{i}_uri")
        if uri is None:
            break
        role = property_value(props, f"dataset_{i}_role") or f"dataset {i}"
        digest = property_value(props, f"dataset_{i}_sha256")
        rows[f"{role} data"] = f"{uri} (sha256 {str(digest)[:12]}...)" if digest else str(uri)
    return rows


def describe_version(record: VersionRecord) -> VersionSummary:
    """One side of the comparison, with the version's metrics (from the registry) and lineage.

    Args:
        record: The version, its model and its artifact.

    Returns:
        The summary.
    """
    model, version = record.model, record.version
    metrics = version_metrics(version)
    return VersionSummary(
        reference=f"{model.get('name')}:{version.get('name')}",
        model_name=str(model.get("name") or ""),
        model_id=str(model.get("id") or version.get("registeredModelId") or ""),
        version_name=str(version.get("name") or ""),
        version_id=str(version.get("id") or ""),
        stage=version_stage(version),
        state=str(version.get("state") or ""),
        created=created_ms(version),
        metrics=metrics,
        metric_sources=dict.fromkeys(metrics, METRIC_SOURCE_REGISTRY),
        lineage=version_lineage(version, record.artifact),
    )


def wire_with_timestamps(result: Any) -> dict[str, Any]:
    """A registry response (an ``mr_openapi`` model) in wire form, keeping the read-only timestamps.

    The generated models' ``to_json`` drops ``createTimeSinceEpoch`` and ``lastUpdateTimeSinceEpoch`` (OpenAPI
    read-only fields); the comparison shows and sorts by them, so they are copied back.

    Args:
        result: A model (``ModelVersion``...) or a list response (``ModelVersionList``...).

    Returns:
        The wire-form dict, with the timestamps of the object or of each item.
    """
    data = json.loads(result.to_json())
    items = getattr(result, "items", None)
    if isinstance(items, list):
        for wire, obj in zip(data.get("items") or [], items, strict=False):
            _restore_timestamps(wire, obj)
    else:
        _restore_timestamps(data, result)
    return data


def _restore_timestamps(wire: dict[str, Any], obj: Any) -> None:
    for attr, key in (
        ("create_time_since_epoch", "createTimeSinceEpoch"),
        ("last_update_time_since_epoch", "lastUpdateTimeSinceEpoch"),
    ):
        value = getattr(obj, attr, None)
        if value:
            wire[key] = str(value)


def load_version_record(conn: RegistryConnection, version_id: str) -> VersionRecord:
    """A ModelVersion (with its timestamps), its RegisteredModel and its model artifact, by version id.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        The record (``artifact`` None when the version has none).

    Raises:
        NotFoundError: When no version has this id.
    """
    version = get_version_with_timestamps(conn, version_id)
    if not version:
        raise NotFoundError(
            f"no model version with id {str(version_id)!r} in the Model Registry at {conn.url}: pass the"
            " registered_model output of register_model from this run, or a reference 'model:version'"
        )
    model = get_registered_model(conn, str(version.get("registeredModelId") or ""))
    return VersionRecord(model, version, find_model_artifact(conn, version))


def get_version_with_timestamps(conn: RegistryConnection, version_id: str) -> dict[str, Any] | None:
    """A ModelVersion by id, in wire form with its timestamps.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        The version, or None when no version has this id.
    """
    vid = str(version_id)

    async def get_version(api: Any) -> dict[str, Any]:
        return wire_with_timestamps(await api.get_model_version(vid))

    return conn.call(f"get model version {vid}", get_version, tolerate=(404,))


def get_registered_model(conn: RegistryConnection, model_id: str) -> dict[str, Any]:
    """A RegisteredModel by id, in wire form ({} when it cannot be read).

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.

    Returns:
        The model.
    """
    return conn.call(f"get registered model {model_id}", lambda api: api.get_registered_model(model_id)) or {}
