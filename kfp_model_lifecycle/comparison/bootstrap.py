"""The paired bootstrap: a confidence interval of ``metric(candidate) - metric(baseline)`` on the same examples.

Each resample draws ``n`` example indices with replacement (``random.Random(seed).choices``) and computes both
models' metric on the same examples; the interval is the percentile interval of the differences. Each metric has
a fast path that gives the same numbers as recomputing it on the resampled rows: means of per-example terms
(accuracy, error rate, mae, mse, rmse), counts of the 16 (candidate, baseline) outcome pairs (precision, recall,
f1), a weighted rank statistic over a presorted order (roc_auc).
"""

from __future__ import annotations

import collections
import itertools
import math
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.comparison.metrics import (
    ACCURACY_METRICS,
    COUNT_METRICS,
    PredictionMetric,
    metric_from_counts,
    metric_from_predictions,
)
from kfp_model_lifecycle.comparison.predictions import PairedPredictions


@dataclass(frozen=True)
class BootstrapInterval:
    """The paired bootstrap's result.

    Attributes:
        difference: The observed difference (candidate - baseline), or None when the metric is undefined.
        ci_low: The interval's lower end, or None when no resample had a defined metric.
        ci_high: Its upper end, or None.
        confidence: The two-sided confidence level, e.g. 0.95.
        resamples: Resamples drawn.
        used: Resamples with a defined metric on both sides.
        seed: The random seed.
    """

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    resamples: int
    used: int
    seed: int


@dataclass(frozen=True)
class _AucLayout:
    """One model's examples sorted by score: the order, positive/negative flags and each tie group's span."""

    order: list[int]
    pos: list[int]
    neg: list[int]
    start: list[int]
    end: list[int]


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
    metric: PredictionMetric,
    paired: PairedPredictions,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Paired bootstrap confidence interval of ``metric(candidate) - metric(baseline)`` (see the module docstring).

    Resamples where the metric is undefined (e.g. one class only for ``roc_auc``) are skipped and counted.

    Args:
        metric: The metric.
        paired: From :func:`~kfp_model_lifecycle.comparison.predictions.pair_predictions`.
        resamples: Number of resamples.
        seed: Random seed (same seed and data, same interval).
        confidence: Two-sided confidence level, e.g. 0.95.

    Returns:
        The observed difference and the interval.
    """
    observed_c = metric_from_predictions(metric, paired.labels, paired.candidate, paired.candidate_scores)
    observed_b = metric_from_predictions(metric, paired.labels, paired.baseline, paired.baseline_scores)
    observed = None if observed_c is None or observed_b is None else observed_c - observed_b
    diffs = sorted(_resampled_differences(metric, paired, random.Random(int(seed)), int(resamples)))
    alpha = 1 - float(confidence)
    return BootstrapInterval(
        difference=observed,
        ci_low=quantile(diffs, alpha / 2) if diffs else None,
        ci_high=quantile(diffs, 1 - alpha / 2) if diffs else None,
        confidence=float(confidence),
        resamples=int(resamples),
        used=len(diffs),
        seed=int(seed),
    )


def _resampled_differences(
    metric: PredictionMetric, paired: PairedPredictions, rng: random.Random, resamples: int
) -> list[float]:
    """The metric's difference on each resample where it is defined on both sides."""
    if metric in (*ACCURACY_METRICS, PredictionMetric.MAE, PredictionMetric.MSE):
        # Per-example contributions: the metric is their mean, so a resample's difference is a mean of d.
        d = _per_example_differences(metric, paired)
        n = len(d)
        return [sum(rng.choices(d, k=n)) / n for _ in range(resamples)]
    if metric == PredictionMetric.RMSE:
        return _rmse_differences(paired, rng, resamples)
    if metric in COUNT_METRICS:
        return _count_differences(metric, paired, rng, resamples)
    if (
        metric == PredictionMetric.ROC_AUC
        and paired.candidate_scores is not None
        and paired.baseline_scores is not None
    ):
        return _auc_differences(paired, rng, resamples)
    return []


def _per_example_differences(metric: PredictionMetric, paired: PairedPredictions) -> list[float]:
    """Each example's contribution to the difference of a mean metric (accuracy, error rate, mae, mse)."""
    triples = zip(paired.labels, paired.baseline, paired.candidate, strict=True)
    if metric in ACCURACY_METRICS:
        sign = 1 if metric == PredictionMetric.ACCURACY else -1
        return [sign * ((a == c) - (a == b)) for a, b, c in triples]
    power = 1 if metric == PredictionMetric.MAE else 2
    return [abs(float(c) - float(a)) ** power - abs(float(b) - float(a)) ** power for a, b, c in triples]


def _rmse_differences(paired: PairedPredictions, rng: random.Random, resamples: int) -> list[float]:
    n = paired.n
    sq_c = [(float(c) - float(a)) ** 2 for a, c in zip(paired.labels, paired.candidate, strict=True)]
    sq_b = [(float(b) - float(a)) ** 2 for a, b in zip(paired.labels, paired.baseline, strict=True)]
    diffs = []
    for _ in range(resamples):
        idx = rng.choices(range(n), k=n)
        diffs.append(math.sqrt(sum(map(sq_c.__getitem__, idx)) / n) - math.sqrt(sum(map(sq_b.__getitem__, idx)) / n))
    return diffs


def _outcome(label: str, prediction: str) -> int:
    """0 true positive, 1 false positive, 2 false negative, 3 true negative."""
    return (0 if label == "1" else 1) if prediction == "1" else (2 if label == "1" else 3)


def _count_differences(
    metric: PredictionMetric, paired: PairedPredictions, rng: random.Random, resamples: int
) -> list[float]:
    # Each example is one of 16 (candidate outcome, baseline outcome) pairs; a resample only needs their counts.
    n = paired.n
    triples = zip(paired.labels, paired.baseline, paired.candidate, strict=True)
    codes = [_outcome(a, c) * 4 + _outcome(a, b) for a, b, c in triples]
    diffs = []
    for _ in range(resamples):
        counts_c, counts_b = [0] * 4, [0] * 4
        for code, count in collections.Counter(rng.choices(codes, k=n)).items():
            counts_c[code // 4] += count
            counts_b[code % 4] += count
        value_c, value_b = metric_from_counts(metric, *counts_c[:3]), metric_from_counts(metric, *counts_b[:3])
        if value_c is not None and value_b is not None:
            diffs.append(value_c - value_b)
    return diffs


def _auc_layout(labels: Sequence[str], scores: Sequence[float]) -> _AucLayout:
    n = len(labels)
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
    return _AucLayout(order, positive, [1 - p for p in positive], start, end)


def _weighted_auc(layout: _AucLayout, weight: Sequence[int]) -> float | None:
    w = list(map(weight.__getitem__, layout.order))
    pos = list(map(operator.mul, w, layout.pos))
    cum_neg = [0, *itertools.accumulate(map(operator.mul, w, layout.neg))]
    # A positive beats the negatives below its tie group and half of those tied with it.
    below = map(cum_neg.__getitem__, layout.start)
    through = map(cum_neg.__getitem__, layout.end)
    area2 = sum(map(operator.mul, pos, below)) + sum(map(operator.mul, pos, through))
    total_pos, total_neg = sum(pos), cum_neg[-1]
    return area2 / 2 / (total_pos * total_neg) if total_pos and total_neg else None


def _auc_differences(paired: PairedPredictions, rng: random.Random, resamples: int) -> list[float]:
    # Weighted Mann-Whitney statistic: each resample gives every example a multiplicity; with the examples
    # presorted by score, the sums are running totals (C-level map/accumulate, no per-example Python loop).
    n = paired.n
    layout_c = _auc_layout(paired.labels, paired.candidate_scores or ())
    layout_b = _auc_layout(paired.labels, paired.baseline_scores or ())
    diffs = []
    for _ in range(resamples):
        counts = collections.Counter(rng.choices(range(n), k=n))
        weight = list(map(counts.get, range(n), itertools.repeat(0, n)))
        value_c, value_b = _weighted_auc(layout_c, weight), _weighted_auc(layout_b, weight)
        if value_c is not None and value_b is not None:
            diffs.append(value_c - value_b)
    return diffs
