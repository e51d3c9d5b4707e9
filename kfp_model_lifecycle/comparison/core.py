"""What the ``compare_models`` pod does, as plain functions: gates, significance tests, registry look-ups.

Every function here is embedded into the component with ``additional_funcs`` (:data:`COMPARISON_FUNCTIONS`,
together with the helpers of ``components/_common``) and is called directly by tests: plain module-level
``def`` functions that import what they need inside their bodies and use no module-level names.
:func:`run_compare_models` is the whole job; the ``@dsl.component`` only unpacks its artifacts, calls it and
writes the outputs.

Gates follow MLflow's ``MetricThreshold`` (``mlflow.models.MetricThreshold``) semantics:

* ``threshold``: the candidate's value must be ``>= threshold`` (higher is better) or ``<= threshold``
  (lower is better). Checked with or without a baseline.
* ``min_absolute_change`` (a positive number): candidate ``>= baseline + change`` (higher is better) or
  ``<= baseline - change`` (lower is better).
* ``min_relative_change`` (a number from 0 to 1): ``(candidate - baseline) / |baseline| >= change`` (higher
  is better) or ``(baseline - candidate) / |baseline| >= change``; ``0.0`` means "not worse than the
  baseline". When the baseline value is 0 the check falls back, as in MLflow, to "strictly better by at least
  1e-10".
* Equality passes every check (``>=``/``<=``). Values are compared in decimal arithmetic on the numbers as
  written (their shortest ``repr``), so ``0.905`` passes ``0.9 + 0.005`` exactly; binary floating point
  would put ``0.9 + 0.005`` a hair above ``0.905``.
* Deviations from MLflow, on purpose: relative change divides by ``|baseline|`` (MLflow divides by the signed
  baseline, which inverts the check for negative metrics such as a negated loss); a metric missing on either
  side fails its gate with a reason naming the side (MLflow ignores a missing baseline value when
  ``min_relative_change`` is ``0.0``); with no baseline at all the comparison checks are skipped and only
  ``threshold`` applies (the behaviour MLflow documents for ``baseline_result=None``).
"""

from __future__ import annotations

import collections
import csv
import difflib
import glob
import itertools
import json
import logging
import math
import operator
import os
import random
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from mr_openapi import models
from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam
from mr_openapi.models.order_by_field import OrderByField
from mr_openapi.models.sort_order import SortOrder

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lifecycle import find_model_artifact, resolve_model_reference

# -- gates ------------------------------------------------------------------------------------------------------


def parse_gates(gates: Any) -> list[dict[str, Any]]:
    """Validate and normalise the ``gates`` input.

    Accepted forms: a list of dicts (``[{"metric": "accuracy", "higher_is_better": true, "threshold": 0.9}]``),
    a dict keyed by metric name (``{"accuracy": {"higher_is_better": true, ...}}``, MLflow's
    ``validation_thresholds`` shape), or either of those as a JSON string. Keys per gate: ``metric``,
    ``higher_is_better`` (or MLflow's ``greater_is_better``; one is required), ``threshold``,
    ``min_absolute_change`` (> 0), ``min_relative_change`` (0..1); at least one of the last three.

    Args:
        gates: The component's ``gates`` input.

    Returns:
        One dict per gate with all six keys (``None`` where a check is not set), in the given order.

    Raises:
        ValueError: Naming the gate and the bad key or value, and how to fix it.
    """
    allowed = (
        "metric",
        "higher_is_better",
        "greater_is_better",
        "threshold",
        "min_absolute_change",
        "min_relative_change",
    )
    example = '[{"metric": "accuracy", "higher_is_better": true, "threshold": 0.9, "min_absolute_change": 0.005}]'
    if isinstance(gates, str):
        text = gates.strip()
        if not text:
            raise ValueError(f"gates is empty: give at least one gate, e.g. {example}")
        try:
            gates = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"gates is not valid JSON ({exc}): write it like {example}") from None
    if isinstance(gates, Mapping):
        items = []
        for name, spec in gates.items():
            if not isinstance(spec, Mapping):
                raise ValueError(
                    f"gates[{name!r}] must be an object of checks, got {type(spec).__name__}: e.g. "
                    '{"accuracy": {"higher_is_better": true, "threshold": 0.9}}'
                )
            items.append({"metric": name, **dict(spec)})
        gates = items
    if not isinstance(gates, (list, tuple)) or not gates:
        raise ValueError(f"gates must be a non-empty list of gates, got {gates!r}: e.g. {example}")

    def number(where: str, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {key!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
        return value

    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, gate in enumerate(gates):
        where = f"gates[{i}]"
        if not isinstance(gate, Mapping):
            raise ValueError(f"{where} must be an object like {example[1:-1]}, got {gate!r}")
        unknown = [k for k in gate if k not in allowed]
        if unknown:
            key = str(unknown[0])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}")
        metric = gate.get("metric")
        if not isinstance(metric, str) or not metric.strip():
            raise ValueError(f"{where}: 'metric' is required: the name of a metric, e.g. \"accuracy\"")
        metric = metric.strip()
        where = f"gates[{i}] ({metric!r})"
        if metric in seen:
            raise ValueError(f"{where}: metric {metric!r} already has a gate (gates[{seen[metric]}]): merge the two")
        seen[metric] = i
        if "higher_is_better" in gate and "greater_is_better" in gate:
            raise ValueError(f"{where}: give 'higher_is_better' or its MLflow spelling 'greater_is_better', not both")
        key = "higher_is_better" if "higher_is_better" in gate else "greater_is_better"
        direction = gate.get(key)
        if direction is None:
            raise ValueError(
                f"{where}: 'higher_is_better' is required: true for scores like accuracy, false for errors and losses"
            )
        if not isinstance(direction, bool):
            raise ValueError(f"{where}: {key!r} must be true or false, got {direction!r}")
        threshold = gate.get("threshold")
        if threshold is not None:
            threshold = number(where, "threshold", threshold)
        absolute = gate.get("min_absolute_change")
        if absolute is not None:
            absolute = number(where, "min_absolute_change", absolute)
            if absolute <= 0:
                raise ValueError(
                    f"{where}: 'min_absolute_change' must be a positive number, got {absolute!r}"
                    " (for 'not worse than the baseline' use \"min_relative_change\": 0.0)"
                )
        relative = gate.get("min_relative_change")
        if relative is not None:
            relative = number(where, "min_relative_change", relative)
            if not 0 <= relative <= 1:
                raise ValueError(
                    f"{where}: 'min_relative_change' must be between 0 and 1 (a fraction of the baseline value,"
                    f" 0.01 = 1%), got {relative!r}"
                )
        if threshold is None and absolute is None and relative is None:
            raise ValueError(
                f"{where}: no check given: set 'threshold', 'min_absolute_change' and/or 'min_relative_change'"
                ' ("min_relative_change": 0.0 requires the candidate to be at least as good as the baseline)'
            )
        parsed.append(
            {
                "metric": metric,
                "higher_is_better": direction,
                "threshold": threshold,
                "min_absolute_change": absolute,
                "min_relative_change": relative,
            }
        )
    return parsed


def exact_decimal(value: float) -> Any:
    """A number as a ``decimal.Decimal`` of its shortest written form (``0.1`` -> ``Decimal('0.1')``).

    Args:
        value: An int or float.

    Returns:
        The Decimal.
    """
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


def format_number(value: Any, digits: int = 6) -> str:
    """A metric value for reports: up to ``digits`` significant digits, no exponent for ordinary values.

    Args:
        value: A number, a Decimal or None.
        digits: Significant digits.

    Returns:
        e.g. ``0.951049``, ``0.9``, ``12``, ``1.5e-07``; ``n/a`` for None.
    """
    if value is None:
        return "n/a"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.{digits}g}"
    if "e" in text and 1e-4 <= abs(value) < 1e15:
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text


def evaluate_gate(
    gate: Mapping[str, Any],
    candidate_value: float | None,
    baseline_value: float | None,
    *,
    has_baseline: bool,
) -> dict[str, Any]:
    """Evaluate one gate (MLflow ``MetricThreshold`` semantics, see the module docstring).

    Args:
        gate: One item of :func:`parse_gates`.
        candidate_value: The candidate's value of the metric (None when missing).
        baseline_value: The baseline's value (None when missing or there is no baseline).
        has_baseline: Whether there is a baseline version at all.

    Returns:
        ``metric``, ``higher_is_better``, ``candidate``, ``baseline``, ``passed`` and ``checks``: one dict per
        configured check with ``check`` (``present``, ``threshold``, ``min_absolute_change``,
        ``min_relative_change``), ``status`` (``pass``/``fail``/``skipped``), ``required`` (text, e.g.
        ``>= 0.905 (baseline 0.9 + 0.005)``), ``actual`` (text) and ``detail`` (a sentence with the numbers).
    """
    metric = gate["metric"]
    higher = bool(gate["higher_is_better"])
    ge = ">=" if higher else "<="
    better = "higher" if higher else "lower"
    checks: list[dict[str, Any]] = []

    def add(check: str, status: str, required: str, actual: str, detail: str) -> None:
        checks.append({"check": check, "status": status, "required": required, "actual": actual, "detail": detail})

    def ok(value: Decimal, bound: Decimal) -> bool:
        return value >= bound if higher else value <= bound

    def show(value: Any) -> str:
        return format_number(value, 12) if isinstance(value, (int, float, Decimal)) else str(value)

    comparisons = [k for k in ("min_absolute_change", "min_relative_change") if gate.get(k) is not None]
    if candidate_value is None:
        add(
            "present",
            "fail",
            "a numeric value",
            "missing",
            f"the candidate has no numeric metric {metric!r} (neither a customProperty of its model version nor"
            " an entry of candidate_metrics): record it when registering, or pass the evaluation's Metrics",
        )
        return {
            "metric": metric,
            "higher_is_better": higher,
            "candidate": None,
            "baseline": baseline_value,
            "passed": False,
            "checks": checks,
        }
    cand = exact_decimal(candidate_value)
    if gate.get("threshold") is not None:
        bound = exact_decimal(gate["threshold"])
        passed = ok(cand, bound)
        add(
            "threshold",
            "pass" if passed else "fail",
            f"{ge} {show(gate['threshold'])}",
            show(candidate_value),
            f"candidate {metric} = {show(candidate_value)} {'meets' if passed else 'misses'} the"
            f" {'floor' if higher else 'ceiling'} {show(gate['threshold'])} ({better} is better)",
        )
    if comparisons and not has_baseline:
        for key in comparisons:
            add(
                key,
                "skipped",
                f"{show(gate[key])} over the baseline",
                show(candidate_value),
                "no baseline to compare with",
            )
    elif comparisons and baseline_value is None:
        for key in comparisons:
            add(
                key,
                "fail",
                f"{show(gate[key])} over the baseline",
                "baseline value missing",
                f"the baseline has no numeric metric {metric!r}, so the candidate cannot be compared on it: record"
                " the metric on the baseline version, or choose another baseline",
            )
    elif comparisons:
        base = exact_decimal(baseline_value)
        delta = cand - base
        if gate.get("min_absolute_change") is not None:
            change = exact_decimal(gate["min_absolute_change"])
            bound = base + change if higher else base - change
            passed = ok(cand, bound)
            sign = "+" if higher else "-"
            add(
                "min_absolute_change",
                "pass" if passed else "fail",
                f"{ge} {show(bound)} (baseline {show(baseline_value)} {sign} {show(gate['min_absolute_change'])})",
                f"{show(candidate_value)} (change {'+' if delta >= 0 else ''}{show(delta)})",
                f"candidate {metric} = {show(candidate_value)}, baseline = {show(baseline_value)}: the change"
                f" {'+' if delta >= 0 else ''}{show(delta)} {'reaches' if passed else 'falls short of'} the required"
                f" {sign}{show(gate['min_absolute_change'])}",
            )
        if gate.get("min_relative_change") is not None:
            wanted = exact_decimal(gate["min_relative_change"])
            if base == 0:
                epsilon = Decimal("1e-10")
                bound = base + epsilon if higher else base - epsilon
                passed = ok(cand, bound)
                add(
                    "min_relative_change",
                    "pass" if passed else "fail",
                    f"{'>' if higher else '<'} 0 (baseline is 0: strictly better)",
                    show(candidate_value),
                    f"the baseline {metric} is 0, so a relative change is undefined; as in MLflow the candidate"
                    f" must be strictly better: {show(candidate_value)} is {'' if passed else 'not '}"
                    f"{better} than 0",
                )
            else:
                relative = (delta if higher else -delta) / abs(base)
                passed = relative >= wanted
                add(
                    "min_relative_change",
                    "pass" if passed else "fail",
                    f"improvement >= {show(wanted * 100)}% of |baseline| {show(baseline_value)}",
                    f"{show(relative * 100)}%",
                    f"candidate {metric} = {show(candidate_value)}, baseline = {show(baseline_value)}: relative"
                    f" improvement {show(relative * 100)}% {'reaches' if passed else 'falls short of'} the required"
                    f" {show(wanted * 100)}%",
                )
    passed = all(c["status"] != "fail" for c in checks)
    return {
        "metric": metric,
        "higher_is_better": higher,
        "candidate": candidate_value,
        "baseline": baseline_value,
        "passed": passed,
        "checks": checks,
    }


def evaluate_gates(
    gates: Sequence[Mapping[str, Any]],
    candidate_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float] | None,
) -> list[dict[str, Any]]:
    """Evaluate every gate; ``baseline_metrics=None`` means there is no baseline.

    Args:
        gates: From :func:`parse_gates`.
        candidate_metrics: Metric name -> value of the candidate.
        baseline_metrics: Metric name -> value of the baseline, or None without a baseline.

    Returns:
        One :func:`evaluate_gate` result per gate, in order.
    """
    return [
        evaluate_gate(
            gate,
            candidate_metrics.get(gate["metric"]),
            (baseline_metrics or {}).get(gate["metric"]),
            has_baseline=baseline_metrics is not None,
        )
        for gate in gates
    ]


# -- metrics and lineage of registry versions -------------------------------------------------------------------


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


def version_metrics(version: Mapping[str, Any]) -> dict[str, float]:
    """The numeric customProperties of a model version that are metrics.

    register_model writes metrics as double properties under their own names; lineage, datasets,
    hyperparameters and lifecycle bookkeeping use the prefixes ``kfp_``, ``dataset_``, ``hp_`` and ``kml_``,
    which are left out here.

    Args:
        version: A ModelVersion in wire form.

    Returns:
        Metric name -> value (finite numbers only), sorted by name.
    """
    found: dict[str, float] = {}
    props = version.get("customProperties") or {}
    for key in sorted(props):
        if key.startswith(("kfp_", "dataset_", "hp_", "kml_")):
            continue
        value = property_value(props, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            found[key] = float(value)
    return found


def version_lineage(version: Mapping[str, Any], artifact: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Where a model version came from, for the report: KFP run, code, image, data and the model's storage.

    Args:
        version: A ModelVersion in wire form.
        artifact: Its ModelArtifact in wire form, if known.

    Returns:
        Label -> text, only for values that are recorded.
    """
    props = version.get("customProperties") or {}
    rows: dict[str, str] = {}
    labels = (
        ("kfp_pipeline_name", "pipeline"),
        ("kfp_run_name", "run name"),
        ("kfp_run_id", "run id"),
        ("kfp_run_url", "run URL"),
        ("kfp_namespace", "namespace"),
        ("kfp_task_name", "task"),
        ("code_version", "code version"),
        ("training_image", "training image"),
        ("kfp_model_uri", "model URI"),
    )
    for key, label in labels:
        value = property_value(props, key)
        if value not in (None, ""):
            rows[label] = str(value)
    if artifact:
        if artifact.get("uri") and "model URI" not in rows:
            rows["model URI"] = str(artifact["uri"])
        fmt = " ".join(str(artifact.get(k) or "") for k in ("modelFormatName", "modelFormatVersion")).strip()
        if fmt:
            rows["model format"] = fmt
    for i in range(100):
        uri = property_value(props, f"dataset_{i}_uri")
        if uri is None:
            break
        role = property_value(props, f"dataset_{i}_role") or f"dataset {i}"
        digest = property_value(props, f"dataset_{i}_sha256")
        rows[f"{role} data"] = f"{uri} (sha256 {str(digest)[:12]}...)" if digest else str(uri)
    hyper = {k[3:]: property_value(props, k) for k in sorted(props) if k.startswith("hp_")}
    if hyper:
        rows["hyperparameters"] = ", ".join(f"{k}={v}" for k, v in hyper.items())
    if version.get("author"):
        rows["author"] = str(version["author"])
    return rows


def describe_version(
    model: Mapping[str, Any], version: Mapping[str, Any], artifact: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One side of the comparison (candidate or baseline) as a plain dict for the decision and the reports.

    Args:
        model: The RegisteredModel (wire form).
        version: The ModelVersion (wire form).
        artifact: Its ModelArtifact (wire form), if known.

    Returns:
        ``reference`` (``model:version``), ``model_name``, ``model_id``, ``version_name``, ``version_id``,
        ``stage`` (``kml_stage``), ``state``, ``created`` (epoch ms as int), ``metrics``, ``metric_sources``
        and ``lineage``.
    """
    metrics = version_metrics(version)
    created = str(version.get("createTimeSinceEpoch") or "0")
    return {
        "reference": f"{model.get('name')}:{version.get('name')}",
        "model_name": str(model.get("name") or ""),
        "model_id": str(model.get("id") or version.get("registeredModelId") or ""),
        "version_name": str(version.get("name") or ""),
        "version_id": str(version.get("id") or ""),
        "stage": str(property_value(version.get("customProperties"), "kml_stage") or ""),
        "state": str(version.get("state") or ""),
        "created": int(created) if created.isdigit() else 0,
        "metrics": metrics,
        "metric_sources": dict.fromkeys(metrics, "registry"),
        "lineage": version_lineage(version, artifact),
    }


# -- per-example predictions and significance tests -------------------------------------------------------------


def resolve_predictions_path(path_or_uri: str) -> str:
    """A readable local file for a predictions Dataset, or "" when it is not reachable from this pod.

    Understands local paths, ``file://`` URIs and the KFP launcher's local mounts of object-store URIs
    (``gs://b/k`` -> ``/gcs/b/k``, ``s3://`` -> ``/s3/``, ``minio://`` -> ``/minio/``). A directory is
    accepted when it holds exactly one ``*.csv`` file.

    Args:
        path_or_uri: A path or URI.

    Returns:
        The file path, or "".
    """
    text = (path_or_uri or "").strip()
    if not text:
        return ""
    candidates = []
    if text.startswith("file://"):
        candidates.append(text[len("file://") :])
    elif "://" not in text:
        candidates.append(text)
    else:
        for prefix, mount in (("gs://", "/gcs/"), ("s3://", "/s3/"), ("minio://", "/minio/")):
            if text.startswith(prefix):
                candidates.append(mount + text[len(prefix) :])
    for path in candidates:
        if os.path.isfile(path):
            return path
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, "*.csv")))
            if len(found) == 1:
                return found[0]
    return ""


def normalize_label(value: str) -> str:
    """A class label in a comparable form: numbers by value (``1``, ``1.0`` -> ``1``), other text stripped.

    Args:
        value: The CSV cell.

    Returns:
        The normalised label; ``true``/``false`` become ``1``/``0``.
    """
    text = (value or "").strip()
    low = text.lower()
    if low in ("true", "false"):
        return "1" if low == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def read_predictions(path: str) -> dict[str, Any]:
    """Read a per-example predictions CSV: header ``label,prediction[,score][,id]`` (any column order).

    The example pipeline's ``evaluate_model`` writes ``label,prediction,score``. ``score`` is the positive
    class probability (needed for ``roc_auc``); an ``id`` (or ``example_id``) column lets two files be paired by
    example instead of by row.

    Args:
        path: The CSV file.

    Returns:
        ``labels``, ``predictions`` (normalised strings), ``scores`` (floats or None when absent), ``ids``
        (strings or None) and ``rows``.

    Raises:
        ValueError: When a required column is missing or a score is not a number (names the row).
    """
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"predictions file {path} is empty: expected a header 'label,prediction,score'") from None
        missing = [c for c in ("label", "prediction") if c not in header]
        if missing:
            raise ValueError(
                f"predictions file {path} has no column {missing[0]!r} (header: {','.join(header)}): write one row"
                " per example with the columns label,prediction[,score][,id]"
            )
        col = {name: header.index(name) for name in header}
        id_col = col.get("id", col.get("example_id"))
        labels: list[str] = []
        predictions: list[str] = []
        scores: list[float] | None = [] if "score" in col else None
        ids: list[str] | None = [] if id_col is not None else None
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise ValueError(f"predictions file {path}, line {line_no}: {len(row)} cells, header has {len(header)}")
            labels.append(normalize_label(row[col["label"]]))
            predictions.append(normalize_label(row[col["prediction"]]))
            if scores is not None:
                try:
                    scores.append(float(row[col["score"]]))
                except ValueError:
                    raise ValueError(
                        f"predictions file {path}, line {line_no}: score {row[col['score']]!r} is not a number"
                    ) from None
            if ids is not None:
                ids.append(row[id_col].strip())
    return {"labels": labels, "predictions": predictions, "scores": scores, "ids": ids, "rows": len(labels)}


def pair_predictions(candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Line up the candidate's and the baseline's predictions example by example.

    By ``id`` when both files have one (examples present in only one file are dropped and counted), else by
    row, which requires the same number of rows and the same label on every row.

    Args:
        candidate: From :func:`read_predictions`.
        baseline: From :func:`read_predictions`.

    Returns:
        ``ok`` (bool), ``reason`` (why pairing failed, else a note), ``labels``, ``candidate``/``baseline``
        (predictions), ``candidate_scores``/``baseline_scores`` (or None) and ``n``.
    """
    failed = {"ok": False, "n": 0}
    if candidate.get("ids") is not None and baseline.get("ids") is not None:
        base_index = {}
        for i, key in enumerate(baseline["ids"]):
            base_index.setdefault(key, i)
        pairs = [(i, base_index[key]) for i, key in enumerate(candidate["ids"]) if key in base_index]
        if not pairs:
            return {**failed, "reason": "the two prediction files share no example id"}
        mismatch = [(ci, bi) for ci, bi in pairs if candidate["labels"][ci] != baseline["labels"][bi]]
        if mismatch:
            ci, bi = mismatch[0]
            return {
                **failed,
                "reason": f"example id {candidate['ids'][ci]!r} has label {candidate['labels'][ci]!r} in the"
                f" candidate's file but {baseline['labels'][bi]!r} in the baseline's: they were not evaluated on the"
                " same data",
            }
        note = f"paired by id: {len(pairs)} common examples"
        dropped = candidate["rows"] - len(pairs), baseline["rows"] - len(pairs)
        if any(dropped):
            note += f" ({dropped[0]} only in the candidate's file, {dropped[1]} only in the baseline's)"
    else:
        if candidate["rows"] != baseline["rows"]:
            return {
                **failed,
                "reason": f"the candidate's predictions have {candidate['rows']} rows and the baseline's"
                f" {baseline['rows']}: evaluate both on the same test set, or add an 'id' column to pair by example",
            }
        if candidate["rows"] == 0:
            return {**failed, "reason": "the prediction files have no rows"}
        for i, (a, b) in enumerate(zip(candidate["labels"], baseline["labels"], strict=True)):
            if a != b:
                return {
                    **failed,
                    "reason": f"row {i + 1} has label {a!r} in the candidate's predictions but {b!r} in the"
                    " baseline's: they are not on the same examples (evaluate both on the same test set, or add an"
                    " 'id' column)",
                }
        pairs = [(i, i) for i in range(candidate["rows"])]
        note = f"paired by row: {len(pairs)} examples"

    def pick(side: Mapping[str, Any], key: str, index: int) -> list[Any] | None:
        values = side.get(key)
        if values is None:
            return None
        return [values[p[index]] for p in pairs]

    return {
        "ok": True,
        "reason": note,
        "n": len(pairs),
        "labels": [candidate["labels"][ci] for ci, _ in pairs],
        "candidate": pick(candidate, "predictions", 0),
        "baseline": pick(baseline, "predictions", 1),
        "candidate_scores": pick(candidate, "scores", 0),
        "baseline_scores": pick(baseline, "scores", 1),
    }


def canonical_metric_name(name: str) -> str:
    """The predictions-based metric a gate metric name refers to, or "" when it cannot be computed.

    Args:
        name: A gate's metric name, e.g. ``accuracy``, ``f1_score``, ``auc``, ``rmse``.

    Returns:
        One of ``accuracy``, ``error_rate``, ``precision``, ``recall``, ``f1``, ``roc_auc``, ``mae``, ``mse``,
        ``rmse``; or "".
    """
    key = (name or "").strip().lower().replace("-", "_")
    aliases = {
        "accuracy": "accuracy",
        "accuracy_score": "accuracy",
        "acc": "accuracy",
        "error_rate": "error_rate",
        "error": "error_rate",
        "precision": "precision",
        "precision_score": "precision",
        "recall": "recall",
        "recall_score": "recall",
        "f1": "f1",
        "f1_score": "f1",
        "roc_auc": "roc_auc",
        "auc": "roc_auc",
        "roc_auc_score": "roc_auc",
        "mae": "mae",
        "mean_absolute_error": "mae",
        "mse": "mse",
        "mean_squared_error": "mse",
        "rmse": "rmse",
        "root_mean_squared_error": "rmse",
    }
    return aliases.get(key, "")


def metric_from_predictions(
    metric: str, labels: Sequence[str], predictions: Sequence[str], scores: Sequence[float] | None = None
) -> float | None:
    """Compute a metric from per-example labels and predictions (binary metrics use ``1`` as the positive class).

    Args:
        metric: A name from :func:`canonical_metric_name`.
        labels: Normalised labels.
        predictions: Normalised predictions.
        scores: Positive-class scores (``roc_auc`` only).

    Returns:
        The value, or None when it is undefined for these examples (e.g. ``roc_auc`` with one class only,
        ``precision`` with no positive prediction, regression metrics on non-numeric labels).
    """
    n = len(labels)
    if n == 0:
        return None
    if metric in ("accuracy", "error_rate"):
        correct = sum(1 for a, b in zip(labels, predictions, strict=True) if a == b)
        return correct / n if metric == "accuracy" else (n - correct) / n
    if metric in ("precision", "recall", "f1"):
        tp = fp = fn = 0
        for a, b in zip(labels, predictions, strict=True):
            if b == "1" and a == "1":
                tp += 1
            elif b == "1":
                fp += 1
            elif a == "1":
                fn += 1
        if metric == "precision":
            return tp / (tp + fp) if tp + fp else None
        if metric == "recall":
            return tp / (tp + fn) if tp + fn else None
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    if metric == "roc_auc":
        if scores is None:
            return None
        order = sorted(range(n), key=lambda i: scores[i])
        ranks = [0.0] * n
        i = 0
        while i < n:
            j = i
            while j + 1 < n and scores[order[j + 1]] == scores[order[i]]:
                j += 1
            for k in range(i, j + 1):
                ranks[order[k]] = (i + j) / 2 + 1
            i = j + 1
        positives = [r for r, a in zip(ranks, labels, strict=True) if a == "1"]
        n_pos, n_neg = len(positives), n - len(positives)
        if n_pos == 0 or n_neg == 0:
            return None
        return (sum(positives) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    if metric in ("mae", "mse", "rmse"):
        try:
            errors = [float(b) - float(a) for a, b in zip(labels, predictions, strict=True)]
        except ValueError:
            return None
        if metric == "mae":
            return sum(abs(e) for e in errors) / n
        mse = sum(e * e for e in errors) / n
        return mse if metric == "mse" else math.sqrt(mse)
    return None


def binomial_tail(n: int, k: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2).

    Exact rational arithmetic (``math.comb``) up to n = 2000; above, the same sum in floating point, starting
    from the largest term (``lgamma``) and stopping when terms fall below 1e-17 of it: about 1e-12 relative
    accuracy in O(sqrt(n)) terms.

    Args:
        n: Trials (>= 0).
        k: Upper bound.

    Returns:
        The probability.
    """
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n <= 2000:
        total = sum(math.comb(n, i) for i in range(k + 1))
        return float(Fraction(total, 2**n))
    if 2 * k > n:  # symmetry keeps the summed terms decreasing: P(X <= k) = 1 - P(X <= n - k - 1)
        return 1.0 - binomial_tail(n, n - k - 1)
    # Largest term first (C(n, k) / 2^n), then C(n, i - 1) = C(n, i) * i / (n - i + 1) going down.
    term = math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2))
    terms = [term]
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        terms.append(term)
        if term < 1e-17 * terms[0]:
            break
    return min(1.0, math.fsum(terms))


def mcnemar_exact(candidate_correct_only: int, baseline_correct_only: int) -> float:
    """Two-sided exact McNemar test (binomial test on the discordant pairs).

    Args:
        candidate_correct_only: Examples the candidate gets right and the baseline wrong (b).
        baseline_correct_only: Examples the baseline gets right and the candidate wrong (c).

    Returns:
        The two-sided p-value ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``; 1.0 when
        there are no discordant pairs.
    """
    b, c = int(candidate_correct_only), int(baseline_correct_only)
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_tail(n, min(b, c)))


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values with linear interpolation (numpy's default method).

    Args:
        sorted_values: Ascending values (at least one).
        q: From 0 to 1.

    Returns:
        The quantile.
    """
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def paired_bootstrap(
    metric: str,
    paired: Mapping[str, Any],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap confidence interval of ``metric(candidate) - metric(baseline)``.

    Each resample draws ``n`` example indices with replacement (``random.Random(seed).choices``) and computes
    both models' metric on the same examples; the interval is the percentile interval of the differences.
    Resamples where the metric is undefined (e.g. one class only for ``roc_auc``) are skipped and counted. Each
    metric has a fast path that gives the same numbers as recomputing it on the resampled rows: means of
    per-example terms (accuracy, error rate, mae, mse, rmse), counts of the 16 (candidate, baseline) outcome
    pairs (precision, recall, f1), a weighted rank statistic over a presorted order (roc_auc).

    Args:
        metric: A name from :func:`canonical_metric_name`.
        paired: From :func:`pair_predictions`.
        resamples: Number of resamples.
        seed: Random seed (same seed and data, same interval).
        confidence: Two-sided confidence level, e.g. 0.95.

    Returns:
        ``difference`` (observed), ``ci_low``, ``ci_high``, ``confidence``, ``resamples``, ``used`` (resamples
        with a defined metric), ``seed``.
    """
    labels = paired["labels"]
    cand, base = paired["candidate"], paired["baseline"]
    cand_scores, base_scores = paired.get("candidate_scores"), paired.get("baseline_scores")
    n = len(labels)
    observed_c = metric_from_predictions(metric, labels, cand, cand_scores)
    observed_b = metric_from_predictions(metric, labels, base, base_scores)
    observed = None if observed_c is None or observed_b is None else observed_c - observed_b
    rng = random.Random(int(seed))
    diffs: list[float] = []
    mean_metrics = ("accuracy", "error_rate", "mae", "mse")
    if metric in mean_metrics:
        # Per-example contributions: the metric is their mean, so a resample's difference is a mean of d.
        if metric in ("accuracy", "error_rate"):
            sign = 1 if metric == "accuracy" else -1
            d = [sign * ((a == c) - (a == b)) for a, b, c in zip(labels, base, cand, strict=True)]
        else:
            power = 1 if metric == "mae" else 2
            d = [
                abs(float(c) - float(a)) ** power - abs(float(b) - float(a)) ** power
                for a, b, c in zip(labels, base, cand, strict=True)
            ]
        for _ in range(int(resamples)):
            diffs.append(sum(rng.choices(d, k=n)) / n)
    elif metric == "rmse":
        sq_c = [(float(c) - float(a)) ** 2 for a, c in zip(labels, cand, strict=True)]
        sq_b = [(float(b) - float(a)) ** 2 for a, b in zip(labels, base, strict=True)]
        for _ in range(int(resamples)):
            idx = rng.choices(range(n), k=n)
            diffs.append(
                math.sqrt(sum(map(sq_c.__getitem__, idx)) / n) - math.sqrt(sum(map(sq_b.__getitem__, idx)) / n)
            )
    elif metric in ("precision", "recall", "f1"):
        # Each example is one of 16 (candidate outcome, baseline outcome) pairs; a resample only needs their counts.
        def outcome(label: str, prediction: str) -> int:
            return (0 if label == "1" else 1) if prediction == "1" else (2 if label == "1" else 3)  # tp fp fn tn

        def from_counts(tp: int, fp: int, fn: int) -> float | None:
            if metric == "precision":
                return tp / (tp + fp) if tp + fp else None
            if metric == "recall":
                return tp / (tp + fn) if tp + fn else None
            return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None

        codes = [outcome(a, c) * 4 + outcome(a, b) for a, b, c in zip(labels, base, cand, strict=True)]
        for _ in range(int(resamples)):
            counts_c, counts_b = [0] * 4, [0] * 4
            for code, count in collections.Counter(rng.choices(codes, k=n)).items():
                counts_c[code // 4] += count
                counts_b[code % 4] += count
            value_c, value_b = from_counts(*counts_c[:3]), from_counts(*counts_b[:3])
            if value_c is not None and value_b is not None:
                diffs.append(value_c - value_b)
    elif metric == "roc_auc" and cand_scores is not None and base_scores is not None:
        # Weighted Mann-Whitney statistic: each resample gives every example a multiplicity; with the examples
        # presorted by score, the sums are running totals (C-level map/accumulate, no per-example Python loop).
        def sorted_layout(scores: Sequence[float]) -> dict[str, list[int]]:
            order = sorted(range(n), key=lambda j: scores[j])
            start, end = [0] * n, [0] * n
            k = 0
            while k < n:
                m = k
                while m + 1 < n and scores[order[m + 1]] == scores[order[k]]:
                    m += 1
                for position in range(k, m + 1):
                    start[position], end[position] = k, m + 1
                k = m + 1
            positive = [1 if labels[i] == "1" else 0 for i in order]
            return {"order": order, "pos": positive, "neg": [1 - p for p in positive], "start": start, "end": end}

        def weighted_auc(layout: Mapping[str, list[int]], weight: Sequence[int]) -> float | None:
            w = list(map(weight.__getitem__, layout["order"]))
            pos = list(map(operator.mul, w, layout["pos"]))
            cum_neg = [0, *itertools.accumulate(map(operator.mul, w, layout["neg"]))]
            # A positive beats the negatives below its tie group and half of those tied with it.
            below = map(cum_neg.__getitem__, layout["start"])
            through = map(cum_neg.__getitem__, layout["end"])
            area2 = sum(map(operator.mul, pos, below)) + sum(map(operator.mul, pos, through))
            total_pos, total_neg = sum(pos), cum_neg[-1]
            return area2 / 2 / (total_pos * total_neg) if total_pos and total_neg else None

        layout_c, layout_b = sorted_layout(cand_scores), sorted_layout(base_scores)
        for _ in range(int(resamples)):
            counts = collections.Counter(rng.choices(range(n), k=n))
            weight = list(map(counts.get, range(n), itertools.repeat(0, n)))
            value_c, value_b = weighted_auc(layout_c, weight), weighted_auc(layout_b, weight)
            if value_c is not None and value_b is not None:
                diffs.append(value_c - value_b)
    diffs.sort()
    alpha = 1 - float(confidence)
    result = {
        "difference": observed,
        "ci_low": None,
        "ci_high": None,
        "confidence": float(confidence),
        "resamples": int(resamples),
        "used": len(diffs),
        "seed": int(seed),
    }
    if diffs:
        result["ci_low"] = quantile(diffs, alpha / 2)
        result["ci_high"] = quantile(diffs, 1 - alpha / 2)
    return result


def assess_significance(
    metric: str,
    higher_is_better: bool,
    candidate_predictions: Mapping[str, Any] | None,
    baseline_predictions: Mapping[str, Any] | None,
    *,
    method: str = "auto",
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Is the candidate significantly better than the baseline on ``metric``, example by example?

    ``auto`` uses the exact McNemar test for accuracy (and error rate), deciding with its two-sided p-value,
    and reports the paired-bootstrap interval too; for other metrics the paired bootstrap decides: significant
    when the ``1 - alpha`` interval of the difference lies entirely on the better side of 0. Both are
    two-sided at level ``alpha`` and also require the difference to point the better way.

    Args:
        metric: The gate's metric name (see :func:`canonical_metric_name` for what can be computed).
        higher_is_better: The gate's direction.
        candidate_predictions: From :func:`read_predictions`, or None.
        baseline_predictions: From :func:`read_predictions`, or None.
        method: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
        alpha: Significance level, e.g. 0.05.
        resamples: Bootstrap resamples.
        seed: Bootstrap seed.

    Returns:
        ``status`` (``significant``, ``not significant`` or ``not tested``), ``significant`` (bool or None),
        ``reason``, ``metric``, ``method`` (the deciding test), ``alpha``, ``n``, ``candidate_value``,
        ``baseline_value`` (recomputed from the predictions), ``difference``, ``mcnemar`` (``b``, ``c``,
        ``p_value``) and ``bootstrap`` (see :func:`paired_bootstrap`) where run.
    """
    result: dict[str, Any] = {
        "status": "not tested",
        "significant": None,
        "metric": metric,
        "method": method,
        "alpha": float(alpha),
        "n": 0,
        "candidate_value": None,
        "baseline_value": None,
        "difference": None,
        "mcnemar": None,
        "bootstrap": None,
        "pairing": "",
    }
    if method == "none":
        return {**result, "reason": "significance testing is off (significance_test='none')"}
    if candidate_predictions is None or baseline_predictions is None:
        missing = [
            side
            for side, value in (("candidate", candidate_predictions), ("baseline", baseline_predictions))
            if value is None
        ]
        return {**result, "reason": f"no per-example predictions for the {' and the '.join(missing)}"}
    canonical = canonical_metric_name(metric)
    if not canonical:
        return {
            **result,
            "reason": f"metric {metric!r} cannot be computed from label/prediction/score rows (supported: accuracy,"
            " error_rate, precision, recall, f1, roc_auc, mae, mse, rmse)",
        }
    if method == "mcnemar" and canonical not in ("accuracy", "error_rate"):
        return {**result, "reason": f"McNemar's test applies to accuracy and error rate, not {metric!r}: use bootstrap"}
    paired = pair_predictions(candidate_predictions, baseline_predictions)
    if not paired["ok"]:
        return {**result, "reason": paired["reason"]}
    labels = paired["labels"]
    cand_value = metric_from_predictions(canonical, labels, paired["candidate"], paired["candidate_scores"])
    base_value = metric_from_predictions(canonical, labels, paired["baseline"], paired["baseline_scores"])
    result.update(
        {"n": paired["n"], "pairing": paired["reason"], "candidate_value": cand_value, "baseline_value": base_value}
    )
    if cand_value is None or base_value is None:
        return {
            **result,
            "reason": f"{metric} is undefined on these predictions (e.g. a single class, no positive predictions,"
            " no score column for roc_auc, or non-numeric labels for a regression metric)",
        }
    difference = cand_value - base_value
    result["difference"] = difference
    improved = difference > 0 if higher_is_better else difference < 0
    use_mcnemar = canonical in ("accuracy", "error_rate") and method in ("auto", "mcnemar")
    if method in ("auto", "bootstrap"):
        result["bootstrap"] = paired_bootstrap(
            canonical, paired, resamples=resamples, seed=seed, confidence=1 - float(alpha)
        )
    if use_mcnemar:
        b = sum(1 for a, x, y in zip(labels, paired["candidate"], paired["baseline"], strict=True) if x == a != y)
        c = sum(1 for a, x, y in zip(labels, paired["candidate"], paired["baseline"], strict=True) if y == a != x)
        p_value = mcnemar_exact(b, c)
        result["mcnemar"] = {"b": b, "c": c, "p_value": p_value}
        result["method"] = "mcnemar"
        significant = improved and p_value < float(alpha)
        detail = (
            f"exact McNemar test on {paired['n']} paired examples: the candidate alone is right on {b}, the baseline"
            f" alone on {c}; two-sided p = {format_number(p_value, 4)}"
            f" {'<' if p_value < float(alpha) else '>='} alpha {format_number(float(alpha))}"
        )
    else:
        boot = result["bootstrap"]
        result["method"] = "bootstrap"
        if boot is None or boot["ci_low"] is None:
            return {**result, "reason": f"no bootstrap resample had a defined {metric}"}
        low, high = boot["ci_low"], boot["ci_high"]
        significant = low > 0 if higher_is_better else high < 0
        detail = (
            f"paired bootstrap ({boot['used']} resamples, seed {boot['seed']}) on {paired['n']} examples:"
            f" {format_number(boot['confidence'] * 100)}% interval of the {metric} difference"
            f" [{format_number(low)}, {format_number(high)}]"
            f" {'excludes' if (low > 0 or high < 0) else 'includes'} 0"
        )
    change = (
        f"{metric} {format_number(base_value)} -> {format_number(cand_value)} ({'+' if difference >= 0 else ''}"
        f"{format_number(difference)})"
    )
    if significant:
        status, verdict = "significant", "the candidate is significantly better"
    elif not improved:
        status, verdict = "not significant", "the candidate is not better on these examples"
    else:
        status, verdict = "not significant", "the improvement is not statistically significant"
    return {**result, "status": status, "significant": bool(significant), "reason": f"{verdict}: {change}; {detail}"}


# -- registry look-ups ------------------------------------------------------------------------------------------


def filter_property_name(name: str) -> str:
    """A custom property name as written in a ``filterQuery`` (backquoted unless it is a plain identifier).

    Args:
        name: The property name.

    Returns:
        e.g. ``accuracy`` or ```my.metric```.
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in (
        "and",
        "or",
        "in",
        "like",
        "ilike",
        "true",
        "false",
    ):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def metric_filter(metric: str) -> str:
    """A ``filterQuery`` matching LIVE versions that have a numeric property ``metric``.

    ``(m >= 0 OR m < 0)`` with integer literals matches int and double properties on the upstream server and
    the embedded one (the Model Registry has no "exists" operator).

    Args:
        metric: The metric (custom property) name.

    Returns:
        The filter text.
    """
    ref = filter_property_name(metric)
    return f'state = "LIVE" AND ({ref} >= 0 OR {ref} < 0)'


def list_model_versions_page(
    conn: RegistryConnection,
    model_id: str,
    *,
    filter_query: str = "",
    page_size: int = 100,
    order_by: str = "ID",
    descending: bool = False,
    token: str | None = None,
) -> dict[str, Any]:
    """One page of a registered model's versions, filtered and ordered by the server.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        filter_query: A ``filterQuery`` ("" for none).
        page_size: Items per page.
        order_by: ``ID``, ``CREATE_TIME`` or ``LAST_UPDATE_TIME``.
        descending: Sort order.
        token: ``nextPageToken`` of the previous page (None for the first).

    Returns:
        The list response in wire form (``items``, ``nextPageToken``, ``size``).
    """

    async def list_page(api: Any) -> dict[str, Any]:
        page = await api.get_registered_model_versions(
            model_id,
            filter_query=filter_query or None,
            page_size=str(int(page_size)),
            order_by=OrderByField(order_by),
            sort_order=SortOrder.DESC if descending else SortOrder.ASC,
            next_page_token=token,
        )
        return wire_with_timestamps(page)

    action = f"list versions of registered model {model_id}" + (f" matching {filter_query!r}" if filter_query else "")
    return conn.call(action, list_page) or {}


def rank_model_versions(
    conn: RegistryConnection,
    model_id: str,
    metric: str,
    *,
    higher_is_better: bool = True,
    exclude_ids: Sequence[str] = (),
    page_size: int = 100,
) -> dict[str, Any]:
    """The best LIVE version of a model on ``metric``, scanning every version page by page.

    The server filters (LIVE versions that have the metric, :func:`metric_filter`) and pages (``pageSize``,
    ``nextPageToken``, ordered by id); only the best version so far is kept, so memory is one page whatever the
    number of versions, and the cost is ``ceil(matching versions / page_size)`` requests. Ties keep the
    earlier version (lower id): a challenger must beat the incumbent, not equal it.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        metric: The ranking metric.
        higher_is_better: Direction of the metric.
        exclude_ids: Version ids to leave out (the candidate).
        page_size: Versions per request.

    Returns:
        ``best`` (the version in wire form, or None), ``value``, ``scanned`` (matching versions seen), ``pages``
        and ``filter``.
    """
    excluded = {str(i) for i in exclude_ids}
    query = metric_filter(metric)
    best, best_value, scanned, pages, token = None, None, 0, 0, None
    while True:
        page = list_model_versions_page(conn, model_id, filter_query=query, page_size=page_size, token=token)
        pages += 1
        for version in page.get("items") or []:
            scanned += 1
            if str(version.get("id")) in excluded:
                continue
            value = property_value(version.get("customProperties"), metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if best_value is None or (value > best_value if higher_is_better else value < best_value):
                best, best_value = version, float(value)
        token = page.get("nextPageToken") or None
        if not token or not page.get("items"):
            break
    return {"best": best, "value": best_value, "scanned": scanned, "pages": pages, "filter": query}


def metric_trend(
    conn: RegistryConnection,
    model_id: str,
    metric: str,
    *,
    limit: int = 30,
    extra: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The latest ``limit`` LIVE versions having ``metric``, oldest first, for the trend chart (one request).

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        metric: The metric.
        limit: How many versions (0 for none).
        extra: Versions (wire form) to include even when older than the last ``limit`` (candidate, baseline).

    Returns:
        ``[{"id", "version", "value", "created", "stage"}]`` sorted by creation time, then id.
    """
    versions: dict[str, Mapping[str, Any]] = {}
    if limit > 0:
        page = list_model_versions_page(
            conn, model_id, filter_query=metric_filter(metric), page_size=limit, order_by="CREATE_TIME", descending=True
        )
        for version in page.get("items") or []:
            versions[str(version.get("id"))] = version
    for version in extra:
        if version and str(version.get("registeredModelId") or "") == str(model_id):
            versions.setdefault(str(version.get("id")), version)
    points = []
    for vid, version in versions.items():
        value = property_value(version.get("customProperties"), metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        created = str(version.get("createTimeSinceEpoch") or "0")
        points.append(
            {
                "id": vid,
                "version": str(version.get("name") or ""),
                "value": float(value),
                "created": int(created) if created.isdigit() else 0,
                "stage": str(property_value(version.get("customProperties"), "kml_stage") or ""),
            }
        )
    points.sort(key=lambda p: (p["created"], int(p["id"]) if p["id"].isdigit() else 0))
    return points


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
    version_id = str(version.get("id") or "")
    page = (
        conn.call(
            f"list dataset artifacts of model version {version_id}",
            lambda api: api.get_model_version_artifacts(
                version_id, artifact_type=ArtifactTypeQueryParam("dataset-artifact"), page_size="100"
            ),
        )
        or {}
    )
    found = [
        a
        for a in page.get("items") or []
        if property_value(a.get("customProperties"), "role") == "predictions" and a.get("uri")
    ]
    if found:
        found.sort(key=lambda a: int(str(a.get("id") or "0")) if str(a.get("id") or "0").isdigit() else 0)
        return str(found[-1]["uri"])
    return str(property_value(version.get("customProperties"), "kml_predictions_uri") or "")


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
    page = (
        conn.call(
            f"list dataset artifacts of model version {version_id}",
            lambda api: api.get_model_version_artifacts(
                version_id, artifact_type=ArtifactTypeQueryParam("dataset-artifact"), page_size="100"
            ),
        )
        or {}
    )
    items = page.get("items") or []
    body: dict[str, Any] = {
        "artifactType": "dataset-artifact",
        "name": "predictions-dataset",
        "uri": uri,
        "state": "LIVE",
        "customProperties": {
            "role": {"string_value": "predictions", "metadataType": "MetadataStringValue"},
            "kfp_artifact_name": {"string_value": kfp_artifact_name, "metadataType": "MetadataStringValue"},
        },
    }
    existing = [a for a in items or [] if a.get("name") == "predictions-dataset"]
    if existing and existing[0].get("uri") == uri:
        return "unchanged"
    if existing:
        body["id"] = str(existing[0]["id"])
    conn.call(
        f"link the predictions dataset to model version {version_id}",
        lambda api: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(body)),
    )
    return "updated" if existing else "created"


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

    def restore(wire: dict[str, Any], obj: Any) -> None:
        for attr, key in (
            ("create_time_since_epoch", "createTimeSinceEpoch"),
            ("last_update_time_since_epoch", "lastUpdateTimeSinceEpoch"),
        ):
            value = getattr(obj, attr, None)
            if value:
                wire[key] = str(value)

    items = getattr(result, "items", None)
    if isinstance(items, list):
        for wire, obj in zip(data.get("items") or [], items, strict=False):
            restore(wire, obj)
    else:
        restore(data, result)
    return data


def load_version_record(conn: RegistryConnection, version_id: str) -> dict[str, Any]:
    """A ModelVersion (with its timestamps), its RegisteredModel and its model artifact, by version id.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.

    Returns:
        ``{"model", "version", "artifact"}`` in wire form (``artifact`` None when the version has none), the
        shape ``resolve_model_reference`` returns.

    Raises:
        LookupError: When no version has this id.
    """
    vid = str(version_id)

    async def get_version(api: Any) -> dict[str, Any]:
        return wire_with_timestamps(await api.get_model_version(vid))

    version = conn.call(f"get model version {vid}", get_version, tolerate=(404,))
    if not version:
        raise LookupError(
            f"no model version with id {vid!r} in the Model Registry at {conn.url}: pass the registered_model"
            " output of register_model from this run, or a reference 'model:version'"
        )
    model_id = str(version.get("registeredModelId") or "")
    model = conn.call(f"get registered model {model_id}", lambda api: api.get_registered_model(model_id))
    return {"model": model or {}, "version": version, "artifact": find_model_artifact(conn, version)}


# -- decision ---------------------------------------------------------------------------------------------------


def decide(
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    gate_results: Sequence[Mapping[str, Any]],
    significance: Mapping[str, Any],
    *,
    require_significance: bool = False,
    baseline_note: str = "",
) -> dict[str, Any]:
    """Combine gates and the significance test into one decision.

    True (promote the candidate) when every gate passes and, with a baseline, the significance test did not
    say "not significant" (and ran at all when ``require_significance``). Without a baseline only the
    thresholds apply, and the reason starts with "no baseline".

    Args:
        candidate: :func:`describe_version` of the candidate.
        baseline: The same for the baseline, or None.
        gate_results: From :func:`evaluate_gates`.
        significance: From :func:`assess_significance`.
        require_significance: Keep the baseline when the test could not run.
        baseline_note: Why there is no baseline (for the reason text).

    Returns:
        ``decision`` (bool), ``winner`` (reference or "" when nobody qualifies), ``winner_role``
        (``candidate``/``baseline``/""), ``reason`` (one sentence) and ``reasons`` (every failure).
    """
    failures = []
    for gate in gate_results:
        for check in gate["checks"]:
            if check["status"] == "fail":
                failures.append(f"gate {gate['metric']} {check['check']}: {check['detail']}")
    if baseline is None:
        why = baseline_note or "no baseline version"
        if failures:
            return {
                "decision": False,
                "winner": "",
                "winner_role": "",
                "reasons": failures,
                "reason": f"no baseline ({why}), and the candidate fails: " + "; ".join(failures),
            }
        return {
            "decision": True,
            "winner": candidate["reference"],
            "winner_role": "candidate",
            "reasons": [],
            "reason": f"no baseline ({why}): the candidate passes every threshold",
        }
    if baseline.get("version_id") and baseline.get("version_id") == candidate.get("version_id"):
        return {
            "decision": False,
            "winner": baseline["reference"],
            "winner_role": "baseline",
            "reasons": ["the candidate is the baseline"],
            "reason": f"the candidate {candidate['reference']} already is the baseline: nothing to promote",
        }
    status = significance.get("status")
    if status == "not significant":
        failures.append(f"significance: {significance.get('reason')}")
    elif status != "significant" and require_significance:
        failures.append(f"significance required but not tested: {significance.get('reason')}")
    if failures:
        return {
            "decision": False,
            "winner": baseline["reference"],
            "winner_role": "baseline",
            "reasons": failures,
            "reason": f"keep {baseline['reference']}: " + "; ".join(failures),
        }
    tail = ""
    if status == "significant":
        tail = f", and {significance.get('reason')}"
    elif significance.get("reason"):
        tail = f" (significance not tested: {significance.get('reason')})"
    return {
        "decision": True,
        "winner": candidate["reference"],
        "winner_role": "candidate",
        "reasons": [],
        "reason": f"{candidate['reference']} beats {baseline['reference']}: all {len(gate_results)} gate(s) pass{tail}",
    }


def check_compare_settings(
    baseline: str,
    significance_test: str,
    significance_level: float,
    bootstrap_resamples: int,
    page_size: int,
    trend_versions: int,
) -> str:
    """Validate the plain settings before connecting; returns the baseline mode.

    Args:
        baseline: ``production`` (or ""), ``best``, ``none``, or a reference.
        significance_test: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
        significance_level: Alpha, strictly between 0 and 0.5.
        bootstrap_resamples: 100 to 100000.
        page_size: 1 to 1000.
        trend_versions: 0 to 500.

    Returns:
        ``production``, ``best``, ``none`` or ``reference``.

    Raises:
        ValueError: Naming the input and the accepted values.
    """
    if significance_test not in ("auto", "mcnemar", "bootstrap", "none"):
        raise ValueError(
            f"significance_test={significance_test!r}: use 'auto' (McNemar for accuracy, bootstrap otherwise),"
            " 'mcnemar', 'bootstrap' or 'none'"
        )
    if not 0 < float(significance_level) < 0.5:
        raise ValueError(f"significance_level={significance_level!r}: expected a level between 0 and 0.5, e.g. 0.05")
    if not 100 <= int(bootstrap_resamples) <= 100000:
        raise ValueError(f"bootstrap_resamples={bootstrap_resamples!r}: expected 100 to 100000 (1000 is usual)")
    if not 1 <= int(page_size) <= 1000:
        raise ValueError(f"page_size={page_size!r}: expected 1 to 1000")
    if not 0 <= int(trend_versions) <= 500:
        raise ValueError(f"trend_versions={trend_versions!r}: expected 0 (no chart) to 500")
    text = (baseline or "").strip()
    if text.lower() in ("", "production"):
        return "production"
    if text.lower() in ("best", "none"):
        return text.lower()
    return "reference"


def run_compare_models(
    *,
    gates: Any,
    candidate: str = "",
    candidate_version_id: str = "",
    model_name: str = "",
    baseline: str = "production",
    candidate_metrics: Mapping[str, Any] | None = None,
    candidate_predictions_path: str = "",
    candidate_predictions_uri: str = "",
    candidate_predictions_name: str = "",
    baseline_predictions_path: str = "",
    significance_test: str = "auto",
    significance_level: float = 0.05,
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    require_significance: bool = False,
    record_predictions: bool = True,
    trend_versions: int = 30,
    page_size: int = 100,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole ``compare_models`` job on plain values: resolve both versions, gate, test, decide.

    Args:
        gates: See :func:`parse_gates`; the first gate's metric is the primary metric (ranking, significance
            test, trend chart).
        candidate: Reference of the candidate (``model:version``, ``model@alias``); ignored when
            ``candidate_version_id`` is set.
        candidate_version_id: The candidate's ModelVersion id (from register_model's output).
        model_name: Default model for references without one.
        baseline: ``production`` (default; the version whose ``kml_stage`` is ``production``), ``best`` (rank all
            LIVE versions of the candidate's model on the primary metric), ``none`` (thresholds only) or a
            reference (``model:version``, ``model@alias``, ``model`` = its production version).
        candidate_metrics: Metric name -> value from the run's Metrics artifact; overrides the registry's.
        candidate_predictions_path: Local file of the candidate's per-example predictions ("" if none).
        candidate_predictions_uri: Its URI (recorded on the candidate version when ``record_predictions``).
        candidate_predictions_name: Its KFP artifact name (recorded with it).
        baseline_predictions_path: Local file of the baseline's predictions; "" to use what is recorded on the
            baseline version (readable when it is a local path or mounted in the pod).
        significance_test: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
        significance_level: Alpha of the test.
        bootstrap_resamples: Resamples of the paired bootstrap.
        seed: Seed of the bootstrap.
        require_significance: Keep the baseline when no test could be run.
        record_predictions: Link the candidate's predictions to its version (so it can be a baseline later).
        trend_versions: Versions in the trend chart.
        page_size: Page size for ranking.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        env: Environment (default ``os.environ``).

    Returns:
        The comparison record rendered by the reports: ``decision``, ``winner``, ``winner_role``, ``reason``,
        ``reasons``, ``candidate``, ``baseline`` (or None), ``baseline_mode``, ``baseline_note``, ``ranking``,
        ``primary_metric``, ``higher_is_better``, ``gates`` (results), ``gate_specs`` (parsed), ``metrics``
        (side-by-side rows), ``significance``,
        ``trend``, ``settings``, ``notes``, ``registry_url`` and ``scalars`` (for the Metrics artifact).

    Raises:
        ValueError: For invalid inputs (before any registry call).
        LookupError: When an explicit candidate or baseline reference does not exist.
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    parsed = parse_gates(gates)
    mode = check_compare_settings(
        baseline, significance_test, significance_level, bootstrap_resamples, page_size, trend_versions
    )
    primary = parsed[0]
    if not candidate_version_id and not (candidate or "").strip():
        raise ValueError(
            "no candidate: pass candidate_model (register_model's registered_model output) or candidate, a reference"
            " like 'my-model:1.2.0' or 'my-model@challenger'"
        )
    notes: list[str] = []
    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        if candidate_version_id:
            cand_ref = load_version_record(conn, str(candidate_version_id))
        else:
            found = resolve_model_reference(
                conn, candidate.strip(), default_model=model_name, repair=False, with_artifact=False
            )
            cand_ref = load_version_record(conn, str(found.version["id"]))
        cand = describe_version(cand_ref["model"], cand_ref["version"], cand_ref.get("artifact"))
        for name, value in (candidate_metrics or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if name in cand["metrics"] and cand["metrics"][name] != float(value):
                notes.append(
                    f"candidate {name}: the Metrics artifact says {format_number(float(value), 12)}, the registry"
                    f" {format_number(cand['metrics'][name], 12)}; using the Metrics artifact"
                )
            cand["metrics"][name] = float(value)
            cand["metric_sources"][name] = "metrics artifact"

        base_ref = None
        baseline_note = ""
        ranking = None
        if mode == "production":
            try:
                found = resolve_model_reference(
                    conn, "", default_model=cand["model_name"], repair=False, with_artifact=False
                )
                base_ref = load_version_record(conn, str(found.version["id"]))
            except LookupError as exc:
                baseline_note = f"no version of {cand['model_name']!r} is in production"
                if "no version in production" not in str(exc):
                    notes.append(f"the production version could not be read: {exc}")
                log.info("no production baseline: %s", exc)
        elif mode == "best":
            ranking = rank_model_versions(
                conn,
                cand["model_id"],
                primary["metric"],
                higher_is_better=primary["higher_is_better"],
                exclude_ids=[cand["version_id"]],
                page_size=page_size,
            )
            log.info(
                "ranked %d version(s) of %r on %s in %d page(s)",
                ranking["scanned"],
                cand["model_name"],
                primary["metric"],
                ranking["pages"],
            )
            if ranking["best"] is not None:
                base_ref = load_version_record(conn, str(ranking["best"]["id"]))
            else:
                baseline_note = f"no other LIVE version of {cand['model_name']!r} has the metric {primary['metric']!r}"
        elif mode == "reference":
            found = resolve_model_reference(
                conn, baseline.strip(), default_model=cand["model_name"], repair=False, with_artifact=False
            )
            base_ref = load_version_record(conn, str(found.version["id"]))
        else:
            baseline_note = "baseline='none': thresholds only"
        base = describe_version(base_ref["model"], base_ref["version"], base_ref.get("artifact")) if base_ref else None

        gate_results = evaluate_gates(parsed, cand["metrics"], base["metrics"] if base else None)

        # Per-example predictions for the significance test.
        cand_pred = base_pred = None
        if candidate_predictions_path:
            path = resolve_predictions_path(candidate_predictions_path)
            if not path:
                raise FileNotFoundError(
                    f"candidate_predictions {candidate_predictions_path!r} is not a readable file: pass the"
                    " evaluation's predictions Dataset (a CSV with label,prediction[,score])"
                )
            cand_pred = read_predictions(path)
            cand["predictions"] = candidate_predictions_uri or candidate_predictions_path
        if base is not None:
            source = ""
            if baseline_predictions_path:
                source = baseline_predictions_path
                path = resolve_predictions_path(baseline_predictions_path)
                if not path:
                    raise FileNotFoundError(
                        f"baseline_predictions {baseline_predictions_path!r} is not a readable file: pass a CSV"
                        " with label,prediction[,score]"
                    )
            else:
                source = find_predictions_uri(conn, base_ref["version"])
                path = resolve_predictions_path(source) if source else ""
                if source and not path:
                    notes.append(
                        f"the baseline's predictions are recorded at {source}, which this pod cannot read: pass them"
                        " as baseline_predictions (e.g. with dsl.importer(artifact_uri=...)) to test significance"
                    )
            if path:
                base_pred = read_predictions(path)
                base["predictions"] = source
        if base is not None:
            significance = assess_significance(
                primary["metric"],
                primary["higher_is_better"],
                cand_pred,
                base_pred,
                method=significance_test,
                alpha=significance_level,
                resamples=bootstrap_resamples,
                seed=seed,
            )
        else:
            significance = {
                "status": "not tested",
                "significant": None,
                "reason": "no baseline",
                "metric": primary["metric"],
                "method": significance_test,
                "n": 0,
            }
        verdict = decide(
            cand,
            base,
            gate_results,
            significance,
            require_significance=require_significance,
            baseline_note=baseline_note,
        )

        trend = []
        if int(trend_versions) > 0:
            extra = [cand_ref["version"]] + ([base_ref["version"]] if base_ref else [])
            trend = metric_trend(conn, cand["model_id"], primary["metric"], limit=int(trend_versions), extra=extra)
            for point in trend:
                point["role"] = (
                    "candidate"
                    if point["id"] == cand["version_id"]
                    else "baseline"
                    if base and point["id"] == base["version_id"]
                    else ""
                )

        recorded = ""
        if record_predictions and candidate_predictions_uri:
            recorded = record_predictions_artifact(
                conn, cand["version_id"], candidate_predictions_uri, kfp_artifact_name=candidate_predictions_name
            )
            log.info(
                "candidate predictions %s on version %s: %s", candidate_predictions_uri, cand["version_id"], recorded
            )
    finally:
        conn.close()

    names = [g["metric"] for g in parsed]
    names += sorted((set(cand["metrics"]) & set(base["metrics"] if base else cand["metrics"])) - set(names))
    rows = []
    for name in names:
        c_value = cand["metrics"].get(name)
        b_value = base["metrics"].get(name) if base else None
        delta = c_value - b_value if c_value is not None and b_value is not None else None
        relative = delta / abs(b_value) if delta is not None and b_value else None
        rows.append(
            {
                "metric": name,
                "candidate": c_value,
                "baseline": b_value,
                "delta": delta,
                "relative": relative,
                "gated": name in [g["metric"] for g in parsed],
            }
        )

    scalars: dict[str, float] = {"decision": 1.0 if verdict["decision"] else 0.0}
    scalars["gates_passed"] = float(sum(1 for g in gate_results if g["passed"]))
    scalars["gates_total"] = float(len(gate_results))
    for row in rows:
        if not row["gated"]:
            continue
        for key in ("candidate", "baseline", "delta"):
            if row[key] is not None:
                scalars[f"{key}_{row['metric']}"] = float(row[key])
    if significance.get("mcnemar"):
        scalars["mcnemar_p_value"] = float(significance["mcnemar"]["p_value"])
    boot = significance.get("bootstrap") or {}
    if boot.get("ci_low") is not None:
        scalars["bootstrap_ci_low"] = float(boot["ci_low"])
        scalars["bootstrap_ci_high"] = float(boot["ci_high"])
    if ranking is not None:
        scalars["versions_ranked"] = float(ranking["scanned"])

    for note in notes:
        log.warning("%s", note)
    log.info("decision: %s -- %s", verdict["decision"], verdict["reason"])
    return {
        **verdict,
        "candidate": cand,
        "baseline": base,
        "baseline_mode": mode,
        "baseline_request": (baseline or "production").strip(),
        "baseline_note": baseline_note,
        "ranking": {k: v for k, v in ranking.items() if k != "best"} if ranking else None,
        "primary_metric": primary["metric"],
        "higher_is_better": primary["higher_is_better"],
        "gates": gate_results,
        "gate_specs": parsed,
        "metrics": rows,
        "significance": significance,
        "trend": trend,
        "settings": {
            "significance_test": significance_test,
            "significance_level": float(significance_level),
            "bootstrap_resamples": int(bootstrap_resamples),
            "seed": int(seed),
            "require_significance": bool(require_significance),
        },
        "predictions_recorded": recorded,
        "notes": notes,
        "registry_url": conn.url,
        "scalars": scalars,
    }
