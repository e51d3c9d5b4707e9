"""How the package reaches the pods, proven: the wheel has everything, and a compiled component runs from an index.

``test_committed_component_runs_in_a_clean_venv_from_a_package_index`` is the real thing: it builds the wheel,
serves it from a package index on loopback, and runs the committed ``compiled/components/register_model.yaml`` with
``SubprocessRunner(use_venv=True)`` -- a fresh virtual environment per task, in a directory outside the repository,
so the pod's ``pip install kfp-model-lifecycle==<version>`` must fetch the wheel from the index and nothing from the
working tree can be imported. It is slow (it installs kfp, the registry client and the Kubernetes client into a new
venv), and it runs in ``make test`` all the same.
"""

import ast
import functools
import http.server
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kfp import components, dsl, local

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

REPO = Path(__file__).resolve().parents[1]
WHEEL_NAME = f"kfp_model_lifecycle-{__version__}-py3-none-any.whl"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from this checkout the way `make dist` builds it."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = out / WHEEL_NAME
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


def _declared_packages() -> list[str]:
    pyproject = (REPO / "pyproject.toml").read_text()
    start = pyproject.index("packages = [")
    block = pyproject[start : pyproject.index("]", start) + 1]
    return ast.literal_eval(block.split("=", 1)[1].strip())


def test_pyproject_lists_every_package_of_the_tree() -> None:
    found = set()
    roots = {
        "kfp_model_lifecycle": "kfp_model_lifecycle",
        "components": "kfp_model_lifecycle.components",
        "pipelines": "kfp_model_lifecycle.pipelines",
    }
    for root, prefix in roots.items():
        for init in (REPO / root).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(REPO / root).parts
            found.add(".".join((prefix, *relative)))
    assert set(_declared_packages()) == found


def test_the_wheel_holds_every_module_and_the_component_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _declared_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert "kfp_model_lifecycle/components/deploy_model/rbac.yaml" in names
    assert "kfp_model_lifecycle/ui/templates/base.html" in names and "kfp_model_lifecycle/ui/static/style.css" in names
    assert not any(name.startswith(("tests/", "compiled/", "bench/")) for name in names)
    metadata = zipfile.ZipFile(wheel).read(f"kfp_model_lifecycle-{__version__}.dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert any("kfp==2.17.3" in line for line in core) and any("model-registry==0.3.18" in line for line in core)
    # the embedded registry and the cluster stand-in are an extra, not what pods install
    assert not any(dep in line for line in core for dep in ("starlette", "uvicorn", "lark", "kserve"))
    assert any("starlette" in line and 'extra == "local"' in line for line in requires)


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the index directory quietly and remembers every path requested."""

    requested: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        self.requested.append(self.path)


@pytest.fixture(scope="module")
def package_index(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A PEP 503 simple index on loopback serving only the wheel."""
    root = tmp_path_factory.mktemp("index")
    project = root / "simple" / "kfp-model-lifecycle"
    project.mkdir(parents=True)
    (project / WHEEL_NAME).write_bytes(wheel.read_bytes())
    (project / "index.html").write_text(f'<html><body><a href="{WHEEL_NAME}">{WHEEL_NAME}</a></body></html>\n')
    (root / "simple" / "index.html").write_text('<html><body><a href="kfp-model-lifecycle/">x</a></body></html>\n')
    requested: list[str] = []
    recording = type("Handler", (_RecordingHandler,), {"requested": requested})
    handler = functools.partial(recording, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", requested
    finally:
        server.shutdown()
        server.server_close()


def _pip_config(key: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


@pytest.mark.slow
def test_committed_component_runs_in_a_clean_venv_from_a_package_index(
    package_index: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    isolated_env: pytest.MonkeyPatch,
) -> None:
    # The pod's pip finds kfp-model-lifecycle on our index, its dependencies where pip always finds them.
    index_url, requested = package_index
    extra = " ".join(part for part in (_pip_config("global.extra-index-url"), index_url) if part)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", extra)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # the runner's tasks start here: the repository is not on their sys.path
    model_file = tmp_path / "model.joblib"
    model_file.write_bytes(b"not really a model")
    register_model = components.load_component_from_file(str(REPO / "compiled" / "components" / "register_model.yaml"))

    with EmbeddedRegistry(tmp_path / "registry.db") as registry:
        local.init(runner=local.SubprocessRunner(use_venv=True), pipeline_root=str(tmp_path / "root"))

        @dsl.pipeline(name="register-from-an-index")
        def pipeline(registry_url: str) -> str:
            model = dsl.importer(
                artifact_uri=str(model_file), artifact_class=dsl.Model, metadata={"framework": "sklearn"}
            )
            registered = register_model(
                model=model.output,
                model_name="from-the-index",
                hyperparameters={"n_estimators": 10},
                run_id="run-from-index",
                registry_url=registry_url,
            )
            return registered.outputs["version_id"]

        version_id = pipeline(registry_url=registry.url).output
        version = httpx.get(f"{registry.api_url}/model_versions/{version_id}").json()

    logs = capfd.readouterr().out
    assert f"/simple/kfp-model-lifecycle/{WHEEL_NAME}" in requested, (requested, logs[-3000:])
    assert version["name"] == "1.0.0"
    properties = version["customProperties"]
    assert properties["kfp_run_id"]["string_value"] == "run-from-index"
    n_estimators = properties["hp_n_estimators"]  # KFP passes dict values through JSON: int or double
    assert float(n_estimators.get("int_value") or n_estimators.get("double_value")) == 10


def test_release_workflow_publishes_the_package_and_the_image_at_the_tagged_version() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    jobs = workflow["jobs"]
    check = "\n".join(step.get("run", "") for step in jobs["check"]["steps"])
    assert "kfp_model_lifecycle/__init__.py" in check and "GITHUB_REF_NAME" in check and "make test" in check
    assert any(step.get("run") == "make dist" for step in jobs["dist"]["steps"])
    assert any("pypi-publish" in step.get("uses", "") for step in jobs["pypi"]["steps"])
    build = "\n".join(step.get("run", "") for step in jobs["runtime-image"]["steps"])
    assert "runtime-image/Dockerfile" in build and 'KML_VERSION="${version}"' in build and "docker push" in build
