"""``from kfp_model_lifecycle import Lifecycle``: the Python API, against an embedded Model Registry."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard
from kfp_model_lifecycle.deployment.history import DeploymentHistory
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError, RegistryAuthError
from kfp_model_lifecycle.lifecycle.catalog import HistoryEvent, VersionRow
from kfp_model_lifecycle.lifecycle.queries import VersionDetails
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import RegistrationResult


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git working tree with one commit, a model file and a dataset, as the current directory."""
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    (tmp_path / "model.joblib").write_bytes(b"model bytes")
    (tmp_path / "train.csv").write_text("x,y\n1,0\n")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def lc(registry: EmbeddedRegistry) -> Iterator[Lifecycle]:
    with Lifecycle(registry.url, actor="alice") as lifecycle:
        yield lifecycle


def _head(directory: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True).stdout.strip()


def test_register_records_manual_lineage_typed_values_and_dataset_digests(lc: Lifecycle, workdir: Path, unique: str):
    name = f"api-{unique}"
    reg = lc.register(
        name,
        "model.joblib",
        model_format="sklearn",
        model_format_version="1",
        metrics={"accuracy": 0.93, "log_loss": 1},
        hyperparameters={"max_depth": 5, "criterion": "gini", "balanced": True},
        datasets={"train": "train.csv", "eval": "s3://bucket/eval.csv"},
        labels=["nightly"],
        description="from a notebook",
    )
    assert isinstance(reg, RegistrationResult) and reg.version_name == "1.0.0" and not reg.reused
    version = lc.get(f"{name}:1.0.0")
    assert isinstance(version, VersionDetails)
    assert (version.name, version.version_name, version.id) == (name, "1.0.0", reg.version_id)
    assert version.stage == "development" and version.aliases == [] and version.approval is None
    assert version.metrics == {"accuracy": 0.93, "log_loss": 1.0}
    assert version.hyperparameters == {"balanced": True, "criterion": "gini", "max_depth": 5}
    assert version.model_uri == str(workdir / "model.joblib")
    assert version.artifact["modelFormatName"] == "sklearn" and version.labels == ["nightly"]
    lineage = version.lineage
    assert lineage["model_meta_source"] == "manual" and lineage["code_version"] == _head(workdir)
    assert lineage["model_meta_user"] and lineage["model_meta_host"]
    digest = hashlib.sha256((workdir / "train.csv").read_bytes()).hexdigest()
    assert lineage["dataset_0_role"] == "train" and lineage["dataset_0_sha256"] == digest
    assert lineage["dataset_1_uri"] == "s3://bucket/eval.csv" and "dataset_1_sha256" not in lineage
    assert version.version.author and version.version.description == "from a notebook"
    assert lc.register(name, "model.joblib", version="minor").version_name == "1.1.0"
    assert lc.register(name, "model.joblib", version="3.0.0").version_name == "3.0.0"


def test_register_checks_inputs_before_writing(lc: Lifecycle, tmp_path: Path, unique: str) -> None:
    with pytest.raises(InvalidInputError, match="not an existing local path"):
        lc.register(f"bad-{unique}", str(tmp_path / "missing.pkl"))
    with pytest.raises(InvalidInputError, match="role"):
        lc.register(f"bad-{unique}", "s3://b/m", datasets={"": "x.csv"})
    with pytest.raises(InvalidInputError, match="/"):
        lc.register(f"bad/{unique}", "s3://b/m")
    with pytest.raises(NotFoundError):
        lc.get(f"bad-{unique}")  # nothing was written


def test_registration_without_git_still_works(
    lc: Lifecycle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    reg = lc.register(f"nogit-{unique}", "s3://bucket/model", code_version="")
    assert "code_version" not in lc.get(f"nogit-{unique}:{reg.version_name}").lineage or reg.missing


def test_concurrent_registrations_get_distinct_versions(registry: EmbeddedRegistry, unique: str) -> None:
    name = f"race-{unique}"

    def register(i: int) -> str:
        with Lifecycle(registry.url) as lifecycle:
            return lifecycle.register(name, f"s3://bucket/{name}/{i}").version_name

    with ThreadPoolExecutor(max_workers=4) as pool:
        names = list(pool.map(register, range(4)))
    assert sorted(names) == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]


def test_get_search_promote_approve_history_compare(lc: Lifecycle, unique: str) -> None:
    name = f"flow-{unique}"
    for i, accuracy in enumerate([0.9, 0.95, 0.85]):
        lc.register(name, f"s3://bucket/{name}/{i}", metrics={"accuracy": accuracy, "rmse": 1 - accuracy})
    promoted = lc.promote(f"{name}:1.0.1", "production", aliases=["champion"], reason="best", evidence_uri="s3://r/1")
    assert isinstance(promoted, PromotionResult) and promoted.new_holder == f"{name}:1.0.1"
    assert lc.get(name).version_name == "1.0.1"  # a bare name is the production version
    assert lc.get(f"{name}@champion").model_uri == f"s3://bucket/{name}/1"
    assert lc.get(f"{name}@latest").version_name == "1.0.2"
    assert lc.model_uri(f"{name}@champion") == f"s3://bucket/{name}/1"

    rows = lc.search('stage = "development"', model=name)
    assert [type(r) for r in rows] == [VersionRow, VersionRow]
    assert [r.version for r in rows] == ["1.0.0", "1.0.2"]  # never moved: development
    assert [r.version for r in lc.search('accuracy > 0.86 AND stage != "production"', model=name)] == ["1.0.0"]

    approval = lc.approve(f"{name}:1.0.0", comment="reviewed")
    assert isinstance(approval, ApprovalResult) and approval.status == "approved"
    events = lc.history(name)
    assert all(isinstance(e, HistoryEvent) for e in events)
    assert [e.type for e in events] == ["stage", "alias", "approval"]
    assert events[0].reason == "best" and events[0].evidence_uri == "s3://r/1" and events[0].actor == "alice"
    assert events[0].to_dict()["to"] == "production" and events[2].details == {}

    board = lc.compare([f"{name}:1.0.0", f"{name}:1.0.1", f"{name}:1.0.2"])
    assert isinstance(board, Leaderboard) and board.ranked[0] == f"{name}:1.0.1"
    assert [m.name for m in board.metrics] == ["accuracy", "rmse"] and not board.metrics[1].higher_is_better
    assert lc.compare([f"{name}:1.0.0", f"{name}:1.0.2"], metrics=["-accuracy"]).best.reference == f"{name}:1.0.2"

    history = lc.deployments(name)
    assert isinstance(history, DeploymentHistory) and history.services == [] and history.rollouts == []
    lc.promote(f"{name}:1.0.0", "production")
    rolled = lc.rollback(name, reason="regression", dry_run=True)
    assert rolled.dry_run and rolled.reference == f"{name}:1.0.1"


def test_download_local_http_and_s3(lc: Lifecycle, tmp_path: Path, unique: str, monkeypatch) -> None:
    name = f"dl-{unique}"
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "model.joblib").write_bytes(b"weights")
    (model_dir / "sub" / "meta.json").write_text("{}")
    lc.register(name, str(model_dir))
    out = tmp_path / "out"
    out.mkdir()
    copied = lc.download(f"{name}:1.0.0", out)
    assert copied == out / "model" and (copied / "sub" / "meta.json").read_text() == "{}"

    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(model_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lc.register(name, f"http://127.0.0.1:{server.server_address[1]}/model.joblib")
        fetched = lc.download(f"{name}:1.0.1", tmp_path / "fetched.joblib")
        assert fetched.read_bytes() == b"weights"
        lc.register(name, f"http://127.0.0.1:{server.server_address[1]}/missing.joblib")
        with pytest.raises(NotFoundError, match="cannot download"):
            lc.download(f"{name}:1.0.2", tmp_path)
    finally:
        server.shutdown()
        server.server_close()

    lc.register(name, "s3://bucket/models/iris")
    monkeypatch.setitem(sys.modules, "boto3", None)  # not installed
    with pytest.raises(ModuleNotFoundError, match="pip install boto3"):
        lc.download(f"{name}:1.0.3", tmp_path)
    monkeypatch.setitem(sys.modules, "boto3", _FakeBoto3({"models/iris/model.joblib": b"s3 weights", "other": b""}))
    downloaded = lc.download(f"{name}:1.0.3", out)
    assert downloaded == out / "iris" and (downloaded / "model.joblib").read_bytes() == b"s3 weights"
    lc.register(name, "gs://bucket/model")
    with pytest.raises(InvalidInputError, match="gs://"):
        lc.download(f"{name}:1.0.4", tmp_path)


class _FakeBoto3:
    """What download_uri uses of boto3: client("s3") with a list_objects_v2 paginator and download_file."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def client(self, service: str) -> _FakeBoto3:
        assert service == "s3"
        return self

    def get_paginator(self, operation: str) -> _FakeBoto3:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> list[dict]:
        return [{"Contents": [{"Key": k} for k in self.objects if k.startswith(Prefix)]}]

    def download_file(self, bucket: str, key: str, path: str) -> None:
        Path(path).write_bytes(self.objects[key])


def test_token_from_env_never_shown_and_calls_work_inside_an_event_loop(tmp_path: Path, unique: str) -> None:
    with EmbeddedRegistry(tmp_path / "secured.db", token="s3cret") as secured:
        env = {"KML_REGISTRY_URL": secured.url, "KML_REGISTRY_TOKEN": "s3cret", "KML_REGISTRY_MAX_ATTEMPTS": "1"}
        with Lifecycle.from_env(env) as lc:
            assert "s3cret" not in repr(lc)
            lc.register(f"tok-{unique}", "s3://bucket/m")

            async def in_a_notebook() -> str:  # Jupyter runs cells inside an event loop
                return lc.get(f"tok-{unique}:1.0.0").version_name

            assert asyncio.run(in_a_notebook()) == "1.0.0"
        with Lifecycle(secured.url, env={"KML_REGISTRY_MAX_ATTEMPTS": "1"}) as anonymous:
            with pytest.raises(RegistryAuthError) as caught:
                anonymous.models()
            assert "s3cret" not in str(caught.value)
    with pytest.raises(InvalidInputError, match="KML_REGISTRY_URL"):
        Lifecycle.from_env({})
    with pytest.raises(InvalidInputError, match="no scheme"):
        Lifecycle("127.0.0.1:8080")


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, kfp_model_lifecycle; print(sorted(m for m in sys.modules if m.startswith(('mr_openapi', 'kfp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['kfp_model_lifecycle']"
