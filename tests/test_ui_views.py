"""Unit tests of ``kml ui``'s view functions: sorting, links, tables, timeline, lineage, charts, graph, escaping.

No registry and no browser: the API's result dataclasses are built by hand, as ``Lifecycle`` returns them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kfp_model_lifecycle.comparison.directions import RankMetric
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, rank_versions
from kfp_model_lifecycle.comparison.versions import VersionSummary
from kfp_model_lifecycle.deployment.history import DeploymentHistory, RolloutEntry, ServiceEntry
from kfp_model_lifecycle.errors import (
    InvalidInputError,
    NotFoundError,
    RegistryAuthError,
    RegistryRequestError,
    RegistryUnavailableError,
)
from kfp_model_lifecycle.lifecycle.catalog import HistoryEvent, VersionRow
from kfp_model_lifecycle.lifecycle.queries import ModelSummary, VersionDetails, VersionInfo
from kfp_model_lifecycle.ui.app import UiSettings, error_page, template_environment
from kfp_model_lifecycle.ui.charts import metric_trend_svg, trend_dots
from kfp_model_lifecycle.ui.compare_view import board_view, metric_choices, rank_metrics
from kfp_model_lifecycle.ui.graph import lineage_graph, lineage_graph_svg
from kfp_model_lifecycle.ui.links import compare_url, model_url, outside_href, run_href, version_url, web_href
from kfp_model_lifecycle.ui.pool import LifecyclePool
from kfp_model_lifecycle.ui.server import ui_environment
from kfp_model_lifecycle.ui.sorting import SortOrder, parse_sort, sort_rows
from kfp_model_lifecycle.ui.version_view import comparison_reports, datasets_of, lineage_of, version_deployments
from kfp_model_lifecycle.ui.views import (
    RunCell,
    deployment_lines,
    evidence_items,
    key_metrics,
    models_with_matches,
    readable_time,
    run_cell,
    sort_models,
    timeline,
    version_lines,
)

EVIL = '<script>alert("x")</script>'


def row(version: str, vid: int, *, model: str = "iris", stage: str = "development", **metrics: float) -> VersionRow:
    return VersionRow(
        model=model, model_id="1", version=version, version_id=str(vid), reference=f"{model}:{version}",
        stage=stage, aliases=[], approval="", state="LIVE", author="alice", created=f"2026-01-0{vid} 10:00:00",
        metrics=dict(metrics),
    )  # fmt: skip


def summary(name: str, versions: int = 1, updated: str = "2026-01-01 00:00:00", production: str = "") -> ModelSummary:
    return ModelSummary(name, "1", "LIVE", "", versions, production, {}, False, "1.0.0", updated)


def details(lineage: dict[str, Any], *, artifact: dict[str, Any] | None = None, vid: str = "7") -> VersionDetails:
    info = VersionInfo("1.0.1", vid, "LIVE", "alice", "", "2026-01-01 00:00:00", "2026-01-01 00:00:00")
    return VersionDetails(
        reference="iris:1.0.1", resolved_by="version 1.0.1", model="iris", model_id="1", version=info,
        stage="production", stage_time="", aliases=["champion"], approval=None, metrics={"accuracy": 0.95},
        hyperparameters={}, lineage=lineage, artifact=artifact or {}, labels=[], properties={}, history=[],
    )  # fmt: skip


# -- sorting -------------------------------------------------------------------------------------------------


def test_sort_parameter_picks_a_known_column_and_direction() -> None:
    default = SortOrder("name")
    assert parse_sort("-created", ["created"], default) == SortOrder("created", descending=True)
    assert parse_sort("created", ["created"], default) == SortOrder("created")
    assert parse_sort("nonsense", ["created"], default) is default
    assert parse_sort("", ["created"], default) is default


def test_a_heading_links_to_its_column_then_reverses_it() -> None:
    order = SortOrder("created")
    assert order.link_for("created") == "-created"
    assert order.link_for("name") == "name"
    assert SortOrder("created", descending=True).link_for("created") == "created"
    assert (order.aria("created"), order.aria("name")) == ("ascending", "none")


def test_rows_without_a_value_sort_last_in_both_directions() -> None:
    rows = [{"v": 2}, {"v": None}, {"v": 3}, {"v": 1}]
    keys = {"v": lambda r: r["v"]}
    assert [r["v"] for r in sort_rows(rows, SortOrder("v"), keys)] == [1, 2, 3, None]
    assert [r["v"] for r in sort_rows(rows, SortOrder("v", descending=True), keys)] == [3, 2, 1, None]


def test_models_sort_by_name_by_default_and_by_versions_on_request() -> None:
    models = [summary("b", 1), summary("A", 5), summary("c", 3)]
    by_name, order = sort_models(models, "")
    assert [m.name for m in by_name] == ["A", "b", "c"] and order == SortOrder("name")
    by_count, _ = sort_models(models, "-versions")
    assert [m.name for m in by_count] == ["A", "c", "b"]


def test_a_search_narrows_the_models_to_those_with_matching_versions() -> None:
    models = [summary("iris"), summary("wine"), summary("digits")]
    assert [m.name for m in models_with_matches(models, [row("1.0.0", 1, model="wine")])] == ["wine"]
    assert models_with_matches(models, []) == []


# -- links ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "href"),
    [
        ("https://reports.example.com/r.html", "https://reports.example.com/r.html"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        ("file:///tmp/report.html", "file:///tmp/report.html"),
        (
            "/work/pipeline_root/run/compare-models/report_html",
            "file:///work/pipeline_root/run/compare-models/report_html",
        ),
        ("/tmp/a b.html", "file:///tmp/a%20b.html"),
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("s3://bucket/report.html", ""),
        ("minio://mlpipeline/v2/artifacts/report", ""),
        ("https:///no-host", ""),
        ("//evil.example.com/x", ""),
        ("relative/path.html", ""),
        ("http://ok.example.com/\nx", ""),
        ("", ""),
    ],
)
def test_only_web_file_and_local_path_uris_become_links(uri: str, href: str) -> None:
    assert outside_href(uri) == href


def test_web_links_are_http_only_and_runs_link_to_the_kfp_ui() -> None:
    assert web_href("file:///etc/passwd") == ""
    assert web_href("https://x.example.com") == "https://x.example.com"
    assert run_href("https://kfp.example.com/#/runs/details/1", "1", "") == "https://kfp.example.com/#/runs/details/1"
    assert (
        run_href("", "abc", "https://kfp.example.com/pipeline/")
        == "https://kfp.example.com/pipeline/#/runs/details/abc"
    )
    assert run_href("javascript:alert(1)", "abc", "") == ""
    assert run_href("", "abc", "") == ""


def test_page_urls_carry_names_in_the_query_string() -> None:
    assert model_url("a/b c") == "/model?name=a%2Fb+c"
    assert version_url(EVIL, "1.0.0") == "/version?model=%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E&version=1.0.0"
    assert compare_url(["iris:1.0.0", "iris:1.0.1"], ["accuracy"]) == (
        "/compare?ref=iris%3A1.0.0&ref=iris%3A1.0.1&metric=accuracy"
    )
    assert compare_url(model="iris") == "/compare?model=iris"


# -- the Model page ------------------------------------------------------------------------------------------


def test_key_metrics_are_the_ones_most_versions_record() -> None:
    rows = [row("1", 1, accuracy=0.9, f1=0.8), row("2", 2, accuracy=0.91, loss=0.3), row("3", 3, accuracy=0.92, f1=0.7)]
    assert key_metrics(rows) == ["accuracy", "f1", "loss"]
    assert key_metrics(rows, limit=1) == ["accuracy"]


def test_versions_are_newest_first_with_the_production_version_marked() -> None:
    rows = [row("1.0.0", 1, accuracy=0.9), row("1.0.1", 2, accuracy=0.95), row("1.0.2", 3)]
    lines, order, metrics = version_lines(rows, "1.0.1", "", {"2": RunCell("run-2", "https://kfp/#/runs/details/2")})
    assert [line.row.version for line in lines] == ["1.0.2", "1.0.1", "1.0.0"]
    assert order == SortOrder("version", descending=True) and metrics == ["accuracy"]
    assert [line.production for line in lines] == [False, True, False]
    assert lines[1].run.text == "run-2" and lines[0].run == RunCell()
    assert lines[1].metric("accuracy") == "0.95" and lines[0].metric("accuracy") == ""
    assert lines[0].href == "/version?model=iris&version=1.0.2"


def test_versions_sort_on_a_metric_with_versions_lacking_it_last() -> None:
    rows = [row("1.0.0", 1, accuracy=0.9), row("1.0.1", 2, accuracy=0.95), row("1.0.2", 3)]
    best_first, order, _ = version_lines(rows, "", "-metric:accuracy")
    assert [line.row.version for line in best_first] == ["1.0.1", "1.0.0", "1.0.2"]
    assert order.param == "-metric:accuracy"
    by_stage, _, _ = version_lines([row("a", 1, stage="archived"), row("p", 2, stage="production")], "", "stage")
    assert [line.row.version for line in by_stage] == ["p", "a"]


def test_the_run_of_a_version_from_its_lineage() -> None:
    kfp = details({"kfp_run_name": "nightly-7", "kfp_run_id": "r7"})
    assert run_cell(kfp, "https://kfp.example.com") == RunCell("nightly-7", "https://kfp.example.com/#/runs/details/r7")
    assert run_cell(kfp) == RunCell("nightly-7", "")
    manual = details({"model_meta_source": "manual", "model_meta_user": "alice", "model_meta_host": "laptop"})
    assert run_cell(manual) == RunCell("manual (alice@laptop)")
    assert run_cell(details({})) == RunCell()


def event(seq: int, **fields: Any) -> HistoryEvent:
    base = {"time": f"2026-01-01T00:00:0{seq}.000Z", "type": "stage", "version": "1.0.1", "version_id": "2"}
    return HistoryEvent.from_row({"seq": seq, "actor": "user:alice", **base, **fields})


def test_the_timeline_is_in_sequence_order_with_readable_times() -> None:
    entries = timeline("iris", [event(3), event(1), event(2, version="")])
    assert [e.event.seq for e in entries] == [1, 2, 3]
    assert entries[0].when == "2026-01-01 00:00:01"
    assert entries[0].version_href == "/version?model=iris&version=1.0.1"
    assert entries[1].version_href == ""  # a model-level event


def test_evidence_puts_report_run_and_url_first_and_links_only_safe_uris() -> None:
    evidence = {
        "report_uri": "/runs/7/compare-models/report_html",
        "run_name": "nightly-7",
        "run_id": "r7",
        "url": "javascript:alert(1)",
        "namespace": "team-a",
        "manifest_sha256": "abc",
    }
    items = evidence_items(evidence, "https://kfp.example.com")
    assert [(i.label, i.text, i.href) for i in items] == [
        ("report", "/runs/7/compare-models/report_html", "file:///runs/7/compare-models/report_html"),
        ("run", "nightly-7", "https://kfp.example.com/#/runs/details/r7"),
        ("serving URL", "javascript:alert(1)", ""),
        ("manifest sha256", "abc", ""),
        ("namespace", "team-a", ""),
    ]
    assert evidence_items({"report_uri": "s3://b/r.html"})[0].href == ""


def test_readable_time() -> None:
    assert readable_time("2026-11-30T23:11:45.541Z") == "2026-11-30 23:11:45"
    assert readable_time("yesterday") == "yesterday"
    assert readable_time("") == ""


def test_deployments_say_where_and_since_when() -> None:
    service = ServiceEntry("5", "team-a", "iris", "DEPLOYED", "1.0.1", "2", "http://iris.example.com",
                           "2026-01-02T03:04:05.000Z", "", "deployed")  # fmt: skip
    rollout = RolloutEntry(id="9", version_id="2", version="1.0.1", outcome="deployed", time="2026-01-02T03:04:05Z",
                           namespace="team-a", inference_service="iris", run_name="nightly", run_id="r1")  # fmt: skip
    services, rollouts = deployment_lines("iris", DeploymentHistory({}, [service], [rollout]))
    assert services[0].serving and services[0].since == "2026-01-02 03:04:05"
    assert services[0].url_href == "http://iris.example.com"
    assert rollouts[0].version_href == "/version?model=iris&version=1.0.1" and rollouts[0].run.text == "nightly"


# -- the Version page ----------------------------------------------------------------------------------------


def test_datasets_are_read_from_numbered_lineage_keys() -> None:
    lineage = {
        "dataset_1_uri": "s3://b/test.csv",
        "dataset_1_role": "test",
        "dataset_0_uri": "/data/train.csv",
        "dataset_0_role": "train",
        "dataset_0_sha256": "ab" * 32,
        "dataset_0_rows": 100,
    }
    train, test = datasets_of(lineage)
    assert (train.role, train.uri, train.sha256, train.href) == ("train", "/data/train.csv", "ab" * 32,
                                                                 "file:///data/train.csv")  # fmt: skip
    assert [(f.label, f.text) for f in train.extra] == [("rows", "100")]
    assert (test.role, test.href, test.sha256) == ("test", "", "")


def test_lineage_is_grouped_for_a_reader() -> None:
    lineage = {
        "kfp_run_name": "nightly-7",
        "kfp_run_id": "r7",
        "kfp_run_url": "https://kfp.example.com/#/runs/details/r7",
        "kfp_pipeline_name": "train",
        "code_version": "abc1234",
        "training_image": "python:3.11",
        "kfp_model_uri": "s3://b/model",
        "model_meta_framework": "sklearn",
        "dataset_0_uri": "/d/train.csv",
        "custom_lineage": "x",
    }
    view = lineage_of(details(lineage), RunCell("nightly-7", "https://kfp.example.com/#/runs/details/r7"))
    assert view.source == "kfp" and view.pipeline == "train"
    assert [(f.label, f.text) for f in view.run_fields][:3] == [
        ("name", "nightly-7"),
        ("id", "r7"),
        ("pipeline", "train"),
    ]
    assert view.run_fields[-1].href == "https://kfp.example.com/#/runs/details/r7"
    assert (view.code_version, view.training_image) == ("abc1234", "python:3.11")
    assert [(f.label, f.text) for f in view.model] == [("uri", "s3://b/model")]  # no artifact: the recorded URI
    assert [(f.label, f.text) for f in view.model_meta] == [("framework", "sklearn")]
    assert [f.label for f in view.other] == ["custom_lineage"]
    manual = lineage_of(details({"model_meta_source": "manual", "model_meta_user": "bob"}), RunCell("manual (bob)"))
    assert manual.source == "manual" and [(f.label, f.text) for f in manual.run_fields] == [
        ("source", "manual"), ("user", "bob")
    ]  # fmt: skip


def test_comparison_reports_come_from_the_events_evidence_once_each() -> None:
    history = [
        {"seq": 5, "time": "2026-01-01T00:00:05Z", "description": "alias", "evidence": {"report_uri": "/r/1.html"}},
        {"seq": 4, "time": "2026-01-01T00:00:04Z", "description": "stage", "reason": "better",
         "evidence": {"report_uri": "/r/1.html"}},
        {"seq": 6, "time": "2026-01-01T00:00:06Z", "description": "rejected", "evidence": {"report_uri": "s3://b/2"}},
        {"seq": 7, "time": "2026-01-01T00:00:07Z", "description": "deployed", "evidence": {"url": "http://x"}},
    ]  # fmt: skip
    reports = comparison_reports(history)
    assert [(r.uri, r.href, r.decision, r.reason) for r in reports] == [
        ("/r/1.html", "file:///r/1.html", "stage", "better"),
        ("s3://b/2", "", "rejected", ""),
    ]


def test_a_versions_deployments_say_what_each_service_does_now() -> None:
    def rollout(vid: str, target: str, outcome: str, time: str) -> RolloutEntry:
        return RolloutEntry(version_id=vid, namespace="ns", inference_service=target, outcome=outcome, time=time)

    services = [ServiceEntry("1", "ns", "a", "DEPLOYED", "1.0.1", "2", "http://a", "", "", "deployed"),
                ServiceEntry("2", "ns", "b", "DEPLOYED", "1.0.2", "3", "http://b", "", "", "deployed"),
                ServiceEntry("3", "ns", "d", "UNDEPLOYED", "1.0.1", "2", "", "", "", "undeployed")]  # fmt: skip
    rollouts = [rollout("2", "a", "deployed", "t1"), rollout("2", "b", "deployed", "t2"),
                rollout("3", "b", "deployed", "t3"), rollout("2", "c", "failed", "t4"),
                rollout("2", "d", "deployed", "t5"), rollout("2", "d", "undeployed", "t6")]  # fmt: skip
    found = version_deployments("2", DeploymentHistory({}, services, rollouts))
    assert [(d.target, d.state, d.when) for d in found] == [
        ("ns/a", "serving", "t1"), ("ns/b", "replaced", "t2"), ("ns/c", "failed", "t4"), ("ns/d", "undeployed", "t6")
    ]  # fmt: skip
    assert found[0].url == "http://a"


# -- charts and graph ----------------------------------------------------------------------------------------


def test_the_trend_marks_the_production_version_and_links_each_point() -> None:
    rows = [row("1.0.2", 3, accuracy=0.93), row("1.0.0", 1, accuracy=0.9, stage="archived"), row("1.0.1", 2, f1=0.5)]
    dots = trend_dots(rows, "accuracy", "1.0.2", lambda r: version_url(r.model, r.version))
    assert [(d.version, d.production, d.archived) for d in dots] == [("1.0.0", False, True), ("1.0.2", True, False)]
    svg = metric_trend_svg(dots, "accuracy")
    assert svg.startswith("<svg") and svg.count('class="dot production"') == 1
    assert '<a href="/version?model=iris&amp;version=1.0.2"><circle class="dot production"' in svg
    assert "1.0.2: accuracy = 0.93 (production)" in svg and ">production</text>" in svg
    assert "in production" in svg and "archived" in svg
    assert metric_trend_svg([], "accuracy") == ""


def test_the_trend_escapes_names() -> None:
    dots = trend_dots([row(EVIL, 1, **{EVIL: 0.5})], EVIL, EVIL, lambda r: "/version?x=<y>")
    svg = metric_trend_svg(dots, EVIL)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and 'href="/version?x=&lt;y&gt;"' in svg


def test_the_lineage_graph_has_a_node_per_dataset_run_version_and_deployment() -> None:
    lineage = lineage_of(
        details({"kfp_run_name": "nightly", "kfp_run_id": "r1", "dataset_0_uri": "/d/train.csv",
                 "dataset_0_role": "train", "dataset_0_sha256": "f" * 64, "dataset_1_uri": "/d/test.csv",
                 "dataset_1_role": "test"}),
        RunCell("nightly", "https://kfp.example.com/#/runs/details/r1"),
    )  # fmt: skip
    deployments = version_deployments(
        "7",
        DeploymentHistory({}, [ServiceEntry("1", "ns", "iris", "DEPLOYED", "1.0.1", "7", "http://iris", "", "", "")],
                          [RolloutEntry(version_id="7", namespace="ns", inference_service="iris", outcome="deployed")]),
    )  # fmt: skip
    svg = lineage_graph_svg(lineage_graph("iris:1.0.1", "production", lineage, deployments))
    kinds = re.findall(r'<g class="node" data-kind="(\w+)"(?: data-state="(\w+)")?', svg)
    assert kinds == [("dataset", ""), ("dataset", ""), ("run", ""), ("version", ""), ("deployment", "serving")]
    assert svg.count('class="edge"') == 2 + 1 + 1  # both datasets -> run -> version -> the deployment
    assert 'href="https://kfp.example.com/#/runs/details/r1"' in svg and 'href="file:///d/train.csv"' in svg
    assert "sha256 ffffffffffff…" in svg


def test_an_empty_lineage_says_so_and_names_are_escaped() -> None:
    lineage = lineage_of(details({}), RunCell())
    svg = lineage_graph_svg(lineage_graph(f"{EVIL}:1", "development", lineage, []))
    assert re.findall(r'data-kind="(\w+)" data-state="missing"', svg) == ["dataset", "run", "deployment"]
    assert "no datasets recorded" in svg and "not deployed" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg


# -- compare -------------------------------------------------------------------------------------------------


def test_metric_parameters_take_the_cli_forms() -> None:
    assert rank_metrics(["accuracy", "log_loss:min", "-rmse", " ", "a:b:max"]) == [
        "accuracy", ("log_loss", "min"), "-rmse", ("a:b", "max")
    ]  # fmt: skip


def test_the_board_marks_the_best_values_and_links_versions() -> None:
    versions = [
        VersionSummary("iris:1.0.0", "iris", "1", "1.0.0", "1", metrics={"accuracy": 0.9, "loss": 0.2}),
        VersionSummary("iris:1.0.1", "iris", "1", "1.0.1", "2", metrics={"accuracy": 0.95, "loss": 0.3}),
    ]
    metrics = (RankMetric("accuracy"), RankMetric("loss", higher_is_better=False))
    view = board_view(Leaderboard(metrics, rank_versions(versions, metrics), "two versions"))
    assert view.headings[:5] == ["Rank", "Version", "Stage", "accuracy ↑", "loss ↓"]
    first, second = view.lines
    assert first.best and first.href == "/version?model=iris&version=1.0.1"
    assert [c.best for c in first.cells[3:5]] == [True, False] and [c.best for c in second.cells[3:5]] == [False, True]
    assert len(view.charts) == 2 and all(svg.startswith("<svg") for svg in view.charts)
    assert view.reason.startswith("iris:1.0.1 ranks first of 2 version(s)")


def test_metric_choices_tick_the_chosen_metrics() -> None:
    rows = [row("1", 1, accuracy=0.9, loss=0.1), row("2", 2, f1=0.5)]
    assert metric_choices(rows, ["-loss", "accuracy:max"]) == [("accuracy", True), ("f1", False), ("loss", True)]


# -- rendering, errors, settings -----------------------------------------------------------------------------


def test_templates_escape_registry_data() -> None:
    env = template_environment()
    model = ModelSummary(EVIL, "1", "LIVE", "", 1, EVIL, {EVIL: EVIL}, False, EVIL, "2026-01-01 00:00:00")
    html = env.get_template("models.html").render(
        title="Models", total=1, models=[model], order=SortOrder("name"), query=EVIL, matches=None,
        match_metrics=[], error=EVIL, registry_url="http://r",
    )  # fmt: skip
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 6


@pytest.mark.parametrize(
    ("error", "status", "heading"),
    [
        (RegistryUnavailableError("could not reach the registry"), 503, "The Model Registry does not answer"),
        (RegistryAuthError("HTTP 401"), 502, "The Model Registry refused the request"),
        (NotFoundError("no registered model named 'x'"), 404, "Not found"),
        (InvalidInputError("bad"), 400, "Cannot show this"),
        (RegistryRequestError("HTTP 400"), 400, "Cannot show this"),
        (KeyError("boom"), 500, "Something went wrong"),
    ],
)
def test_errors_become_pages_that_say_what_happened(error: Exception, status: int, heading: str) -> None:
    page = error_page(error, UiSettings("http://127.0.0.1:8080"))
    assert (page.template, page.status, page.context["heading"]) == ("error.html", status, heading)
    if status == 500:
        assert "boom" not in page.context["message"]  # internals go to the log, not the page


def test_unreachable_registry_page_says_how_to_start_one_and_names_the_url() -> None:
    page = error_page(RegistryUnavailableError("x"), UiSettings("http://127.0.0.1:9"))
    hints = " ".join(page.context["hints"])
    assert "http://127.0.0.1:9" in hints and "kml registry serve" in hints and "port-forward" in hints


def test_hosts_allowed_are_loopback_names_unless_listening_everywhere() -> None:
    assert UiSettings("http://r", host="127.0.0.1").allowed_hosts == ["127.0.0.1", "localhost", "::1"]
    assert UiSettings("http://r", host="10.0.0.5").allowed_hosts == ["127.0.0.1", "localhost", "::1", "10.0.0.5"]
    assert UiSettings("http://r", host="0.0.0.0").allowed_hosts == ["*"]  # noqa: S104 - what is tested


def test_the_ui_retries_less_unless_told_otherwise() -> None:
    env = ui_environment({"KML_REGISTRY_TOKEN": "t", "KML_REGISTRY_MAX_ATTEMPTS": "7"})
    assert env["KML_REGISTRY_MAX_ATTEMPTS"] == "7" and env["KML_REGISTRY_BACKOFF_SECONDS"] == "0.25"
    assert env["KML_REGISTRY_TOKEN"] == "t"


class FakeLifecycle:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_pool_lends_each_lifecycle_to_one_borrower_and_closes_the_rest() -> None:
    made: list[FakeLifecycle] = []

    def factory() -> Any:
        made.append(FakeLifecycle())
        return made[-1]

    pool = LifecyclePool(factory, keep=1)
    with pool.borrow() as first, pool.borrow() as second:
        assert first is not second
    assert pool.idle == 1 and [lc.closed for lc in made] == [True, False]  # the second one given back is kept
    with pool.borrow() as again:
        assert again is made[1]
    pool.close()
    assert all(lc.closed for lc in made) and pool.idle == 0
