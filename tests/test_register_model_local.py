"""register_model in pipelines: the entry point compiled and run locally, and the compiled component loaded back.

No ``from __future__ import annotations`` here: KFP reads the annotations of the components defined below.
"""

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler, components, dsl
from kfp.dsl import Dataset, Metrics, Model, Output
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle.components.register_model import register_model, register_model_with_lineage
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

TRAIN_CSV = "x,y\n1,0\n2,1\n"
TEST_CSV = "x,y\n3,1\n"


@dsl.component(base_image="python:3.11")
def train_stub(model: Output[Model], metrics: Output[Metrics], train_data: Output[Dataset], test_data: Output[Dataset]):
    """Write a dummy model with metadata, metrics and two datasets."""
    with open(train_data.path, "w") as f:
        f.write("x,y\n1,0\n2,1\n")
    with open(test_data.path, "w") as f:
        f.write("x,y\n3,1\n")
    with open(model.path, "w") as f:
        f.write("dummy-model")
    model.metadata["framework"] = "sklearn"
    model.metadata["framework_version"] = "1"
    model.metadata["training_image"] = "python:3.11"
    metrics.log_metric("accuracy", 0.93)


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """Every test here starts without registry/token/namespace variables (see conftest.isolated_env)."""


def _get(registry: EmbeddedRegistry, path: str, **params: Any) -> Any:
    response = httpx.get(registry.api_url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _prop(entity: dict[str, Any], key: str) -> Any:
    value = entity["customProperties"][key]
    return next(v for k, v in value.items() if k.endswith("_value"))


def _pipeline(model_name: str, registry_url: str, **entry_kwargs: Any) -> Any:
    @dsl.pipeline(name="train-and-register")
    def train_and_register() -> str:
        train = train_stub()
        reg = register_model_with_lineage(
            train.outputs["model"],
            model_name,
            metrics=train.outputs["metrics"],
            datasets={"train": train.outputs["train_data"], "test": train.outputs["test_data"]},
            hyperparameters={"n_estimators": 10},
            labels=["local"],
            registry_url=registry_url,
            **entry_kwargs,
        )
        return reg.outputs["version_id"]

    return train_and_register


def test_entry_point_in_a_local_pipeline_run_records_the_run(
    local_runner: Path, registry: EmbeddedRegistry, unique: str
) -> None:
    name = f"local-{unique}"
    pipeline = _pipeline(name, registry.url, kfp_ui_url="http://localhost:8080")
    version_id = pipeline().output
    version = _get(registry, f"/model_versions/{version_id}")
    run_id = _prop(version, "kfp_run_id")
    assert run_id.isdigit() and 1 <= len(run_id) <= 8  # the local runner's run id: a random number below 10**8
    run_name = _prop(version, "kfp_run_name")
    assert run_name.startswith("train-and-register-")
    assert _prop(version, "kfp_pipeline_name") == "train-and-register"
    assert _prop(version, "kfp_task_name") == "register-model"
    assert _prop(version, "kfp_run_url") == f"http://localhost:8080/#/runs/details/{run_id}"
    assert version["externalId"].startswith(f"kfp:{run_id}:register-model:{name}:")
    assert _prop(version, "accuracy") == 0.93
    assert _prop(version, "hp_n_estimators") == 10  # dict numbers reach the pod as floats or text: recorded as numbers
    assert _prop(version, "training_image") == "python:3.11"
    assert _prop(version, "local") == ""
    assert _prop(version, "dataset_0_role") == "train" and _prop(version, "dataset_1_role") == "test"
    assert _prop(version, "dataset_0_sha256") == hashlib.sha256(TRAIN_CSV.encode()).hexdigest()
    artifacts = {a["name"]: a for a in _get(registry, f"/model_versions/{version_id}/artifacts")["items"]}
    art = artifacts[name]
    assert art["uri"] == _prop(version, "kfp_model_uri") and art["uri"].startswith(str(local_runner))
    assert (art["modelFormatName"], art["modelSourceKind"], art["modelSourceClass"]) == (
        "sklearn",
        "kfp",
        "pipelinerun",
    )
    assert art["modelSourceId"] == run_id and art["modelSourceName"] == run_name
    assert set(artifacts) == {name}  # the model artifact is the version's only linked artifact
    query = {"filterQuery": f'kml_model_version_id = "{version_id}"', "artifactType": "dataset-artifact"}
    datasets = {a["name"]: a for a in _get(registry, "/artifacts", **query)["items"]}
    test_data = datasets[f"test-dataset-of-version-{version_id}"]
    assert test_data["digest"] == "sha256:" + hashlib.sha256(TEST_CSV.encode()).hexdigest()
    assert _prop(version, "kfp_run_display_name") == run_name


def test_compiled_component_runs_with_only_required_inputs(
    local_runner: Path,
    registry: EmbeddedRegistry,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    compiler.Compiler().compile(register_model, str(tmp_path / "c.yaml"))
    loaded = components.load_component_from_file(str(tmp_path / "c.yaml"))
    name = f"yaml-{unique}"
    monkeypatch.setenv("KML_REGISTRY_URL", registry.url)  # the pod's environment

    @dsl.pipeline(name="from-yaml")
    def from_yaml() -> str:
        train = train_stub()
        return loaded(model=train.outputs["model"], model_name=name).outputs["version_name"]

    assert from_yaml().output == "1.0.0"
    version = _get(
        registry, "/model_version", name="1.0.0", parentResourceId=_get(registry, "/registered_model", name=name)["id"]
    )
    assert "kfp_run_id" not in version["customProperties"]
    assert _prop(version, "training_image") == "python:3.11"  # from model.metadata
    log = capfd.readouterr()
    text = log.out + log.err
    for field in ("run_id", "run_name", "pipeline_name", "task_name", "namespace"):
        assert f"could not find {field} -- not recorded" in text
    assert "registered model" in text


def _compile(pipeline: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    compiler.Compiler().compile(pipeline, str(path))
    docs = list(yaml.safe_load_all(path.read_text()))
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(docs[0], spec, ignore_unknown_fields=False)
    for executor in docs[0]["deploymentSpec"]["executors"].values():
        json_format.ParseDict(executor, pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec())
    platform = pipeline_spec_pb2.PlatformSpec()
    json_format.ParseDict(docs[1], platform, ignore_unknown_fields=False)
    return docs[0], docs[1]


def test_entry_point_wires_placeholders_namespace_and_token_secret(tmp_path: Path) -> None:
    pipeline = _pipeline("m", "https://mr.kubeflow.svc:8443", token_secret_name="mr-token", token_secret_key="jwt")
    spec, platform = _compile(pipeline, tmp_path / "p.yaml")
    task = spec["root"]["dag"]["tasks"]["register-model"]
    params = task["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["run_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
    assert params["pipeline_name"]["runtimeValue"]["constant"] == "train-and-register"
    assert set(task["inputs"]["artifacts"]) == {"model", "metrics", "train_dataset", "test_dataset"}
    assert task["dependentTasks"] == ["train-stub"]
    config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-register-model"]
    json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    assert config["fieldPathAsEnv"] == [{"name": "POD_NAMESPACE", "fieldPath": "metadata.namespace"}]
    assert config["secretAsEnv"][0]["keyToEnv"] == [{"secretKey": "jwt", "envVar": "KML_REGISTRY_TOKEN"}]
    assert config["secretAsEnv"][0]["secretName"] == "mr-token"
    # optional, so a missing Secret does not hang the pod in CreateContainerConfigError; the pod knows its name
    assert config["secretAsEnv"][0]["optional"] is True
    env = {
        e["name"]: e["value"] for e in spec["deploymentSpec"]["executors"]["exec-register-model"]["container"]["env"]
    }
    assert env == {"KML_REGISTRY_TOKEN_SECRET": "mr-token", "KML_REGISTRY_TOKEN_SECRET_KEY": "jwt"}
    text = (tmp_path / "p.yaml").read_text()
    assert "packages_to_install" not in text and f"kfp-model-lifecycle=={__version__}" in text


def test_compiled_component_is_deterministic_and_self_contained(tmp_path: Path) -> None:
    compiler.Compiler().compile(register_model, str(tmp_path / "a.yaml"))
    compiler.Compiler().compile(register_model, str(tmp_path / "b.yaml"))
    text = (tmp_path / "a.yaml").read_text()
    assert text == (tmp_path / "b.yaml").read_text()
    # thin: the body imports the installed package and calls one function; no helper travels in the YAML
    assert "from kfp_model_lifecycle.registration.task import register_model_task" in text
    assert "def connect_model_registry(" not in text and "def collect_run_context(" not in text
    assert "image: python:3.11" in text
    doc = yaml.safe_load(text)
    command = "\n".join(doc["deploymentSpec"]["executors"]["exec-register-model"]["container"]["command"])
    # KFP (and Argo) resolve double-brace placeholders in the command: the embedded source has none
    assert "{{" not in command and "}}" not in command
    inputs = doc["components"]["comp-register-model"]["inputDefinitions"]
    assert {"model"} == {k for k, v in inputs["artifacts"].items() if not v.get("isOptional")}
    assert {"model_name"} == {k for k, v in inputs["parameters"].items() if not v.get("isOptional")}
    outputs = doc["components"]["comp-register-model"]["outputDefinitions"]
    assert "registered_models" in outputs["artifacts"]["registered_model"]["description"]
    assert set(outputs["parameters"]) == {"model_id", "version_id", "version_name"}


def test_pod_program_is_the_component_function_alone_and_its_names_resolve(tmp_path: Path) -> None:
    """The pod program defines only the component; every global name it uses exists there or is a builtin."""
    import builtins
    import dis
    import types

    compiler.Compiler().compile(register_model, str(tmp_path / "c.yaml"))
    doc = yaml.safe_load((tmp_path / "c.yaml").read_text())
    source = doc["deploymentSpec"]["executors"]["exec-register-model"]["container"]["command"][-1]
    namespace: dict[str, Any] = {"__name__": "ephemeral_component"}
    exec(compile(source, "ephemeral_component.py", "exec"), namespace)  # noqa: S102 - our own compiled code

    def global_names(code: types.CodeType) -> set[str]:
        names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                names |= global_names(const)
        return names

    functions = [
        f
        for f in namespace.values()
        if isinstance(f, types.FunctionType) and f.__code__.co_filename == "ephemeral_component.py"
    ]
    assert [f.__name__ for f in functions] == ["register_model"]
    undefined = {
        (f.__name__, name)
        for f in functions
        for name in global_names(f.__code__)
        if name not in namespace and not hasattr(builtins, name)
    }
    assert undefined == set()


def test_entry_point_argument_errors() -> None:
    with pytest.raises(RuntimeError, match=r"inside a @dsl\.pipeline function"):
        register_model_with_lineage("model", "m")
    with pytest.raises(ValueError, match=r"unknown role\(s\) \['validation'\]"):

        @dsl.pipeline
        def bad_role() -> None:
            train = train_stub()
            extra = {"validation": train.outputs["test_data"]}
            register_model_with_lineage(train.outputs["model"], "m", datasets=extra)

    with pytest.raises(ValueError, match="at most 3"):

        @dsl.pipeline
        def too_many() -> None:
            train = train_stub()
            out = train.outputs["train_data"]
            register_model_with_lineage(train.outputs["model"], "m", datasets=[out, out, out, out])
