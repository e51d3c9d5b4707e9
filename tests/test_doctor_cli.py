"""``kml doctor`` on the command line: ticks and crosses, the fix under each cross, ASCII, --json, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kfp_model_lifecycle.cli.main import main
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture(autouse=True)
def quick(isolated_env: pytest.MonkeyPatch) -> None:
    isolated_env.setenv("KML_REGISTRY_MAX_ATTEMPTS", "1")
    isolated_env.setenv("KML_K8S_MAX_ATTEMPTS", "1")
    isolated_env.delenv("KUBECONFIG", raising=False)


def test_a_ready_installation_exits_0(
    registry: EmbeddedRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalCluster(tmp_path / "c") as cluster:
        cluster.create_secret("model-registry-token", {"token": "t0ken-value"})
        code = main(
            ["doctor", "--registry-url", registry.url, "--kubeconfig", str(cluster.kubeconfig_path),
             "--token-secret", "model-registry-token"]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✓ registry serves the REST API v1" in out and "✓ may delete inferenceservices" in out
    assert out.rstrip().endswith(": ready") and "✗" not in out and "t0ken-value" not in out


def test_a_cross_with_its_fix_and_exit_1(
    registry: EmbeddedRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalCluster(tmp_path / "c", kserve=False) as cluster:
        code = main(["doctor", "--registry-url", registry.url, "--kubeconfig", str(cluster.kubeconfig_path)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    cross = next(i for i, line in enumerate(lines) if line.startswith("✗ KServe InferenceService CRD installed"))
    assert lines[cross + 1].startswith("    fix: install KServe")


def test_json_and_a_token_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text("wrong-token-value\n")
    with EmbeddedRegistry(tmp_path / "r.db", token="the-token") as guarded:
        code = main(["doctor", "--registry-url", guarded.url, "--token-file", str(token), "--no-kubernetes", "--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    auth = next(c for c in data["checks"] if c["name"] == "registry accepts the credentials")
    assert auth["status"] == "failed" and "401" in auth["detail"]
    assert "wrong-token-value" not in out


def test_ascii_marks_when_stdout_is_not_utf8(registry: EmbeddedRegistry) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "KML_REGISTRY_MAX_ATTEMPTS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "kfp_model_lifecycle.cli", "doctor", "--registry-url", registry.url, "--no-kubernetes"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[ok] registry allows writes" in result.stdout and "✓" not in result.stdout


def test_nothing_listening_exits_1_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--registry-url", "http://127.0.0.1:9", "--no-kubernetes"])
    out = capsys.readouterr().out
    assert code == 1 and "✗ registry reachable" in out and "fix: check registry_url" in out
