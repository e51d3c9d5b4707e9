"""The local cluster serving real scikit-learn models with KServe's model server, end to end.

One cluster (and one embedded Model Registry) per module: model servers take seconds to start. The tests run
in file order and build on each other's revisions (create -> canary -> promote -> failed load -> stop).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import jsonschema
import numpy as np
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from mr_openapi import Artifact, ModelVersionUpdate
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.cluster.router import REVISION_HEADER
from kfp_model_lifecycle.local.cluster.storage import StorageError, resolve_storage_uri
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
NS = "kubeflow-user"
ROWS = 8


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    bundle = load_breast_cancer()
    return bundle.data, bundle.target


def train(tmp: Path, x: np.ndarray, y: np.ndarray) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    joblib.dump(model, tmp / "model.joblib")
    return tmp


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data: tuple[np.ndarray, np.ndarray]) -> dict[str, Path]:
    """Model "a" predicts the labels, model "b" their opposite (so answers tell the revisions apart)."""
    x, y = data
    root = tmp_path_factory.mktemp("models")
    broken = root / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a model")
    return {"a": train(root / "a", x, y), "b": train(root / "b", x, 1 - y), "broken": broken}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, registry: EmbeddedRegistry) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with LocalCluster(workdir, registry_url=registry.url, retire_after=0.5, progress_deadline=3) as local:
        yield local


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api_client())


@pytest.fixture(scope="module")
def crd_schema(shared_dir: Path) -> dict[str, Any]:
    """KServe's InferenceService schema (from ../shared/kserve, never copied into the repo)."""
    with gzip.open(shared_dir / "kserve" / "inferenceservice.v1beta1.openapiv3.json.gz", "rt") as handle:
        return json.load(handle)


def assert_matches_crd(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    """The whole object, status included, is valid against KServe's CRD schema."""
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


@pytest.fixture(scope="module")
def started_pids() -> list[int]:
    """Every model server pid the tests saw, checked by the last test."""
    return []


def isvc(name: str, storage_uri: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": storage_uri}}},
    }


def settled(cluster: LocalCluster, name: str, generation: int, timeout: float = 120) -> dict[str, Any]:
    """The object once the controller finished ``generation`` (the stand-in's own bookkeeping, for tests: a client
    on a cluster cannot tell from ``observedGeneration``, which is the Knative Service's or the Deployment's)."""

    def done(obj: dict[str, Any]) -> bool:
        status = obj.get("status", {})
        return (
            obj["metadata"]["generation"] >= generation
            and cluster.reconciled(obj)
            and status.get("modelStatus", {}).get("transitionStatus") != "InProgress"
        )

    return cluster.wait_for(name, done, timeout=timeout)


def deployment(cluster: LocalCluster, name: str) -> dict[str, Any]:
    """The predictor Deployment of a RawDeployment InferenceService, through the apps/v1 API."""
    apps = client.AppsV1Api(cluster.api_client())
    return apps.api_client.sanitize_for_serialization(apps.read_namespaced_deployment(f"{name}-predictor", NS))


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


def ready(obj: dict[str, Any]) -> str:
    return next(c["status"] for c in obj["status"]["conditions"] if c["type"] == "Ready")


def predict(url: str, name: str, x: np.ndarray) -> tuple[list[int], str]:
    response = httpx.post(f"{url}/v1/models/{name}:predict", json={"instances": x.tolist()}, timeout=30)
    response.raise_for_status()
    return response.json()["predictions"], response.headers[REVISION_HEADER]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serves_a_model_over_v1_and_v2(
    api: client.CustomObjectsApi,
    cluster: LocalCluster,
    models: dict[str, Path],
    data: tuple[np.ndarray, np.ndarray],
    started_pids: list[int],
    crd_schema: dict[str, Any],
) -> None:
    x, y = data
    created = api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, isvc("sk", str(models["a"])))
    obj = settled(cluster, "sk", created["metadata"]["generation"])
    status = obj["status"]
    assert ready(obj) == "True", status
    assert status["observedGeneration"] == 1
    assert status["deploymentMode"] == "Knative"  # current KServe's name for Serverless
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert status["modelStatus"]["states"] == {"activeModelState": "Loaded", "targetModelState": "Loaded"}
    predictor = status["components"]["predictor"]
    assert predictor["latestReadyRevision"] == predictor["latestRolledoutRevision"] == "sk-predictor-00001"
    assert [(t["revisionName"], t["percent"]) for t in predictor["traffic"]] == [("sk-predictor-00001", 100)]
    assert status["url"].startswith("http://127.0.0.1:") and status["address"]["url"] == status["url"]
    started_pids.extend(cluster.server_pids())

    predictions, revision = predict(status["url"], "sk", x[:ROWS])
    assert predictions == y[:ROWS].tolist()
    assert revision == "sk-predictor-00001"

    v2 = httpx.post(
        f"{status['url']}/v2/models/sk/infer",
        json={"inputs": [{"name": "input-0", "shape": [ROWS, 30], "datatype": "FP64", "data": x[:ROWS].tolist()}]},
        timeout=30,
    )
    assert v2.status_code == 200, v2.text
    output = v2.json()["outputs"][0]
    assert output["shape"] == [ROWS] and output["data"] == y[:ROWS].tolist()
    assert httpx.get(f"{status['url']}/v2/models/sk/ready").status_code == 200
    assert_matches_crd(obj, crd_schema)


def test_canary_splits_traffic_then_promotes(
    api: client.CustomObjectsApi,
    cluster: LocalCluster,
    models: dict[str, Path],
    data: tuple[np.ndarray, np.ndarray],
    started_pids: list[int],
    crd_schema: dict[str, Any],
) -> None:
    x, y = data
    patch = {"spec": {"predictor": {"canaryTrafficPercent": 30, "model": {"storageUri": str(models["b"])}}}}
    generation = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk", patch)["metadata"]["generation"]
    assert generation == 2
    obj = settled(cluster, "sk", generation)
    assert ready(obj) == "True", obj["status"]
    started_pids.extend(cluster.server_pids())
    predictor = obj["status"]["components"]["predictor"]
    assert predictor["latestCreatedRevision"] == predictor["latestReadyRevision"] == "sk-predictor-00002"
    assert predictor["latestRolledoutRevision"] == "sk-predictor-00001", "a canary is not rolled out yet"
    assert predictor["traffic"] == [
        {"revisionName": "sk-predictor-00002", "percent": 30, "latestRevision": True},
        {"revisionName": "sk-predictor-00001", "percent": 70, "latestRevision": False, "tag": "prev"},
    ]
    assert obj["status"]["observedGeneration"] == 2
    assert_matches_crd(obj, crd_schema)

    expected = {"sk-predictor-00001": y[:1].tolist(), "sk-predictor-00002": (1 - y[:1]).tolist()}
    counts: Counter[str] = Counter()
    with httpx.Client(timeout=30) as http:
        for _ in range(200):
            response = http.post(f"{obj['status']['url']}/v1/models/sk:predict", json={"instances": x[:1].tolist()})
            revision = response.headers[REVISION_HEADER]
            assert response.json()["predictions"] == expected[revision], "each revision serves its own model"
            counts[revision] += 1
    assert 36 <= counts["sk-predictor-00002"] <= 84, counts  # 30% of 200 = 60, +-3.5 standard deviations

    promote = {"spec": {"predictor": {"canaryTrafficPercent": None}}}
    generation = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk", promote)["metadata"]["generation"]
    obj = settled(cluster, "sk", generation)
    predictor = obj["status"]["components"]["predictor"]
    assert predictor["latestRolledoutRevision"] == "sk-predictor-00002"
    assert predictor["previousRolledoutRevision"] == "sk-predictor-00001"
    assert [(t["revisionName"], t["percent"]) for t in predictor["traffic"]] == [("sk-predictor-00002", 100)]
    assert {predict(obj["status"]["url"], "sk", x[:1])[1] for _ in range(20)} == {"sk-predictor-00002"}
    old = [rev.server.pid for rev in [cluster.controller.revisions(NS, "sk")["sk-predictor-00001"]] if rev.server]
    deadline = time.monotonic() + 15
    while cluster.controller.revisions(NS, "sk")["sk-predictor-00001"].server is not None:
        assert time.monotonic() < deadline, "the previous revision was not stopped after its grace period"
        time.sleep(0.1)
    assert not any(alive(pid) for pid in old)


def test_failed_load_blocks_and_keeps_the_previous_revision_serving(
    api: client.CustomObjectsApi,
    cluster: LocalCluster,
    models: dict[str, Path],
    data: tuple[np.ndarray, np.ndarray],
    crd_schema: dict[str, Any],
) -> None:
    x, _ = data
    patch = {"spec": {"predictor": {"model": {"storageUri": str(models["broken"])}}}}
    generation = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk", patch)["metadata"]["generation"]
    obj = settled(cluster, "sk", generation)
    status = obj["status"]
    assert ready(obj) == "False"
    assert status["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"
    assert status["modelStatus"]["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    assert status["modelStatus"]["lastFailureInfo"]["modelRevisionName"] == "sk-predictor-00003"
    assert status["modelStatus"]["states"]["activeModelState"] == "Loaded", "the previous revision still serves"
    predictor = status["components"]["predictor"]
    assert predictor["latestCreatedRevision"] == "sk-predictor-00003"
    assert predictor["latestReadyRevision"] == "sk-predictor-00002"
    assert [(t["revisionName"], t["percent"]) for t in predictor["traffic"]] == [("sk-predictor-00002", 100)]
    assert predict(status["url"], "sk", x[:1])[1] == "sk-predictor-00002"
    assert_matches_crd(obj, crd_schema)


def test_model_registry_uri_is_resolved_as_the_registry_storage_initializer_does(
    cluster: LocalCluster, registry: EmbeddedRegistry, models: dict[str, Path], unique: str
) -> None:
    from model_registry import ModelRegistry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no token for the local registry
        mr = ModelRegistry(registry.address, registry.port, author="tester", is_secure=False)
    name = f"Cancer {unique}"
    for version, model in (("1.0.0", models["a"]), ("2.0.0", models["b"])):
        mr.register_model(name, uri=str(model), model_format_name="sklearn", model_format_version="1", version=version)
    assert resolve_storage_uri(f"model-registry://{name}/1.0.0", registry_url=registry.url) == models["a"]
    with pytest.raises(StorageError, match="no registered model named 'Cancer%20"):  # names are not URL-decoded
        resolve_storage_uri(f"model-registry://Cancer%20{unique}/1.0.0", registry_url=registry.url)
    host_form = f"model-registry://127.0.0.1:{registry.port}/{name}/1.0.0"
    assert resolve_storage_uri(host_form) == models["a"]
    own_host = f"model-registry://127.0.0.1:{registry.port}/{name}"
    assert resolve_storage_uri(own_host, registry_url=registry.url) == models["b"], "the registry's own host"

    with connect_model_registry(registry.url) as conn:
        model_id = conn.call("find", lambda api: api.find_registered_model(name=name))["id"]
        newest = conn.call("find", lambda api: api.find_model_version(name="2.0.0", parent_resource_id=model_id))
        conn.call("archive", lambda api: api.update_model_version(newest["id"], ModelVersionUpdate(state="ARCHIVED")))
        assert resolve_storage_uri(f"model-registry://{name}", registry_url=registry.url) == models["b"], (
            "newest by id, archived included"
        )
        doc = {"name": f"notes-{unique}", "uri": "https://example.com/notes", "artifactType": "doc-artifact"}
        conn.call("link", lambda api: api.upsert_model_version_artifact(newest["id"], Artifact.from_dict(doc)))
    with pytest.raises(StorageError, match="no model artifact found for model version"):
        resolve_storage_uri(f"model-registry://{name}/2.0.0", registry_url=registry.url)


def test_a_raw_deployment_rolls_out_through_its_predictor_deployment(
    api: client.CustomObjectsApi,
    cluster: LocalCluster,
    models: dict[str, Path],
    data: tuple[np.ndarray, np.ndarray],
    started_pids: list[int],
    crd_schema: dict[str, Any],
) -> None:
    x, y = data
    raw = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, isvc("sk-raw", str(models["a"]), raw))
    obj = settled(cluster, "sk-raw", 1)
    assert ready(obj) == "True", obj["status"]
    assert obj["status"]["deploymentMode"] == "Standard"
    assert set(obj["status"]["components"]["predictor"]) <= {"url", "restUrl", "address"}, "no revisions in raw mode"
    started_pids.extend(cluster.server_pids())
    first = deployment(cluster, "sk-raw")
    assert first["metadata"]["generation"] == first["status"]["observedGeneration"] == 1
    assert first["spec"]["template"]["metadata"]["annotations"] == raw  # KServe copies the annotations
    assert conditions(first)["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert_matches_crd(obj, crd_schema)

    # New pods that crash: the old ones keep serving and KServe still says Ready, until the progress deadline.
    broken = {"spec": {"predictor": {"model": {"storageUri": str(models["broken"])}}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk-raw", broken)
    obj = settled(cluster, "sk-raw", 2)
    stalled = deployment(cluster, "sk-raw")
    assert stalled["metadata"]["generation"] == stalled["status"]["observedGeneration"] == 2
    assert obj["status"]["observedGeneration"] == 2  # the Deployment's, not a sign of readiness
    assert (stalled["status"]["updatedReplicas"], stalled["status"]["availableReplicas"]) == (1, 1)
    assert stalled["status"]["replicas"] == 2 and stalled["status"]["unavailableReplicas"] == 1
    assert ready(obj) == "True" and obj["status"]["modelStatus"]["transitionStatus"] == "UpToDate"
    assert predict(obj["status"]["url"], "sk-raw", x[:ROWS])[0] == y[:ROWS].tolist(), "the old pods serve"
    exceeded = cluster.wait_for("sk-raw", lambda o: ready(o) == "False", timeout=30)
    assert conditions(exceeded)["Ready"]["reason"] == "ProgressDeadlineExceeded"
    progressing = conditions(deployment(cluster, "sk-raw"))["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert_matches_crd(exceeded, crd_schema)

    # canaryTrafficPercent has no effect in raw mode: the new version takes everything once available.
    newer = {"spec": {"predictor": {"canaryTrafficPercent": 30, "model": {"storageUri": str(models["b"])}}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk-raw", newer)
    obj = settled(cluster, "sk-raw", 3)
    assert ready(obj) == "True", obj["status"]
    started_pids.extend(cluster.server_pids())
    done = deployment(cluster, "sk-raw")
    assert done["metadata"]["generation"] == 3 and done["status"]["availableReplicas"] == 1
    assert "unavailableReplicas" not in done["status"]
    assert predict(obj["status"]["url"], "sk-raw", x[:ROWS])[0] == (1 - y[:ROWS]).tolist()
    apps = client.AppsV1Api(cluster.api_client())
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("sk-predictor", NS)  # a Serverless InferenceService has none
    assert missing.value.status == 404


def test_model_servers_get_no_credentials_and_import_the_package_from_its_folder(
    api: client.CustomObjectsApi, cluster: LocalCluster, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KML_REGISTRY_TOKEN", "registry-secret-123")
    monkeypatch.setenv("SOME_API_TOKEN", "other-secret-456")
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, isvc("sk-env", str(models["a"])))
    settled(cluster, "sk-env", 1)
    (revision,) = cluster.controller.revisions(NS, "sk-env").values()
    assert revision.server is not None and revision.server.pid is not None
    environ = Path(f"/proc/{revision.server.pid}/environ").read_bytes().split(b"\0")
    variables = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    assert "KML_REGISTRY_TOKEN" not in variables and "SOME_API_TOKEN" not in variables
    assert not any("secret" in value for value in variables.values())
    package_root = Path(variables["PYTHONPATH"].split(os.pathsep)[0])
    assert (package_root / "kfp_model_lifecycle" / "__init__.py").is_file()
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk-env")


def test_the_registry_controller_links_labelled_inference_services(
    api: client.CustomObjectsApi,
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    models: dict[str, Path],
    unique: str,
) -> None:
    from model_registry import ModelRegistry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mr = ModelRegistry(registry.address, registry.port, author="tester", is_secure=False)
    model = mr.register_model(
        f"linked-{unique}", uri=str(models["a"]), model_format_name="sklearn", model_format_version="1", version="1"
    )
    body = isvc("sk-linked", "/nonexistent/model")
    body["metadata"]["labels"] = {"modelregistry.kubeflow.org/registered-model-id": str(model.id)}
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    linked = cluster.wait_for(
        "sk-linked",
        lambda o: (
            "modelregistry.kubeflow.org/inference-service-id" in o["metadata"]["labels"]
            and "modelregistry.kubeflow.org/finalizer" in (o["metadata"].get("finalizers") or [])
        ),
        timeout=30,
    )
    record_id = linked["metadata"]["labels"]["modelregistry.kubeflow.org/inference-service-id"]
    with connect_model_registry(registry.url) as conn:
        record = conn.call("get", lambda api: api.get_inference_service(record_id))
        assert record["name"] == f"sk-linked/{linked['metadata']['uid']}" and record["desiredState"] == "DEPLOYED"
        api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk-linked")
        deadline = time.monotonic() + 20
        while cluster.store.find(NS, "sk-linked") is not None:
            assert time.monotonic() < deadline, "the registry finalizer was not removed"
            time.sleep(0.05)
        assert conn.call("get", lambda api: api.get_inference_service(record_id))["desiredState"] == "UNDEPLOYED"


def _served(api: client.CustomObjectsApi, cluster: LocalCluster, name: str, model: Path) -> dict[str, Any]:
    """An InferenceService of this test's own, served (so the test does not depend on the ones before it)."""
    created = api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, isvc(name, str(model)))
    obj = settled(cluster, name, created["metadata"]["generation"])
    assert ready(obj) == "True", obj.get("status")
    return obj


def test_delete_stops_the_servers(api: client.CustomObjectsApi, cluster: LocalCluster, models: dict[str, Path]) -> None:
    url = _served(api, cluster, "sk-delete", models["a"])["status"]["url"]
    pids = [r.server.pid for r in cluster.controller.revisions(NS, "sk-delete").values() if r.server is not None]
    assert pids and all(pid is not None for pid in pids)
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "sk-delete")
    deadline = time.monotonic() + 20
    while cluster.store.find(NS, "sk-delete") is not None:
        assert time.monotonic() < deadline, "the finalizer did not complete"
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)


def test_stop_leaves_no_processes(
    api: client.CustomObjectsApi, cluster: LocalCluster, models: dict[str, Path], started_pids: list[int]
) -> None:
    _served(api, cluster, "sk-last", models["b"])
    running = cluster.server_pids()
    assert running, "sk-last should be served"
    cluster.stop()
    for pid in {*started_pids, *running}:
        assert not alive(pid), f"model server {pid} outlived the cluster"
    assert cluster.server_pids() == []
