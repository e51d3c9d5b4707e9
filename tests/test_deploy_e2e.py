"""deploy_model and rollback_deployment end to end: the Model Registry, the local KServe stand-in serving real
scikit-learn models with KServe's model server, the official ``kubernetes`` client, and ``kfp.local`` pipelines.

One registry and one stand-in for the module (model servers take seconds to start); the tests run in file order and
build on each other: dry run -> 403 -> first deployment (pipeline) -> unchanged redeploy -> canary -> broken model
rolled back -> rollback_deployment (pipeline) -> history -> failed first deployment (RawDeployment) -> undeploy.
No ``from __future__ import annotations`` here: KFP reads the annotations of the pipelines defined below.
"""

import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
import yaml
from kfp import dsl
from kubernetes import client
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

from kfp_model_lifecycle import lifecycle as lc
from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.components.deploy_model import deploy_model_with_context, rollback_deployment_with_context
from kfp_model_lifecycle.deployment.history import RolloutEntry, decode_serve_model
from kfp_model_lifecycle.deployment.inference_service import get_inference_service
from kfp_model_lifecycle.deployment.kube import load_kubernetes_client
from kfp_model_lifecycle.deployment.names import sanitize_inference_service_name
from kfp_model_lifecycle.deployment.run import run_deploy_model, run_rollback_deployment, run_undeploy_model
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.cluster.router import REVISION_HEADER
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

REGISTRY_FINALIZER = "modelregistry.kubeflow.org/finalizer"
NS = "kubeflow-user"  # the stand-in kubeconfig's namespace: the default target outside a pod
ROWS = 12


# ---------------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    return x, y


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory, data: tuple[np.ndarray, np.ndarray]) -> dict[str, Path]:
    """v1 predicts the labels, v2 their opposite (answers tell the versions apart), v3 is not a model."""
    x, y = data
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for version, target in (("v1", y), ("v2", 1 - y)):
        (root / version).mkdir()
        joblib.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, target), root / version / "model.joblib")
        dirs[version] = root / version
    (root / "v3").mkdir()
    (root / "v3" / "model.joblib").write_bytes(b"not a model")
    dirs["v3"] = root / "v3"
    dirs["missing"] = root / "does-not-exist"
    return dirs


@pytest.fixture(scope="module")
def expected(model_dirs: dict[str, Path], data: tuple[np.ndarray, np.ndarray]) -> dict[str, list[int]]:
    """What each version answers for the first rows (v1 and v2 disagree on every row)."""
    x, _ = data
    answers = {v: joblib.load(model_dirs[v] / "model.joblib").predict(x[:ROWS]).tolist() for v in ("v1", "v2")}
    assert all(a != b for a, b in zip(answers["v1"], answers["v2"], strict=True))
    return answers


@pytest.fixture(scope="module")
def model_name(registry: EmbeddedRegistry, model_dirs: dict[str, Path]) -> str:
    from model_registry import ModelRegistry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = ModelRegistry(registry.address, registry.port, author="tester", is_secure=False)
    name = "Breast Cancer Classifier"
    for version, key in (("1.0.0", "v1"), ("2.0.0", "v2"), ("3.0.0", "v3"), ("4.0.0", "missing")):
        client.register_model(
            name, str(model_dirs[key]), model_format_name="sklearn", model_format_version="1", version=version
        )
    return name


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, registry: EmbeddedRegistry) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with LocalCluster(workdir, registry_url=registry.url, retire_after=0.2, progress_deadline=3) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module", autouse=True)
def environment(cluster: LocalCluster, registry: EmbeddedRegistry) -> Iterator[None]:
    """What a pod would have, for this process and the pipelines' task subprocesses (they inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("KML_REGISTRY_TOKEN", "POD_NAMESPACE", "KFP_POD_NAME", "KML_KFP_UI_URL"):
            patch.delenv(name, raising=False)
        patch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        patch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
        patch.setenv("KML_REGISTRY_URL", registry.url)
        patch.setenv("KML_DEPLOY_POLL_SECONDS", "0.1")
        yield


@pytest.fixture(scope="module")
def conn(registry: EmbeddedRegistry) -> Iterator[dict[str, Any]]:
    connection = connect_model_registry(registry.url)
    yield connection
    connection.close()


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def isvc_name(model_name: str) -> str:
    return sanitize_inference_service_name(model_name, NS)


def predict(url: str, name: str, x: np.ndarray) -> tuple[list[int], str]:
    response = httpx.post(f"{url}/v1/models/{name}:predict", json={"instances": x[:ROWS].tolist()}, timeout=10)
    response.raise_for_status()
    return response.json()["predictions"], response.headers.get(REVISION_HEADER, "")


def api_get(registry: EmbeddedRegistry, path: str, **params: Any) -> Any:
    response = httpx.get(registry.api_url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def registry_record(registry: EmbeddedRegistry, name: str) -> dict[str, Any]:
    env = api_get(registry, "/serving_environment", name=NS)
    return api_get(registry, "/inference_service", name=name, parentResourceId=env["id"])


def rollouts(registry: EmbeddedRegistry, record: dict[str, Any]) -> list[RolloutEntry]:
    items = api_get(registry, f"/inference_services/{record['id']}/serves", orderBy="ID")["items"]
    return [decode_serve_model(item) for item in items]


def deployment_events(conn: RegistryConnection, model_name: str) -> list[dict[str, Any]]:
    return lc.lifecycle_history(conn, model_name, event_type="deployment")["events"]


def version_id(conn: RegistryConnection, model_name: str, version: str) -> str:
    return str(lc.resolve_model_reference(conn, f"{model_name}:{version}", with_artifact=False).version["id"])


# ---------------------------------------------------------------------------------------------------------------
# The story
# ---------------------------------------------------------------------------------------------------------------


def test_dry_run_writes_the_manifest_and_touches_nothing(
    cluster: LocalCluster, registry: EmbeddedRegistry, model_name: str, tmp_path: Path, shared_dir: Path
) -> None:
    import gzip

    import jsonschema

    out = tmp_path / "manifest.yaml"
    result = run_deploy_model(model_reference=f"{model_name}:1.0.0", dry_run=True, manifest_path=str(out))
    manifest = yaml.safe_load(out.read_text())
    assert manifest == result.manifest and result.url == "" and result.dry_run
    assert manifest["metadata"]["name"] == isvc_name(model_name) == "breast-cancer-classifier"
    assert manifest["metadata"]["namespace"] == NS
    assert manifest["spec"]["predictor"]["model"]["storageUri"].endswith("/v1")
    with gzip.open(shared_dir / "kserve" / "inferenceservice.v1beta1.openapiv3.json.gz", "rt") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator(schema).validate(manifest)
    assert cluster.store.list(NS)[0] == []
    assert api_get(registry, "/serving_environments")["items"] == []


def test_a_403_names_the_missing_permission_before_changing_anything(
    cluster: LocalCluster, registry: EmbeddedRegistry, model_name: str
) -> None:
    cluster.forbid("patch")
    try:
        with pytest.raises(PermissionError) as caught:
            run_deploy_model(model_reference=f"{model_name}:1.0.0")
    finally:
        cluster.allow("patch")
    text = str(caught.value)
    assert "may not patch inferenceservices.serving.kserve.io in namespace 'kubeflow-user'" in text
    assert "components/deploy_model/rbac.yaml" in text and "Nothing was changed" in text
    assert cluster.store.list(NS)[0] == []
    # RawDeployment reads the predictor Deployment: `get deployments.apps` is checked in advance too.
    cluster.forbid("get", "deployments")
    try:
        with pytest.raises(PermissionError, match=r"may not get deployments\.apps in namespace 'kubeflow-user'"):
            run_deploy_model(model_reference=f"{model_name}:1.0.0", deployment_mode="Standard")
    finally:
        cluster.allow("get", "deployments")
    assert cluster.store.list(NS)[0] == []
    # A 403 from the call itself (no advance check) is explained the same way.
    k8s = load_kubernetes_client()
    cluster.forbid("get")
    try:
        with pytest.raises(PermissionError, match=r"lacks the RBAC permission 'get' on 'inferenceservices\.serving"):
            get_inference_service(k8s, NS, "anything")
    finally:
        cluster.allow("get")
        k8s.close()


def test_a_pipeline_deploys_a_registered_version(
    local_runner: Path,
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    conn: RegistryConnection,
    model_name: str,
    data: tuple[np.ndarray, np.ndarray],
    expected: dict[str, list[int]],
) -> None:
    @dsl.pipeline(name="deploy-breast-cancer")
    def deploy_pipeline(registry_url: str) -> str:
        task = deploy_model_with_context(
            f"{model_name}:1.0.0", registry_url=registry_url, timeout_seconds=180, reason="first release"
        )
        return task.outputs["url"]

    run = deploy_pipeline(registry_url=registry.url)
    url = run.output
    name = isvc_name(model_name)
    predictions, _ = predict(url, name, data[0])
    assert predictions == expected["v1"]

    live = cluster.store.get(NS, name)
    labels = live["metadata"]["labels"]
    v1 = version_id(conn, model_name, "1.0.0")
    assert labels["modelregistry.kubeflow.org/model-version-id"] == v1
    assert labels["app.kubernetes.io/managed-by"] == "kfp-model-lifecycle"
    assert live["metadata"]["annotations"]["kfp-model-lifecycle/run-name"].startswith("deploy-breast-cancer-")

    record = registry_record(registry, name)
    assert labels["modelregistry.kubeflow.org/inference-service-id"] == record["id"]
    assert record["desiredState"] == "DEPLOYED" and record["modelVersionId"] == v1
    linked = cluster.wait_for(name, lambda o: REGISTRY_FINALIZER in (o["metadata"].get("finalizers") or []), timeout=30)
    assert linked["metadata"]["labels"]["modelregistry.kubeflow.org/inference-service-id"] == record["id"]
    assert record["customProperties"]["url"]["string_value"] == url
    assert record["customProperties"]["kml_deployed_version"]["string_value"] == "1.0.0"
    (first,) = rollouts(registry, record)
    assert first.state == "RUNNING" and first.outcome == "deployed" and first.phases == "created"
    assert first.run_name.startswith("deploy-breast-cancer-") and first.run_id.isdigit()
    assert json.loads(first.manifest)["metadata"]["name"] == name
    (event,) = deployment_events(conn, model_name)
    assert (event["version"], event["to"], event["from"], event["target"]) == ("1.0.0", "deployed", "", f"{NS}/{name}")
    assert event["reason"] == "first release" and event["actor"].startswith("kfp-run:deploy-breast-cancer-")
    manifest_files = list(local_runner.rglob("manifest"))
    assert manifest_files and yaml.safe_load(manifest_files[0].read_text())["metadata"]["name"] == name


def test_deploying_the_same_version_again_changes_nothing_and_modes_do_not_switch(
    cluster: LocalCluster, registry: EmbeddedRegistry, model_name: str
) -> None:
    name = isvc_name(model_name)
    generation = cluster.store.get(NS, name)["metadata"]["generation"]
    result = run_deploy_model(model_reference=f"{model_name}:1.0.0", timeout_seconds=30)
    assert result.phases == ["unchanged"] and result.records is None
    assert cluster.store.get(NS, name)["metadata"]["generation"] == generation
    assert len(rollouts(registry, registry_record(registry, name))) == 1
    with pytest.raises(ValueError, match="cannot switch an existing InferenceService to RawDeployment"):
        run_deploy_model(model_reference=f"{model_name}:2.0.0", deployment_mode="RawDeployment")
    assert cluster.store.get(NS, name)["metadata"]["generation"] == generation
    assert len(rollouts(registry, registry_record(registry, name))) == 1


def test_canary_rollout_then_promotion(
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    conn: RegistryConnection,
    model_name: str,
    data: tuple[np.ndarray, np.ndarray],
    expected: dict[str, list[int]],
) -> None:
    name = isvc_name(model_name)
    splits: list[list[tuple[str, int]]] = []

    def watch(event: str, obj: dict[str, Any]) -> None:
        traffic = ((obj.get("status") or {}).get("components") or {}).get("predictor", {}).get("traffic") or []
        if obj["metadata"]["name"] == name and len(traffic) == 2:
            splits.append([(t["latestRevision"], t.get("tag", ""), t["percent"]) for t in traffic])

    cluster.store.add_listener(watch)
    result = run_deploy_model(model_reference=f"{model_name}:2.0.0", canary_percent=40, timeout_seconds=180)
    assert result.phases == ["updated", "canary 40%", "promoted"]
    assert result.previous_version == "1.0.0"
    assert [(True, "", 40), (False, "prev", 60)] in splits  # the canary really shared the traffic
    live = cluster.store.get(NS, name)
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert predict(result.url, name, data[0])[0] == expected["v2"]
    record = registry_record(registry, name)
    assert record["modelVersionId"] == version_id(conn, model_name, "2.0.0")
    latest = rollouts(registry, record)[-1]
    assert (latest.version, latest.canary_percent, latest.previous_version) == ("2.0.0", 40, "1.0.0")
    assert deployment_events(conn, model_name)[-1]["from"] == "1.0.0"


def test_a_broken_model_is_rolled_back_automatically_and_the_old_one_keeps_answering(
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    conn: RegistryConnection,
    model_name: str,
    data: tuple[np.ndarray, np.ndarray],
    expected: dict[str, list[int]],
) -> None:
    name = isvc_name(model_name)
    x = data[0]
    url = cluster.store.get(NS, name)["status"]["url"]
    answers: list[Any] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                answers.append(predict(url, name, x)[0])
            except httpx.HTTPError as exc:
                answers.append(repr(exc))
            stop.wait(0.1)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        with pytest.raises(RuntimeError) as caught:
            run_deploy_model(model_reference=f"{model_name}:3.0.0", canary_percent=20, timeout_seconds=180)
    finally:
        stop.set()
        asker.join()
    text = str(caught.value)
    assert "failed during the canary: BlockedByFailedLoad: ModelLoadFailed" in text
    assert "Rolled back automatically: the previous spec was restored and is Ready (serving version 2.0.0)" in text
    assert answers and all(a == expected["v2"] for a in answers), answers  # v2 answered throughout
    assert predict(url, name, x)[0] == expected["v2"]
    live = cluster.store.get(NS, name)
    assert live["metadata"]["labels"]["modelregistry.kubeflow.org/model-version-id"] == version_id(
        conn, model_name, "2.0.0"
    )
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    record = registry_record(registry, name)
    assert record["desiredState"] == "DEPLOYED" and record["modelVersionId"] == version_id(conn, model_name, "2.0.0")
    assert record["customProperties"]["url"]["string_value"] == url  # the old revision still serves there
    failed = rollouts(registry, record)[-1]
    assert (failed.state, failed.outcome, failed.version) == ("FAILED", "failed", "3.0.0")
    assert failed.failure_reason == "BlockedByFailedLoad: ModelLoadFailed" and failed.restored is True
    assert "failed, rolled back" in failed.phases
    assert [e["version"] for e in deployment_events(conn, model_name)] == ["1.0.0", "2.0.0"]  # nothing new
    assert REGISTRY_FINALIZER in live["metadata"]["finalizers"], "the registry controller's finalizer is kept"
    assert live["metadata"]["labels"]["modelregistry.kubeflow.org/inference-service-id"] == record["id"]


def test_an_invalid_spec_fails_at_once_and_the_running_version_stays(
    cluster: LocalCluster, registry: EmbeddedRegistry, conn: RegistryConnection, model_name: str
) -> None:
    # The stand-in serves v1 and v2 only: grpc-v2 is an InvalidSpec. KServe then writes nothing but modelStatus (no
    # observedGeneration), so a wait on observedGeneration would run into the timeout; this one fails at once.
    name = isvc_name(model_name)
    with pytest.raises(RuntimeError) as caught:
        run_deploy_model(model_reference=f"{model_name}:2.0.0", protocol_version="grpc-v2", timeout_seconds=120)
    text = str(caught.value)
    assert "failed during the rollout: InvalidSpec: InvalidPredictorSpec" in text
    assert "protocolVersion 'grpc-v2'" in text and "Rolled back automatically" in text
    live = cluster.store.get(NS, name)
    assert "protocolVersion" not in live["spec"]["predictor"]["model"]
    failed = rollouts(registry, registry_record(registry, name))[-1]
    assert (failed.outcome, failed.failure_reason) == ("failed", "InvalidSpec: InvalidPredictorSpec")
    assert registry_record(registry, name)["modelVersionId"] == version_id(conn, model_name, "2.0.0")


def test_rollback_deployment_in_a_pipeline_redeploys_the_previous_version(
    local_runner: Path,
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    conn: RegistryConnection,
    model_name: str,
    data: tuple[np.ndarray, np.ndarray],
    expected: dict[str, list[int]],
) -> None:
    @dsl.pipeline(name="roll-back-breast-cancer")
    def rollback_pipeline(model: str) -> str:
        task = rollback_deployment_with_context(model_name=model, timeout_seconds=180, reason="v2 drifts")
        return task.outputs["version_name"]

    assert rollback_pipeline(model=model_name).output == "1.0.0"
    name = isvc_name(model_name)
    url = cluster.store.get(NS, name)["status"]["url"]
    assert predict(url, name, data[0])[0] == expected["v1"]
    record = registry_record(registry, name)
    assert record["modelVersionId"] == version_id(conn, model_name, "1.0.0")
    last = rollouts(registry, record)[-1]
    assert last.rollback is True and last.version == "1.0.0" and last.previous_version == "2.0.0"
    event = deployment_events(conn, model_name)[-1]
    assert (event["version"], event["from"], event["rollback"]) == ("1.0.0", "2.0.0", True)
    assert event["reason"] == "v2 drifts"
    # Nothing earlier is left to go back to (2.0.0 was rolled back from).
    with pytest.raises(LookupError, match="no earlier deployed version to roll back to"):
        run_rollback_deployment(model_name=model_name, timeout_seconds=30)


def test_kml_models_deployments_shows_where_and_when(
    registry: EmbeddedRegistry, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli(["deployments", model_name, "--registry-url", registry.url, "--json"])
    assert _run(args) == 0
    data = json.loads(capsys.readouterr().out)
    name = isvc_name(model_name)
    (service,) = data["services"]
    assert (service["target"], service["state"], service["version"]) == (f"{NS}/{name}", "DEPLOYED", "1.0.0")
    history = [(r["version"], r["outcome"], r["rollback"]) for r in data["rollouts"]]
    assert history == [
        ("1.0.0", "deployed", False),
        ("2.0.0", "deployed", False),
        ("3.0.0", "failed", False),
        ("2.0.0", "failed", False),
        ("1.0.0", "deployed", True),
    ]
    args = _cli(["deployments", model_name, "--registry-url", registry.url])
    assert _run(args) == 0
    table = capsys.readouterr().out
    assert f"{NS}/{name}" in table and "BlockedByFailedLoad" in table and "rollback" in table


def test_a_failed_first_raw_deployment_is_removed_again(
    cluster: LocalCluster, registry: EmbeddedRegistry, model_name: str
) -> None:
    with pytest.raises(RuntimeError, match="the InferenceService this rollout created was deleted again"):
        run_deploy_model(
            model_reference=f"{model_name}:4.0.0",
            inference_service_name="bc-raw",
            deployment_mode="RawDeployment",
            canary_percent=50,
            timeout_seconds=60,
        )
    assert cluster.store.find(NS, "bc-raw") is None
    record = registry_record(registry, "bc-raw")
    assert record["desiredState"] == "UNDEPLOYED"
    (failed,) = rollouts(registry, record)
    assert failed.outcome == "failed" and failed.restore_action == "deleted" and failed.canary_percent == 0
    assert "does not exist" in failed.failure_message


def test_new_raw_pods_that_crash_are_caught_by_the_progress_deadline(
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    model_name: str,
    data: tuple[np.ndarray, np.ndarray],
    expected: dict[str, list[int]],
) -> None:
    # KServe keeps a RawDeployment Ready while the old pods serve and the new ones crash: only the predictor
    # Deployment's rollout tells, once its progress deadline (3 s here) has passed.
    name = "bc-standard"
    first = run_deploy_model(model_reference=f"{model_name}:1.0.0", inference_service_name=name,
                             deployment_mode="Standard", timeout_seconds=120)  # fmt: skip
    assert predict(first.url, name, data[0])[0] == expected["v1"]
    assert cluster.store.get(NS, name)["status"]["deploymentMode"] == "Standard"
    with pytest.raises(RuntimeError) as caught:
        run_deploy_model(model_reference=f"{model_name}:3.0.0", inference_service_name=name,
                         deployment_mode="RawDeployment", timeout_seconds=120)  # fmt: skip
    text = str(caught.value)
    assert "failed during the rollout: ProgressDeadlineExceeded" in text and "timed out progressing" in text
    assert "Rolled back automatically: the previous spec was restored and is Ready (serving version 1.0.0)" in text
    assert predict(first.url, name, data[0])[0] == expected["v1"]
    apps = client.AppsV1Api(cluster.api_client())
    deployment = apps.read_namespaced_deployment(f"{name}-predictor", NS)
    assert deployment.status.updated_replicas == deployment.status.available_replicas == deployment.status.replicas
    (_, failed) = rollouts(registry, registry_record(registry, name))
    assert failed.outcome == "failed" and failed.failure_reason == "ProgressDeadlineExceeded" and failed.restored
    undeployed = run_undeploy_model(inference_service_name=name, timeout_seconds=60)
    assert undeployed.deleted and undeployed.version == "1.0.0"


def test_undeploy_marks_the_record_undeployed(
    cluster: LocalCluster,
    registry: EmbeddedRegistry,
    conn: RegistryConnection,
    model_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = isvc_name(model_name)
    args = _cli(["undeploy", model_name, "--registry-url", registry.url, "--reason", "retired"])
    assert _run(args) == 0
    assert "deleted; registry record UNDEPLOYED" in capsys.readouterr().out
    assert cluster.store.find(NS, name) is None
    record = registry_record(registry, name)
    assert record["desiredState"] == "UNDEPLOYED"
    last = rollouts(registry, record)[-1]
    assert (last.state, last.outcome, last.version) == ("COMPLETE", "undeployed", "1.0.0")
    event = deployment_events(conn, model_name)[-1]
    assert (event["to"], event["version"], event["reason"]) == ("undeployed", "1.0.0", "retired")
    assert cluster.server_pids() == [] or all(_gone(pid) for pid in cluster.server_pids())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _cli(argv: list[str]) -> Any:
    from kfp_model_lifecycle.cli.parsers import build_parser

    return build_parser().parse_args(["models", *argv])


def _run(args: Any) -> int:
    from kfp_model_lifecycle.cli.main import resolve_handler

    return resolve_handler(args.handler)(args)
