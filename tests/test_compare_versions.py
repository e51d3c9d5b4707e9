"""compare_versions against the embedded Model Registry: which versions, mixed models, errors, and the component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from kfp.dsl import HTML, Markdown, Metrics

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.comparison import Leaderboard, compare_versions, run_compare_versions, selection
from kfp_model_lifecycle.comparison.report.leaderboard_text import row_cells
from kfp_model_lifecycle.components.compare_versions import compare_versions as compare_versions_component
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """Every test here starts without registry/token/namespace variables (see conftest.isolated_env)."""


def _double(value: float) -> dict[str, Any]:
    return {"double_value": value, "metadataType": "MetadataDoubleValue"}


def _model(registry: EmbeddedRegistry, name: str, versions: list[tuple[str, dict[str, float]]]) -> dict[str, str]:
    """A registered model with complete versions (name, metrics; each with its model artifact); version name -> id."""
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model = http.post("/registered_models", json={"name": name}).json()
        ids = {}
        for version, metrics in versions:
            props = {key: _double(value) for key, value in metrics.items()}
            props["hp_max_depth"] = _double(float(len(ids) + 2))
            response = http.post(
                "/model_versions",
                json={"name": version, "registeredModelId": model["id"], "customProperties": props},
            )
            response.raise_for_status()
            ids[version] = response.json()["id"]
            artifact = {"artifactType": "model-artifact", "name": name, "uri": f"s3://b/{name}/{version}"}
            http.post(f"/model_versions/{ids[version]}/artifacts", json=artifact).raise_for_status()
    return ids


def _archive(registry: EmbeddedRegistry, version_id: str) -> None:
    httpx.patch(f"{registry.api_url}/model_versions/{version_id}", json={"state": "ARCHIVED"}).raise_for_status()


@pytest.fixture(scope="module")
def models(registry: EmbeddedRegistry) -> dict[str, dict[str, str]]:
    """Two models: iris with four versions (one archived), wine with two."""
    iris = _model(
        registry,
        "lb-iris",
        [
            ("1.0.0", {"accuracy": 0.90, "log_loss": 0.35}),
            ("1.0.1", {"accuracy": 0.95, "log_loss": 0.22}),
            ("1.0.2", {"accuracy": 0.93, "log_loss": 0.20}),
            ("1.0.3", {"accuracy": 0.99, "log_loss": 0.05}),
        ],
    )
    _archive(registry, iris["1.0.3"])
    wine = _model(registry, "lb-wine", [("1", {"accuracy": 0.97, "log_loss": 0.3}), ("2", {"accuracy": 0.8})])
    return {"iris": iris, "wine": wine}


def _compare(registry: EmbeddedRegistry, **kwargs: Any) -> Leaderboard:
    with connect_model_registry(registry.url) as conn:
        return compare_versions(conn, **kwargs)


def test_references_of_several_models(registry: EmbeddedRegistry, models: dict) -> None:
    board = _compare(registry, references=["lb-iris:1.0.0", "lb-wine:1", "lb-iris@latest"], metrics=["accuracy"])
    assert board.ranked == ["lb-iris:1.0.3", "lb-wine:1", "lb-iris:1.0.0"]  # @latest is 1.0.3, archived or not
    assert board.model_names == ["lb-iris", "lb-wine"] and board.selection.startswith("the versions named: lb-iris")
    assert board.best.version.version_id == models["iris"]["1.0.3"] and board.best.version.state == "ARCHIVED"
    assert board.best.version.lineage["hyperparameters"] == "max_depth=5"
    short = _compare(registry, references=[":1.0.1", ":1.0.2"], model_name="lb-iris", metrics=["-log_loss"])
    assert short.ranked == ["lb-iris:1.0.2", "lb-iris:1.0.1"]


def test_version_ids_and_a_repeated_version(registry: EmbeddedRegistry, models: dict) -> None:
    ids = [models["iris"]["1.0.1"], float(models["iris"]["1.0.2"]), models["iris"]["1.0.1"]]
    board = _compare(registry, version_ids=ids, metrics={"log_loss": "min", "accuracy": "max"})
    assert board.ranked == ["lb-iris:1.0.2", "lb-iris:1.0.1"]
    repeated = models["iris"]["1.0.1"]
    assert board.notes == (f"version id {repeated} is named twice: compared once",)
    again = _compare(registry, references=["lb-iris:1.0.1"], version_ids=[repeated], metrics=["accuracy"])
    assert again.notes == (f"version id {repeated} is named twice: compared once",)
    alias = _compare(registry, references=["lb-iris:1.0.3", "lb-iris@latest"], metrics=["accuracy"])
    assert alias.notes == (f"lb-iris@latest is version id {models['iris']['1.0.3']}, named before: compared once",)


def test_filter_query_latest_and_every_model(registry: EmbeddedRegistry, models: dict) -> None:
    live = _compare(registry, model_name="lb-iris", latest=10, metrics=["accuracy"])
    assert live.ranked == ["lb-iris:1.0.1", "lb-iris:1.0.2", "lb-iris:1.0.0"]  # LIVE only by default
    newest = _compare(registry, model_name="lb-iris", latest=2, metrics=["accuracy"])
    assert sorted(newest.ranked) == ["lb-iris:1.0.1", "lb-iris:1.0.2"]
    matching = _compare(registry, model_name="lb-iris", filter_query="accuracy > 0.92", metrics=["accuracy"])
    assert matching.ranked == ["lb-iris:1.0.3", "lb-iris:1.0.1", "lb-iris:1.0.2"]  # archived too: the filter says so
    everywhere = _compare(registry, filter_query='name = "1"', metrics=["accuracy"])
    assert "lb-wine:1" in everywhere.ranked and everywhere.selection.endswith('of every model matching name = "1"')


def test_a_version_without_the_metric_ranks_last_with_a_note(registry: EmbeddedRegistry, models: dict) -> None:
    board = _compare(registry, model_name="lb-wine", metrics=["log_loss", "accuracy"])
    assert board.ranked == ["lb-wine:1", "lb-wine:2"]
    assert board.notes == ("no log_loss on lb-wine:2: ranked below the versions that have it",)


def test_errors_name_the_problem(registry: EmbeddedRegistry, models: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LookupError, match="no model version matched the versions of 'lb-iris' matching accuracy > 1"):
        _compare(registry, model_name="lb-iris", filter_query="accuracy > 1", metrics=["accuracy"])
    with pytest.raises(LookupError, match="no registered model named 'lb-irs'"):
        _compare(registry, model_name="lb-irs", latest=3, metrics=["accuracy"])
    with pytest.raises(LookupError, match="no version named '9'"):
        _compare(registry, references=["lb-iris:9"], metrics=["accuracy"])
    with pytest.raises(LookupError, match="no model version with id '99999'"):
        _compare(registry, version_ids=["99999"], metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"unknown metric 'f1'.*available metrics: accuracy, log_loss"):
        _compare(registry, model_name="lb-iris", metrics=["f1"])
    monkeypatch.setattr(selection, "MAX_VERSIONS", 2)
    with pytest.raises(ValueError, match="matches more than 2 versions: narrow the filter_query"):
        _compare(registry, model_name="lb-iris", metrics=["accuracy"])


def test_inputs_are_checked_before_connecting() -> None:
    with pytest.raises(ValueError, match="not both"):
        run_compare_versions(metrics=["accuracy"], references=["m:1"], latest=3, registry_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="named twice"):
        run_compare_versions(metrics=["a", "a"], model_name="m", registry_url="http://127.0.0.1:9")


def _output(cls: type, tmp_path: Path, name: str) -> Any:
    return cls(name=name, uri=str(tmp_path / name))


def test_the_component_function(registry: EmbeddedRegistry, models: dict, tmp_path: Path) -> None:
    outputs = {
        "leaderboard": _output(Metrics, tmp_path, "leaderboard"),
        "report_markdown": _output(Markdown, tmp_path, "report_markdown"),
        "report_html": _output(HTML, tmp_path, "report_html"),
    }
    out = compare_versions_component.python_func(
        metrics=["accuracy", "-log_loss"], model_name="lb-iris", latest=3, registry_url=registry.url, **outputs
    )
    assert out.best == "lb-iris:1.0.1" and out.best_version_id == models["iris"]["1.0.1"]
    assert out.ranked == ["lb-iris:1.0.1", "lb-iris:1.0.2", "lb-iris:1.0.0"]
    assert out.reason.startswith("lb-iris:1.0.1 ranks first of 3 version(s) on accuracy 0.95")
    assert out.report_uri == str(tmp_path / "report_html")
    markdown = (tmp_path / "report_markdown").read_text()
    assert "**Best: lb-iris:1.0.1**" in markdown and "| 1 | lb-iris:1.0.1 |" in markdown
    assert "<svg" in (tmp_path / "report_html").read_text()
    scalars = outputs["leaderboard"].metadata
    assert scalars["versions_compared"] == 3 and scalars["best_accuracy"] == 0.95 and scalars["best_log_loss"] == 0.2
    meta = outputs["report_markdown"].metadata
    assert meta["best"] == "lb-iris:1.0.1" and meta["html_report_uri"] == str(tmp_path / "report_html")
    json.dumps(meta)
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_versions_component.python_func(metrics=["accuracy"], registry_url=registry.url, **outputs)


def test_versions_that_never_moved_are_in_development(registry: EmbeddedRegistry, models: dict) -> None:
    board = _compare(registry, references=["lb-wine:1", "lb-wine:2"], metrics=["accuracy"])
    assert [row.version.stage for row in board.rows] == ["development", "development"]  # not ""
    assert all(row.to_dict()["stage"] == "development" for row in board.rows)
    assert all(row_cells(board, row)[2].text == "development" for row in board.rows)
