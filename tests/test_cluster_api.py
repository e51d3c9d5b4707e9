"""The local cluster's Kubernetes API, through the official ``kubernetes`` client and its kubeconfig.

No model is served here (storage URIs point nowhere or to broken files), so these tests are fast; serving is in
``test_cluster_serving.py``.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.cluster.api import json_patch, merge_patch
from kfp_model_lifecycle.local.cluster.deployments import PredictorDeployment
from kfp_model_lifecycle.local.cluster.revisions import ServiceState, TrafficTarget, backends, plan_traffic
from kfp_model_lifecycle.local.cluster.router import Router
from kfp_model_lifecycle.local.cluster.spec import (
    DEPLOYMENT_MODE_ANNOTATION,
    RAW,
    SERVERLESS,
    deployment_mode,
    spec_problem,
)
from kfp_model_lifecycle.local.cluster.status import build_status
from kfp_model_lifecycle.local.cluster.storage import StorageError, resolve_storage_uri
from kfp_model_lifecycle.local.cluster.workqueue import WorkQueue

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
NS = "kubeflow-user"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster"), retire_after=0.2) as local:
        yield local


@pytest.fixture(scope="module")
def api(cluster: LocalCluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api_client())


@pytest.fixture(scope="module")
def crd_validator(shared_dir: Path) -> jsonschema.Draft7Validator:
    """KServe's InferenceService schema, read from ../shared/kserve (never copied into the repo)."""
    with gzip.open(shared_dir / "kserve" / "inferenceservice.v1beta1.openapiv3.json.gz", "rt") as handle:
        return jsonschema.Draft7Validator(json.load(handle))


def assert_matches_crd(obj: dict[str, Any], validator: jsonschema.Draft7Validator) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    assert not errors, errors


def isvc(name: str, storage_uri: str = "/nonexistent/model", **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "labels": {"app": "test"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": storage_uri}, **predictor}},
    }


def status_body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind)


def observed(cluster: LocalCluster) -> Any:
    """A predicate: the controller finished the object's current spec (the stand-in's own bookkeeping: on a cluster
    ``status.observedGeneration`` is the Knative Service's or the Deployment's and cannot tell)."""

    def done(obj: dict[str, Any]) -> bool:
        status = obj.get("status", {})
        return cluster.reconciled(obj) and status.get("modelStatus", {}).get("transitionStatus") != "InProgress"

    return done


def create(api: client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    return api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)


def settled(cluster: LocalCluster, name: str) -> dict[str, Any]:
    """Wait until the controller is done with the current generation (it writes the finalizer and status)."""
    return cluster.wait_for(
        name,
        lambda o: observed(cluster)(o) and bool(o["metadata"].get("finalizers")),
        timeout=60,
    )


def test_kubeconfig_works_with_the_official_loaders(cluster: LocalCluster) -> None:
    contexts, current = config.list_kube_config_contexts(config_file=str(cluster.kubeconfig_path))
    assert current["context"]["namespace"] == NS
    assert len(contexts) == 1
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig_path), client_configuration=configuration)
    assert configuration.host == cluster.api_url and cluster.api_url.startswith("http://127.0.0.1:")
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    listing = api.list_namespaced_custom_object(GROUP, VERSION, "empty-namespace", PLURAL)
    assert listing["kind"] == "InferenceServiceList"
    assert listing["apiVersion"] == f"{GROUP}/{VERSION}"
    assert listing["items"] == []
    assert isinstance(listing["metadata"]["resourceVersion"], str)
    assert client.VersionApi(client.ApiClient(configuration)).get_code().git_version.startswith("v1.")


def test_create_get_list_and_already_exists(api: client.CustomObjectsApi) -> None:
    created = create(api, isvc("crud-a"))
    meta = created["metadata"]
    assert meta["namespace"] == NS and meta["generation"] == 1
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert isinstance(meta["resourceVersion"], str)
    assert "status" not in created
    fetched = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "crud-a")
    assert fetched["spec"] == created["spec"]
    names = [o["metadata"]["name"] for o in api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"]]
    assert "crud-a" in names
    selected = api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, label_selector="app=nope")
    assert selected["items"] == []
    everywhere = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, field_selector="metadata.name=crud-a")
    assert [o["metadata"]["name"] for o in everywhere["items"]] == ["crud-a"]

    with pytest.raises(ApiException) as info:
        create(api, isvc("crud-a"))
    assert info.value.status == 409
    body = status_body(info.value)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["reason"] == "AlreadyExists" and body["code"] == 409
    assert body["message"] == 'inferenceservices.serving.kserve.io "crud-a" already exists'


def test_not_found_is_a_kubernetes_status(api: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as info:
        api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "missing")
    assert info.value.status == 404
    assert status_body(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'inferenceservices.serving.kserve.io "missing" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"group": GROUP, "kind": PLURAL, "name": "missing"},
    }


def test_invalid_names_and_bodies_are_rejected(api: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as info:
        create(api, isvc("Bad_Name"))
    assert info.value.status == 422 and status_body(info.value)["reason"] == "Invalid"
    assert "metadata.name" in status_body(info.value)["message"]
    with pytest.raises(ApiException) as info:
        create(api, {**isvc("kind-x"), "kind": "Deployment"})
    assert info.value.status == 400
    with pytest.raises(ApiException) as info:
        create(api, {**isvc("rv-x"), "metadata": {"name": "rv-x", "resourceVersion": "7"}})
    assert info.value.status == 500 and "resourceVersion should not be set" in status_body(info.value)["message"]


def test_merge_patch_generation_resource_version_and_null_deletes(api: client.CustomObjectsApi) -> None:
    created = create(api, isvc("patch-a", minReplicas=1))
    rv0 = int(created["metadata"]["resourceVersion"])

    labelled = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "patch-a", {"metadata": {"labels": {"stage": "canary"}}}
    )
    assert labelled["metadata"]["labels"] == {"app": "test", "stage": "canary"}
    assert labelled["metadata"]["generation"] == 1, "metadata changes do not bump generation"
    rv1 = int(labelled["metadata"]["resourceVersion"])
    assert rv1 > rv0

    same = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "patch-a", {"metadata": {"labels": {}}})
    assert int(same["metadata"]["resourceVersion"]) >= rv1  # the controller may have written status meanwhile

    spec_patch = {"spec": {"predictor": {"minReplicas": None, "canaryTrafficPercent": 10}}}
    patched = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "patch-a", spec_patch)
    assert patched["metadata"]["generation"] == 2
    assert "minReplicas" not in patched["spec"]["predictor"], "null deletes the field (RFC 7386)"
    assert patched["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert patched["spec"]["predictor"]["model"]["storageUri"] == "/nonexistent/model", "other fields are kept"

    removed = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "patch-a", {"metadata": {"labels": {"stage": None}}}
    )
    assert removed["metadata"]["labels"] == {"app": "test"}
    assert removed["metadata"]["generation"] == 2


def test_merge_patch_with_a_stale_resource_version_conflicts(api: client.CustomObjectsApi) -> None:
    created = create(api, isvc("patch-rv"))
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "patch-rv", {"metadata": {"labels": {"x": "1"}}})
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "spec": {"predictor": {}}}
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "patch-rv", stale)
    assert info.value.status == 409 and status_body(info.value)["reason"] == "Conflict"


def test_replace_with_stale_resource_version_is_a_conflict(api: client.CustomObjectsApi, cluster: LocalCluster) -> None:
    created = create(api, isvc("replace-a"))
    settled(cluster, "replace-a")  # else the controller's status write makes our read stale (a real 409 too)
    current = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "replace-a")
    current["spec"]["predictor"]["minReplicas"] = 2
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "replace-a", current)
    assert replaced["metadata"]["generation"] == 2
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]

    stale = dict(current, spec={"predictor": {"model": current["spec"]["predictor"]["model"]}})
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "replace-a", stale)
    assert info.value.status == 409
    body = status_body(info.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on inferenceservices.serving.kserve.io "replace-a": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "nope", isvc("nope"))
    assert info.value.status == 404


def test_status_is_written_by_the_controller_only(api: client.CustomObjectsApi, cluster: LocalCluster) -> None:
    create(api, isvc("status-a"))
    obj = settled(cluster, "status-a")
    assert obj["status"]["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"
    fake = {"status": {"url": "http://fake", "observedGeneration": 99}}
    patched = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "status-a", fake)
    assert patched["status"].get("url") != "http://fake"
    assert patched["status"] == obj["status"]
    current = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "status-a")
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "status-a", {**current, **fake})
    assert replaced["status"] == obj["status"]
    assert api.get_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "status-a")["status"] == obj["status"]
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "status-a", fake)
    assert info.value.status == 403
    assert 'cannot patch resource "inferenceservices/status"' in status_body(info.value)["message"]


def test_forbidden_verb_answers_403_in_the_apiserver_format(
    api: client.CustomObjectsApi, cluster: LocalCluster
) -> None:
    create(api, isvc("rbac-a"))
    cluster.forbid("patch")
    cluster.forbid("create")
    try:
        with pytest.raises(ApiException) as info:
            api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "rbac-a", {"spec": {"predictor": {}}})
        assert info.value.status == 403
        body = status_body(info.value)
        assert body["reason"] == "Forbidden" and body["code"] == 403
        assert body["details"] == {"group": GROUP, "kind": PLURAL, "name": "rbac-a"}
        assert body["message"] == (
            'inferenceservices.serving.kserve.io "rbac-a" is forbidden: User '
            '"system:serviceaccount:kubeflow-user:default-editor" cannot patch resource "inferenceservices" '
            'in API group "serving.kserve.io" in the namespace "kubeflow-user"'
        )
        with pytest.raises(ApiException) as info:
            create(api, isvc("rbac-b"))
        assert status_body(info.value)["message"].startswith("inferenceservices.serving.kserve.io is forbidden: ")

        review = client.AuthorizationV1Api(api.api_client).create_self_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": NS, "verb": "patch", "group": GROUP, "resource": PLURAL}},
            }
        )
        assert review.status.allowed is False
    finally:
        cluster.allow("patch")
        cluster.allow("create")
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "rbac-a", {"metadata": {"labels": {"ok": "1"}}})


def test_delete_runs_the_finalizer(api: client.CustomObjectsApi, cluster: LocalCluster) -> None:
    create(api, isvc("delete-a"))
    obj = cluster.wait_for("delete-a", lambda o: "inferenceservice.finalizers" in o["metadata"].get("finalizers", []))
    assert obj["metadata"]["finalizers"] == ["inferenceservice.finalizers"]
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "delete-a")
    deadline = time.monotonic() + 10
    while cluster.store.find(NS, "delete-a") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(ApiException) as info:
        api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "delete-a")
    assert info.value.status == 404
    with pytest.raises(ApiException) as info:
        api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "delete-a")
    assert info.value.status == 404
    create(api, isvc("delete-a"))  # the name is free again


def test_dry_run_writes_nothing(api: client.CustomObjectsApi) -> None:
    dry = api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, isvc("dry-a"), dry_run="All")
    assert dry["metadata"]["name"] == "dry-a"
    with pytest.raises(ApiException):
        api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "dry-a")


def test_invalid_spec_and_unresolvable_storage_set_status(
    api: client.CustomObjectsApi, cluster: LocalCluster, crd_validator: jsonschema.Draft7Validator
) -> None:
    body = isvc("spec-a")
    del body["spec"]["predictor"]["model"]["modelFormat"]
    create(api, body)
    obj = cluster.wait_for("spec-a", observed(cluster), timeout=30)
    assert obj["status"]["modelStatus"]["transitionStatus"] == "InvalidSpec"
    assert obj["status"]["modelStatus"]["states"]["targetModelState"] == "FailedToLoad"
    assert "modelFormat.name is required" in obj["status"]["modelStatus"]["lastFailureInfo"]["message"]
    # KServe returns before propagating anything: no observedGeneration, the conditions are not decided.
    assert "observedGeneration" not in obj["status"]
    assert condition(obj, "Ready")["status"] == "Unknown"
    assert_matches_crd(obj, crd_validator)

    fixed = {"spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}}}}}
    patched = api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "spec-a", fixed)
    assert patched["metadata"]["generation"] == 2
    obj = cluster.wait_for("spec-a", observed(cluster), timeout=30)
    model_status = obj["status"]["modelStatus"]
    assert model_status["transitionStatus"] == "BlockedByFailedLoad"
    assert model_status["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    assert "/nonexistent/model does not exist" in model_status["lastFailureInfo"]["message"]
    assert obj["status"]["components"]["predictor"]["latestCreatedRevision"] == "spec-a-predictor-00001"
    assert "url" not in obj["status"], "nothing serves it"
    # observedGeneration is the Knative Service's (its first generation), not the InferenceService's 2.
    assert obj["status"]["observedGeneration"] == 1 != obj["metadata"]["generation"]
    assert_matches_crd(obj, crd_validator)

    broken_again = {"spec": {"predictor": {"model": {"protocolVersion": "v9"}}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "spec-a", broken_again)
    invalid = cluster.wait_for("spec-a", observed(cluster), timeout=30)
    assert invalid["status"]["modelStatus"]["transitionStatus"] == "InvalidSpec"
    assert "protocolVersion 'v9'" in invalid["status"]["modelStatus"]["lastFailureInfo"]["message"]
    kept = {k: v for k, v in invalid["status"].items() if k != "modelStatus"}
    assert kept == {k: v for k, v in obj["status"].items() if k != "modelStatus"}, "only modelStatus changes"

    create(api, isvc("spec-b", "s3://bucket/model"))
    obj = cluster.wait_for("spec-b", observed(cluster), timeout=30)
    assert "copy the model to a local directory" in obj["status"]["modelStatus"]["lastFailureInfo"]["message"]


def test_broken_model_file_is_blocked_by_failed_load(
    api: client.CustomObjectsApi, cluster: LocalCluster, tmp_path: Path, crd_validator: jsonschema.Draft7Validator
) -> None:
    (tmp_path / "model.joblib").write_bytes(b"this is not a pickle")
    create(api, isvc("broken-a", str(tmp_path)))
    obj = cluster.wait_for("broken-a", observed(cluster), timeout=60)
    model_status = obj["status"]["modelStatus"]
    assert model_status["transitionStatus"] == "BlockedByFailedLoad"
    assert model_status["states"] == {"activeModelState": "FailedToLoad", "targetModelState": "FailedToLoad"}
    failure = model_status["lastFailureInfo"]
    assert failure["reason"] == "ModelLoadFailed" and failure["modelRevisionName"] == "broken-a-predictor-00001"
    assert "model.joblib" in failure["message"] and failure["exitCode"] == 1
    ready = condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "RevisionFailed"
    assert "model.joblib" in ready["message"]
    assert cluster.server_pids() == []
    assert_matches_crd(obj, crd_validator)


def test_json_patch_and_watch(api: client.CustomObjectsApi, cluster: LocalCluster) -> None:
    created = create(api, isvc("watch-a"))
    response = httpx.patch(
        f"{cluster.api_url}/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/watch-a",
        content=json.dumps([{"op": "add", "path": "/metadata/labels/team", "value": "ml"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["metadata"]["labels"] == {"app": "test", "team": "ml"}
    strategic = httpx.patch(
        f"{cluster.api_url}/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/watch-a",
        content="{}",
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert strategic.status_code == 415 and strategic.json()["reason"] == "UnsupportedMediaType"

    seen = []
    stream = watch.Watch().stream(
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        NS,
        PLURAL,
        field_selector="metadata.name=watch-a",
        resource_version=created["metadata"]["resourceVersion"],
        timeout_seconds=2,
    )
    for event in stream:
        seen.append((event["type"], event["object"]["metadata"]["name"]))
    assert ("MODIFIED", "watch-a") in seen
    assert {name for _, name in seen} == {"watch-a"}
    initial = watch.Watch().stream(
        api.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, label_selector="app=test", timeout_seconds=1
    )
    assert ("ADDED", "watch-a") in [(e["type"], e["object"]["metadata"]["name"]) for e in initial]


def test_patch_helpers_follow_the_rfcs() -> None:
    # RFC 7386 appendix A examples
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    doc = {"a": {"b": [1, 2]}}
    ops = [
        {"op": "add", "path": "/a/b/1", "value": 9},
        {"op": "replace", "path": "/a/b/0", "value": 0},
        {"op": "copy", "from": "/a/b", "path": "/c"},
        {"op": "remove", "path": "/a/b/2"},
        {"op": "test", "path": "/c/1", "value": 9},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [0, 9]}, "c": [0, 9, 2]}
    assert doc == {"a": {"b": [1, 2]}}


def test_storage_uri_resolution_errors_name_the_fix(tmp_path: Path) -> None:
    assert resolve_storage_uri(f"file://{tmp_path}") == tmp_path
    assert resolve_storage_uri(str(tmp_path)) == tmp_path
    with pytest.raises(StorageError, match="absolute path"):
        resolve_storage_uri("relative/model")
    with pytest.raises(StorageError, match="--registry-url"):
        resolve_storage_uri("model-registry://my-model/1.0.0")
    with pytest.raises(StorageError, match="unreachable"):
        resolve_storage_uri("model-registry://127.0.0.1:9/my-model/1.0.0", timeout=2)


def test_the_storage_initializer_sends_no_token(tmp_path: Path) -> None:
    seen: list[tuple[str, str | None]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    fake_registry = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=fake_registry.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{fake_registry.server_address[1]}"
    try:
        with LocalCluster(tmp_path, registry_url=url, registry_token="controller-token") as local:
            body = isvc("no-token", "model-registry://iris/1.0.0")
            client.CustomObjectsApi(local.api_client()).create_namespaced_custom_object(
                GROUP, VERSION, NS, PLURAL, body
            )
            obj = local.wait_for("no-token", observed(local), timeout=30)
    finally:
        fake_registry.shutdown()
        fake_registry.server_close()
    assert "no registered model named 'iris'" in obj["status"]["modelStatus"]["lastFailureInfo"]["message"]
    assert seen and seen[0][0].startswith("/api/model_registry/v1/registered_model?name=iris")
    assert all(auth is None for _, auth in seen), seen


def test_bearer_token_is_required_when_set(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, token="s3cret") as secured:
        assert "s3cret" in secured.kubeconfig_path.read_text()
        assert os.stat(secured.kubeconfig_path).st_mode & 0o077 == 0
        api = client.CustomObjectsApi(secured.api_client())
        assert api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"] == []
        response = httpx.get(f"{secured.api_url}/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}")
        assert response.status_code == 401 and response.json()["reason"] == "Unauthorized"


def test_kml_cluster_up_runs_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_model_lifecycle.cli", "cluster", "up", "--kubeconfig", str(kubeconfig)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert kubeconfig.exists(), "kml cluster up did not write its kubeconfig"
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
        assert api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"] == []
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"export KUBECONFIG={kubeconfig}" in err


def test_kml_cluster_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kfp_model_lifecycle.cli", "cluster", "up", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--registry-url" in out and "--kubeconfig" in out


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (optional)")
def test_kubectl_applies_and_reads_inferenceservices(cluster: LocalCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "isvc.json"
    manifest.write_text(json.dumps(isvc("kubectl-a")))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}

    def kubectl(*args: str) -> str:
        done = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created" in kubectl("apply", "-f", str(manifest))
    obj = json.loads(kubectl("get", "inferenceservice", "kubectl-a", "-o", "json"))
    assert obj["metadata"]["generation"] == 1
    manifest.write_text(json.dumps(isvc("kubectl-a", "/elsewhere")))
    assert "configured" in kubectl("apply", "-f", str(manifest))
    assert json.loads(kubectl("get", "isvc", "kubectl-a", "-o", "json"))["metadata"]["generation"] == 2
    assert "deleted" in kubectl("delete", "-f", str(manifest), "--wait=false")


# -- controller pieces, without processes ---------------------------------------------------------------------


def test_work_queue_hands_a_key_to_one_worker_and_requeues_adds_made_meanwhile() -> None:
    queue = WorkQueue()
    a, b, c = ("ns", "a"), ("ns", "b"), ("ns", "c")
    queue.add(a)
    queue.add(a)  # queued once
    queue.add(b)
    assert queue.get() == a
    queue.add(a)  # while a worker holds it: processed again once done
    assert queue.get() == b
    queue.done(b)
    queue.done(a)
    assert queue.get() == a
    queue.done(a)
    queue.add_after(c, 0.05)
    started = time.monotonic()
    assert queue.get() == c
    assert time.monotonic() - started >= 0.04
    queue.close()
    assert queue.get() is None


SKLEARN_MODEL = {"modelFormat": {"name": "sklearn"}, "storageUri": "/models/sk"}


@pytest.mark.parametrize(
    ("predictor", "annotations", "reason", "fragment"),
    [
        ({}, {}, "InvalidPredictorSpec", "spec.predictor.model is required"),
        ({"model": {"storageUri": "/m"}}, {}, "InvalidPredictorSpec", "modelFormat.name is required"),
        ({"model": {"modelFormat": {"name": "onnx"}, "storageUri": "/m"}}, {}, "NoSupportingRuntime", "'onnx'"),
        ({"model": {"modelFormat": {"name": "sklearn"}}}, {}, "InvalidPredictorSpec", "storageUri is required"),
        ({"model": {**SKLEARN_MODEL, "protocolVersion": "grpc-v2"}}, {}, "InvalidPredictorSpec", "use v1 or v2"),
        ({"model": SKLEARN_MODEL, "canaryTrafficPercent": 101}, {}, "InvalidPredictorSpec", "0..100, got 101"),
        ({"model": SKLEARN_MODEL, "canaryTrafficPercent": True}, {}, "InvalidPredictorSpec", "0..100, got True"),
        ({"model": SKLEARN_MODEL}, {DEPLOYMENT_MODE_ANNOTATION: "Nope"}, "InvalidPredictorSpec", "is not one of"),
    ],
)
def test_spec_problems_name_the_field_and_the_fix(
    predictor: dict[str, Any], annotations: dict[str, str], reason: str, fragment: str
) -> None:
    problem = spec_problem("sk", predictor, annotations)
    assert problem is not None
    assert (problem.reason, problem.message.startswith("sk: ")) == (reason, True)
    assert fragment in problem.message


def test_a_servable_spec_and_its_deployment_mode() -> None:
    assert spec_problem("sk", {"model": SKLEARN_MODEL, "canaryTrafficPercent": 10}, {}) is None
    assert deployment_mode({}) == SERVERLESS
    assert deployment_mode({DEPLOYMENT_MODE_ANNOTATION: "Standard"}) == RAW
    assert deployment_mode({DEPLOYMENT_MODE_ANNOTATION: "Knative"}) == SERVERLESS


@pytest.fixture
def router() -> Iterator[Router]:
    unstarted = Router("ns/sk")
    yield unstarted
    unstarted.stop()


def ready_revision(state: ServiceState, template: str) -> Any:
    revision = state.new_revision("sk", template)
    revision.ready = True
    state.latest_ready = revision.name
    return revision


def test_traffic_is_shaped_as_kserve_copies_it_from_the_knative_service(router: Router) -> None:
    state = ServiceState(uid="u", router=router)
    first = ready_revision(state, "{}")
    assert plan_traffic(state, SERVERLESS, None) == [TrafficTarget(first.name, 100, "", latest=True)]
    assert state.rolled_out == first.name
    second = ready_revision(state, '{"v": 2}')
    canary = [TrafficTarget(second.name, 20, "", latest=True), TrafficTarget(first.name, 80, "prev", latest=False)]
    assert plan_traffic(state, SERVERLESS, 20) == canary
    assert state.rolled_out == first.name  # a canary is not rolled out yet
    tagged = plan_traffic(state, SERVERLESS, 20, tag_routing=True)
    assert [t.tag for t in tagged] == ["latest", "prev"]  # the latest tag only with tag routing on
    assert plan_traffic(state, RAW, 20) == [TrafficTarget(second.name, 100, "", latest=True)]  # no canary in raw
    assert (state.rolled_out, state.previous_rolled_out) == (second.name, first.name)
    third = state.new_revision("sk", '{"v": 3}')
    third.failure = "boom"
    # latestRevision follows the latest READY revision: the one before the failed one keeps serving
    assert plan_traffic(state, SERVERLESS, None) == [TrafficTarget(second.name, 100, "", latest=True)]
    split = plan_traffic(state, SERVERLESS, 10)
    assert [(t.revision, t.percent) for t in split] == [(second.name, 10), (second.name, 90)]
    assert [(b.revision, b.percent) for b in backends(state)] == []  # no servers in this unit test


def test_status_of_a_failed_revision_while_the_previous_one_serves(router: Router) -> None:
    state = ServiceState(uid="u", router=router)
    serving = ready_revision(state, "{}")
    state.apply_ksvc("{}", None)
    state.traffic = plan_traffic(state, SERVERLESS, None)
    failed = state.new_revision("sk", '{"v": 2}')
    state.apply_ksvc('{"v": 2}', None)
    failed.failure, failed.exit_code = "cannot unpickle", 1
    state.traffic = plan_traffic(state, SERVERLESS, None)
    status = build_status(state, SERVERLESS)
    assert status["url"] == router.url and status["deploymentMode"] == "Knative"
    assert status["observedGeneration"] == 2  # the Knative Service's generation
    model_status = status["modelStatus"]
    assert model_status["transitionStatus"] == "BlockedByFailedLoad"
    assert model_status["states"] == {"activeModelState": "Loaded", "targetModelState": "FailedToLoad"}
    assert model_status["lastFailureInfo"]["exitCode"] == 1
    predictor = status["components"]["predictor"]
    assert (predictor["latestCreatedRevision"], predictor["latestRolledoutRevision"]) == (failed.name, serving.name)
    assert predictor["latestReadyRevision"] == serving.name
    assert predictor["traffic"] == [{"revisionName": serving.name, "percent": 100, "latestRevision": True}]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["IngressReady"]["status"], conditions["Ready"]["status"]) == ("True", "False")
    assert status["conditions"][-1]["type"] == "Ready"
    again = build_status(state, SERVERLESS)  # nothing changed: neither do the transition times
    assert again["conditions"] == status["conditions"]


def test_raw_deployment_rollout_stalls_then_exceeds_its_deadline(router: Router) -> None:
    state = ServiceState(uid="u", router=router, mode=RAW)
    deployment = PredictorDeployment("sk-predictor", NS, "sk", "u", progress_deadline=0.2)
    state.deployment = deployment
    serving = ready_revision(state, "{}")
    deployment.apply("{}", serving.name, {"annotations": {"a": "1"}}, 1)
    state.traffic = plan_traffic(state, RAW, None)
    deployment.observe(new_ready=True, new_failed=False, old_available=True)
    done = deployment.to_object()
    assert done["metadata"]["generation"] == done["status"]["observedGeneration"] == 1
    assert done["spec"]["template"]["metadata"]["annotations"] == {"a": "1"}
    assert done["status"]["updatedReplicas"] == done["status"]["availableReplicas"] == done["status"]["replicas"] == 1
    progressing = {c["type"]: c for c in done["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")

    crashing = state.new_revision("sk", '{"v": 2}')
    assert deployment.apply('{"v": 2}', crashing.name, {}, 1)
    crashing.failure = "ModelLoadFailed: cannot unpickle"
    deployment.observe(new_ready=False, new_failed=True, old_available=True)
    state.traffic = plan_traffic(state, RAW, None)
    stalled = deployment.to_object()["status"]
    assert stalled["observedGeneration"] == 2 and stalled["replicas"] == 2 and stalled["updatedReplicas"] == 1
    assert stalled["availableReplicas"] == 1 and stalled["unavailableReplicas"] == 1  # the old pod serves
    status = build_status(state, RAW)
    assert status["deploymentMode"] == "Standard" and "traffic" not in status["components"]["predictor"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["PredictorReady"] == conditions["Ready"] == "True", "KServe stays Ready while old pods serve"
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"

    time.sleep(0.25)
    deployment.observe(new_ready=False, new_failed=True, old_available=True)
    exceeded = {c["type"]: c for c in deployment.to_object()["status"]["conditions"]}["Progressing"]
    assert (exceeded["status"], exceeded["reason"]) == ("False", "ProgressDeadlineExceeded")
    status = build_status(state, RAW)
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert status["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"


def test_kml_cluster_up_passes_the_progress_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from kfp_model_lifecycle.cli.main import main
    from kfp_model_lifecycle.local.cluster import server

    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda **kwargs: seen.update(kwargs))
    assert main(["cluster", "up", "--progress-deadline", "5"]) == 0
    assert seen["progress_deadline"] == 5.0
