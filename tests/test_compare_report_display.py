"""How the comparison report shows things: wording, counts, numbers, lineage, and the trend chart's axis and legend."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import httpx

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.comparison.decision import decide
from kfp_model_lifecycle.comparison.gates import evaluate_gates
from kfp_model_lifecycle.comparison.predictions import Predictions
from kfp_model_lifecycle.comparison.ranking import TrendPoint, metric_trend
from kfp_model_lifecycle.comparison.report import render_html, render_markdown, trend_svg
from kfp_model_lifecycle.comparison.report.sections import significance_lines, trend_roles
from kfp_model_lifecycle.comparison.result import ComparisonResult, metric_rows
from kfp_model_lifecycle.comparison.settings import CompareSettings
from kfp_model_lifecycle.comparison.significance import Significance, SignificanceStatus, assess_significance
from kfp_model_lifecycle.comparison.versions import VersionSummary, version_lineage, version_metrics
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

SVG = "{http://www.w3.org/2000/svg}"
GATES = [
    {"metric": "roc_auc", "higher_is_better": True, "threshold": 0.8, "min_absolute_change": 0.001},
    {"metric": "accuracy", "higher_is_better": True, "threshold": 0.9},
]


def _double(value: float) -> dict[str, Any]:
    return {"double_value": value, "metadataType": "MetadataDoubleValue"}


def _result(
    trend: tuple[TrendPoint, ...] = (),
    significance: Significance | None = None,
    with_baseline: bool = True,
    cand_metrics: dict[str, float] | None = None,
) -> ComparisonResult:
    """A comparison on roc_auc (gated twice) and accuracy, candidate 7 against baseline 3 when there is one."""
    settings = CompareSettings.from_inputs(gates=GATES)
    cand = VersionSummary(
        reference="iris:1.0.3",
        model_name="iris",
        version_name="1.0.3",
        version_id="7",
        metrics=cand_metrics or {"roc_auc": 0.951048951, "accuracy": 0.9531},
    )
    base = VersionSummary(
        reference="iris:1.0.1",
        model_name="iris",
        version_name="1.0.1",
        version_id="3",
        stage="production",
        metrics={"roc_auc": 0.91, "accuracy": 0.9301},
    )
    baseline = base if with_baseline else None
    gate_results = evaluate_gates(settings.gates, cand.metrics, base.metrics if with_baseline else None)
    significance = significance or Significance(
        SignificanceStatus.NOT_TESTED, "no predictions", "roc_auc", settings.significance_test, 0.05
    )
    verdict = decide(cand, baseline, gate_results, significance)
    return ComparisonResult(
        decision=verdict.decision,
        winner=verdict.winner,
        winner_role=verdict.winner_role,
        reason=verdict.reason,
        reasons=verdict.reasons,
        candidate=cand,
        baseline=baseline,
        baseline_note="" if with_baseline else "no version in production",
        ranking=None,
        gates=tuple(gate_results),
        metrics=tuple(metric_rows(settings.gates, cand, baseline)),
        significance=significance,
        trend=trend,
        settings=settings,
        predictions_recorded="",
        notes=(),
        registry_url="http://127.0.0.1:8080",
    )


def _predictions(labels: list[int], scores: list[float]) -> Predictions:
    return Predictions(
        labels=tuple(str(y) for y in labels),
        predictions=tuple(str(int(s > 0.5)) for s in scores),
        scores=tuple(scores),
    )


def test_an_interval_on_the_wrong_side_of_0_says_significantly_worse() -> None:
    rng = random.Random(9)
    labels = [i % 2 for i in range(400)]
    good = [min(1.0, max(0.0, y * 0.6 + rng.random() * 0.4)) for y in labels]
    noisy = [rng.random() for _ in labels]
    worse = assess_significance(
        "roc_auc", True, _predictions(labels, noisy), _predictions(labels, good), resamples=300, seed=1
    )
    assert worse.status == "not significant" and worse.bootstrap.ci_high < 0  # excludes 0 on the worse side
    assert worse.reason.startswith("the candidate is significantly worse: roc_auc")
    assert worse.worse is True and worse.outcome == "significantly worse"
    result = _result(significance=worse, cand_metrics={"roc_auc": 0.92, "accuracy": 0.95})
    assert significance_lines(result)[0].startswith("Result: significantly worse -- the candidate is significantly")
    markdown = render_markdown(result)
    assert (
        "Result: not significant" not in markdown and "significance: the candidate is significantly worse" in markdown
    )
    lower_better = assess_significance("roc_auc", False, _predictions(labels, good), _predictions(labels, noisy))
    assert lower_better.worse is True  # the same interval, for a lower-is-better reading


def test_the_reason_counts_gates_and_checks_as_the_table_shows_them() -> None:
    result = _result()
    rows = [c for gate in result.gates for c in gate.checks]
    assert len(result.gates) == 2 and len(rows) == 3
    assert "all 2 gates (3 checks) pass" in result.reason
    markdown = render_markdown(result)
    assert "## Gates: 2 gates (3 checks)" in markdown
    assert len(re.findall(r"^\| (roc\\_auc|accuracy) \| higher is better \|", markdown, re.M)) == 3
    assert "<h2>Gates: 2 gates (3 checks)</h2>" in render_html(result)
    alone = _result(with_baseline=False)
    assert "## Gates: 2 gates (3 checks, 1 skipped)" in render_markdown(alone)


VERSION = {
    "customProperties": {
        "accuracy": _double(0.93),
        "hp_max_depth": _double(8.0),
        "hp_learning_rate": _double(0.1),
        "hp_criterion": {"string_value": "gini", "metadataType": "MetadataStringValue"},
        "model_meta_train_accuracy": _double(1.0),
        "model_meta_n_features": {"int_value": "30", "metadataType": "MetadataIntValue"},
        "model_meta_framework": {"string_value": "sklearn", "metadataType": "MetadataStringValue"},
    }
}
"""A version as register_model records it: a metric, hyperparameters and the model artifact's metadata."""


def test_integral_hyperparameters_show_without_a_decimal() -> None:
    assert version_lineage(VERSION)["hyperparameters"] == "criterion=gini, learning_rate=0.1, max_depth=8"


def test_model_metadata_is_lineage_not_metrics() -> None:
    assert version_metrics(VERSION) == {"accuracy": 0.93}
    assert version_lineage(VERSION)["model metadata"] == "framework=sklearn, n_features=30, train_accuracy=1"


def test_numbers_in_text_have_four_significant_digits_gates_keep_exact_ones() -> None:
    markdown = render_markdown(_result())
    assert "| roc\\_auc | 0.951 | 0.91 | +0.04105 |" in markdown
    assert "0.951048951" in markdown  # the gate check shows the exact value it compared
    metrics_table = markdown.split("## Metrics", 1)[1].split("## Gates", 1)[0]
    numbers = re.findall(r"\d+\.\d+", metrics_table)
    assert numbers and all(len(n.replace(".", "").lstrip("0")) <= 4 for n in numbers), numbers


def _trend(*points: tuple[str, float, str, str, str]) -> tuple[TrendPoint, ...]:
    return tuple(
        TrendPoint(
            id=str(i), version=v, value=x, created=i, stage=stage, role=role, **({"state": state} if state else {})
        )
        for i, (v, x, stage, role, state) in enumerate(points)
    )


def _tick_labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    return [t.text for t in root.findall(f"{SVG}text") if re.fullmatch(r"-?\d+(\.\d+)?", t.text or "")]


def test_axis_ticks_are_round_and_auc_never_goes_above_1() -> None:
    trend = _trend(
        ("1.0.0", 0.8355, "", "", ""), ("1.0.1", 0.91, "", "baseline", ""), ("1.0.3", 0.93, "", "candidate", "")
    )
    assert _tick_labels(trend_svg(_result(trend=trend))) == ["0.80", "0.85", "0.90", "0.95"]
    near_one = _trend(("a", 0.995, "", "baseline", ""), ("b", 1.0, "", "candidate", ""))
    labels = _tick_labels(trend_svg(_result(trend=near_one)))
    assert labels[-1] == "1.00" and max(float(t) for t in labels) <= 1.0


def _legend(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    return [t.text for t in root.findall(f"{SVG}text") if t.get("font-size") == "12"]


def test_the_legend_lists_only_what_is_drawn() -> None:
    only_candidate = _trend(("1.0.0", 0.91, "", "", ""), ("1.0.3", 0.95, "", "candidate", ""))
    assert _legend(trend_svg(_result(trend=only_candidate, with_baseline=False))) == ["candidate"]
    everything = _trend(
        ("1.0.0", 0.90, "archived", "", "ARCHIVED"),
        ("1.0.1", 0.91, "production", "baseline", "LIVE"),
        ("1.0.3", 0.95, "", "candidate", "LIVE"),
    )
    assert _legend(trend_svg(_result(trend=everything))) == ["candidate", "baseline", "in production", "archived"]


def test_archived_versions_stay_in_the_trend_marked(registry: EmbeddedRegistry, unique: str) -> None:
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model = http.post("/registered_models", json={"name": f"trend-{unique}"}).json()
        ids = []
        for i, value in enumerate((0.9, 0.93, 0.95)):
            body = {
                "name": f"1.0.{i}",
                "registeredModelId": model["id"],
                "customProperties": {"roc_auc": _double(value)},
            }
            ids.append(http.post("/model_versions", json=body).json()["id"])
        http.patch(f"/model_versions/{ids[0]}", json={"state": "ARCHIVED"}).raise_for_status()
    with connect_model_registry(registry.url) as conn:
        points = metric_trend(conn, model["id"], "roc_auc", limit=10)
    assert [p.version for p in points] == ["1.0.0", "1.0.1", "1.0.2"]
    assert [(p.version, p.state, p.archived) for p in points] == [
        ("1.0.0", "ARCHIVED", True),
        ("1.0.1", "LIVE", False),
        ("1.0.2", "LIVE", False),
    ]
    assert trend_roles(points[0]) == "archived"
    points = (points[0], replace(points[1], role="baseline"), replace(points[2], role="candidate"))
    svg = trend_svg(_result(trend=points))
    archived = [c for c in ET.fromstring(svg).iter(f"{SVG}circle") if "[archived]" in (c.findtext(f"{SVG}title") or "")]  # noqa: S314
    assert len(archived) == 1 and archived[0].get("stroke-dasharray") == "2,2"
    assert "| 1.0.0 |" in render_markdown(_result(trend=points)) and "archived |" in render_markdown(
        _result(trend=points)
    )
    assert "<td>ARCHIVED</td>" in render_html(_result(trend=points))


def test_only_the_display_is_rounded() -> None:
    result = _result()
    assert result.metrics[0].candidate == 0.951048951 and result.scalars["candidate_roc_auc"] == 0.951048951
    assert result.gates[0].candidate == 0.951048951
