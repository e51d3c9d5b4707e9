"""Unit tests of the leaderboard's plain parts: metric directions, ranking, ties, errors, reports and charts."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest

from kfp_model_lifecycle.comparison.directions import RankMetric, default_higher_is_better, parse_rank_metrics
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, check_metrics, rank_versions
from kfp_model_lifecycle.comparison.report import (
    leaderboard_summary,
    leaderboard_svg,
    render_leaderboard_html,
    render_leaderboard_markdown,
)
from kfp_model_lifecycle.comparison.report.axis import nice_axis
from kfp_model_lifecycle.comparison.selection import VersionSelection
from kfp_model_lifecycle.comparison.versions import VersionSummary

SVG = "{http://www.w3.org/2000/svg}"
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "b", "br", "span", "table", "tr"}
PAGE_TAGS |= {"th", "td", "ul", "li", "p", "svg", "text", "line", "rect", "circle"}
"""Every tag the leaderboard page may have: no script, link, img, iframe, a..."""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


# -- metric directions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "higher"),
    [
        ("accuracy", True),
        ("roc_auc", True),
        ("f1", True),
        ("log_loss", False),
        ("val_loss", False),
        ("error_rate", False),
        ("rmse", False),
        ("mean_absolute_error", False),
        ("latency_ms", False),
        ("lossless_ratio", True),  # a word of the name must match, not a part of a word
    ],
)
def test_default_directions_by_name(name: str, higher: bool) -> None:
    assert default_higher_is_better(name) is higher


@pytest.mark.parametrize(
    "metrics",
    [
        ["accuracy", "-log_loss"],
        "accuracy, -log_loss",
        '["accuracy", "-log_loss"]',
        {"accuracy": "max", "log_loss": "min"},
        '{"accuracy": "higher", "log_loss": false}',
        [{"metric": "accuracy", "higher_is_better": True}, {"metric": "log_loss", "greater_is_better": False}],
    ],
)
def test_every_form_of_the_metrics_input(metrics: Any) -> None:
    parsed = parse_rank_metrics(metrics)
    assert [(m.name, m.higher_is_better) for m in parsed] == [("accuracy", True), ("log_loss", False)]
    assert parsed[1].explicit is True


def test_directions_given_or_assumed() -> None:
    assumed, flipped, plus = parse_rank_metrics(["log_loss", "+error", {"metric": "latency"}])
    assert (assumed.higher_is_better, assumed.explicit) == (False, False)
    assert (flipped.higher_is_better, flipped.explicit) == (True, True)
    assert (plus.name, plus.higher_is_better, plus.explicit) == ("latency", False, False)
    assert parse_rank_metrics({"loss": None}) == (RankMetric("loss", False),)
    assert parse_rank_metrics(None) == () and parse_rank_metrics("") == () and parse_rank_metrics([]) == ()


@pytest.mark.parametrize(
    ("metrics", "fragment"),
    [
        (["accuracy", "accuracy"], "'accuracy' is named twice"),
        (["accuracy", "+accuracy"], "named twice"),
        ({"accuracy": "best"}, "direction 'best'"),
        ([{"metric": "a", "direction": "max"}], "unknown key 'direction'"),
        ([{"higher_is_better": True}], "a metric name is required"),
        (["-"], "a metric name is required"),
        ([3], "must be a metric name"),
        ("[oops", "not valid JSON"),
        (42, "must be a list of metric names"),
    ],
)
def test_metrics_input_errors_name_the_problem(metrics: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_rank_metrics(metrics)


# -- ranking ----------------------------------------------------------------------------------------------------


def _version(name: str, vid: str, created: int, model: str = "iris", **metrics: float) -> VersionSummary:
    return VersionSummary(
        reference=f"{model}:{name}",
        model_name=model,
        model_id="1",
        version_name=name,
        version_id=vid,
        state="LIVE",
        created=created,
        metrics=dict(metrics),
        lineage={"hyperparameters": f"max_depth={vid}"},
    )


ACCURACY_THEN_LOSS = (RankMetric("accuracy", True), RankMetric("log_loss", False))


def test_ranking_by_metrics_in_order_with_directions() -> None:
    versions = [
        _version("a", "1", 1, accuracy=0.91, log_loss=0.3),
        _version("b", "2", 2, accuracy=0.95, log_loss=0.25),
        _version("c", "3", 3, accuracy=0.95, log_loss=0.20),  # ties b on accuracy, wins on log_loss
        _version("d", "4", 4, log_loss=0.1),  # no accuracy: last, although its loss is the best
    ]
    rows = rank_versions(versions, ACCURACY_THEN_LOSS)
    assert [(r.rank, r.version.version_name) for r in rows] == [(1, "c"), (2, "b"), (3, "a"), (4, "d")]
    assert rows[0].best_on == ("accuracy",) and rows[1].best_on == ("accuracy",)  # a tie marks both
    assert rows[3].best_on == ("log_loss",) and rows[3].values == {"accuracy": None, "log_loss": 0.1}
    lower = rank_versions(versions, (RankMetric("log_loss", False),))
    assert [r.version.version_name for r in lower] == ["d", "c", "b", "a"]


def test_versions_equal_on_every_metric_share_a_rank_oldest_first() -> None:
    versions = [
        _version("new", "12", 300, accuracy=0.9),
        _version("old", "11", 100, accuracy=0.9),
        _version("older-id", "2", 300, accuracy=0.9),  # same time as "new": the lower id first
        _version("best", "13", 400, accuracy=0.95),
    ]
    rows = rank_versions(versions, (RankMetric("accuracy"),))
    assert [(r.rank, r.version.version_name) for r in rows] == [(1, "best"), (2, "old"), (2, "older-id"), (2, "new")]
    tie = rank_versions(versions[:3], (RankMetric("accuracy"),))
    board = Leaderboard((RankMetric("accuracy"),), tie, "three versions")
    assert board.best.version.version_name == "old" and "tied with 2 other version(s)" in board.reason


def test_check_metrics_lists_what_is_available() -> None:
    versions = [_version("a", "1", 1, accuracy=0.9, f1=0.8), _version("b", "2", 2, f1=0.7)]
    with pytest.raises(ValueError) as info:
        check_metrics(versions, (RankMetric("acuracy"),))
    message = str(info.value)
    assert "unknown metric 'acuracy'" in message and "did you mean 'accuracy'" in message
    assert "available metrics: accuracy, f1" in message
    with pytest.raises(ValueError, match=r"metrics is empty: .*the versions have: accuracy, f1"):
        check_metrics(versions, ())
    notes = check_metrics(versions, (RankMetric("accuracy"),))
    assert notes == ["no accuracy on iris:b: ranked below the versions that have it"]


def _board(versions: list[VersionSummary] | None = None, metrics: tuple[RankMetric, ...] = ACCURACY_THEN_LOSS) -> Any:
    versions = versions or [
        _version("1.0.0", "1", 1_700_000_000_000, accuracy=0.9123456, log_loss=0.31),
        _version("1.0.1", "2", 1_700_000_100_000, accuracy=0.951048951, log_loss=0.2),
        _version("2.0.0", "7", 1_700_000_200_000, model="wine", accuracy=0.93, log_loss=0.25),
    ]
    return Leaderboard(metrics, rank_versions(versions, metrics), "the versions named", (), "http://registry:8080")


def test_leaderboard_reason_scalars_and_json() -> None:
    board = _board()
    assert board.ranked == ["iris:1.0.1", "wine:2.0.0", "iris:1.0.0"]
    assert board.reason == (
        "iris:1.0.1 ranks first of 3 version(s) on accuracy 0.951 (higher is better), then log_loss 0.2"
        " (lower is better)"
    )
    assert board.best_values == {"accuracy": 0.951048951, "log_loss": 0.2}
    scalars = board.scalars
    assert scalars["versions_compared"] == 3.0 and scalars["best_accuracy"] == 0.951048951
    assert scalars["worst_log_loss"] == 0.31 and scalars["rank2_accuracy"] == 0.93
    data = json.loads(json.dumps(board.to_dict()))
    assert data["best"] == "iris:1.0.1" and data["best_version_id"] == "2"
    assert data["rows"][1]["model_name"] == "wine" and data["rows"][1]["values"] == {"accuracy": 0.93, "log_loss": 0.25}
    assert data["metrics"][1] == {"name": "log_loss", "higher_is_better": False, "explicit": False}
    summary = leaderboard_summary(board)
    assert summary["ranked"] == board.ranked and summary["versions_compared"] == 3
    json.dumps(summary)


# -- which versions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"references": ["m:1"], "filter_query": "accuracy > 0.9"}, "not both"),
        ({"version_ids": ["3"], "latest": 5}, "not both"),
        ({}, "nothing to compare"),
        ({"model_name": "m", "latest": 501}, "latest=501"),
        ({"model_name": "m", "latest": 2.5}, "whole number"),
        ({"model_name": "m", "latest": "x"}, "whole number"),
        ({"version_ids": ["m:1"]}, "not a model version id"),
        ({"references": "[oops"}, "not a valid JSON list"),
    ],
)
def test_selection_errors(inputs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        VersionSelection.from_inputs(**inputs)


def test_selection_forms() -> None:
    assert VersionSelection.from_inputs(references="a:1, b@champion").references == ("a:1", "b@champion")
    assert VersionSelection.from_inputs(references='["a:1", " "]').references == ("a:1",)
    ids = VersionSelection.from_inputs(version_ids=[12.0, "13", 14])  # Collected ints arrive as floats
    assert ids.version_ids == ("12", "13", "14")
    assert ids.describe() == "the versions named: version ids 12, 13, 14"
    latest = VersionSelection.from_inputs(model_name="iris", latest=5.0)
    assert latest.latest == 5 and latest.describe() == "the 5 newest versions of 'iris' matching state = \"LIVE\""
    every = VersionSelection.from_inputs(filter_query="accuracy > 0.9")
    assert every.describe() == "the versions of every model matching accuracy > 0.9"


# -- reports ----------------------------------------------------------------------------------------------------


def test_markdown_leaderboard() -> None:
    markdown = render_leaderboard_markdown(_board())
    assert markdown.startswith("# Model leaderboard: 2 models\n")
    assert "**Best: iris:1.0.1**" in markdown
    assert "| Rank | Version | Stage | accuracy ↑ | log\\_loss ↓ | Created | Hyperparameters |" in markdown
    assert "| 1 | iris:1.0.1 |  | **0.951** | **0.2** | 2023-11-14 22:15 UTC | max\\_depth=2 |" in markdown
    assert "| 3 | iris:1.0.0 |  | 0.9123 | 0.31 |" in markdown  # 4 significant digits
    assert "0.951048951" not in markdown
    single = render_leaderboard_markdown(_board(metrics=(RankMetric("accuracy"),)))
    assert single.startswith("# Model leaderboard: 2 models") and "log\\_loss" not in single


def test_reports_escape_registry_strings() -> None:
    evil = replace(
        _version("<script>alert(1)</script>", "9", 5, accuracy=0.99, log_loss=0.1),
        reference="x|y:<script>alert(1)</script>",
        stage="<b>prod</b>",
        lineage={"hyperparameters": "a=<img src=x onerror=alert(1)> | b"},
    )
    board = _board([evil, _version("1", "1", 1, accuracy=0.5, log_loss=0.9)])
    markdown = render_leaderboard_markdown(board)
    assert not re.search(r"<[A-Za-z/!]", markdown)
    assert "x\\|y:&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and "&lt;img src=x" in markdown
    page = render_leaderboard_html(board)
    assert "<script" not in page.lower() and "<img" not in page and "<b>prod" not in page
    assert "x|y:&lt;script&gt;" in page

    parser = _Tags()
    parser.feed(page)
    assert {tag for tag, _ in parser.found} <= PAGE_TAGS
    assert not any("src" in attrs or "href" in attrs for _, attrs in parser.found)  # nothing loaded from elsewhere


def test_html_marks_the_best_values_and_draws_a_chart_per_metric() -> None:
    page = render_leaderboard_html(_board())
    assert '<td class="num best" title="best">0.951</td>' in page
    assert page.count("<svg") == 2 and "Best: <b>iris:1.0.1</b>" in page


def _svg(board: Leaderboard, metric: RankMetric) -> ET.Element:
    return ET.fromstring(leaderboard_svg(board, metric))  # noqa: S314 - our own output


def test_dot_plot_rows_axis_and_best_dot() -> None:
    board = _board()
    root = _svg(board, board.metrics[0])
    circles = root.findall(f"{SVG}circle")
    assert [c.find(f"{SVG}title").text for c in circles] == [
        "iris:1.0.1: accuracy = 0.951 (rank 1, best)",
        "wine:2.0.0: accuracy = 0.93 (rank 2)",
        "iris:1.0.0: accuracy = 0.9123 (rank 3)",
    ]
    assert circles[0].get("fill") == "#2e7d32" and circles[1].get("fill") == "#607d8b"
    assert [float(c.get("cy")) for c in circles] == sorted(float(c.get("cy")) for c in circles)  # rank order, top down
    ticks = [t.text for t in root.findall(f"{SVG}text") if re.fullmatch(r"-?\d+(\.\d+)?", t.text or "")]
    assert ticks == ["0.91", "0.92", "0.93", "0.94", "0.95", "0.96"]
    xs = [float(c.get("cx")) for c in circles]
    assert xs[0] > xs[1] > xs[2]


def test_dot_plot_of_a_bounded_metric_stays_within_0_and_1_and_shows_missing_values() -> None:
    versions = [_version("a", "1", 1, roc_auc=0.999), _version("b", "2", 2, roc_auc=0.97), _version("c", "3", 3)]
    metric = RankMetric("roc_auc")
    board = Leaderboard((metric,), rank_versions(versions, (metric,)), "x")
    root = _svg(board, metric)
    ticks = [t.text for t in root.findall(f"{SVG}text") if re.fullmatch(r"\d+\.\d+", t.text or "")]
    assert ticks[-1] == "1.00" and all(float(t) <= 1 for t in ticks)
    assert any((t.text or "").startswith("n/a: no roc_auc") for t in root.findall(f"{SVG}text"))
    assert leaderboard_svg(board, RankMetric("f1")) == ""


@pytest.mark.parametrize(
    ("values", "unit", "ticks"),
    [
        ([0.8355, 0.91, 0.93], True, (0.8, 0.85, 0.9, 0.95)),
        ([0.97, 0.995, 1.0], True, (0.97, 0.98, 0.99, 1.0)),
        ([1.0, 1.0], True, (0.94, 0.96, 0.98, 1.0)),
        ([0.0, 0.0], True, (0.0, 0.02, 0.04, 0.06)),
        ([-3.2, 47.0], False, (-20.0, 0.0, 20.0, 40.0, 60.0)),
        ([0.2, 0.24], False, (0.2, 0.21, 0.22, 0.23, 0.24)),
    ],
)
def test_nice_axis(values: list[float], unit: bool, ticks: tuple[float, ...]) -> None:
    axis = nice_axis(values, unit_interval=unit)
    assert axis.ticks == pytest.approx(ticks)
    assert axis.low <= min(values) and axis.high >= max(values)
    assert len({axis.label(t) for t in axis.ticks}) == len(axis.ticks)
