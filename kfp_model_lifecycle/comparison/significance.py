"""Is the candidate significantly better than the baseline, example by example? Exact McNemar and paired bootstrap.

``auto`` uses the exact McNemar test for accuracy (and error rate), deciding with its two-sided p-value, and
reports the paired-bootstrap interval too; for other metrics the paired bootstrap decides: significant when the
``1 - alpha`` interval of the difference lies entirely on the better side of 0. Both are two-sided at level
``alpha`` and also require the difference to point the better way. A result as clear the other way (p below
alpha with the baseline ahead, or an interval entirely on the worse side) is "not significant" for the
decision and is reported as "significantly worse".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction

from kfp_model_lifecycle.comparison.bootstrap import BootstrapInterval, paired_bootstrap
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.metrics import (
    ACCURACY_METRICS,
    PredictionMetric,
    canonical_metric_name,
    metric_from_predictions,
)
from kfp_model_lifecycle.comparison.predictions import PairedPredictions, Predictions, pair_predictions
from kfp_model_lifecycle.errors import InvalidInputError

SIGNIFICANTLY_WORSE = "significantly worse"
"""How a test that found the candidate worse is reported (its status stays ``not significant``)."""

EXACT_BINOMIAL_MAX_N = 2000
"""Up to this many discordant pairs the binomial tail is summed in exact rational arithmetic."""


class SignificanceTest(StrEnum):
    """The ``significance_test`` setting, and the test that decided."""

    AUTO = "auto"
    MCNEMAR = "mcnemar"
    BOOTSTRAP = "bootstrap"
    NONE = "none"


class SignificanceStatus(StrEnum):
    """The outcome of the significance assessment."""

    SIGNIFICANT = "significant"
    NOT_SIGNIFICANT = "not significant"
    NOT_TESTED = "not tested"


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test on the discordant pairs.

    Attributes:
        b: Examples the candidate gets right and the baseline wrong.
        c: Examples the baseline gets right and the candidate wrong.
        p_value: The two-sided p-value.
    """

    b: int
    c: int
    p_value: float


@dataclass(frozen=True)
class Significance:
    """What the significance assessment found.

    Attributes:
        status: Significant, not significant or not tested.
        reason: A sentence with the numbers (or why nothing was tested).
        metric: The gate's metric.
        method: The deciding test (``mcnemar``/``bootstrap``), else the requested one.
        alpha: The significance level.
        significant: True/False when tested, else None.
        n: Paired examples (0 when not paired).
        pairing: How the examples were paired.
        candidate_value: The metric recomputed from the candidate's predictions.
        baseline_value: The same for the baseline.
        difference: ``candidate_value - baseline_value``.
        mcnemar: The McNemar test, where run.
        bootstrap: The paired bootstrap, where run.
        worse: The test found the candidate significantly worse (the status is then ``not significant``).
    """

    status: SignificanceStatus
    reason: str
    metric: str
    method: SignificanceTest
    alpha: float
    significant: bool | None = None
    n: int = 0
    pairing: str = ""
    candidate_value: float | None = None
    baseline_value: float | None = None
    difference: float | None = None
    mcnemar: McNemar | None = None
    bootstrap: BootstrapInterval | None = None
    worse: bool = False

    @property
    def outcome(self) -> str:
        """The result in words: ``significant``, ``significantly worse``, ``not significant`` or ``not tested``."""
        return SIGNIFICANTLY_WORSE if self.worse else str(self.status)


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
    if n <= EXACT_BINOMIAL_MAX_N:
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


def assess_significance(
    metric: str,
    higher_is_better: bool,
    candidate_predictions: Predictions | None,
    baseline_predictions: Predictions | None,
    *,
    method: SignificanceTest | str = SignificanceTest.AUTO,
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> Significance:
    """Is the candidate significantly better than the baseline on ``metric``, example by example?

    See the module docstring for the tests and when each decides.

    Args:
        metric: The gate's metric name (see :func:`~kfp_model_lifecycle.comparison.metrics.canonical_metric_name`
            for what can be computed).
        higher_is_better: The gate's direction.
        candidate_predictions: From ``read_predictions``, or None.
        baseline_predictions: From ``read_predictions``, or None.
        method: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
        alpha: Significance level, e.g. 0.05.
        resamples: Bootstrap resamples.
        seed: Bootstrap seed.

    Returns:
        The assessment; ``not tested`` with the reason when the test cannot run.
    """
    method = SignificanceTest(method)
    untested = Significance(SignificanceStatus.NOT_TESTED, "", metric, method, float(alpha))
    canonical = canonical_metric_name(metric)
    reason = _untested_reason(metric, canonical, method, candidate_predictions, baseline_predictions)
    # The reason covers the None cases; testing them again tells the type checker.
    if reason or canonical is None or candidate_predictions is None or baseline_predictions is None:
        return replace(untested, reason=reason)
    try:
        paired = pair_predictions(candidate_predictions, baseline_predictions)
    except InvalidInputError as exc:
        return replace(untested, reason=str(exc))
    measured = replace(
        untested,
        n=paired.n,
        pairing=paired.note,
        candidate_value=metric_from_predictions(canonical, paired.labels, paired.candidate, paired.candidate_scores),
        baseline_value=metric_from_predictions(canonical, paired.labels, paired.baseline, paired.baseline_scores),
    )
    if measured.candidate_value is None or measured.baseline_value is None:
        return replace(
            measured,
            reason=f"{metric} is undefined on these predictions (e.g. a single class, no positive predictions,"
            " no score column for roc_auc, or non-numeric labels for a regression metric)",
        )
    bootstrap = None
    if method in (SignificanceTest.AUTO, SignificanceTest.BOOTSTRAP):
        bootstrap = paired_bootstrap(canonical, paired, resamples=resamples, seed=seed, confidence=1 - float(alpha))
    measured = replace(measured, difference=measured.candidate_value - measured.baseline_value, bootstrap=bootstrap)
    if canonical in ACCURACY_METRICS and method in (SignificanceTest.AUTO, SignificanceTest.MCNEMAR):
        return _decide_by_mcnemar(measured, paired, higher_is_better)
    return _decide_by_bootstrap(measured, higher_is_better)


def _untested_reason(
    metric: str,
    canonical: PredictionMetric | None,
    method: SignificanceTest,
    candidate_predictions: Predictions | None,
    baseline_predictions: Predictions | None,
) -> str:
    """Why the test cannot run on these inputs, or "" when it can."""
    if method == SignificanceTest.NONE:
        return "significance testing is off (significance_test='none')"
    sides = (("candidate", candidate_predictions), ("baseline", baseline_predictions))
    missing = [side for side, value in sides if value is None]
    if missing:
        return f"no per-example predictions for the {' and the '.join(missing)}"
    if canonical is None:
        return (
            f"metric {metric!r} cannot be computed from label/prediction/score rows (supported: accuracy,"
            " error_rate, precision, recall, f1, roc_auc, mae, mse, rmse)"
        )
    if method == SignificanceTest.MCNEMAR and canonical not in ACCURACY_METRICS:
        return f"McNemar's test applies to accuracy and error rate, not {metric!r}: use bootstrap"
    return ""


def _improved(measured: Significance, higher_is_better: bool) -> bool:
    """Whether the difference points the better way."""
    difference = measured.difference or 0.0
    return difference > 0 if higher_is_better else difference < 0


def _decide_by_mcnemar(measured: Significance, paired: PairedPredictions, higher_is_better: bool) -> Significance:
    triples = list(zip(paired.labels, paired.candidate, paired.baseline, strict=True))
    b = sum(1 for a, x, y in triples if x == a != y)
    c = sum(1 for a, x, y in triples if y == a != x)
    p_value = mcnemar_exact(b, c)
    alpha = measured.alpha
    detail = (
        f"exact McNemar test on {paired.n} paired examples: the candidate alone is right on {b}, the baseline"
        f" alone on {c}; two-sided p = {format_number(p_value, 4)}"
        f" {'<' if p_value < alpha else '>='} alpha {format_number(alpha)}"
    )
    improved = _improved(measured, higher_is_better)
    worse = not improved and b != c and p_value < alpha
    decided = replace(measured, method=SignificanceTest.MCNEMAR, mcnemar=McNemar(b, c, p_value))
    return _conclude(decided, improved and p_value < alpha, worse, higher_is_better, detail)


def _decide_by_bootstrap(measured: Significance, higher_is_better: bool) -> Significance:
    decided = replace(measured, method=SignificanceTest.BOOTSTRAP)
    boot = measured.bootstrap
    if boot is None or boot.ci_low is None or boot.ci_high is None:
        return replace(decided, reason=f"no bootstrap resample had a defined {measured.metric}")
    low, high = boot.ci_low, boot.ci_high
    detail = (
        f"paired bootstrap ({boot.used} resamples, seed {boot.seed}) on {measured.n} examples:"
        f" {format_number(boot.confidence * 100)}% interval of the {measured.metric} difference"
        f" [{format_number(low)}, {format_number(high)}]"
        f" {'excludes' if (low > 0 or high < 0) else 'includes'} 0"
    )
    significant = low > 0 if higher_is_better else high < 0
    worse = high < 0 if higher_is_better else low > 0
    return _conclude(decided, significant, worse, higher_is_better, detail)


def _conclude(
    decided: Significance, significant: bool, worse: bool, higher_is_better: bool, detail: str
) -> Significance:
    """The final status and reason: the verdict, the change of the metric and the test's numbers."""
    difference = decided.difference or 0.0
    change = (
        f"{decided.metric} {format_number(decided.baseline_value)} -> {format_number(decided.candidate_value)}"
        f" ({'+' if difference >= 0 else ''}{format_number(difference)})"
    )
    if significant:
        status, verdict = SignificanceStatus.SIGNIFICANT, "the candidate is significantly better"
    elif worse:
        status, verdict = SignificanceStatus.NOT_SIGNIFICANT, "the candidate is significantly worse"
    elif not _improved(decided, higher_is_better):
        status, verdict = SignificanceStatus.NOT_SIGNIFICANT, "the candidate is not better on these examples"
    else:
        status, verdict = SignificanceStatus.NOT_SIGNIFICANT, "the improvement is not statistically significant"
    reason = f"{verdict}: {change}; {detail}"
    return replace(decided, status=status, significant=bool(significant), worse=worse, reason=reason)
