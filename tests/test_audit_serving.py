"""The audit's serving-record checks: registry records marked DEPLOYED against the local cluster's InferenceServices.

Records are written as ``deploy_model`` and the registry's controller write them (a ServingEnvironment named after
the namespace; an InferenceService record named ``<isvc>`` or ``<isvc>/<uid>``); the live objects carry the
registry's ``model-version-id`` label. No model is served: the stand-in keeps the objects whatever their storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client

from kfp_model_lifecycle.audit import AuditReport, audit_registry
from kfp_model_lifecycle.audit.run import kubernetes_access
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

NS = "kubeflow-user"
LABEL = "modelregistry.kubeflow.org/model-version-id"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as local:
        yield local


@pytest.fixture(scope="module")
def conn(registry: EmbeddedRegistry) -> Iterator[RegistryConnection]:
    with connect_model_registry(registry.url) as connection:
        yield connection


class Records:
    """Writes a model with two complete versions and serving records for it."""

    def __init__(self, registry: EmbeddedRegistry, name: str) -> None:
        self.api = f"{registry.url}/api/model_registry/v1"
        self.name = name
        self.model_id = self._post("registered_models", {"name": name})["id"]
        self.versions = [self._version(v) for v in ("1.0.0", "1.0.1")]
        found = httpx.get(f"{self.api}/serving_environment", params={"name": NS})
        if found.status_code == 200:
            self.env_id = found.json()["id"]
        else:
            self.env_id = self._post("serving_environments", {"name": NS})["id"]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.api}/{path}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def _version(self, name: str) -> str:
        lineage = {"model_meta_source": "manual", "code_version": "abc", "dataset_0_uri": "d", "dataset_0_sha256": "1"}
        props = {k: {"string_value": v, "metadataType": "MetadataStringValue"} for k, v in lineage.items()}
        version = self._post(
            f"registered_models/{self.model_id}/versions",
            {"name": name, "registeredModelId": self.model_id, "customProperties": props},
        )
        art = {"artifactType": "model-artifact", "name": f"m-{name}", "uri": "s3://m"}
        self._post(f"model_versions/{version['id']}/artifacts", art)
        return str(version["id"])

    def record(self, isvc: str, version_id: str, state: str = "DEPLOYED") -> None:
        self._post(
            "inference_services",
            {
                "name": isvc,
                "registeredModelId": self.model_id,
                "servingEnvironmentId": self.env_id,
                "modelVersionId": version_id,
                "desiredState": state,
            },
        )


def live(cluster: LocalCluster, name: str, version_id: str) -> None:
    body = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "labels": {LABEL: version_id}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "/nonexistent"}}},
    }
    client.CustomObjectsApi(cluster.api_client()).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", NS, "inferenceservices", body
    )


def audit(conn: RegistryConnection, cluster: LocalCluster, name: str) -> AuditReport:
    with kubernetes_access(True, str(cluster.kubeconfig_path)) as (lookup, why_not):
        assert lookup is not None, why_not
        return audit_registry(conn, name, live=lookup)


def test_records_matching_the_cluster_have_no_findings(
    conn: RegistryConnection, registry: EmbeddedRegistry, cluster: LocalCluster, unique: str
) -> None:
    records = Records(registry, f"serve-ok-{unique}")
    records.record(f"ok-{unique}", records.versions[1])
    records.record(f"uid-{unique}/0d2c4e6a-uid", records.versions[0])  # named by the registry's controller
    records.record(f"gone-{unique}", records.versions[0], state="UNDEPLOYED")  # undeployed: not checked
    live(cluster, f"ok-{unique}", records.versions[1])
    live(cluster, f"uid-{unique}", records.versions[0])
    report = audit(conn, cluster, records.name)
    assert report.findings == [] and report.deployments_checked and report.notes == []


def test_a_deployed_record_whose_inference_service_is_gone(
    conn: RegistryConnection, registry: EmbeddedRegistry, cluster: LocalCluster, unique: str
) -> None:
    records = Records(registry, f"serve-gone-{unique}")
    records.record(f"vanished-{unique}", records.versions[0])
    [finding] = audit(conn, cluster, records.name).findings
    assert finding.code == "deployed-service-missing" and finding.severity == "error"
    assert finding.reference == f"{records.name}:1.0.0" and f"{NS}/vanished-{unique}" in finding.message
    assert f"kml models undeploy {records.name} --inference-service vanished-{unique}" in finding.fix
    unchecked = audit_registry(conn, records.name)  # without a cluster: nothing to compare
    assert unchecked.findings == [] and not unchecked.deployments_checked and "kubeconfig" in unchecked.notes[0]


def test_an_inference_service_serving_another_version(
    conn: RegistryConnection, registry: EmbeddedRegistry, cluster: LocalCluster, unique: str
) -> None:
    records = Records(registry, f"serve-other-{unique}")
    records.record(f"swapped-{unique}", records.versions[0])
    live(cluster, f"swapped-{unique}", records.versions[1])  # changed outside deploy_model
    [finding] = audit(conn, cluster, records.name).findings
    assert finding.code == "deployed-other-version" and finding.severity == "error"
    assert f"serves {records.name}:1.0.0" in finding.message and f"runs {records.name}:1.0.1" in finding.message
    assert "rollback-deployment" in finding.fix


def test_records_that_cannot_be_read_from_the_cluster_are_a_warning(
    conn: RegistryConnection,
    registry: EmbeddedRegistry,
    cluster: LocalCluster,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KML_K8S_MAX_ATTEMPTS", "1")
    records = Records(registry, f"serve-403-{unique}")
    records.record(f"hidden-{unique}", records.versions[0])
    cluster.forbid("get")
    try:
        [finding] = audit(conn, cluster, records.name).findings
    finally:
        cluster.allow("get")
    assert finding.code == "deployments-unchecked" and finding.severity == "warning"
    assert "403" in finding.message and "'get' on inferenceservices" in finding.fix
