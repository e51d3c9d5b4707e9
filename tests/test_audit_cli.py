"""``kml models audit`` on the command line: findings with their fix, --json, --html/--markdown, exit from --fail-on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from kfp_model_lifecycle.cli.main import main
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry file with one version missing its lineage (warnings) and one without its model artifact (error)."""
    db = tmp_path_factory.mktemp("audit") / "registry.db"
    with EmbeddedRegistry(db) as registry:
        api = f"{registry.url}/api/model_registry/v1"
        for model, artifact in (("warned", True), ("broken", False)):
            model_id = httpx.post(f"{api}/registered_models", json={"name": model}).json()["id"]
            version = httpx.post(
                f"{api}/registered_models/{model_id}/versions",
                json={"name": "1", "registeredModelId": model_id},
            ).json()
            if artifact:
                body = {"artifactType": "model-artifact", "name": "m", "uri": "s3://m"}
                httpx.post(f"{api}/model_versions/{version['id']}/artifacts", json=body)
    return str(db)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["warned"], 0),  # warnings only; --fail-on error by default
        (["warned", "--fail-on", "warning"], 1),
        (["warned", "--fail-on", "never"], 0),
        ([], 1),  # every model: "broken" has an error
        (["--fail-on", "never"], 0),
    ],
)
def test_exit_code_follows_fail_on(audited: str, argv: list[str], code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kfp_model_lifecycle.audit.rules.INCOMPLETE_GRACE_SECONDS", 0)
    assert main(["models", "audit", *argv, "--db", audited]) == code


def test_text_json_and_files(
    audited: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kfp_model_lifecycle.audit.rules.INCOMPLETE_GRACE_SECONDS", 0)
    files = ["--html", str(tmp_path / "a.html"), "--markdown", str(tmp_path / "a.md")]
    assert main(["models", "audit", "--db", audited, *files]) == 1
    out = capsys.readouterr().out
    assert "ERROR   no-model-artifact" in out and "fix: re-run" in out
    assert out.rstrip().endswith("2 model(s), 2 version(s): 1 error(s), 6 warning(s)")
    assert (
        "<table>" in (tmp_path / "a.html").read_text()
        and "| ERROR | no-model-artifact |" in (tmp_path / "a.md").read_text()
    )
    assert main(["models", "audit", "warned", "--db", audited, "--json", "--fail-on", "warning"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] is True and data["fail_on"] == "warning" and data["counts"]["warnings"] == 3
    assert {f["code"] for f in data["findings"]} == {"no-run", "no-dataset-digest", "no-code-version"}


def test_an_unknown_model_is_an_error(audited: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "audit", "absent", "--db", audited]) == 1
    assert "no registered model named 'absent'" in capsys.readouterr().err


def test_a_kubeconfig_that_cannot_be_used_is_an_error(
    audited: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "audit", "--db", audited, "--kubeconfig", str(tmp_path / "none")]) == 1
    assert "--kubeconfig" in capsys.readouterr().err
