"""The champion/challenger pipeline end to end with KFP's local runner, and record_model_event on its own."""

import json
from pathlib import Path

import pytest
from kfp import dsl

from kfp_model_lifecycle.cli.models import open_registry
from kfp_model_lifecycle.components.record_model_event import record_model_event
from kfp_model_lifecycle.lifecycle.queries import model_history, show_model
from kfp_model_lifecycle.lifecycle.recording import run_record_model_event
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.pipelines import champion_challenger_pipeline

RUNS = [  # (hyperparameters, expected decision): a weak first model, a clearly better one, a worse one
    ({"n_estimators": 1, "max_depth": 1}, "promoted"),
    ({"n_estimators": 150, "max_depth": 8}, "promoted"),
    ({"n_estimators": 3, "max_depth": 2}, "rejected"),
]


@pytest.fixture(scope="module")
def three_runs(local_runner: Path, registry: EmbeddedRegistry) -> dict:
    mp = pytest.MonkeyPatch()
    mp.setenv("KML_REGISTRY_URL", registry.url)
    try:
        for params, _ in RUNS:
            champion_challenger_pipeline(model_name="cc-model", **params)
    finally:
        mp.undo()
    with open_registry(registry.url) as conn:
        return {
            "history": model_history(conn, "cc-model"),
            "show": show_model(conn, "cc-model"),
            "production": show_model(conn, "cc-model@production"),
        }


def test_first_model_becomes_production_then_a_better_one_replaces_it(three_runs: dict) -> None:
    stages = [(e["version"], e["from"], e["to"]) for e in three_runs["history"] if e["type"] == "stage"]
    assert stages == [("1.0.0", "development", "production"), ("1.0.1", "development", "production")]
    second = next(e for e in three_runs["history"] if e["type"] == "stage" and e["version"] == "1.0.1")
    assert second["demoted_version"] == "1.0.0" and second["demoted_to"] == "archived"
    assert "significantly better" in second["reason"]
    assert second["evidence"]["report_uri"].endswith("report_html")
    assert Path(second["evidence"]["report_uri"]).is_file()  # the local runner keeps artifacts on disk


def test_a_worse_challenger_is_rejected_with_its_report(three_runs: dict) -> None:
    rejections = [e for e in three_runs["history"] if e["type"] == "rejection"]
    assert [e["version"] for e in rejections] == ["1.0.2"]
    assert rejections[0]["reason"].startswith("keep cc-model:1.0.1")
    assert rejections[0]["evidence"]["run_name"].startswith("champion-challenger-")
    report = Path(rejections[0]["evidence"]["report_uri"])
    html = report.read_text()
    assert "1.0.2" in html and "1.0.1" in html and "roc_auc" in html


def test_production_and_champion_alias_point_at_the_best_version(three_runs: dict) -> None:
    production = three_runs["production"]
    assert production.reference == "cc-model:1.0.1" and production.resolved_by == "stage production"
    assert "champion" in production.aliases
    text = json.dumps(production.to_dict())
    assert '"1.0.1"' in text
    assert "champion" in text
    assert [e["seq"] for e in three_runs["history"]] == sorted(e["seq"] for e in three_runs["history"])


def test_record_model_event_plain_function_and_component(registry: EmbeddedRegistry, unique: str, tmp_path) -> None:
    from model_registry import ModelRegistry

    name = f"ev-{unique}"
    client = ModelRegistry(registry.address, registry.port, author="t", is_secure=False)
    client.register_model(name, "/tmp/m", model_format_name="sklearn", model_format_version="1", version="2.0.0")
    recorded = run_record_model_event(
        model_reference=f"{name}:2.0.0",
        event_type="rejection",
        reason="lost the comparison",
        evidence_uri="s3://reports/r.html",
        registry_url=registry.url,
        context=RunContext(run_id="r-1", run_name="nightly"),
    )
    assert (recorded.seq, recorded.version, recorded.registry_url) == (1, "2.0.0", registry.url)
    event = recorded.event
    assert event["seq"] == 1 and event["type"] == "rejection" and event["version"] == "2.0.0"
    assert event["actor"] == "kfp-run:nightly" and event["evidence"]["report_uri"] == "s3://reports/r.html"
    with pytest.raises(ValueError, match="promote/approve"):
        run_record_model_event(model_reference=f"{name}:2.0.0", event_type="stage", registry_url=registry.url)
    out = record_model_event.python_func(
        model_reference=name, version="2.0.0", event_type="note", reason="checked by hand", registry_url=registry.url
    )
    assert out.event_seq == 2 and out.version_name == "2.0.0"
    with open_registry(registry.url) as conn:
        assert [e["type"] for e in model_history(conn, name)] == ["rejection", "note"]


def test_record_model_event_with_context_needs_a_pipeline() -> None:
    from kfp_model_lifecycle.components.record_model_event import record_model_event_with_context

    with pytest.raises(RuntimeError, match=r"inside a @dsl.pipeline"):
        record_model_event_with_context("m:1")

    @dsl.pipeline(name="p")
    def pipeline() -> None:
        task = record_model_event_with_context("m", version="1", token_secret_name="mr-token")
        assert task.inputs["pipeline_name"] == "p"
