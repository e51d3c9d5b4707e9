"""Bad input to every ``kml models`` command: one line on stderr naming the problem and the fix, exit code 1 (2 for
argparse), never a traceback, a wrong success or a partial write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.cli import main
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

NAME = "cli-bad-model"
LONG = "x" * 10_000
REF = f"{NAME}:1.0.1"

# (id, arguments after `kml models`, fragment of stderr)
CASES: list[tuple[str, list[str], str]] = [
    ("show 10k name", ["show", LONG], "is 10000 characters long"),
    ("show 10k alias", ["show", f"{NAME}@{LONG}"], "is 10000 characters long"),
    ("show colon", ["show", f"{NAME}:"], "ends with ':'"),
    ("show at", ["show", f"{NAME}@"], "ends with '@'"),
    ("show no model", ["show", ":1.0.0"], "names no model"),
    ("show bad alias", ["show", f"{NAME}@x y"], "alias 'x y' is not a valid alias name"),
    ("show unknown", ["show", "no-such-model"], "no registered model named 'no-such-model'"),
    ("show unknown version", ["show", f"{NAME}:9.9.9"], "has no version named '9.9.9'"),
    ("search stage typo", ["search", 'stage = "prod"'], "the stage helper compares with a quoted name"),
    ("search stage number", ["search", "stage = 5"], "stage = 5: the stage helper"),
    ("search stage case", ["search", 'stage IN ("Production")'], "the stage helper compares"),
    ("search approval typo", ["search", 'approval = "yes"'], "the approval helper compares"),
    ("search alias unquoted", ["search", "alias = champion"], 'the alias helper supports alias = "NAME"'),
    ("search truncated", ["search", "accuracy >"], "invalid filter query"),
    ("search parentheses", ["search", "((("], "invalid filter query"),
    ("search quotes", ["search", "name = 'abc"], "check quotes and operators"),
    ("search unknown model", ["search", "", "--model", "no-such-model"], "no registered model named"),
    ("search models", ["search", "--models", "nonsense"], "invalid filter query"),
    ("promote nothing", ["promote", REF], "nothing to do"),
    ("promote alias comma", ["promote", REF, "--alias", "a,b"], "alias 'a,b' is not a valid alias name"),
    ("promote alias reserved", ["promote", REF, "--alias", "latest"], "alias 'latest' is reserved"),
    ("promote set and remove", ["promote", REF, "--alias", "c", "--remove-alias", "c"], "both set and removed"),
    ("promote 10k", ["promote", LONG, "--stage", "staging"], "is 10000 characters long"),
    ("promote unknown", ["promote", f"{NAME}:3.3.3", "--stage", "staging"], "has no version named '3.3.3'"),
    ("approve rejected", ["approve", REF, "--status", "rejected"], "a rejection needs a comment"),
    ("approve unknown", ["approve", f"{NAME}@nope"], "has no alias 'nope'"),
    ("rollback version", ["rollback", REF], "rollback takes the model name"),
    ("rollback nothing", ["rollback", NAME], "nothing to roll back to"),
    ("history unknown", ["history", "no-such-model"], "no registered model named"),
    ("history 10k", ["history", LONG], "is too long"),
    ("repair unknown", ["repair", "no-such-model"], "no registered model named"),
    ("policy json", ["policy", NAME, "--transitions", "{bad"], "is not valid JSON"),
    ("policy list", ["policy", NAME, "--transitions", "[1]"], "must be a JSON object mapping a stage"),
    ("policy targets", ["policy", NAME, "--transitions", '{"development": 5}'], "must be a list of stages"),
    ("policy stage", ["policy", NAME, "--transitions", '{"development": ["nowhere"]}'], "'nowhere' is not a lifecycle"),
    ("register nan", ["register", NAME, "--uri", "s3://m", "--metric", "accuracy=nan"], "must be a finite number"),
    ("register inf", ["register", NAME, "--uri", "s3://m", "--metric", "accuracy=inf"], "must be a finite number"),
    ("register word", ["register", NAME, "--uri", "s3://m", "--metric", "accuracy=high"], "must be a number"),
    ("register no value", ["register", NAME, "--uri", "s3://m", "--metric", "accuracy"], "write KEY=VALUE"),
    ("register no key", ["register", NAME, "--uri", "s3://m", "--param", "=3"], "write KEY=VALUE"),
    ("register twice", ["register", NAME, "--uri", "s3://m", "--param", "a=1", "--param", "a=2"], "given twice"),
    ("register slash", ["register", NAME, "--uri", "s3://m", "--version", "a/b"], "contains '/'"),
    ("register taken", ["register", NAME, "--uri", "s3://m", "--version", "1.0.0"], "already exists"),
    ("register long name", ["register", "n" * 300, "--uri", "s3://m"], "is 300 characters long: at most 244"),
    ("register empty uri", ["register", NAME, "--uri", ""], "the model URI is empty"),
    ("register missing file", ["register", NAME, "--uri", "/no/such/model.joblib"], "not an existing local path"),
    ("register dataset", ["register", NAME, "--uri", "s3://m", "--dataset", "train"], "write ROLE=URI"),
    ("register format version", ["register", NAME, "--uri", "s3://m", "--format-version", "1"], "needs --format"),
    ("compare one", ["compare", REF], "needs two or more versions"),
    ("compare metric", ["compare", REF, f"{NAME}:1.0.0", "--metric", "acuracy"], "did you mean 'accuracy'?"),
    ("compare unknown", ["compare", REF, f"{NAME}:4.4.4"], "has no version named '4.4.4'"),
    ("deployments unknown", ["deployments", "no-such-model"], "no registered model named"),
]


def _snapshot(registry: EmbeddedRegistry) -> str:
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        parts = {
            path: sorted(http.get(path).raise_for_status().json()["items"], key=lambda item: int(item["id"]))
            for path in ("/registered_models", "/model_versions", "/artifacts", "/inference_services")
        }
    return json.dumps(parts, sort_keys=True)


@pytest.fixture(scope="module")
def seeded(registry: EmbeddedRegistry) -> Iterator[EmbeddedRegistry]:
    with Lifecycle(registry.url, env={}) as lc:
        for run in ("a", "b"):
            lc.register(NAME, f"s3://models/{run}", metrics={"accuracy": 0.9}, model_format="sklearn")
        lc.promote(f"{NAME}:1.0.0", "production")
    yield registry


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No registry or token variables from the environment; run where no git repository is."""
    isolated_env.chdir(tmp_path)


@pytest.mark.parametrize(("argv", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line_and_changes_nothing(
    seeded: EmbeddedRegistry, capsys: pytest.CaptureFixture, argv: list[str], fragment: str
) -> None:
    before = _snapshot(seeded)
    capsys.readouterr()
    code = main(["models", *argv, "--registry-url", seeded.url])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], err
    assert "Traceback" not in err and len(errors[0]) < 1_000 and LONG not in err
    assert _snapshot(seeded) == before, "the registry changed"
