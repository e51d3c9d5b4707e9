"""``kml models register/compare``, ``kml --version``, full history, and commands that fail fast and safely."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle.cli import main
from kfp_model_lifecycle.cli.parser_base import redact, secret_values
from kfp_model_lifecycle.cli.parsers import build_parser
from kfp_model_lifecycle.lifecycle.search import has_stage_helper, unmoved_versions_query
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


def kml(capsys: pytest.CaptureFixture, registry: EmbeddedRegistry, *args: str) -> tuple[int, str, str]:
    code = main(["models", *args, "--registry-url", registry.url])
    out, err = capsys.readouterr()
    return code, out, err


def kml_json(capsys: pytest.CaptureFixture, registry: EmbeddedRegistry, *args: str) -> Any:
    code, out, err = kml(capsys, registry, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_version_prints_the_package_version_without_the_client() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kfp_model_lifecycle.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"kml {__version__}"
    assert "mr_openapi" not in result.stderr and "| kfp\n" not in result.stderr


def test_register_from_the_command_line(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, tmp_path: Path, unique: str
) -> None:
    name = f"cli-reg-{unique}"
    (tmp_path / "model.joblib").write_bytes(b"m")
    (tmp_path / "train.csv").write_text("a,b\n")
    args = ["register", name, "--uri", str(tmp_path / "model.joblib"), "--format", "sklearn", "--format-version", "1"]
    args += ["--metric", "accuracy=0.93", "--param", "max_depth=5", "--param", "criterion=gini"]
    args += ["--dataset", f"train={tmp_path / 'train.csv'}", "--label", "nightly", "--description", "by hand"]
    result = kml_json(capsys, registry, *args)
    assert result["reference"] == f"{name}:1.0.0" and result["properties"]["model_meta_source"] == "manual"
    assert result["properties"]["hp_max_depth"] == 5 and result["properties"]["accuracy"] == 0.93
    assert len(result["properties"]["dataset_0_sha256"]) == 64
    code, out, _ = kml(
        capsys, registry, "register", name, "--uri", "s3://b/m", "--version", "minor", "--param", "depth=8"
    )
    assert code == 0 and f"registered {name}:1.1.0" in out
    assert "hp_depth = 8\n" in out  # a whole number prints as one, not 8.0
    shown = kml_json(capsys, registry, "show", f"{name}:1.0.0")
    assert shown["hyperparameters"] == {"criterion": "gini", "max_depth": 5} and shown["labels"] == ["nightly"]
    assert shown["artifact"]["modelFormatVersion"] == "1" and shown["version"]["description"] == "by hand"

    code, _, err = kml(capsys, registry, "register", name, "--uri", "s3://b/m", "--metric", "accuracy=high")
    assert code == 1 and "--metric 'accuracy=high': the value must be a number" in err
    code, _, err = kml(capsys, registry, "register", name, "--uri", "s3://b/m", "--format-version", "1")
    assert code == 1 and "--format-version needs --format" in err
    code, _, err = kml(capsys, registry, "register", name, "--uri", "s3://b/m", "--dataset", "train")
    assert code == 1 and "ROLE=URI" in err


def test_compare_marks_the_best_values_and_writes_html(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, tmp_path: Path, unique: str
) -> None:
    name = f"cli-cmp-{unique}"
    for accuracy, loss in ((0.9, 0.2), (0.95, 0.3)):
        args = ["register", name, "--uri", "s3://b/m", "--metric", f"accuracy={accuracy}", "--metric", f"loss={loss}"]
        assert kml(capsys, registry, *args)[0] == 0
    refs = [f"{name}:1.0.0", f"{name}:1.0.1"]
    html = tmp_path / "board.html"
    code, out, err = kml(capsys, registry, "compare", *refs, "--html", str(html))
    assert code == 0, err
    lines = out.splitlines()
    best, second = next(x for x in lines if x.startswith("1 ")), next(x for x in lines if x.startswith("2 "))
    assert f"{name}:1.0.1" in best and "0.95*" in best and "0.3 " in best + " "
    assert f"{name}:1.0.0" in second and "0.2*" in second and "0.9 " in second
    assert "<svg" in html.read_text() and str(html) in out
    board = kml_json(capsys, registry, "compare", *refs, "--metric", "loss", "--metric", "accuracy")
    assert board["best"] == f"{name}:1.0.0" and [m["name"] for m in board["metrics"]] == ["loss", "accuracy"]
    board = kml_json(capsys, registry, "compare", *refs, "--metric", "loss:max")
    assert board["best"] == f"{name}:1.0.1"
    code, _, err = kml(capsys, registry, "compare", refs[0])
    assert code == 1 and "two or more versions" in err
    code, _, err = kml(capsys, registry, "compare", *refs, "--metric", "acuracy")
    assert code == 1 and "did you mean 'accuracy'" in err


def test_history_shows_the_whole_reason_and_the_evidence(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str
) -> None:
    name = f"cli-hist-{unique}"
    assert kml(capsys, registry, "register", name, "--uri", "s3://b/m")[0] == 0
    reason = "the challenger beats the champion on every gate; " * 4
    report = f"s3://reports/{name}/2026/comparison-report-with-a-long-name.html"
    args = ["promote", f"{name}:1.0.0", "--stage", "production", "--reason", reason, "--evidence-uri", report]
    assert kml(capsys, registry, *args)[0] == 0
    code, out, _ = kml(capsys, registry, "history", name)
    assert code == 0 and reason.strip() in out and f"report_uri={report}" in out and "..." not in out
    block = out.split("\n\n")[-1].splitlines()  # one block per event: heading, then by / why / evidence in full
    assert block[0].startswith("#") and "stage" in block[0] and "-> production" in block[0]
    assert [line.split(":")[0].strip() for line in block[1:]] == ["by", "why", "evidence"]


def test_search_finds_versions_that_never_moved(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture, unique: str
) -> None:
    name = f"cli-dev-{unique}"
    for accuracy in (0.8, 0.9, 0.95):
        assert kml(capsys, registry, "register", name, "--uri", "s3://b/m", "--metric", f"accuracy={accuracy}")[0] == 0
    assert kml(capsys, registry, "promote", f"{name}:1.0.2", "--stage", "production")[0] == 0
    assert kml(capsys, registry, "promote", f"{name}:1.0.1", "--stage", "staging")[0] == 0
    assert kml(capsys, registry, "promote", f"{name}:1.0.1", "--stage", "development")[0] == 0  # moved back

    def found(query: str) -> list[str]:
        return [r["version"] for r in kml_json(capsys, registry, "search", query, "--model", name)]

    assert found('stage = "development"') == ["1.0.0", "1.0.1"]
    assert found('stage = "development" AND accuracy > 0.85') == ["1.0.1"]
    assert found('stage IN ("development", "production") AND accuracy >= 0.9') == ["1.0.1", "1.0.2"]
    assert found('stage != "production"') == ["1.0.0", "1.0.1"]
    assert found('stage = "production" OR accuracy < 0.85') == ["1.0.0", "1.0.2"]
    assert found('stage = "staging"') == []
    rows = kml_json(capsys, registry, "search", 'stage = "development"')
    assert {r["reference"] for r in rows} >= {f"{name}:1.0.0", f"{name}:1.0.1"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('stage = "development"', True),
        ('stage = "production"', False),
        ('accuracy > 0.9 AND stage = "development"', "accuracy > 0.9"),
        ('stage = "staging" OR accuracy > 0.5', "accuracy > 0.5"),
        ('(stage != "production" AND a > 1) OR alias = "x"', '((a > 1) OR `kml:@x` = "")'),
        ('stage LIKE "dev%" AND (x = 1 OR y = 2)', "(x = 1 OR y = 2)"),
        ("stage IN ('staging', 'archived') AND a = 1", False),
    ],
)
def test_unmoved_versions_query(query: str, expected: str | bool) -> None:
    assert has_stage_helper(query)
    assert unmoved_versions_query(query) == expected


def test_unmoved_versions_query_errors_name_the_place() -> None:
    assert not has_stage_helper('name = "stage"')
    with pytest.raises(ValueError, match="expected"):
        unmoved_versions_query('stage = "development" AND (a > 1')


def test_every_models_command_takes_json() -> None:
    models = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "models")[1]
    commands = models._subparsers._group_actions[0].choices
    assert {"register", "compare", "list", "search", "show", "history", "promote", "deployments"} <= set(commands)
    for name, parser in commands.items():
        assert any("--json" in action.option_strings for action in parser._actions), name


def test_database_files_are_checked_before_use(
    tmp_path: Path, capsys: pytest.CaptureFixture, registry: EmbeddedRegistry
) -> None:
    typo = tmp_path / "dmeo" / "registry.db"
    assert main(["models", "list", "--db", str(typo)]) == 1
    assert "no such file (nothing was created)" in capsys.readouterr().err and not typo.parent.exists()
    assert main(["models", "promote", "m:1.0.0", "--stage", "staging", "--db", str(typo)]) == 1
    assert not typo.parent.exists()
    assert main(["models", "list", "--db", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["models", "list", "--db", str(text)]) == 1
    assert "is not a SQLite database" in capsys.readouterr().err
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    assert main(["models", "list", "--db", str(other)]) == 1
    assert "no Model Registry tables" in capsys.readouterr().err
    new = tmp_path / "new" / "registry.db"
    assert main(["models", "register", "m", "--uri", "s3://b/m", "--db", str(new)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--db", str(new), "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == ["m"]


def test_a_registry_that_is_not_running_fails_at_once_with_how_to_start_one(capsys: pytest.CaptureFixture) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["models", "list", "--registry-url", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert "connection refused" in err and f"kml registry serve --db registry.db --port {port}" in err
    assert "transient failure" not in err and "retrying" not in err  # no retries for a registry that is not there


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "list", "--token", "s3cret-value"],
        ["models", "list", "--token=s3cret-value"],
        ["models", "show", "iris", "--api-key", "s3cret-value"],
        ["registry", "serve", "--token", "s3cret-value", "--bogus"],
    ],
)
def test_errors_never_echo_a_secret(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "s3cret-value" not in err
    assert ("***" in err) == (argv[0] == "models")  # `kml registry serve --token` is valid: nothing to hide


def test_token_is_not_an_abbreviation_of_token_file(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["models", "list", "--token", "s3cret-value", "--registry-url", "http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --token ***" in err and "KML_REGISTRY_TOKEN" in err and "cannot be read" not in err


def test_redaction_helpers() -> None:
    argv = ["--token-file", "path", "--token", "abc", "--password=pw", "--secret"]
    assert secret_values(argv) == ["abc", "pw"]
    assert redact("unrecognized arguments: --token abc --x abcd 'abc'", ["abc"]) == (
        "unrecognized arguments: --token *** --x abcd '***'"
    )
