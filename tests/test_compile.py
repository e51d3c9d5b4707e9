"""`kml compile`: every component and pipeline compiles, validates strictly, and compiled/ stays in sync."""

import shutil
from pathlib import Path

import pytest
import yaml
from kfp import components as kfp_components

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle import compile as kml_compile
from kfp_model_lifecycle.cli import main as kml_main
from kfp_model_lifecycle.components._common.runtime import JOBLIB, SCIKIT_LEARN

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "compiled"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled")
    kml_compile.compile_to(out)
    return out


@pytest.fixture(scope="module")
def runtime_image_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled-runtime")
    kml_compile.compile_to(out, kml_compile.PackageRoute(base_image="registry.example.com/kml-runtime:0.1.0"))
    return out


def test_every_exported_component_and_pipeline_is_compiled(fresh):
    components, pipelines = kml_compile.discover()
    assert components, "kfp_model_lifecycle.components exports no component"
    assert pipelines, "kfp_model_lifecycle.pipelines exports no pipeline"
    assert {p.stem for p in (fresh / "components").glob("*.yaml")} == set(components)
    assert {p.stem for p in (fresh / "pipelines").glob("*.yaml")} == set(pipelines)


def test_committed_compiled_dir_is_current_and_valid():
    assert kml_compile.check(COMPILED) == []


def test_compilation_is_deterministic(fresh, tmp_path):
    kml_compile.compile_to(tmp_path)
    for path in fresh.rglob("*.yaml"):
        assert (tmp_path / path.relative_to(fresh)).read_bytes() == path.read_bytes(), path


def test_every_compiled_file_passes_strict_validation(fresh):
    files = sorted(fresh.rglob("*.yaml"))
    assert files
    for path in files:
        assert kml_compile.validate_file(path) == [], path


def test_components_use_public_python_image_and_this_package_pinned(fresh):
    for path in (fresh / "components").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        for label, executor in spec["deploymentSpec"]["executors"].items():
            container = executor["container"]
            assert container["image"] == "python:3.11", (path, label)
            command = " ".join(container["command"])
            assert f"'kfp-model-lifecycle=={__version__}'" in command
            assert command.count("pip install") == 1, "one pip run: kfp comes with the package"
            assert "embedded_artifact" not in command
            assert "import kfp_model_lifecycle" not in command or "from kfp_model_lifecycle" in command


def test_runtime_image_build_installs_nothing(runtime_image_build):
    files = list(runtime_image_build.rglob("*.yaml"))
    assert files
    for path in files:
        doc = next(yaml.safe_load_all(path.read_text()))
        for executor in doc["deploymentSpec"]["executors"].values():
            container = executor["container"]
            assert container["image"] == "registry.example.com/kml-runtime:0.1.0"
            assert "pip install" not in " ".join(container["command"]), path
        assert kml_compile.validate_file(path) == []


def test_component_yaml_loads_back(fresh):
    for path in (fresh / "components").glob("*.yaml"):
        component = kfp_components.load_component_from_file(str(path))
        assert component.name and component.component_spec.inputs, path


def test_runtime_image_installs_this_package_at_its_version():
    dockerfile = (REPO / "runtime-image" / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM")] == ["FROM python:3.11"]
    assert "COPY dist/kfp_model_lifecycle-${KML_VERSION}-py3-none-any.whl" in dockerfile
    assert "kfp_model_lifecycle.__version__ == '${KML_VERSION}'" in dockerfile
    assert f'"{SCIKIT_LEARN}" "{JOBLIB}"' in dockerfile  # the example steps' pins


def test_check_reports_stale_missing_and_changed_files(fresh, tmp_path):
    out = tmp_path / "compiled"
    shutil.copytree(fresh, out)
    assert kml_compile.check(out) == []
    victim = next((out / "components").glob("*.yaml"))
    victim.write_text(victim.read_text().replace("sdkVersion: kfp-2.17.3", "sdkVersion: kfp-2.0.0"))
    (out / "pipelines" / "old_pipeline.yaml").write_text("x: 1\n")
    missing = next((out / "pipelines").glob("*.yaml"))
    if missing.name == "old_pipeline.yaml":
        missing = sorted((out / "pipelines").glob("*.yaml"))[0]
    missing.unlink()
    problems = "\n".join(kml_compile.check(out))
    assert f"{victim.name}: differs from a fresh compile" in problems
    assert "old_pipeline.yaml: not produced by a fresh compile" in problems
    assert f"{missing.name}: missing" in problems


def test_validation_rejects_unknown_fields_and_dangling_references(fresh, tmp_path):
    source = next((fresh / "pipelines").glob("*.yaml"))
    docs = list(yaml.safe_load_all(source.read_text()))
    docs[0]["pipelineInfo"]["colour"] = "blue"
    tasks = docs[0]["root"]["dag"]["tasks"]
    first = next(iter(tasks.values()))
    first.setdefault("dependentTasks", []).append("no-such-task")
    first["componentRef"]["name"] = "comp-missing"
    executor = next(iter(docs[0]["deploymentSpec"]["executors"].values()))
    executor["container"]["imageTag"] = "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    problems = "\n".join(kml_compile.validate_file(bad))
    assert "colour" in problems
    assert "no-such-task" in problems
    assert "comp-missing" in problems
    assert "imageTag" in problems


def test_validation_rejects_unknown_kubernetes_config_fields(fresh, tmp_path):
    with_platform = [p for p in fresh.rglob("*.yaml") if len(list(yaml.safe_load_all(p.read_text()))) == 2]
    if not with_platform:
        pytest.fail("no compiled file has a kubernetes platform spec; expected register_model's secret/env wiring")
    docs = list(yaml.safe_load_all(with_platform[0].read_text()))
    configs = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    next(iter(configs.values()))["secretAsEnvv"] = []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    assert any("secretAsEnvv" in p for p in kml_compile.validate_file(bad))


def test_cli_check_fails_on_a_stale_directory(fresh, tmp_path, capsys):
    out = tmp_path / "c"
    shutil.copytree(fresh, out)
    victim = next((out / "components").glob("*.yaml"))
    victim.write_text(victim.read_text() + "# edited\n")
    assert kml_main(["compile", "--check", "--out", str(out)]) == 1
    assert f"{victim.name}: differs" in capsys.readouterr().err


def test_cli_compile_removes_only_generated_stale_yaml(tmp_path):
    out = tmp_path / "c"
    (out / "components").mkdir(parents=True)
    (out / "components" / "gone.yaml").write_text("x: 1\n")
    (out / "notes.txt").write_text("keep me\n")
    assert kml_main(["compile", "--out", str(out)]) == 0
    assert not (out / "components" / "gone.yaml").exists()
    assert (out / "notes.txt").read_text() == "keep me\n"
    assert kml_compile.check(out) == [f"{out / 'notes.txt'}: not produced by a fresh compile (stale? remove it)"]


def test_validation_rejects_programs_over_the_linux_argument_limit(fresh, tmp_path):
    source = next((fresh / "components").glob("*.yaml"))
    docs = list(yaml.safe_load_all(source.read_text()))
    container = next(iter(docs[0]["deploymentSpec"]["executors"].values()))["container"]
    assert all(len(str(a).encode()) < kml_compile.LINUX_MAX_ARG_BYTES for a in container["command"])
    container["command"][-1] += "\n# padding\n" + "x" * kml_compile.LINUX_MAX_ARG_BYTES
    bad = tmp_path / "big.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    assert any("MAX_ARG_STRLEN" in p for p in kml_compile.validate_file(bad))


def test_size_budgets_flag_big_yaml_and_a_big_driver_argument(fresh, tmp_path):
    source = fresh / "components" / "register_model.yaml"
    docs = list(yaml.safe_load_all(source.read_text()))
    container = next(iter(docs[0]["deploymentSpec"]["executors"].values()))["container"]
    container["command"][-1] += "\n# " + "<&>" * 6000  # Go's encoding/json writes each as \u003c: 6 bytes
    folder = tmp_path / "components"
    folder.mkdir()
    bad = folder / "register_model.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    assert kml_compile.driver_argument_bytes(container) > len(container["command"][-1]) + 18000 * 5
    problems = "\n".join(kml_compile.validate_file(bad))
    assert "the driver's --container argument would be" in problems
    assert f"over the budget of {kml_compile.MAX_COMPONENT_BYTES:,} for a component YAML" in problems


def test_committed_yaml_is_far_below_the_cluster_limits():
    for path in COMPILED.rglob("*.yaml"):
        budget = kml_compile.MAX_PIPELINE_BYTES if path.parent.name == "pipelines" else kml_compile.MAX_COMPONENT_BYTES
        assert path.stat().st_size <= budget, path
        doc = next(yaml.safe_load_all(path.read_text()))
        for executor in doc["deploymentSpec"]["executors"].values():
            assert kml_compile.driver_argument_bytes(executor["container"]) <= kml_compile.MAX_DRIVER_ARGUMENT_BYTES
