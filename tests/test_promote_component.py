"""promote_model and approve_model as KFP components: compiled, thin, and run by KFP's local runner.

No ``from __future__ import annotations`` here: KFP reads the annotations of the pipelines defined below.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler, components, dsl
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.compile import validate_file
from kfp_model_lifecycle.components.approve_model import approve_model, approve_model_with_context
from kfp_model_lifecycle.components.promote_model import promote_model, promote_model_with_context
from kfp_model_lifecycle.lifecycle.audit import lifecycle_history
from kfp_model_lifecycle.lifecycle.policy import set_lifecycle_policy
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.run import run_approve_model, run_promote_model
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry


@pytest.fixture(autouse=True)
def _isolated_env(isolated_env: pytest.MonkeyPatch) -> None:
    """Every test here starts without registry/token/namespace variables (see conftest.isolated_env)."""


def _model(registry: EmbeddedRegistry, name: str, count: int = 2) -> None:
    """A model with ``count`` complete versions (each with its model artifact: promotion refuses versions without)."""
    api = registry.api_url
    with httpx.Client(timeout=30) as http:
        model_id = http.post(f"{api}/registered_models", json={"name": name}).raise_for_status().json()["id"]
        for i in range(count):
            version = http.post(
                f"{api}/model_versions", json={"name": f"1.0.{i}", "registeredModelId": model_id}
            ).raise_for_status()
            artifact = {"artifactType": "model-artifact", "name": name, "uri": f"s3://b/{name}/{i}"}
            http.post(f"{api}/model_versions/{version.json()['id']}/artifacts", json=artifact).raise_for_status()


def _history(registry: EmbeddedRegistry, name: str) -> list[dict[str, Any]]:
    conn = connect_model_registry(registry.url)
    try:
        return lifecycle_history(conn, name)["events"]
    finally:
        conn.close()


def test_approve_then_promote_from_compiled_yaml_in_a_local_pipeline_run(
    local_runner: Path, registry: EmbeddedRegistry, unique: str, tmp_path: Path
) -> None:
    name = f"pipe-{unique}"
    _model(registry, name)
    conn = connect_model_registry(registry.url)
    try:
        promote_model_version(conn, f"{name}:1.0.0", stage="production")
        set_lifecycle_policy(conn, name, require_approval=True)
    finally:
        conn.close()
    # promote_model as users get it: the compiled YAML, loaded back; approve_model through its entry point.
    compiler.Compiler().compile(promote_model, str(tmp_path / "promote.yaml"))
    loaded_promote = components.load_component_from_file(str(tmp_path / "promote.yaml"))

    @dsl.pipeline(name="approve-and-promote")
    def flow(reference: str, registry_url: str) -> str:
        approval = approve_model_with_context(reference, comment="report reviewed", registry_url=registry_url)
        promotion = loaded_promote(
            model_reference=reference,
            stage="production",
            aliases=["champion"],
            reason="accuracy +2%",
            evidence_uri="s3://reports/compare.html",
            registry_url=registry_url,
            kfp_ui_url="http://kfp.example",
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
        )
        promotion.after(approval)
        return promotion.outputs["previous_holder"]

    run = flow(reference=f"{name}:1.0.1", registry_url=registry.url)
    assert run.output == f"{name}:1.0.0"
    events = _history(registry, name)
    approval, stage, alias = events[-3:]
    assert approval["type"] == "approval" and approval["reason"] == "report reviewed"
    assert stage["type"] == "stage" and stage["to"] == "production" and stage["demoted_version"] == "1.0.0"
    assert alias["type"] == "alias" and alias["alias"] == "champion"
    run_id = stage["evidence"]["run_id"]
    assert run_id.isdigit()  # the local runner's run id: a random number (7 or 8 digits)
    assert stage["evidence"]["run_name"].startswith("approve-and-promote-")
    assert stage["actor"] == f"kfp-run:{stage['evidence']['run_name']}" == approval["actor"]
    assert stage["evidence"]["report_uri"] == "s3://reports/compare.html"
    assert stage["evidence"]["run_url"] == f"http://kfp.example/#/runs/details/{run_id}"
    assert stage["evidence"]["task_name"] == "promote-model"
    summary = Path(local_runner).glob("approve-and-promote-*/promote-model/summary")
    text = next(summary).read_text()
    assert f"| Previous holder | {name}:1.0.0 |" in text and "s3://reports/compare.html" in text


def test_pod_job_fails_clearly_and_writes_its_report(registry: EmbeddedRegistry, unique: str, tmp_path: Path) -> None:
    name = f"job-{unique}"
    _model(registry, name)
    context = RunContext(run_id="12345678", run_name="nightly-1", run_url="", task_name="promote-model")
    result = run_promote_model(
        model_reference=f"{name}:1.0.0",
        stage="archived",
        reason="retire",
        registry_url=registry.url,
        summary_path=str(tmp_path / "out" / "summary.md"),
        context=context,
    )
    assert result.stage == "archived" and result.events[0]["actor"] == "kfp-run:nightly-1"
    assert result.registry_url == registry.url and result.to_dict()["registry_url"] == registry.url
    assert "Promotion of" in (tmp_path / "out" / "summary.md").read_text()
    with pytest.raises(ValueError, match=r"from archived to development is not allowed by the default rules"):
        run_promote_model(
            model_reference=f"{name}:1.0.0", stage="development", registry_url=registry.url, context=context
        )
    approval = run_approve_model(
        model_reference=f"{name}:1.0.1", status="pending", registry_url=registry.url, context=context
    )
    assert approval.status == "pending" and approval.approver == "kfp-run:nightly-1"
    with pytest.raises(ValueError, match="no Model Registry address"):
        run_promote_model(model_reference=f"{name}:1.0.1", stage="staging", context=context, env={})


def test_entry_points_wire_placeholders_namespace_and_token_secret(tmp_path: Path) -> None:
    @dsl.pipeline(name="promote-pipeline")
    def flow() -> None:
        promote_model_with_context(
            "iris@challenger", stage="production", registry_url="https://mr:8443", token_secret_name="mr-token"
        )
        approve_model_with_context(
            "iris@challenger", comment="ok", token_secret_name="mr-token", token_secret_key="jwt"
        )

    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(flow, str(path))
    assert validate_file(path) == []
    spec, platform = list(yaml.safe_load_all(path.read_text()))
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    for task_name, key in (("promote-model", "token"), ("approve-model", "jwt")):
        params = spec["root"]["dag"]["tasks"][task_name]["inputs"]["parameters"]
        assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
        assert params["run_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
        assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
        assert params["pipeline_name"]["runtimeValue"]["constant"] == "promote-pipeline"
        config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][f"exec-{task_name}"]
        json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
        assert config["fieldPathAsEnv"] == [{"name": "POD_NAMESPACE", "fieldPath": "metadata.namespace"}]
        assert config["secretAsEnv"][0]["keyToEnv"] == [{"secretKey": key, "envVar": "KML_REGISTRY_TOKEN"}]
        assert config["secretAsEnv"][0]["optional"] is True
        container = spec["deploymentSpec"]["executors"][f"exec-{task_name}"]["container"]
        assert {"name": "KML_REGISTRY_TOKEN_SECRET_KEY", "value": key} in container["env"]
    with pytest.raises(RuntimeError, match=r"inside a @dsl\.pipeline"):
        promote_model_with_context("iris:1")


@pytest.mark.parametrize("component", [promote_model, approve_model])
def test_components_compile_deterministically_thin_with_descriptions(component: Any, tmp_path: Path) -> None:
    compiler.Compiler().compile(component, str(tmp_path / "a.yaml"))
    compiler.Compiler().compile(component, str(tmp_path / "b.yaml"))
    text = (tmp_path / "a.yaml").read_text()
    assert text == (tmp_path / "b.yaml").read_text()
    assert validate_file(tmp_path / "a.yaml") == []
    assert "kfp_model_lifecycle.lifecycle.tasks" in text
    assert "from __future__" not in text
    spec = yaml.safe_load(text)
    outputs = spec["components"][next(iter(spec["components"]))]["outputDefinitions"]
    described = {**outputs.get("parameters", {}), **outputs.get("artifacts", {})}
    assert described and all(v.get("description") for v in described.values()), described
    inputs = spec["components"][next(iter(spec["components"]))]["inputDefinitions"]["parameters"]
    assert all(v.get("description") for v in inputs.values())
