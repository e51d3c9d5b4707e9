"""The verify_installation and audit_registry components, and the registry_audit pipeline end to end.

The components through ``.python_func`` (outputs written, the task failing when it should, after its reports); the
pipeline with KFP's local runner against the embedded registry and the local cluster (``KUBECONFIG``, as a pod has
its service account): a clean run, a run failed by ``fail_on``, and a run stopped by the installation check before
the audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kfp.dsl import HTML, Markdown, Metrics

from kfp_model_lifecycle import Lifecycle
from kfp_model_lifecycle.audit import AuditFailedError
from kfp_model_lifecycle.components import audit_registry, verify_installation
from kfp_model_lifecycle.doctor import InstallationCheckError
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.pipelines import registry_audit_pipeline


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as local:
        yield local


def output(cls: type, tmp_path: Path, name: str) -> Any:
    return cls(name=name, uri=str(tmp_path / name))


def clean_model(registry: EmbeddedRegistry, name: str, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    with Lifecycle(registry.url) as lc:
        reg = lc.register(name, "s3://m/a", datasets={"train": str(data)}, code_version="abc")
        lc.promote(f"{name}:{reg.version_name}", "production")


def raw_version_without_lineage(registry: EmbeddedRegistry, name: str) -> None:
    api = f"{registry.url}/api/model_registry/v1"
    model_id = httpx.post(f"{api}/registered_models", json={"name": name}).json()["id"]
    version = httpx.post(
        f"{api}/registered_models/{model_id}/versions", json={"name": "1", "registeredModelId": model_id}
    ).json()
    art = {"artifactType": "model-artifact", "name": "m", "uri": "s3://m"}
    assert httpx.post(f"{api}/model_versions/{version['id']}/artifacts", json=art).status_code in (200, 201)


def test_verify_installation_component(
    registry: EmbeddedRegistry, cluster: LocalCluster, tmp_path: Path, isolated_env: pytest.MonkeyPatch
) -> None:
    isolated_env.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    report = output(Markdown, tmp_path, "report")
    out = verify_installation.python_func(report=report, registry_url=registry.url)
    assert out.checklist["ok"] is True and out.warnings == 0
    assert "| ✓ | registry allows writes |" in Path(report.path).read_text()
    assert report.metadata["ok"] is True and report.metadata["failed"] == 0
    cluster.forbid("create")
    try:
        with pytest.raises(InstallationCheckError) as failed:
            verify_installation.python_func(report=report, registry_url=registry.url)
    finally:
        cluster.allow("create")
    assert "[FAIL] may create inferenceservices.serving.kserve.io" in str(failed.value)
    assert "| ✗ | may create inferenceservices" in Path(report.path).read_text()  # written before failing
    reader = verify_installation.python_func(
        report=report, registry_url=registry.url, write_probe=False, inference_service_verbs=["get"]
    )
    assert reader.checklist["ok"] is True
    with pytest.raises(ValueError, match="inference_service_verbs"):
        verify_installation.python_func(report=report, registry_url=registry.url, inference_service_verbs=["own"])


def test_audit_registry_component(
    registry: EmbeddedRegistry, tmp_path: Path, unique: str, isolated_env: pytest.MonkeyPatch
) -> None:
    name = f"component-{unique}"
    raw_version_without_lineage(registry, name)
    kinds = {"counts": Metrics, "report_markdown": Markdown, "report_html": HTML}
    outputs = {name: output(kind, tmp_path, name) for name, kind in kinds.items()}
    out = audit_registry.python_func(model_name=name, registry_url=registry.url, check_deployments=False, **outputs)
    assert (out.errors, out.warnings) == (0, 3) and out.report_uri == str(tmp_path / "report_html")
    assert {f["code"] for f in out.findings} == {"no-run", "no-dataset-digest", "no-code-version"}
    json.dumps(out.findings)
    assert outputs["counts"].metadata == {"errors": 0, "warnings": 3, "findings": 3, "models": 1, "versions": 1}
    assert "| WARNING | no-run |" in Path(outputs["report_markdown"].path).read_text()
    assert outputs["report_markdown"].metadata["html_report_uri"] == str(tmp_path / "report_html")
    Path(outputs["report_html"].path).unlink()
    with pytest.raises(AuditFailedError, match="no-code-version"):
        audit_registry.python_func(
            model_name=name, registry_url=registry.url, check_deployments=False, fail_on="warning", **outputs
        )
    assert Path(outputs["report_html"].path).is_file()  # the reports are written before the task fails
    with pytest.raises(ValueError, match="fail_on"):
        audit_registry.python_func(registry_url=registry.url, fail_on="always", **outputs)


def _task_outputs(root: Path, task: str) -> list[Path]:
    return sorted(root.glob(f"registry-audit-*/{task}/*"))


@pytest.mark.slow
def test_the_pipeline_end_to_end(
    local_runner: Path,
    registry: EmbeddedRegistry,
    cluster: LocalCluster,
    tmp_path: Path,
    unique: str,
    isolated_env: pytest.MonkeyPatch,
) -> None:
    isolated_env.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    clean, warned = f"pipe-clean-{unique}", f"pipe-warned-{unique}"
    clean_model(registry, clean, tmp_path)
    raw_version_without_lineage(registry, warned)

    registry_audit_pipeline(registry_url=registry.url, model_name=clean, fail_on="warning")
    markdown = max(
        local_runner.glob("registry-audit-*/audit-registry/report_markdown"), key=lambda p: p.stat().st_mtime
    )
    assert "1 model(s), 1 version(s): no findings" in markdown.read_text()
    checklist = max(local_runner.glob("registry-audit-*/verify-installation/report"), key=lambda p: p.stat().st_mtime)
    assert "may get inferenceservices" in checklist.read_text() and "may patch" not in checklist.read_text()

    registry_audit_pipeline(registry_url=registry.url, model_name=warned, fail_on="error")  # warnings pass
    runs = len(list(local_runner.glob("registry-audit-*/audit-registry")))
    with pytest.raises(RuntimeError):
        registry_audit_pipeline(registry_url=registry.url, model_name=warned, fail_on="warning")
    with pytest.raises(RuntimeError):
        registry_audit_pipeline(registry_url="http://127.0.0.1:9", model_name=warned, fail_on="never")
    assert len(list(local_runner.glob("registry-audit-*/audit-registry"))) == runs + 1  # not after a failed check
