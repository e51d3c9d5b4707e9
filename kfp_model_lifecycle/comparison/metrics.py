"""Metrics computed from per-example predictions, and the gate metric names they answer to.

Binary metrics use ``1`` as the positive class; labels and predictions are normalised strings
(:func:`~kfp_model_lifecycle.comparison.predictions.normalize_label`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum


class PredictionMetric(StrEnum):
    """The metrics that can be computed from ``label,prediction[,score]`` rows."""

    ACCURACY = "accuracy"
    ERROR_RATE = "error_rate"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    ROC_AUC = "roc_auc"
    MAE = "mae"
    MSE = "mse"
    RMSE = "rmse"


ACCURACY_METRICS = (PredictionMetric.ACCURACY, PredictionMetric.ERROR_RATE)
"""Metrics of right/wrong per example: McNemar's test applies to them."""

COUNT_METRICS = (PredictionMetric.PRECISION, PredictionMetric.RECALL, PredictionMetric.F1)
"""Metrics of the true positive, false positive and false negative counts."""

REGRESSION_METRICS = (PredictionMetric.MAE, PredictionMetric.MSE, PredictionMetric.RMSE)
"""Metrics of numeric errors ``prediction - label``."""

METRIC_ALIASES = {
    "accuracy": PredictionMetric.ACCURACY,
    "accuracy_score": PredictionMetric.ACCURACY,
    "acc": PredictionMetric.ACCURACY,
    "error_rate": PredictionMetric.ERROR_RATE,
    "error": PredictionMetric.ERROR_RATE,
    "precision": PredictionMetric.PRECISION,
    "precision_score": PredictionMetric.PRECISION,
    "recall": PredictionMetric.RECALL,
    "recall_score": PredictionMetric.RECALL,
    "f1": PredictionMetric.F1,
    "f1_score": PredictionMetric.F1,
    "roc_auc": PredictionMetric.ROC_AUC,
    "auc": PredictionMetric.ROC_AUC,
    "roc_auc_score": PredictionMetric.ROC_AUC,
    "mae": PredictionMetric.MAE,
    "mean_absolute_error": PredictionMetric.MAE,
    "mse": PredictionMetric.MSE,
    "mean_squared_error": PredictionMetric.MSE,
    "rmse": PredictionMetric.RMSE,
    "root_mean_squared_error": PredictionMetric.RMSE,
}
"""Gate metric names (lower case, ``-`` as ``_``) -> the metric computed from predictions."""


UNIT_INTERVAL_METRICS = (*ACCURACY_METRICS, *COUNT_METRICS, PredictionMetric.ROC_AUC)
"""Metrics whose values lie in [0, 1]."""

UNIT_INTERVAL_SUFFIXES = ("accuracy", "precision", "recall", "f1", "f1_score", "auc", "error_rate")
"""Names ending like this (``val_accuracy``, ``pr_auc``, ``average_precision``) are taken to lie in [0, 1] too."""


def canonical_metric_name(name: str) -> PredictionMetric | None:
    """The predictions-based metric a gate metric name refers to, or None when it cannot be computed.

    Args:
        name: A gate's metric name, e.g. ``accuracy``, ``f1_score``, ``auc``, ``rmse``.

    Returns:
        The metric, or None.
    """
    return METRIC_ALIASES.get((name or "").strip().lower().replace("-", "_"))


def is_unit_interval_metric(name: str) -> bool:
    """Whether a metric's values lie in [0, 1] by its name (accuracy, precision, recall, f1, AUC, error rate).

    Args:
        name: A metric name, e.g. ``accuracy``, ``roc_auc``, ``val_accuracy``.

    Returns:
        True for the bounded metrics; charts never draw their axis outside [0, 1].
    """
    key = (name or "").strip().lower().replace("-", "_")
    return canonical_metric_name(key) in UNIT_INTERVAL_METRICS or key.endswith(UNIT_INTERVAL_SUFFIXES)


def metric_from_predictions(
    metric: PredictionMetric, labels: Sequence[str], predictions: Sequence[str], scores: Sequence[float] | None = None
) -> float | None:
    """Compute a metric from per-example labels and predictions (binary metrics use ``1`` as the positive class).

    Args:
        metric: The metric.
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
    if metric in ACCURACY_METRICS:
        correct = sum(1 for a, b in zip(labels, predictions, strict=True) if a == b)
        return correct / n if metric == PredictionMetric.ACCURACY else (n - correct) / n
    if metric in COUNT_METRICS:
        tp = sum(1 for a, b in zip(labels, predictions, strict=True) if a == b == "1")
        fp = sum(1 for a, b in zip(labels, predictions, strict=True) if b == "1" != a)
        fn = sum(1 for a, b in zip(labels, predictions, strict=True) if a == "1" != b)
        return metric_from_counts(metric, tp, fp, fn)
    if metric == PredictionMetric.ROC_AUC:
        return None if scores is None else roc_auc(labels, scores)
    if metric in REGRESSION_METRICS:
        return _regression_metric(metric, labels, predictions)
    return None


def metric_from_counts(metric: PredictionMetric, tp: int, fp: int, fn: int) -> float | None:
    """Precision, recall or F1 from the true positive, false positive and false negative counts.

    Args:
        metric: One of :data:`COUNT_METRICS`.
        tp: True positives.
        fp: False positives.
        fn: False negatives.

    Returns:
        The value, or None when its denominator is 0.
    """
    if metric == PredictionMetric.PRECISION:
        return tp / (tp + fp) if tp + fp else None
    if metric == PredictionMetric.RECALL:
        return tp / (tp + fn) if tp + fn else None
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None


def roc_auc(labels: Sequence[str], scores: Sequence[float]) -> float | None:
    """The area under the ROC curve (Mann-Whitney statistic with average ranks for ties).

    Args:
        labels: Normalised labels (``1`` is positive).
        scores: Positive-class scores.

    Returns:
        The AUC, or None when only one class is present.
    """
    n = len(labels)
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


def _regression_metric(metric: PredictionMetric, labels: Sequence[str], predictions: Sequence[str]) -> float | None:
    try:
        errors = [float(b) - float(a) for a, b in zip(labels, predictions, strict=True)]
    except ValueError:
        return None
    n = len(errors)
    if metric == PredictionMetric.MAE:
        return sum(abs(e) for e in errors) / n
    mse = sum(e * e for e in errors) / n
    return mse if metric == PredictionMetric.MSE else math.sqrt(mse)
