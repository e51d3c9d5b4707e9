"""Shared fixtures: an embedded Model Registry per test module and clients for it."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    """An embedded registry (in a background thread, on a free port) shared by one test module."""
    db = tmp_path_factory.mktemp("registry") / "registry.db"
    with EmbeddedRegistry(db) as reg:
        yield reg


@pytest.fixture(scope="module")
def client(registry: EmbeddedRegistry):
    """The official ``model_registry.ModelRegistry`` client connected to :func:`registry`."""
    from model_registry import ModelRegistry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "User access token is missing" for the unauthenticated local server
        return ModelRegistry(registry.address, registry.port, author="tester", is_secure=False)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names, so tests sharing a registry never collide."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workspace's ``../shared`` reference data; tests needing it skip with a reason when it is absent."""
    if not (SHARED_DIR / "model-registry" / "model-registry-v1.yaml").is_file():
        pytest.skip(f"reference data not found at {SHARED_DIR} (it exists beside the repo in the dev workspace and CI)")
    return SHARED_DIR


@pytest.fixture(scope="module")
def local_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KFP's local runner (``SubprocessRunner(use_venv=False)``) with a fresh pipeline root for one test module."""
    from kfp import local

    root = tmp_path_factory.mktemp("pipeline-root")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No registry, token, namespace or pod variables leak in from the environment running the tests."""
    for name in ("KML_REGISTRY_URL", "KML_REGISTRY_TOKEN", "POD_NAMESPACE", "KFP_POD_NAME", "KML_KFP_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
