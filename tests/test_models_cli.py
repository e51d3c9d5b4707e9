"""`kml models ...` and the Python API behind it, against an embedded Model Registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kfp_model_lifecycle.cli import main
from kfp_model_lifecycle.cli.models import open_registry
from kfp_model_lifecycle.cli.output import render_table
from kfp_model_lifecycle.lifecycle.actions import promote, repair, set_policy
from kfp_model_lifecycle.lifecycle.catalog import VersionRow
from kfp_model_lifecycle.lifecycle.queries import (
    ModelOverview,
    ModelSummary,
    VersionDetails,
    list_models,
    model_history,
    model_policy,
    search_models,
    show_model,
)
from kfp_model_lifecycle.lifecycle.results import PromotionResult
from kfp_model_lifecycle.lifecycle.search import translate_search_query
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


def _create(registry: EmbeddedRegistry, name: str, accuracies: list[float]) -> None:
    base = registry.api_url
    with httpx.Client(timeout=30) as http:
        model_id = http.post(f"{base}/registered_models", json={"name": name, "owner": "team-a"}).json()["id"]
        for i, acc in enumerate(accuracies):
            props = {
                "accuracy": {"double_value": acc, "metadataType": "MetadataDoubleValue"},
                "hp_max_depth": {"int_value": "5", "metadataType": "MetadataIntValue"},
                "kfp_run_id": {"string_value": f"run-{i}", "metadataType": "MetadataStringValue"},
                "nightly": {"string_value": "", "metadataType": "MetadataStringValue"},
            }
            body = {"name": f"1.0.{i}", "registeredModelId": model_id, "author": "alice", "customProperties": props}
            version = http.post(f"{base}/model_versions", json=body).raise_for_status().json()
            artifact = {
                "artifactType": "model-artifact",
                "name": name,
                "uri": f"s3://b/{name}/{i}",
                "modelFormatName": "sklearn",
                "modelFormatVersion": "1",
                "modelSourceKind": "kfp",
            }
            http.post(f"{base}/model_versions/{version['id']}/artifacts", json=artifact).raise_for_status()


def kml(capsys: pytest.CaptureFixture, registry: EmbeddedRegistry, *args: str) -> tuple[int, str, str]:
    code = main(["models", *args, "--registry-url", registry.url])
    out, err = capsys.readouterr()
    return code, out, err


def kml_json(capsys: pytest.CaptureFixture, registry: EmbeddedRegistry, *args: str) -> Any:
    code, out, err = kml(capsys, registry, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('accuracy > 0.9 AND stage = "production"', 'accuracy > 0.9 AND kml_stage = "production"'),
        ("stage IN ('staging', 'production')", "kml_stage IN ('staging', 'production')"),
        ('alias = "champion"', '`kml:@champion` = ""'),
        (
            'alias IN ("a", "b") OR approval = "approved"',
            '(`kml:@a` = "" OR `kml:@b` = "") OR kml_approval_status = "approved"',
        ),
        ('name = "stage" AND `my.prop`.double_value >= 1', 'name = "stage" AND `my.prop`.double_value >= 1'),
        ("(stage != 'archived')", "(kml_stage != 'archived')"),
    ],
)
def test_search_helpers_translate_to_filter_query(query: str, expected: str) -> None:
    assert translate_search_query(query) == expected


def test_search_helper_errors_say_what_works() -> None:
    with pytest.raises(ValueError, match='alias = "NAME"'):
        translate_search_query('alias != "x"')
    with pytest.raises(ValueError, match="reserved"):
        translate_search_query('alias = "production"')
    with pytest.raises(ValueError, match="check quotes"):
        translate_search_query('accuracy > "0.9')


def test_render_table() -> None:
    text = render_table([{"a": "x", "b": ["p", "q"], "c": {"m": 0.912345}}], [("a", "A"), ("b", "B"), ("c", "C")])
    assert text.splitlines() == ["A  B     C", "-  ----  --------", "x  p, q  m=0.9123"]
    assert render_table([], [("a", "A")]) == "(none)"


def test_list_search_show_history_and_actions(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str
) -> None:
    name = f"cli-{unique}"
    _create(registry, name, [0.88, 0.93, 0.95])

    code, out, err = kml(
        capsys,
        registry,
        "promote",
        f"{name}:1.0.1",
        "--stage",
        "production",
        "--alias",
        "champion",
        "--reason",
        "best so far",
        "--evidence-uri",
        "s3://reports/r1.html",
        "--actor",
        "alice",
    )
    assert code == 0, err
    assert f"changed {name}:1.0.1:" in out and "development -> production by alice: best so far" in out
    code, out, _ = kml(capsys, registry, "promote", f"{name}:1.0.2", "--stage", "production", "--dry-run")
    assert code == 0 and "(dry run) would change" in out and f"previous holder: {name}:1.0.1" in out
    assert kml_json(capsys, registry, "show", name)["production"] == "1.0.1"  # the dry run changed nothing

    rows = {r["name"]: r for r in kml_json(capsys, registry, "list")}
    assert rows[name]["production"] == "1.0.1" and rows[name]["aliases"] == {"champion": "1.0.1"}
    assert rows[name]["versions"] == 3 and rows[name]["latest"] == "1.0.2" and rows[name]["owner"] == "team-a"
    code, out, _ = kml(capsys, registry, "list")
    assert code == 0 and "MODEL" in out.splitlines()[0] and name in out

    found = kml_json(capsys, registry, "search", 'accuracy > 0.9 AND stage = "production"')
    assert [r["reference"] for r in found if r["model"] == name] == [f"{name}:1.0.1"]
    found = kml_json(capsys, registry, "search", "accuracy > 0.9", "--model", name)
    assert [r["version"] for r in found] == ["1.0.1", "1.0.2"]
    assert found[0]["aliases"] == ["champion"] and found[0]["metrics"] == {"accuracy": 0.93}
    found = kml_json(capsys, registry, "search", 'alias = "champion"', "--model", name)
    assert [r["version"] for r in found] == ["1.0.1"]
    assert name in [r["name"] for r in kml_json(capsys, registry, "search", f'name = "{name}"', "--models")]

    version = kml_json(capsys, registry, "show", f"{name}@champion")
    assert version["reference"] == f"{name}:1.0.1" and version["resolved_by"] == "alias champion"
    assert version["stage"] == "production" and version["aliases"] == ["champion"]
    assert version["metrics"] == {"accuracy": 0.93} and version["hyperparameters"] == {"max_depth": 5}
    assert version["lineage"] == {"kfp_run_id": "run-1"} and version["labels"] == ["nightly"]
    assert version["artifact"]["uri"] == f"s3://b/{name}/1" and version["artifact"]["modelSourceKind"] == "kfp"
    assert version["version"]["created"] and version["history"][0]["evidence"] == {"report_uri": "s3://reports/r1.html"}
    code, out, _ = kml(capsys, registry, "show", f"{name}:1.0.1")
    assert code == 0 and "stage: production" in out and "Metrics:" in out and "accuracy  0.93" in out
    code, out, _ = kml(capsys, registry, "show", name)
    assert code == 0 and "production: 1.0.1" in out and "@champion -> 1.0.1" in out and "Versions:" in out

    assert kml(capsys, registry, "policy", name, "--require-approval", "--reason", "regulated")[0] == 0
    code, _, err = kml(capsys, registry, "promote", f"{name}:1.0.2", "--stage", "production")
    assert code == 1 and "requires approval before production" in err and f"kml models approve {name}:1.0.2" in err
    code, _, err = kml(capsys, registry, "approve", f"{name}:1.0.2", "--status", "rejected")
    assert code == 1 and "needs a comment" in err
    code, out, _ = kml(capsys, registry, "approve", f"{name}:1.0.2", "--comment", "reviewed", "--approver", "bob")
    assert code == 0 and "none -> approved by bob: reviewed" in out
    result = kml_json(capsys, registry, "promote", f"{name}:1.0.2", "--stage", "production", "--reason", "better")
    assert result["previous_holder"] == f"{name}:1.0.1" and result["stage"] == "production"
    result = kml_json(capsys, registry, "rollback", name, "--reason", "latency")
    assert result["reference"] == f"{name}:1.0.1" and result["previous_holder"] == f"{name}:1.0.2"

    history = kml_json(capsys, registry, "history", name)
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert [e["type"] for e in history] == [
        "stage",
        "alias",
        "policy",
        "rejection",
        "approval",
        "stage",
        "stage",
    ]
    assert history[-1]["rollback"] and history[-1]["reason"] == "latency"
    only = kml_json(capsys, registry, "history", name, "--type", "approval")
    assert [(e["from"], e["to"], e["actor"]) for e in only] == [("none", "approved", "bob")]
    code, out, _ = kml(capsys, registry, "history", name)
    blocks = out.strip().split("\n\n")
    assert code == 0 and [b.split()[0] for b in blocks] == [f"#{e['seq']}" for e in history]

    repaired = kml_json(capsys, registry, "repair", name)
    assert repaired["patched_versions"] == [] and repaired["events"] == len(history)
    policy = kml_json(capsys, registry, "policy", name)["policy"]
    assert policy["requires_approval"] and policy["demote_to"] == "archived"


def test_python_api_returns_dataclasses_whose_dicts_are_the_cli_json(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str
) -> None:
    name = f"py-{unique}"
    _create(registry, name, [0.9, 0.95])
    with open_registry(registry.url) as conn:
        promoted = promote(conn, f"{name}:1.0.1", stage="production", aliases=["champion"], actor="alice")
        change = set_policy(conn, name, require_approval=True, actor="lead")
        summary = next(r for r in list_models(conn) if r.name == name)
        found = search_models(conn, 'alias = "champion"', model=name)
        overview = show_model(conn, name)
        details = show_model(conn, f"{name}@champion")
        history = model_history(conn, name)
        policy = model_policy(conn, name)
        repaired = repair(conn, name)
    assert isinstance(promoted, PromotionResult) and promoted.new_holder == f"{name}:1.0.1"
    assert change.changed and change.policy.requires_approval and not change.previous.requires_approval
    assert policy == change.policy
    assert isinstance(summary, ModelSummary) and summary.production == "1.0.1" and summary.requires_approval
    assert [type(r) for r in found] == [VersionRow] and found[0].reference == f"{name}:1.0.1"
    assert isinstance(overview, ModelOverview) and [v.version for v in overview.versions] == ["1.0.0", "1.0.1"]
    assert isinstance(details, VersionDetails) and details.approval is None and details.aliases == ["champion"]
    assert [e["type"] for e in history] == ["stage", "alias", "policy"]
    assert repaired.events == 3 and repaired.patched_versions == []
    assert overview.to_dict() == kml_json(capsys, registry, "show", name)
    assert details.to_dict() == kml_json(capsys, registry, "show", f"{name}@champion")
    assert summary.to_dict() in kml_json(capsys, registry, "list")


def test_errors_name_the_problem(registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str) -> None:
    name = f"err-{unique}"
    _create(registry, name, [0.9])
    code, _, err = kml(capsys, registry, "show", name + "x")
    assert code == 1 and f"did you mean '{name}'" in err
    code, _, err = kml(capsys, registry, "show", f"{name}@champion")
    assert code == 1 and "has no alias 'champion': it has no aliases yet" in err
    code, _, err = kml(capsys, registry, "rollback", name)
    assert code == 1 and "nothing to roll back to" in err
    code, _, err = kml(capsys, registry, "policy", name, "--transitions", "{bad")
    assert code == 1 and "not valid JSON" in err
    assert main(["models", "list"]) == 1  # no registry given
    assert "pass --registry-url URL" in capsys.readouterr().err


def test_embedded_database_and_token_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "registry.db"
    with EmbeddedRegistry(db):  # an empty registry file
        pass
    assert main(["models", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "(none)"
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    with EmbeddedRegistry(tmp_path / "secured.db", token="s3cret") as secured:
        assert main(["models", "list", "--registry-url", secured.url, "--token-file", str(token_file)]) == 0
        capsys.readouterr()
        assert main(["models", "list", "--registry-url", secured.url]) == 1
        err = capsys.readouterr().err
        assert "401" in err and "s3cret" not in err


def test_show_prints_hyperparameters_exactly(registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str):
    name = f"hp-{unique}"
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        model_id = http.post("/registered_models", json={"name": name}).raise_for_status().json()["id"]
        props = {
            f"hp_{key}": {"double_value": value, "metadataType": "MetadataDoubleValue"}
            for key, value in {"max_depth": 8.0, "n_estimators": 12345.0, "lr": 0.1234567}.items()
        }
        body = {"name": "1.0.0", "registeredModelId": model_id, "customProperties": props}
        version = http.post("/model_versions", json=body).raise_for_status().json()
        artifact = {"artifactType": "model-artifact", "name": name, "uri": "s3://m"}
        http.post(f"/model_versions/{version['id']}/artifacts", json=artifact).raise_for_status()
    code, out, _ = kml(capsys, registry, "show", f"{name}:1.0.0")
    lines = {
        line.split()[0]: line.split()[1] for line in out.split("Hyperparameters:")[1].split("\n\n")[0].splitlines()[1:]
    }
    assert code == 0 and lines == {"lr": "0.1234567", "max_depth": "8", "n_estimators": "12345"}
