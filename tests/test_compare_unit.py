"""Unit tests of compare_models' plain functions: gates, significance tests, predictions, decision, reports."""

from __future__ import annotations

import json
import math
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kfp_model_lifecycle.comparison.bootstrap import BootstrapInterval, paired_bootstrap, quantile
from kfp_model_lifecycle.comparison.decision import Side, decide
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.comparison.gates import Gate, GateResult, evaluate_gate, evaluate_gates, parse_gates
from kfp_model_lifecycle.comparison.metrics import canonical_metric_name, metric_from_predictions
from kfp_model_lifecycle.comparison.predictions import (
    Predictions,
    normalize_label,
    pair_predictions,
    read_predictions,
    resolve_predictions_path,
)
from kfp_model_lifecycle.comparison.ranking import TrendPoint, filter_property_name, metric_filter
from kfp_model_lifecycle.comparison.report import (
    markdown_text,
    render_html,
    render_markdown,
    report_summary,
    trend_svg,
)
from kfp_model_lifecycle.comparison.result import ComparisonResult, MetricRow, metric_rows
from kfp_model_lifecycle.comparison.settings import CompareSettings
from kfp_model_lifecycle.comparison.significance import (
    McNemar,
    Significance,
    SignificanceStatus,
    SignificanceTest,
    assess_significance,
    binomial_tail,
    mcnemar_exact,
)
from kfp_model_lifecycle.comparison.versions import VersionSummary, version_lineage, version_metrics

# -- gates: parsing and validation -----------------------------------------------------------------------------


def test_parse_gates_accepts_lists_mlflow_dicts_and_json() -> None:
    as_list = [{"metric": "accuracy", "higher_is_better": True, "threshold": 0.9, "min_absolute_change": 0.005}]
    as_dict = {"accuracy": {"greater_is_better": True, "threshold": 0.9, "min_absolute_change": 0.005}}
    expected = [
        Gate(
            metric="accuracy",
            higher_is_better=True,
            threshold=0.9,
            min_absolute_change=0.005,
            min_relative_change=None,
        )
    ]
    assert parse_gates(as_list) == expected
    assert parse_gates(as_dict) == expected
    assert parse_gates(json.dumps(as_list)) == expected
    two = parse_gates(
        [
            {"metric": "accuracy", "higher_is_better": True, "min_relative_change": 0.0},
            {"metric": "log_loss", "higher_is_better": False, "threshold": 0.4},
        ]
    )
    assert [g.metric for g in two] == ["accuracy", "log_loss"]
    assert two[0].min_relative_change == 0.0 and two[1].higher_is_better is False


@pytest.mark.parametrize(
    ("gates", "fragments"),
    [
        (
            [{"metric": "accuracy", "higher_is_better": True, "min_abs_change": 0.1}],
            ["gates[0]", "'min_abs_change'", "did you mean 'min_absolute_change'"],
        ),
        ([{"higher_is_better": True, "threshold": 0.9}], ["gates[0]", "'metric' is required"]),
        ([{"metric": "accuracy", "threshold": 0.9}], ["'higher_is_better' is required"]),
        ([{"metric": "accuracy", "higher_is_better": "yes", "threshold": 0.9}], ["'higher_is_better' must be true or"]),
        (
            [{"metric": "a", "higher_is_better": True, "greater_is_better": True, "threshold": 1}],
            ["not both"],
        ),
        ([{"metric": "accuracy", "higher_is_better": True, "threshold": "0.9"}], ["'threshold' must be a number"]),
        ([{"metric": "accuracy", "higher_is_better": True, "threshold": math.nan}], ["finite"]),
        (
            [{"metric": "accuracy", "higher_is_better": True, "min_absolute_change": 0}],
            ["positive number", "min_relative_change"],
        ),
        ([{"metric": "accuracy", "higher_is_better": True, "min_relative_change": 1.5}], ["between 0 and 1"]),
        ([{"metric": "accuracy", "higher_is_better": True}], ["no check given"]),
        (
            [
                {"metric": "accuracy", "higher_is_better": True, "threshold": 0.9},
                {"metric": "accuracy", "higher_is_better": True, "threshold": 0.8},
            ],
            ["gates[1] ('accuracy')", "already has a gate (gates[0])"],
        ),
        ([], ["non-empty list"]),
        ("", ["gates is empty"]),
        ("[{", ["not valid JSON"]),
        (["accuracy"], ["gates[0] must be an object"]),
    ],
)
def test_parse_gates_rejects_with_a_message_naming_the_problem(gates: Any, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        parse_gates(gates)
    for fragment in fragments:
        assert fragment in str(info.value)


# -- gates: boundaries ----------------------------------------------------------------------------------------


def _gate(**checks: Any) -> Gate:
    spec = {"metric": "m", "higher_is_better": checks.pop("higher_is_better", True), **checks}
    return parse_gates([spec])[0]


def _status(result: GateResult, check: str) -> str:
    return next(c.status for c in result.checks if c.check == check)


@pytest.mark.parametrize(
    ("higher", "threshold", "value", "status"),
    [
        (True, 0.9, 0.9, "pass"),  # equal passes (>=)
        (True, 0.9, 0.9000000000000001, "pass"),  # just above
        (True, 0.9, 0.8999999999999999, "fail"),  # just below
        (False, 0.1, 0.1, "pass"),  # equal passes (<=)
        (False, 0.1, 0.09999999999999999, "pass"),  # just below is better
        (False, 0.1, 0.10000000000000002, "fail"),  # just above fails
    ],
)
def test_threshold_boundaries(higher: bool, threshold: float, value: float, status: str) -> None:
    result = evaluate_gate(_gate(higher_is_better=higher, threshold=threshold), value, None, has_baseline=False)
    assert _status(result, "threshold") == status
    assert result.passed is (status == "pass")


@pytest.mark.parametrize(
    ("higher", "baseline", "change", "value", "status"),
    [
        (True, 0.9, 0.005, 0.905, "pass"),  # equal: 0.9 + 0.005 == 0.905 in decimal (binary floats say no)
        (True, 0.9, 0.005, 0.9050000000000001, "pass"),
        (True, 0.9, 0.005, 0.9049999999999999, "fail"),
        (True, 0.9, 0.005, 0.9, "fail"),  # no change
        (False, 0.3, 0.1, 0.2, "pass"),  # lower is better: 0.3 - 0.1 == 0.2 exactly
        (False, 0.3, 0.1, 0.19999999999999998, "pass"),
        (False, 0.3, 0.1, 0.20000000000000004, "fail"),
    ],
)
def test_min_absolute_change_boundaries(
    higher: bool, baseline: float, change: float, value: float, status: str
) -> None:
    assert 0.9 + 0.005 != 0.905 or 0.3 - 0.1 != 0.2  # the float pitfall the decimal comparison avoids
    result = evaluate_gate(
        _gate(higher_is_better=higher, min_absolute_change=change), value, baseline, has_baseline=True
    )
    assert _status(result, "min_absolute_change") == status


@pytest.mark.parametrize(
    ("higher", "baseline", "change", "value", "status"),
    [
        (True, 0.8, 0.05, 0.84, "pass"),  # (0.84 - 0.8) / 0.8 == 0.05 exactly
        (True, 0.8, 0.05, 0.8400000000000001, "pass"),
        (True, 0.8, 0.05, 0.8399999999999999, "fail"),
        (True, 0.8, 0.0, 0.8, "pass"),  # 0.0 = not worse
        (True, 0.8, 0.0, 0.7999999999999999, "fail"),
        (False, 0.5, 0.1, 0.45, "pass"),  # (0.5 - 0.45) / 0.5 == 0.1
        (False, 0.5, 0.1, 0.45000000000000007, "fail"),
        (True, -2.0, 0.1, -1.8, "pass"),  # divides by |baseline|: -1.8 is 10% better than -2.0
        (True, -2.0, 0.1, -1.81, "fail"),
    ],
)
def test_min_relative_change_boundaries(
    higher: bool, baseline: float, change: float, value: float, status: str
) -> None:
    result = evaluate_gate(
        _gate(higher_is_better=higher, min_relative_change=change), value, baseline, has_baseline=True
    )
    assert _status(result, "min_relative_change") == status


@pytest.mark.parametrize(
    ("higher", "value", "status"),
    [(True, 0.0, "fail"), (True, 1e-10, "pass"), (True, 5e-11, "fail"), (False, -1e-10, "pass"), (False, 0.0, "fail")],
)
def test_relative_change_with_a_zero_baseline_falls_back_to_strictly_better(
    higher: bool, value: float, status: str
) -> None:
    result = evaluate_gate(_gate(higher_is_better=higher, min_relative_change=0.2), value, 0.0, has_baseline=True)
    check = next(c for c in result.checks if c.check == "min_relative_change")
    assert check.status == status
    assert "baseline" in check.detail and "0" in check.detail


def test_missing_metric_on_either_side_fails_with_the_side_named() -> None:
    gate = _gate(threshold=0.9, min_absolute_change=0.01)
    missing_candidate = evaluate_gate(gate, None, 0.9, has_baseline=True)
    assert missing_candidate.passed is False
    assert "the candidate has no numeric metric 'm'" in missing_candidate.checks[0].detail
    missing_baseline = evaluate_gate(gate, 0.95, None, has_baseline=True)
    assert missing_baseline.passed is False
    assert _status(missing_baseline, "threshold") == "pass"
    assert "the baseline has no numeric metric 'm'" in next(
        c.detail for c in missing_baseline.checks if c.check == "min_absolute_change"
    )


def test_without_a_baseline_only_thresholds_apply() -> None:
    gate = _gate(threshold=0.9, min_absolute_change=0.01, min_relative_change=0.1)
    result = evaluate_gate(gate, 0.95, None, has_baseline=False)
    assert result.passed is True
    assert [c.status for c in result.checks] == ["pass", "skipped", "skipped"]
    assert evaluate_gate(gate, 0.85, None, has_baseline=False).passed is False


def test_several_gates_at_once() -> None:
    gates = parse_gates(
        [
            {"metric": "accuracy", "higher_is_better": True, "threshold": 0.9, "min_absolute_change": 0.01},
            {"metric": "latency_ms", "higher_is_better": False, "threshold": 50, "min_relative_change": 0.0},
        ]
    )
    results = evaluate_gates(gates, {"accuracy": 0.95, "latency_ms": 48.0}, {"accuracy": 0.93, "latency_ms": 47.0})
    assert [r.passed for r in results] == [True, False]  # latency regressed
    assert evaluate_gates(gates, {"accuracy": 0.95, "latency_ms": 45.0}, {"accuracy": 0.93, "latency_ms": 47.0})[
        1
    ].passed


def _mlflow_validate(gate: Gate, candidate: float, baseline: float) -> bool:
    """MLflow's ``_validate`` (mlflow/models/evaluation/validation.py) for one metric, transcribed."""
    higher = gate.higher_is_better
    ok = (lambda a, b: a >= b) if higher else (lambda a, b: a <= b)
    shift = (lambda a, b: a + b) if higher else (lambda a, b: a - b)
    failed = False
    if gate.threshold is not None:
        failed |= not ok(candidate, gate.threshold)
    if gate.min_absolute_change is not None:
        failed |= not ok(candidate, shift(baseline, gate.min_absolute_change))
    if gate.min_relative_change is not None:
        if baseline == 0:
            failed |= not ok(candidate, shift(baseline, 1e-10))
        else:
            change = (candidate - baseline) / baseline if higher else (baseline - candidate) / baseline
            failed |= change < gate.min_relative_change
    return not failed


def test_agrees_with_mlflow_away_from_float_boundaries() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(3000):
        gate = _gate(
            higher_is_better=rng.random() < 0.5,
            threshold=round(rng.uniform(0.2, 0.9), 3) if rng.random() < 0.7 else None,
            min_absolute_change=round(rng.uniform(0.001, 0.05), 3) if rng.random() < 0.6 else None,
            min_relative_change=round(rng.uniform(0.0, 0.1), 3) if rng.random() < 0.6 else 0.0,
        )
        baseline = round(rng.uniform(0.1, 1.0), 4)
        candidate = round(baseline + rng.uniform(-0.1, 0.1), 4)
        ours = evaluate_gate(gate, candidate, baseline, has_baseline=True).passed
        # Skip cases within float noise of a boundary, where MLflow's binary arithmetic and ours may differ.
        bounds = [gate.threshold] if gate.threshold is not None else []
        sign = 1 if gate.higher_is_better else -1
        if gate.min_absolute_change is not None:
            bounds.append(baseline + sign * gate.min_absolute_change)
        bounds.append(baseline * (1 + sign * gate.min_relative_change))
        if any(abs(candidate - b) < 1e-9 for b in bounds):
            continue
        assert ours == _mlflow_validate(gate, candidate, baseline), (gate, candidate, baseline)
        checked += 1
    assert checked > 2500


def test_gate_details_carry_the_numbers() -> None:
    result = evaluate_gate(_gate(threshold=0.9, min_absolute_change=0.005), 0.9031, 0.9, has_baseline=True)
    absolute = next(c for c in result.checks if c.check == "min_absolute_change")
    assert absolute.status == "fail"
    assert absolute.required == ">= 0.905 (baseline 0.9 + 0.005)"
    assert "0.9031" in absolute.detail and "+0.0031" in absolute.detail and "0.005" in absolute.detail


# -- significance -----------------------------------------------------------------------------------------------


def _exact_tail(n: int, k: int) -> float:
    return float(Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n))


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (10, 0, 2 / 1024),  # 2 * P(X <= 0), X ~ Bin(10, 1/2)
        (0, 10, 2 / 1024),
        (8, 2, 2 * 56 / 1024),  # 2 * (1 + 10 + 45) / 1024 = 0.109375
        (5, 5, 1.0),
        (0, 0, 1.0),
        (1, 0, 1.0),
        (25, 9, 2 * _exact_tail(34, 9)),
    ],
)
def test_mcnemar_exact_known_answers(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_binomial_tail_log_space_matches_exact_arithmetic_for_large_n() -> None:
    for n, k in ((2001, 950), (2001, 1000), (2600, 1250)):
        assert binomial_tail(n, k) == pytest.approx(_exact_tail(n, k), rel=1e-9), (n, k)
    assert binomial_tail(10, -1) == 0.0 and binomial_tail(10, 10) == 1.0
    assert 0 < mcnemar_exact(600_000, 598_000) < 1  # fast even for a million discordant pairs


def _predictions(labels: list[int], preds: list[int], scores: list[float] | None = None) -> Predictions:
    return Predictions(
        labels=tuple(str(x) for x in labels),
        predictions=tuple(str(x) for x in preds),
        scores=tuple(scores) if scores is not None else None,
        ids=None,
    )


def _synthetic(n: int, cand_acc: float, base_acc: float, seed: int) -> tuple[Predictions, Predictions]:
    rng = random.Random(seed)
    labels = [rng.randint(0, 1) for _ in range(n)]
    cand = [y if rng.random() < cand_acc else 1 - y for y in labels]
    base = [y if rng.random() < base_acc else 1 - y for y in labels]
    return _predictions(labels, cand), _predictions(labels, base)


def test_mcnemar_decides_for_accuracy_on_synthetic_data() -> None:
    cand, base = _synthetic(1000, 0.95, 0.80, seed=1)
    better = assess_significance("accuracy", True, cand, base, seed=3)
    assert better.status == "significant" and better.method == "mcnemar"
    assert better.mcnemar.p_value < 1e-6
    assert better.bootstrap.ci_low > 0  # reported alongside
    same = assess_significance("accuracy", True, *_synthetic(200, 0.9, 0.9, seed=2))
    assert same.status == "not significant" and same.significant is False
    worse = assess_significance("accuracy", True, base, cand)
    assert worse.status == "not significant" and worse.reason.startswith("the candidate is significantly worse")
    assert worse.worse is True and worse.outcome == "significantly worse"
    slightly_worse = assess_significance("accuracy", True, *reversed(_synthetic(200, 0.9, 0.89, seed=2)))
    assert slightly_worse.worse is False and "not better" in slightly_worse.reason


def test_one_discordant_pair_is_not_significant_but_ten_are() -> None:
    labels = [1] * 50
    base = [1] * 50
    one = base.copy()
    one[0] = 0
    result = assess_significance("accuracy", True, _predictions(labels, base), _predictions(labels, one))
    assert result.mcnemar == McNemar(b=1, c=0, p_value=1.0)
    assert result.status == "not significant"
    cand = [1] * 50
    worse_base = [0] * 10 + [1] * 40
    result = assess_significance("accuracy", True, _predictions(labels, cand), _predictions(labels, worse_base))
    assert result.mcnemar.b == 10 and result.mcnemar.c == 0
    assert result.mcnemar.p_value == pytest.approx(2 / 1024)
    assert result.status == "significant"


def test_identical_predictions_give_a_zero_interval() -> None:
    cand, _ = _synthetic(300, 0.9, 0.9, seed=4)
    result = paired_bootstrap("accuracy", pair_predictions(cand, cand), resamples=500, seed=1)
    assert (result.ci_low, result.ci_high, result.difference) == (0.0, 0.0, 0.0)


def test_bootstrap_is_reproducible_with_its_seed() -> None:
    cand, base = _synthetic(400, 0.9, 0.86, seed=5)
    paired = pair_predictions(cand, base)
    first = paired_bootstrap("f1", paired, resamples=300, seed=11)
    assert paired_bootstrap("f1", paired, resamples=300, seed=11) == first
    assert paired_bootstrap("f1", paired, resamples=300, seed=12) != first
    assert first.ci_low < first.difference < first.ci_high


@pytest.mark.parametrize(
    "metric", ["accuracy", "error_rate", "precision", "recall", "f1", "roc_auc", "mae", "mse", "rmse"]
)
def test_bootstrap_fast_paths_equal_recomputing_the_metric_per_resample(metric: str) -> None:
    rng = random.Random(21)
    n = 150
    labels = [rng.randint(0, 1) for _ in range(n)]
    regression = metric in ("mae", "mse", "rmse")
    if regression:
        labels = [rng.randint(0, 9) for _ in range(n)]
    cand = [y if rng.random() < 0.8 else rng.randint(0, 9 if regression else 1) for y in labels]
    base = [y if rng.random() < 0.7 else rng.randint(0, 9 if regression else 1) for y in labels]
    cand_scores = [round(rng.random() * 0.5 + 0.5 * (p == 1), 1) for p in cand]  # rounded: many ties
    base_scores = [round(rng.random(), 1) for _ in base]
    paired = pair_predictions(_predictions(labels, cand, cand_scores), _predictions(labels, base, base_scores))
    fast = paired_bootstrap(metric, paired, resamples=120, seed=5)
    draw = random.Random(5)
    diffs = []
    for _ in range(120):
        idx = draw.choices(range(n), k=n)
        sample = [paired.labels[i] for i in idx]
        value_c = metric_from_predictions(
            metric, sample, [paired.candidate[i] for i in idx], [paired.candidate_scores[i] for i in idx]
        )
        value_b = metric_from_predictions(
            metric, sample, [paired.baseline[i] for i in idx], [paired.baseline_scores[i] for i in idx]
        )
        if value_c is not None and value_b is not None:
            diffs.append(value_c - value_b)
    diffs.sort()
    assert fast.used == len(diffs)
    assert fast.ci_low == pytest.approx(quantile(diffs, 0.025), abs=1e-12)
    assert fast.ci_high == pytest.approx(quantile(diffs, 0.975), abs=1e-12)


def test_bootstrap_decides_for_roc_auc_and_lower_is_better_metrics() -> None:
    rng = random.Random(9)
    labels = [i % 2 for i in range(400)]
    good = [min(1.0, max(0.0, y * 0.6 + rng.random() * 0.4)) for y in labels]  # separates well
    noisy = [rng.random() for _ in labels]  # chance level
    preds_good = [int(s > 0.5) for s in good]
    preds_noisy = [int(s > 0.5) for s in noisy]
    cand, base = _predictions(labels, preds_good, good), _predictions(labels, preds_noisy, noisy)
    result = assess_significance("roc_auc", True, cand, base, resamples=300, seed=1)
    assert result.method == "bootstrap" and result.status == "significant"
    assert result.candidate_value > 0.9 > 0.6 > result.baseline_value
    # mae: lower is better; the candidate's errors are smaller
    y = [float(i) for i in range(200)]
    cand_r = _predictions([int(v) for v in y], [int(v + rng.choice((-1, 0, 1))) for v in y])
    base_r = _predictions([int(v) for v in y], [int(v + rng.choice((-4, -3, 3, 4))) for v in y])
    assert assess_significance("mae", False, cand_r, base_r, resamples=300).status == "significant"
    assert assess_significance("mae", True, cand_r, base_r, resamples=300).status == "not significant"


def test_significance_not_tested_reasons() -> None:
    cand, base = _synthetic(50, 0.9, 0.8, seed=6)
    assert "candidate" in assess_significance("accuracy", True, None, base).reason
    assert assess_significance("accuracy", True, cand, base, method="none").status == "not tested"
    assert "cannot be computed" in assess_significance("latency_ms", False, cand, base).reason
    assert "McNemar" in assess_significance("f1", True, cand, base, method="mcnemar").reason
    short = _predictions([1, 0], [1, 0])
    assert "rows" in assess_significance("accuracy", True, cand, short).reason
    no_score = assess_significance("roc_auc", True, cand, base)
    assert no_score.status == "not tested" and "undefined" in no_score.reason


def test_metrics_from_predictions_match_scikit_learn() -> None:
    skm = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    labels = [rng.randint(0, 1) for _ in range(300)]
    scores = [round(rng.random(), 2) for _ in labels]  # rounded: ties
    preds = [int(s > 0.4) for s in scores]
    ls, ps = [str(v) for v in labels], [str(v) for v in preds]
    assert metric_from_predictions("accuracy", ls, ps) == pytest.approx(skm.accuracy_score(labels, preds))
    assert metric_from_predictions("error_rate", ls, ps) == pytest.approx(1 - skm.accuracy_score(labels, preds))
    assert metric_from_predictions("precision", ls, ps) == pytest.approx(skm.precision_score(labels, preds))
    assert metric_from_predictions("recall", ls, ps) == pytest.approx(skm.recall_score(labels, preds))
    assert metric_from_predictions("f1", ls, ps) == pytest.approx(skm.f1_score(labels, preds))
    assert metric_from_predictions("roc_auc", ls, ps, scores) == pytest.approx(skm.roc_auc_score(labels, scores))
    y, yhat = [1.0, 2.0, 4.0], [1.5, 2.0, 2.0]
    sy, syhat = [normalize_label(str(v)) for v in y], [normalize_label(str(v)) for v in yhat]
    assert metric_from_predictions("mae", sy, syhat) == pytest.approx(skm.mean_absolute_error(y, yhat))
    assert metric_from_predictions("mse", sy, syhat) == pytest.approx(skm.mean_squared_error(y, yhat))
    assert metric_from_predictions("rmse", sy, syhat) == pytest.approx(math.sqrt(skm.mean_squared_error(y, yhat)))
    assert metric_from_predictions("roc_auc", ["1", "1"], ["1", "1"], [0.2, 0.3]) is None  # one class
    assert metric_from_predictions("precision", ["1", "0"], ["0", "0"]) is None  # no positive prediction


def test_canonical_metric_names_and_quantiles() -> None:
    assert canonical_metric_name("Accuracy") == "accuracy"
    assert canonical_metric_name("f1-score") == "f1" and canonical_metric_name("auc") == "roc_auc"
    assert canonical_metric_name("latency") is None
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5 and quantile([5.0], 0.9) == 5.0


# -- predictions files ------------------------------------------------------------------------------------------


def test_read_predictions_in_the_example_pipelines_format(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("label,prediction,score\n1,1,0.93\n0,1,0.61\n1,0,0.2\n\n")
    data = read_predictions(str(path))
    assert data == Predictions(labels=("1", "0", "1"), predictions=("1", "1", "0"), scores=(0.93, 0.61, 0.2), ids=None)
    assert data.rows == 3
    assert normalize_label("1.0") == "1" and normalize_label("True") == "1" and normalize_label(" cat ") == "cat"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "empty"), ("label,score\n1,0.5\n", "no column 'prediction'"), ("label,prediction,score\n1,1,x\n", "line 2")],
)
def test_read_predictions_errors_name_the_fix(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        read_predictions(str(path))


def test_pairing_by_id_reorders_and_by_row_checks_labels(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,label,prediction\na,1,1\nb,0,0\nc,1,0\n")
    (tmp_path / "b.csv").write_text("prediction,label,id\n0,0,b\n1,1,c\n0,1,a\n1,0,z\n")
    paired = pair_predictions(read_predictions(str(tmp_path / "a.csv")), read_predictions(str(tmp_path / "b.csv")))
    assert paired.n == 3
    assert paired.labels == ("1", "0", "1")
    assert paired.candidate == ("1", "0", "0") and paired.baseline == ("0", "0", "1")
    assert "1 only in the baseline's" in paired.note
    with pytest.raises(ValueError, match="row 2"):
        pair_predictions(_predictions([1, 0], [1, 0]), _predictions([1, 1], [1, 0]))


def test_resolve_predictions_path(tmp_path: Path) -> None:
    file = tmp_path / "p.csv"
    file.write_text("label,prediction\n1,1\n")
    assert resolve_predictions_path(str(file)) == str(file)
    assert resolve_predictions_path(f"file://{file}") == str(file)
    assert resolve_predictions_path(str(tmp_path)) == str(file)  # a directory with one CSV
    assert resolve_predictions_path("s3://bucket/does/not/exist.csv") == ""
    assert resolve_predictions_path("") == ""


# -- registry helpers that need no registry ---------------------------------------------------------------------


def test_metric_filter_and_property_quoting() -> None:
    assert metric_filter("accuracy") == 'state = "LIVE" AND (accuracy >= 0 OR accuracy < 0)'
    assert filter_property_name("val.acc") == "`val.acc`"
    assert filter_property_name("and") == "`and`"
    assert filter_property_name("we`ird") == "`we\\`ird`"


def test_version_metrics_and_lineage_skip_bookkeeping_properties() -> None:
    version = {
        "name": "1.0.0",
        "author": "ci",
        "customProperties": {
            "accuracy": {"double_value": 0.93, "metadataType": "MetadataDoubleValue"},
            "n_errors": {"int_value": "7", "metadataType": "MetadataIntValue"},
            "hp_max_depth": {"int_value": "5", "metadataType": "MetadataIntValue"},
            "kml_stage": {"string_value": "production", "metadataType": "MetadataStringValue"},
            "kfp_run_id": {"string_value": "run-1", "metadataType": "MetadataStringValue"},
            "dataset_0_uri": {"string_value": "s3://d/train.csv", "metadataType": "MetadataStringValue"},
            "dataset_0_role": {"string_value": "train", "metadataType": "MetadataStringValue"},
            "local": {"string_value": "", "metadataType": "MetadataStringValue"},
        },
    }
    assert version_metrics(version) == {"accuracy": 0.93, "n_errors": 7.0}
    lineage = version_lineage(version, {"uri": "s3://m/1", "modelFormatName": "sklearn", "modelFormatVersion": "1"})
    assert lineage["run id"] == "run-1" and lineage["train data"] == "s3://d/train.csv"
    assert lineage["model URI"] == "s3://m/1" and lineage["model format"] == "sklearn 1"
    assert lineage["hyperparameters"] == "max_depth=5" and lineage["author"] == "ci"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"significance_test": "t-test"}, "significance_test='t-test'"),
        ({"significance_level": 0.7}, "significance_level"),
        ({"bootstrap_resamples": 10}, "bootstrap_resamples"),
        ({"page_size": 0}, "page_size"),
        ({"trend_versions": 1000}, "trend_versions"),
    ],
)
def test_settings_are_checked_before_connecting(kwargs: dict[str, Any], fragment: str) -> None:
    settings = {
        "baseline": "production",
        "significance_test": "auto",
        "significance_level": 0.05,
        "bootstrap_resamples": 1000,
        "page_size": 100,
        "trend_versions": 30,
    }
    settings.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        CompareSettings.from_inputs(gates=[{"metric": "m", "higher_is_better": True, "threshold": 1}], **settings)


@pytest.mark.parametrize(
    ("baseline", "mode"),
    [("", "production"), ("Production", "production"), ("best", "best"), ("none", "none"), ("m:1", "reference")],
)
def test_baseline_modes(baseline: str, mode: str) -> None:
    settings = CompareSettings.from_inputs(
        gates=[{"metric": "m", "higher_is_better": True, "threshold": 1}], baseline=baseline
    )
    assert settings.baseline_mode == mode


# -- decision ---------------------------------------------------------------------------------------------------

CAND = VersionSummary(reference="m:2", version_id="2")
BASE = VersionSummary(reference="m:1", version_id="1")


def _gates_passing(passed: bool) -> list[GateResult]:
    gate = _gate(threshold=0.9)
    return [evaluate_gate(gate, 0.95 if passed else 0.85, None, has_baseline=False)]


def _significance(status: SignificanceStatus, reason: str) -> Significance:
    return Significance(status=status, reason=reason, metric="m", method=SignificanceTest.AUTO, alpha=0.05)


def test_decide_without_baseline() -> None:
    untested = _significance(SignificanceStatus.NOT_TESTED, "")
    result = decide(CAND, None, _gates_passing(True), untested, baseline_note="no production")
    assert result.decision is True and result.winner == "m:2"
    assert result.reason.startswith("no baseline (no production)")
    failed = decide(CAND, None, _gates_passing(False), untested)
    assert failed.decision is False and failed.winner == "" and "0.85" in failed.reason


def test_decide_with_baseline_and_significance() -> None:
    passing = _gates_passing(True)
    significant = _significance(SignificanceStatus.SIGNIFICANT, "p small")
    assert decide(CAND, BASE, passing, significant).decision is True
    not_significant = decide(CAND, BASE, passing, _significance(SignificanceStatus.NOT_SIGNIFICANT, "p = 0.4"))
    assert not_significant.decision is False and not_significant.winner == "m:1"
    assert "p = 0.4" in not_significant.reason
    untested = _significance(SignificanceStatus.NOT_TESTED, "no predictions")
    assert decide(CAND, BASE, passing, untested).decision is True
    required = decide(CAND, BASE, passing, untested, require_significance=True)
    assert required.decision is False and "required" in required.reason
    assert decide(CAND, BASE, _gates_passing(False), significant).decision is False
    itself = decide(CAND, CAND, passing, significant)
    assert itself.decision is False and "already is the baseline" in itself.reason


# -- reports ----------------------------------------------------------------------------------------------------


def _result(**overrides: Any) -> ComparisonResult:
    settings = CompareSettings.from_inputs(
        gates=[
            {"metric": "accuracy", "higher_is_better": True, "threshold": 0.9, "min_absolute_change": 0.005},
            {"metric": "log_loss", "higher_is_better": False, "min_relative_change": 0.0},
        ]
    )
    cand_metrics = {"accuracy": 0.9531, "log_loss": 0.21}
    base_metrics = {"accuracy": 0.9301, "log_loss": 0.24}
    gate_results = evaluate_gates(settings.gates, cand_metrics, base_metrics)
    cand = VersionSummary(
        reference="iris:1.0.3",
        model_name="iris",
        model_id="1",
        version_name="1.0.3",
        version_id="7",
        stage="",
        state="LIVE",
        created=1_700_000_000_000,
        metrics=cand_metrics,
        lineage={"run URL": "https://kfp.example.com/#/runs/details/abc", "code version": "deadbeef"},
        predictions="s3://bucket/cand.csv",
    )
    base = replace(
        cand,
        reference="iris:1.0.1",
        version_name="1.0.1",
        version_id="3",
        stage="production",
        metrics=base_metrics,
        lineage={"run URL": "javascript:alert(1)", "code version": "cafe"},
    )
    significance = Significance(
        status=SignificanceStatus.SIGNIFICANT,
        significant=True,
        reason="the candidate is significantly better",
        metric="accuracy",
        method=SignificanceTest.MCNEMAR,
        alpha=0.05,
        n=143,
        pairing="paired by row: 143 examples",
        candidate_value=0.9531,
        baseline_value=0.9301,
        difference=0.023,
        mcnemar=McNemar(b=9, c=1, p_value=0.021484375),
        bootstrap=BootstrapInterval(
            difference=0.023, ci_low=0.0035, ci_high=0.042, confidence=0.95, resamples=1000, used=1000, seed=0
        ),
    )
    verdict = decide(cand, base, gate_results, significance)
    result = ComparisonResult(
        decision=verdict.decision,
        winner=verdict.winner,
        winner_role=verdict.winner_role,
        reason=verdict.reason,
        reasons=verdict.reasons,
        candidate=cand,
        baseline=base,
        baseline_note="",
        ranking=None,
        gates=tuple(gate_results),
        metrics=(
            MetricRow(metric="accuracy", candidate=0.9531, baseline=0.9301, delta=0.023, relative=0.0247, gated=True),
        ),
        significance=significance,
        trend=(
            TrendPoint(id="1", version="1.0.0", value=0.91, created=1, stage="", role=""),
            TrendPoint(id="3", version="1.0.1", value=0.9301, created=2, stage="production", role="baseline"),
            TrendPoint(id="7", version="1.0.3", value=0.9531, created=3, stage="", role="candidate"),
        ),
        settings=settings,
        predictions_recorded="",
        notes=(),
        registry_url="http://127.0.0.1:8080",
    )
    return replace(result, **overrides)


def test_reports_contain_the_numbers() -> None:
    result = _result()
    assert result.decision is True
    markdown, page = render_markdown(result), render_html(result)
    for text in (markdown, page):
        for number in (
            "0.9531",
            "0.9301",
            "+0.023",
            "0.9351",
            "0.005",
            "0.02148",
            "143",
            "0.0035",
            "0.042",
            "1.0.3",
            "1.0.1",
            "deadbeef",
            "cafe",
        ):
            assert number in text, number
    assert "**Decision: promote iris:1.0.3**" in markdown
    assert (
        "| accuracy | higher is better | min\\_absolute\\_change | &gt;= 0.9351 (baseline 0.9301 + 0.005) |" in markdown
    )
    assert "Decision: promote <b>iris:1.0.3</b>" in page


def test_markdown_has_no_raw_html_and_escapes_table_breakers() -> None:
    result = _result()
    result.candidate.lineage["evil"] = "<img src=x onerror=alert(1)> | col"
    markdown = render_markdown(result)
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt; \\| col" in markdown
    assert not re.search(r"<[A-Za-z/!]", markdown)
    assert markdown_text("a|b*c_d\nnext") == "a\\|b\\*c\\_d next"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_escapes_registry_strings() -> None:
    result = _result()
    candidate = replace(
        result.candidate, version_name="<script>alert(1)</script>", reference="iris:<script>alert(1)</script>"
    )
    trend = (*result.trend[:2], replace(result.trend[2], version="<script>alert(1)</script>"))
    result = replace(result, candidate=candidate, trend=trend, notes=('"><svg onload=alert(1)>',))
    page = render_html(result)
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "<svg onload" not in page
    collector = _Collector()
    collector.feed(page)
    tags = {tag for tag, _ in collector.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    for tag, attrs in collector.tags:
        assert not any((value or "").startswith("javascript:") for value in attrs.values()), (tag, attrs)
        if tag in ("a",):
            assert attrs["href"].startswith("https://")  # only http(s) lineage links become links
        assert "src" not in attrs  # nothing loaded from elsewhere
    assert "javascript:alert(1)" in page  # shown as text, not as a link


def test_trend_chart_is_valid_svg_with_highlights_and_threshold() -> None:
    svg = trend_svg(_result())
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    circles = root.findall(f"{ns}circle")
    data_points = [c for c in circles if c.find(f"{ns}title") is not None]
    assert len(data_points) == 3
    titles = [c.find(f"{ns}title").text for c in data_points]
    assert titles[1] == "1.0.1: accuracy = 0.9301 (baseline) [stage production]"
    assert titles[2] == "1.0.3: accuracy = 0.9531 (candidate)"
    assert data_points[2].get("fill") == "#ef6c00" and data_points[1].get("fill") == "#1565c0"
    assert any((t.text or "") == "threshold 0.9" for t in root.findall(f"{ns}text"))
    assert trend_svg(_result(trend=())) == ""
    single = trend_svg(_result(trend=(TrendPoint(id="1", version="v", value=0.5, created=0),)))
    one = ET.fromstring(single)  # noqa: S314 - our own output
    assert one.tag == f"{ns}svg"


def test_report_summary_and_keep_banner() -> None:
    result = _result()
    summary = report_summary(result)
    assert summary["decision"] is True and summary["winner"] == "iris:1.0.3" and summary["baseline"] == "iris:1.0.1"
    assert summary["p_value"] == 0.021484375 and summary["gates_total"] == 2 and summary["gates_passed"] == 2
    json.dumps(summary)
    keep = _result(decision=False, winner="iris:1.0.1", winner_role=Side.BASELINE, reason="keep iris:1.0.1: p = 0.3")
    assert "**Decision: keep iris:1.0.1**" in render_markdown(keep)
    assert "Decision: keep <b>iris:1.0.1</b>" in render_html(keep)


def test_format_number() -> None:
    assert [format_number(v) for v in (0.9, 0.951048951, 12.0, 1.5e-07, None, 123456.789, 1234.56)] == [
        "0.9",
        "0.951",
        "12",
        "1.5e-07",
        "n/a",
        "123457",
        "1235",
    ]
    assert format_number(0.951048951, 6) == "0.951049"


def test_metric_rows_and_scalars() -> None:
    gates = parse_gates([{"metric": "accuracy", "higher_is_better": True, "threshold": 0.9}])
    cand = VersionSummary(reference="m:2", metrics={"accuracy": 0.95, "f1": 0.9, "loss": 0.2})
    base = VersionSummary(reference="m:1", metrics={"accuracy": 0.9, "f1": 0.0})
    rows = metric_rows(gates, cand, base)
    assert [(r.metric, r.gated) for r in rows] == [("accuracy", True), ("f1", False)]  # loss: candidate only
    assert rows[0].delta == pytest.approx(0.05) and rows[0].relative == pytest.approx(0.05 / 0.9)
    assert rows[1].relative is None  # baseline 0
    assert [r.metric for r in metric_rows(gates, cand, None)] == ["accuracy", "f1", "loss"]
    scalars = _result().scalars
    assert scalars["decision"] == 1.0 and scalars["gates_passed"] == scalars["gates_total"] == 2.0
    assert scalars["candidate_accuracy"] == 0.9531 and scalars["delta_accuracy"] == 0.023
    assert scalars["mcnemar_p_value"] == 0.021484375 and scalars["bootstrap_ci_high"] == 0.042
    assert "versions_ranked" not in scalars
