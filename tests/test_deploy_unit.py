"""deploy_model without a cluster: naming, the manifest (against KServe's CRD schema), patches, waiting, errors,
and the rollout logic (canary, promotion, automatic rollback) against a scripted fake of the Kubernetes API.

The end-to-end runs against the local KServe stand-in are in ``test_deploy_e2e.py``. No ``from __future__ import
annotations`` here: KFP reads the annotations of the pipeline defined below.
"""

import copy
import gzip
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from kfp_model_lifecycle.deployment.conventions import DeploymentMode
from kfp_model_lifecycle.deployment.deploy import DeployRequest, rollout_failure_message
from kfp_model_lifecycle.deployment.history import RolloutEntry, decode_serve_model, plan_deployment_rollback
from kfp_model_lifecycle.deployment.kube import (
    KubeClient,
    describe_kubernetes_error,
    is_transient_kubernetes_error,
    load_kubernetes_client,
)
from kfp_model_lifecycle.deployment.manifest import (
    build_inference_service_manifest,
    check_manifest_fields,
    render_manifest_yaml,
    revision_template,
    with_rollout_key,
)
from kfp_model_lifecycle.deployment.names import (
    check_inference_service_name,
    check_namespace_name,
    registry_service_from_url,
    sanitize_inference_service_name,
)
from kfp_model_lifecycle.deployment.patch import compute_merge_patch, inference_service_patch
from kfp_model_lifecycle.deployment.readiness import (
    Expectation,
    Readiness,
    ServiceState,
    inference_service_state,
    live_mode,
    wait_for_inference_service,
)
from kfp_model_lifecycle.deployment.rollout import (
    RestoreAction,
    RestoreResult,
    RolloutFailure,
    RolloutResult,
    restore_inference_service,
    rollout_inference_service,
)
from kfp_model_lifecycle.deployment.run import run_deploy_model
from kfp_model_lifecycle.deployment.session import kubernetes_session
from kfp_model_lifecycle.deployment.validation import (
    DeploySettings,
    RolloutOptions,
    check_canary_percent,
    normalize_deployment_mode,
)
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import lifecycle_property
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.cluster.api import merge_patch

NS = "kubeflow-user-example-com"
MODEL = {"id": "7", "name": "Breast Cancer Classifier"}
VERSION = {"id": "12", "name": "1.0.3", "registeredModelId": "7"}
ARTIFACT = {
    "uri": "s3://models/breast-cancer/1.0.3",
    "modelFormatName": "sklearn",
    "modelFormatVersion": "1",
    "storageKey": "s3-conn",
    "storagePath": "models/bc",
    "serviceAccountName": "model-reader",
}


SETTINGS = set(inspect.signature(DeploySettings.from_inputs).parameters)


def manifest(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "name": "bc",
        "namespace": NS,
        "model": MODEL,
        "version": VERSION,
        "artifact": ARTIFACT,
        "registry_url": "http://model-registry-service.kubeflow.svc.cluster.local:8080",
        "registry_inference_service_id": "31",
        "context": RunContext(run_id="run-1", run_name="train-deploy-1", run_url="http://ui/#/runs/details/run-1"),
    }
    kwargs.update(overrides)
    settings = {key: kwargs.pop(key) for key in SETTINGS if key in kwargs}
    return build_inference_service_manifest(settings=DeploySettings.from_inputs(**settings), **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# The CRD schema
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_schema(shared_dir: Path) -> dict[str, Any]:
    path = shared_dir / "kserve" / "inferenceservice.v1beta1.openapiv3.json.gz"
    if not path.is_file():
        pytest.skip(f"KServe CRD schema not found at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def unknown_fields(node: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the CRD schema does not declare (the CRD itself accepts and prunes them silently)."""
    found: list[str] = []
    if isinstance(node, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is not None:
            for key, value in node.items():
                if key in props:
                    found += unknown_fields(value, props[key], f"{path}.{key}")
                elif not (extra or schema.get("x-kubernetes-preserve-unknown-fields")):
                    found.append(f"{path}.{key}")
        elif isinstance(extra, dict):
            for key, value in node.items():
                found += unknown_fields(value, extra, f"{path}.{key}")
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(node):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def assert_valid(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(schema).validate(obj)
    assert unknown_fields(obj, schema) == []


VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "raw": {"deployment_mode": "RawDeployment"},
    "model-registry-uri": {"storage_uri_mode": "model-registry"},
    "everything": {
        "runtime": "kserve-sklearnserver",
        "protocol_version": "v2",
        "resources": {"requests": {"cpu": 1.0, "memory": "1Gi"}, "limits": {"memory": "2Gi", "nvidia.com/gpu": 1}},
        "min_replicas": 0,
        "max_replicas": 3.0,
        "service_account_name": "sa-override",
        "labels": {"team": "fraud", "example.com/tier": "gold"},
        "annotations": {"example.com/owner": "Alice <alice@example.com>"},
        "registry_service_name": "mr",
        "registry_namespace": "mr-ns",
    },
    "bare-artifact": {"artifact": {"uri": "pvc://models/bc", "modelFormatName": "onnx"}, "registry_url": ""},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_manifests_validate_against_the_crd_schema(crd_schema: dict[str, Any], variant: str) -> None:
    built = manifest(**VARIANTS[variant])
    assert_valid(built, crd_schema)
    with_canary = copy.deepcopy(built)
    with_canary["spec"]["predictor"]["canaryTrafficPercent"] = 25
    assert_valid(with_canary, crd_schema)
    assert yaml.safe_load(render_manifest_yaml(built)) == built


def test_the_schema_check_catches_typos(crd_schema: dict[str, Any]) -> None:
    built = manifest()
    built["spec"]["predictor"]["canaryTrafficPercentage"] = 10  # accepted by the CRD schema, pruned by KServe
    jsonschema.Draft7Validator(crd_schema).validate(built)
    assert unknown_fields(built, crd_schema) == [".spec.predictor.canaryTrafficPercentage"]
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['canaryTrafficPercentage'\] at spec.predictor"):
        check_manifest_fields(built)


def test_manifest_content() -> None:
    built = manifest(**VARIANTS["everything"])
    meta, predictor = built["metadata"], built["spec"]["predictor"]
    assert built["apiVersion"] == "serving.kserve.io/v1beta1" and built["kind"] == "InferenceService"
    assert meta["name"] == "bc" and meta["namespace"] == NS
    assert meta["labels"]["modelregistry.kubeflow.org/registered-model-id"] == "7"
    assert meta["labels"]["modelregistry.kubeflow.org/model-version-id"] == "12"
    assert meta["labels"]["modelregistry.kubeflow.org/inference-service-id"] == "31"
    assert meta["labels"]["modelregistry.kubeflow.org/name"] == "mr"
    assert meta["labels"]["modelregistry.kubeflow.org/namespace"] == "mr-ns"
    assert meta["labels"]["team"] == "fraud"
    assert meta["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert meta["annotations"]["kfp-model-lifecycle/reference"] == "Breast Cancer Classifier:1.0.3"
    assert meta["annotations"]["kfp-model-lifecycle/run-id"] == "run-1"
    managed = json.loads(meta["annotations"]["kfp-model-lifecycle/managed-metadata"])
    assert "team" in managed["labels"] and "example.com/owner" in managed["annotations"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "sklearn", "version": "1"}
    assert model["storageUri"] == "s3://models/breast-cancer/1.0.3"
    assert model["storage"] == {"key": "s3-conn", "path": "models/bc"}
    assert model["runtime"] == "kserve-sklearnserver" and model["protocolVersion"] == "v2"
    assert model["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    assert predictor["minReplicas"] == 0 and predictor["maxReplicas"] == 3
    assert predictor["serviceAccountName"] == "sa-override"
    assert manifest()["spec"]["predictor"]["serviceAccountName"] == "model-reader"  # from the artifact


def test_registry_labels_come_from_the_registry_url() -> None:
    labels = manifest()["metadata"]["labels"]
    assert labels["modelregistry.kubeflow.org/name"] == "model-registry-service"
    assert labels["modelregistry.kubeflow.org/namespace"] == "kubeflow"
    assert registry_service_from_url("http://127.0.0.1:8080") == ("", "")
    assert registry_service_from_url("https://mr.example.com") == ("", "")
    assert registry_service_from_url("http://model-registry-service.kubeflow:8080") == (
        "model-registry-service",
        "kubeflow",
    )
    assert "modelregistry.kubeflow.org/name" not in manifest(registry_url="http://127.0.0.1:1")["metadata"]["labels"]


def test_model_registry_storage_uri_leaves_out_the_storage_key() -> None:
    model = manifest(storage_uri_mode="model-registry")["spec"]["predictor"]["model"]
    # verbatim: the registry's storage initializer does not URL-decode names
    assert model["storageUri"] == "model-registry://Breast Cancer Classifier/1.0.3"
    assert "storage" not in model
    with pytest.raises(InvalidInputError, match="splits model-registry://<model>/<version> on '/'"):
        manifest(storage_uri_mode="model-registry", model={"id": "7", "name": "team/model"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"artifact": {"modelFormatName": "sklearn"}}, "has no model artifact with a uri"),
        ({"artifact": None}, "has no model artifact with a uri"),
        ({"artifact": {"uri": "s3://x"}}, "has no modelFormatName"),
        ({"resources": {"request": {"cpu": "1"}}}, r"unknown key\(s\) \['request'\]"),
        ({"resources": {"limits": {"cpu": [1]}}}, "is not a quantity"),
        ({"protocol_version": "v3"}, "protocol_version 'v3' is not one of"),
        ({"storage_uri_mode": "s3"}, "storage_uri_mode 's3' is not supported"),
        ({"deployment_mode": "ModelMesh"}, "is not a KServe deployment mode"),
        ({"labels": {"modelregistry.kubeflow.org/name": "x"}}, "is set by deploy_model itself"),
        ({"annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}}, "use the matching input"),
        ({"labels": {"team": "has spaces"}}, "has an invalid value"),
        ({"labels": {"bad key!": "x"}}, "is not a valid Kubernetes key"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas .3. is larger than max_replicas .2."),
        ({"min_replicas": 1.5}, "must be a whole number"),
    ],
)
def test_invalid_inputs_are_rejected_with_the_fix(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        manifest(**overrides)


def test_negative_replicas_mean_unset() -> None:
    predictor = manifest(min_replicas=-1, max_replicas=None)["spec"]["predictor"]
    assert "minReplicas" not in predictor and "maxReplicas" not in predictor


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (25, 25), (25.0, 25), (100, 100)])
def test_canary_percent_accepts_0_to_100(value: Any, expected: int) -> None:
    assert check_canary_percent(value) == expected


@pytest.mark.parametrize("value", [-1, 101, 12.5, "abc", "40", "", True])  # KFP delivers numbers, never text
def test_canary_percent_rejects_anything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="canary_percent"):
        check_canary_percent(value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("serverless", "Serverless"),
        ("Knative", "Serverless"),
        ("RawDeployment", "RawDeployment"),
        ("standard", "RawDeployment"),
        ("raw-deployment", "RawDeployment"),
    ],
)
def test_deployment_modes(given: str, expected: str) -> None:
    assert normalize_deployment_mode(given) == expected


# ---------------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------------

LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize(
    ("model_name", "expected"),
    [
        ("iris", "iris"),
        ("Breast Cancer/Classifier_v2", "breast-cancer-classifier-v2"),
        ("--Fraud..Model--", "fraud-model"),
        ("3-layer-net", "m-3-layer-net"),
        ("模型", "model"),
        ("", "model"),
    ],
)
def test_default_names_are_sanitised(model_name: str, expected: str) -> None:
    assert sanitize_inference_service_name(model_name, NS) == expected


@pytest.mark.parametrize("namespace", ["", "default", NS, "a-rather-long-team-namespace-for-models"])
def test_long_names_keep_the_derived_hostnames_within_63_characters(namespace: str) -> None:
    long_a = "customer-churn-gradient-boosting-classifier-with-calibration-" + "a" * 40
    long_b = long_a[:-1] + "b"
    name_a = sanitize_inference_service_name(long_a, namespace)
    name_b = sanitize_inference_service_name(long_b, namespace)
    for name in (name_a, name_b):
        assert LABEL.fullmatch(name), name
        assert len(f"{name}-predictor-00001-private") <= 63
        if namespace:
            assert len(f"{name}-predictor-{namespace}") <= 63
        assert check_inference_service_name(name, namespace) == name
    assert name_a != name_b  # the hash suffix keeps long names apart
    assert sanitize_inference_service_name(long_a, namespace) == name_a  # deterministic


def test_explicit_names_are_validated_with_a_suggestion() -> None:
    assert check_inference_service_name("iris-v2", NS) == "iris-v2"
    with pytest.raises(ValueError, match=r"must consist of lower-case.*use e.g. 'iris-v2'"):
        check_inference_service_name("Iris_V2", NS)
    with pytest.raises(ValueError, match=r"KServe derives the host name '<name>-predictor-kubeflow-user-example-com'"):
        check_inference_service_name("a" * 30, NS)
    with pytest.raises(ValueError, match="too long"):
        sanitize_inference_service_name("iris", "n" * 50)
    with pytest.raises(ValueError, match="not a valid Kubernetes namespace"):
        check_namespace_name("Team_A")


# ---------------------------------------------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------------------------------------------


def test_merge_patch_nulls_removed_fields_and_round_trips() -> None:
    current = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "gone": {"x": 1}}
    desired = {"a": 1, "b": {"c": 5}, "e": [1], "new": True}
    patch = compute_merge_patch(current, desired)
    assert patch == {"b": {"c": 5, "d": None}, "e": [1], "new": True, "gone": None}
    assert merge_patch(current, patch) == desired
    assert compute_merge_patch(desired, copy.deepcopy(desired)) == {}


def test_inference_service_patch_keeps_labels_it_does_not_own() -> None:
    first = manifest(labels={"team": "fraud"})
    live = copy.deepcopy(first)
    live["metadata"]["labels"]["added-by-someone"] = "yes"
    live["metadata"]["resourceVersion"] = "5"
    live["status"] = {"url": "http://x"}
    second = manifest(labels={"owner": "bob"}, resources={"limits": {"memory": "1Gi"}})
    patch = inference_service_patch(live, second)
    assert patch["metadata"]["labels"] == {"team": None, "owner": "bob"}  # ours removed, theirs kept
    assert patch["spec"] == {"predictor": {"model": {"resources": {"limits": {"memory": "1Gi"}}}}}
    assert inference_service_patch(merge_patch(live, patch), second) == {}


# ---------------------------------------------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------------------------------------------


def isvc_status(generation: int, observed: int, ready: str, transition: str = "", **failure: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "conditions": [{"type": "Ready", "status": ready}],
        "url": "http://bc.example.com",
    }
    if transition:
        status["modelStatus"] = {"transitionStatus": transition}
        if failure:
            status["modelStatus"]["lastFailureInfo"] = failure
    return {"metadata": {"generation": generation}, "status": status}


def knative(ready: str, created: int, ready_revision: int, *, percent: int = 100, transition: str = "UpToDate",
            observed: int = 1, generation: int = 5, **failure: str) -> dict[str, Any]:  # fmt: skip
    """A Serverless InferenceService status as KServe writes it (observedGeneration is the Knative Service's)."""
    obj = isvc_status(generation, observed, ready, transition, **failure)
    latest = f"bc-predictor-{ready_revision:05d}"
    traffic = [{"revisionName": latest, "percent": percent, "latestRevision": True}]
    if percent < 100:
        traffic.append({"revisionName": "bc-predictor-00001", "percent": 100 - percent, "latestRevision": False,
                        "tag": "prev"})  # fmt: skip
    obj["status"]["components"] = {
        "predictor": {"latestCreatedRevision": f"bc-predictor-{created:05d}", "latestReadyRevision": latest,
                      "traffic": traffic}
    }  # fmt: skip
    return obj


SERVERLESS_UPDATE = Expectation(previous_revision="bc-predictor-00001", new_revision=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scripted(*objects: Any) -> Callable[[], Any]:
    items = list(objects)
    return lambda: items.pop(0) if len(items) > 1 else items[0]


def test_wait_needs_the_new_revision_and_is_not_fooled_by_observed_generation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    get = scripted(
        knative("True", 1, 1, observed=7, generation=7),  # Ready, observedGeneration "caught up": the old revision
        knative("Unknown", 2, 1, transition="InProgress"),  # the new revision is loading, the old one serves
        knative("True", 2, 2),
    )
    with caplog.at_level(logging.INFO, logger="kfp_model_lifecycle"):
        state = wait_for_inference_service(
            get, SERVERLESS_UPDATE, timeout_seconds=60, what="ns/bc", poll_seconds=1, clock=clock, sleep=clock.sleep
        )
    assert state.state == "ready" and state.url == "http://bc.example.com"
    assert clock.now == 2
    assert "revisions created=bc-predictor-00002 ready=bc-predictor-00001" in caplog.text
    assert "transitionStatus=InProgress" in caplog.text


def test_a_canary_is_ready_once_the_new_revision_has_its_share_and_a_promotion_once_it_has_all() -> None:
    canary = Expectation(previous_revision="bc-predictor-00001", new_revision=True, latest_percent=20)
    assert inference_service_state(knative("True", 2, 2, percent=20), canary).state == "ready"
    assert inference_service_state(knative("True", 2, 2, percent=100), canary).state == "progressing"
    promotion = Expectation(previous_revision="bc-predictor-00002", new_revision=False)
    assert inference_service_state(knative("True", 2, 2, percent=20), promotion).state == "progressing"
    assert inference_service_state(knative("True", 2, 2), promotion).state == "ready"


def test_wait_fails_fast_on_a_new_failure_and_ignores_the_one_from_before() -> None:
    clock = FakeClock()
    before = knative("False", 2, 1, transition="BlockedByFailedLoad", reason="ModelLoadFailed", message="old")
    expectation = Expectation.before_write(
        before, None, mode=DeploymentMode.SERVERLESS, new_revision=True, latest_percent=100
    )
    get = scripted(
        before,  # the failure of the previous rollout, not rewritten yet
        knative("False", 3, 1, transition="BlockedByFailedLoad", reason="ModelLoadFailed", message="bad pickle"),
    )
    state = wait_for_inference_service(get, expectation, timeout_seconds=600, what="x", poll_seconds=1, clock=clock,
                                       sleep=clock.sleep)  # fmt: skip
    assert state.state == "failed"
    assert state.reason == "BlockedByFailedLoad: ModelLoadFailed" and state.message == "bad pickle"
    assert clock.now == 1


def test_an_invalid_spec_fails_at_once_although_observed_generation_never_moves() -> None:
    before = knative("True", 1, 1, observed=1, generation=1)
    expectation = Expectation.before_write(before, None, mode=DeploymentMode.SERVERLESS, new_revision=True)
    invalid = copy.deepcopy(before)  # KServe returns before propagating: only modelStatus changes
    invalid["metadata"]["generation"] = 2
    invalid["status"]["modelStatus"] = {
        "transitionStatus": "InvalidSpec",
        "lastFailureInfo": {"reason": "NoSupportingRuntime", "message": "No runtime found to support onnx/1"},
    }
    state = inference_service_state(invalid, expectation)
    assert state.state == "failed" and state.reason == "InvalidSpec: NoSupportingRuntime"
    assert "No runtime found" in state.message


def test_wait_is_bounded_and_logs_progress_while_waiting(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="kfp_model_lifecycle"):
        state = wait_for_inference_service(
            scripted(knative("Unknown", 2, 1, transition="InProgress")), SERVERLESS_UPDATE, timeout_seconds=30,
            what="ns/slow", poll_seconds=2, progress_seconds=10, clock=clock, sleep=clock.sleep,
        )  # fmt: skip
    assert state.state == "timeout" and clock.now == 30
    progress = [r.message for r in caplog.records if "ns/slow: Ready=Unknown" in r.message]
    assert len(progress) == 4  # at 0, 10, 20 and 30 seconds
    assert "not Ready within 30s" in caplog.text
    assert inference_service_state(None).state == "deleted"


def deployment_status(generation: int, key: str, *, updated: int = 1, available: int = 1, replicas: int = 1,
                      reason: str = "NewReplicaSetAvailable") -> dict[str, Any]:  # fmt: skip
    progressing = {"type": "Progressing", "status": "False" if reason == "ProgressDeadlineExceeded" else "True",
                   "reason": reason, "message": 'ReplicaSet "bc-predictor-x" has timed out progressing.'}  # fmt: skip
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"kfp-model-lifecycle/rollout": key}}}},
        "status": {"observedGeneration": generation, "updatedReplicas": updated, "availableReplicas": available,
                   "replicas": replicas, "conditions": [progressing]},
    }  # fmt: skip


def test_raw_deployment_readiness_is_the_predictor_deployments_rollout() -> None:
    ready = isvc_status(2, 2, "True", "UpToDate")
    ready["status"]["deploymentMode"] = "Standard"
    old = deployment_status(1, "old-key")
    expectation = Expectation.before_write(
        ready, old, mode=DeploymentMode.RAW_DEPLOYMENT, new_revision=True, rollout_key="new-key"
    )
    assert inference_service_state(ready, expectation, old).state == "progressing", "the old rollout, complete"
    crashing = deployment_status(2, "new-key", updated=1, available=1, replicas=2, reason="ReplicaSetUpdated")
    assert inference_service_state(ready, expectation, crashing).state == "progressing", "Ready=True, new pods down"
    exceeded = deployment_status(2, "new-key", updated=1, available=1, replicas=2, reason="ProgressDeadlineExceeded")
    state = inference_service_state(ready, expectation, exceeded)
    assert state.state == "failed" and state.reason == "ProgressDeadlineExceeded"
    assert "timed out progressing" in state.message
    assert inference_service_state(ready, expectation, deployment_status(2, "new-key")).state == "ready"
    assert inference_service_state(ready, expectation, None).state == "progressing"
    # without the rollout key on the pod template (not propagated), the generation must have moved
    unkeyed = deployment_status(1, "")
    assert inference_service_state(ready, expectation, unkeyed).state == "progressing"
    assert inference_service_state(ready, expectation, deployment_status(2, "")).state == "ready"


@pytest.mark.parametrize(
    ("status_mode", "annotation", "expected"),
    [
        ("Knative", "", DeploymentMode.SERVERLESS),
        ("Standard", "", DeploymentMode.RAW_DEPLOYMENT),
        ("", "Serverless", DeploymentMode.SERVERLESS),
        ("", "RawDeployment", DeploymentMode.RAW_DEPLOYMENT),
        ("", "Standard", DeploymentMode.RAW_DEPLOYMENT),
        ("Standard", "Serverless", DeploymentMode.RAW_DEPLOYMENT),  # the status wins, as in KServe
    ],
)
def test_deployment_mode_names_of_old_and_new_kserve(
    status_mode: str, annotation: str, expected: DeploymentMode
) -> None:
    obj = {"metadata": {"annotations": {"serving.kserve.io/deploymentMode": annotation}},
           "status": {"deploymentMode": status_mode}}  # fmt: skip
    assert live_mode(obj) == expected


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------


def api_error(status: int, message: str = "", reason: str = "") -> ApiException:
    exc = ApiException(
        status=status, reason=reason or {403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    )
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status})
    return exc


def test_a_403_names_the_missing_permission_and_the_role() -> None:
    exc = api_error(
        403,
        'inferenceservices.serving.kserve.io "bc" is forbidden: User "system:serviceaccount:kubeflow:pipeline-runner"'
        ' cannot patch resource "inferenceservices" in API group "serving.kserve.io" in the namespace "team-a"',
    )
    error = describe_kubernetes_error(exc, "patch InferenceService team-a/bc", "patch", "team-a")
    assert isinstance(error, PermissionError)
    text = str(error)
    assert "HTTP 403 Forbidden" in text and "pipeline-runner" in text
    assert "lacks the RBAC permission 'patch' on 'inferenceservices.serving.kserve.io' in namespace 'team-a'" in text
    assert "components/deploy_model/rbac.yaml" in text and "kubectl apply -n team-a -f rbac.yaml" in text


def test_other_api_errors_are_explained() -> None:
    missing = api_error(404, "the server could not find the requested resource")
    assert isinstance(describe_kubernetes_error(missing, "get x", "get", "ns"), LookupError)
    assert "install KServe" in str(describe_kubernetes_error(missing, "get x", "get", "ns"))
    assert isinstance(describe_kubernetes_error(api_error(422, "bad"), "create x", "create", "ns"), ValueError)
    assert isinstance(describe_kubernetes_error(api_error(503), "get x", "get", "ns"), ConnectionError)
    assert is_transient_kubernetes_error(api_error(429)) and is_transient_kubernetes_error(api_error(500))
    assert not is_transient_kubernetes_error(api_error(403))
    assert is_transient_kubernetes_error(ConnectionRefusedError())


def test_load_kubernetes_client_explains_missing_configuration(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(RuntimeError, match="no Kubernetes credentials"):
        load_kubernetes_client(env=env)
    with pytest.raises(RuntimeError, match="does not exist"):
        load_kubernetes_client(env={"KUBECONFIG": str(tmp_path / "nope")})


# ---------------------------------------------------------------------------------------------------------------
# Rollouts against a scripted fake of the API
# ---------------------------------------------------------------------------------------------------------------


class FakeCustomObjects:
    """InferenceServices in a dict, with resourceVersion/generation semantics and a scripted KServe controller.

    ``outcome(obj)`` decides how a new revision (a changed revision template) ends: ``ready``, ``failed`` or
    ``progressing``. The status is shaped as KServe's: Serverless revisions and traffic (``observedGeneration`` is
    the Knative Service's, not the InferenceService's); RawDeployment a predictor Deployment (read through
    :class:`FakeApps`) whose crashing rollout reports ``ProgressDeadlineExceeded``. ``failures`` queues exceptions
    raised by the next calls of a verb.
    """

    def __init__(self, outcome: Callable[[dict[str, Any]], str]) -> None:
        self.outcome = outcome
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.revisions: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.lost: dict[str, int] = {}  # verb -> how many of its next answers are lost (the write is done)
        self.rv = 0

    def _maybe_fail(self, verb: str) -> None:
        queue = self.failures.get(verb) or []
        if queue:
            raise queue.pop(0)

    def _answer(self, verb: str, result: dict[str, Any]) -> dict[str, Any]:
        if self.lost.get(verb):
            self.lost[verb] -= 1
            raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError("reset by peer"))
        return result

    def _commit(self, key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = obj
        template = json.dumps(revision_template(obj), sort_keys=True)
        revisions = self.revisions.setdefault(key, [])
        if not revisions or revisions[-1][0] != template:
            revisions.append((template, self.outcome(obj)))
            self._deploy(key, obj)
        return copy.deepcopy(obj)

    def _deploy(self, key: tuple[str, str], obj: dict[str, Any]) -> None:
        """RawDeployment: the predictor Deployment gets the new pod template (a new generation)."""
        if obj["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode") != "RawDeployment":
            return
        generation = self.deployments.get(key, {}).get("metadata", {}).get("generation", 0) + 1
        annotations = dict(obj["metadata"].get("annotations") or {})
        self.deployments[key] = {
            "metadata": {"name": f"{key[1]}-predictor", "generation": generation},
            "spec": {"replicas": 1, "template": {"metadata": {"annotations": annotations}}},
        }

    def _serving(self, key: tuple[str, str]) -> tuple[int, int]:
        """(number of the latest created revision, number of the latest ready one; 0 when none)."""
        revisions = self.revisions[key]
        ready = [i + 1 for i, (_, state) in enumerate(revisions) if state == "ready"]
        return len(revisions), ready[-1] if ready else 0

    def status(self, key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
        created, ready = self._serving(key)
        latest = self.revisions[key][-1][1]
        name = key[1]
        raw = obj["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode") == "RawDeployment"
        status: dict[str, Any] = {"observedGeneration": created, "url": "http://bc.example.com",
                                  "deploymentMode": "Standard" if raw else "Knative"}  # fmt: skip
        is_ready = latest == "ready" or (raw and ready and latest == "progressing")
        status["conditions"] = [{"type": "Ready", "status": "True" if is_ready else "False"}]
        if latest == "failed":
            status["modelStatus"] = {
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "cannot unpickle", "time": str(created)},
            }
        else:
            status["modelStatus"] = {"transitionStatus": "UpToDate" if latest == "ready" else "InProgress"}
        if raw:
            return status
        percent = obj["spec"]["predictor"].get("canaryTrafficPercent")
        traffic = [{"revisionName": f"{name}-predictor-{ready:05d}", "percent": 100, "latestRevision": True}]
        previous = [i + 1 for i, (_, state) in enumerate(self.revisions[key][:-1]) if state == "ready"]
        if percent is not None and previous and ready:
            traffic = [
                {"revisionName": f"{name}-predictor-{ready:05d}", "percent": percent, "latestRevision": True},
                {"revisionName": f"{name}-predictor-{previous[-1]:05d}", "percent": 100 - percent,
                 "latestRevision": False, "tag": "prev"},
            ]  # fmt: skip
        status["components"] = {
            "predictor": {
                "latestCreatedRevision": f"{name}-predictor-{created:05d}",
                "latestReadyRevision": f"{name}-predictor-{ready:05d}" if ready else "",
                "traffic": traffic if ready else [],
            }
        }
        return status

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        key = (namespace, name.removesuffix("-predictor"))
        found = copy.deepcopy(self.deployments.get(key))
        if found is None:
            return None
        latest = self.revisions[key][-1][1]
        generation = found["metadata"]["generation"]
        if latest == "ready":
            found["status"] = {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
                               "availableReplicas": 1,
                               "conditions": [{"type": "Progressing", "status": "True",
                                               "reason": "NewReplicaSetAvailable"}]}  # fmt: skip
        else:
            stuck = latest == "failed"
            found["status"] = {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 1,
                               "availableReplicas": 1,
                               "conditions": [{"type": "Progressing", "status": "False" if stuck else "True",
                                               "reason": "ProgressDeadlineExceeded" if stuck else "ReplicaSetUpdated",
                                               "lastUpdateTime": str(generation)}]}  # fmt: skip
        return found

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **_: Any) -> dict[str, Any]:
        self.calls.append(("get", name))
        self._maybe_fail("get")
        obj = self.objects.get((namespace, name))
        if obj is None:
            raise api_error(404, f'inferenceservices.serving.kserve.io "{name}" not found')
        result = copy.deepcopy(obj)
        result["status"] = self.status((namespace, name), result)
        return result

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **_: Any) -> dict[str, Any]:
        self.calls.append(("create", copy.deepcopy(body)))
        self._maybe_fail("create")
        obj = copy.deepcopy(body)
        if (namespace, obj["metadata"]["name"]) in self.objects:
            raise api_error(409, "already exists")
        obj["metadata"]["generation"] = 1
        self.revisions.pop((namespace, obj["metadata"]["name"]), None)
        return self._answer("create", self._commit((namespace, obj["metadata"]["name"]), obj))

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **_: Any) -> dict:
        self.calls.append(("patch", copy.deepcopy(body)))
        self._maybe_fail("patch")
        current = self.objects[(namespace, name)]
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise api_error(409, "the object has been modified")
        patched = merge_patch(current, body)
        if patched.get("spec") != current.get("spec"):
            patched["metadata"]["generation"] = current["metadata"]["generation"] + 1
        return self._answer("patch", self._commit((namespace, name), patched))

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **_: Any) -> dict[str, Any]:
        self.calls.append(("delete", name))
        self._maybe_fail("delete")
        self.objects.pop((namespace, name))
        self.deployments.pop((namespace, name), None)
        return {"status": "Success"}

    def patches(self) -> list[dict[str, Any]]:
        return [body for verb, body in self.calls if verb == "patch"]

    def spec(self, name: str = "bc") -> dict[str, Any]:
        return self.objects[(NS, name)]["spec"]


class FakeApps:
    """``AppsV1Api.read_namespaced_deployment`` over the fake's predictor Deployments."""

    def __init__(self, custom: FakeCustomObjects) -> None:
        self.custom = custom

    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> dict[str, Any]:
        self.custom.calls.append(("get deployment", name))
        found = self.custom.deployment(namespace, name)
        if found is None:
            raise api_error(404, f'deployments.apps "{name}" not found')
        return found


def broken_fails(obj: dict[str, Any]) -> str:
    return "failed" if "broken" in obj["spec"]["predictor"]["model"]["storageUri"] else "ready"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KML_DEPLOY_POLL_SECONDS", "0.01")
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # backoff between retries
    yield


def fake(outcome: Callable[[dict[str, Any]], str] = broken_fails) -> tuple[FakeCustomObjects, KubeClient]:
    api = FakeCustomObjects(outcome)
    return api, KubeClient(api_client=None, custom=api, source="fake", namespace=NS, apps=FakeApps(api))


def versioned(uri: str, mode: str = "Serverless", **overrides: Any) -> dict[str, Any]:
    """A manifest for one rollout (with a rollout key of its own, as deploy_version gives it)."""
    built = manifest(artifact={**ARTIFACT, "uri": uri}, deployment_mode=mode, **overrides)
    return with_rollout_key(built, uuid.uuid4().hex)


def test_create_then_update_patches_with_nulls_and_a_resource_version() -> None:
    api, k8s = fake()
    first = rollout_inference_service(k8s, versioned("s3://m/1", resources={"limits": {"memory": "1Gi"}}))
    assert first.ok and first.created and first.phases == ["created"] and first.previous is None
    assert [verb for verb, _ in api.calls if verb != "get"] == ["create"]
    second = rollout_inference_service(k8s, versioned("s3://m/2"))
    assert second.ok and second.phases == ["updated"]
    (patch,) = api.patches()
    assert patch["spec"]["predictor"]["model"]["storageUri"] == "s3://m/2"
    assert patch["spec"]["predictor"]["model"]["resources"] is None  # removed field: explicit null
    assert patch["metadata"]["resourceVersion"] == "1"
    assert "resources" not in api.spec()["predictor"]["model"]
    assert second.previous["spec"]["predictor"]["model"]["storageUri"] == "s3://m/1"
    again = rollout_inference_service(k8s, versioned("s3://m/2"))
    assert again.ok and again.phases == ["unchanged"] and len(api.patches()) == 1


def test_a_conflicting_writer_and_transient_errors_are_retried() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"))
    api.failures = {"patch": [api_error(409, "modified")], "get": [api_error(503, "etcd leader changed")]}
    result = rollout_inference_service(k8s, versioned("s3://m/2"))
    assert result.ok and len(api.patches()) == 2
    assert api.spec()["predictor"]["model"]["storageUri"] == "s3://m/2"


def test_serverless_canary_then_promotion() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"), canary_percent=25)  # nothing to share traffic with
    assert api.patches() == []
    result = rollout_inference_service(k8s, versioned("s3://m/2"), canary_percent=25)
    assert result.ok and result.phases == ["updated", "canary 25%", "promoted"] and result.canary == 25
    canary, promotion = api.patches()
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert promotion["spec"]["predictor"] == {"canaryTrafficPercent": None}
    assert "canaryTrafficPercent" not in api.spec()["predictor"]


def test_serverless_canary_failure_sends_traffic_back_then_restores_the_previous_spec() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"))
    good = copy.deepcopy(api.objects[(NS, "bc")])
    result = rollout_inference_service(k8s, versioned("s3://m/broken"), canary_percent=10)
    assert not result.ok
    assert result.failure.reason == "BlockedByFailedLoad: ModelLoadFailed" and result.failure.phase == "canary"
    assert result.phases == ["updated", "canary 10%", "failed", "rolled back"]
    assert result.rollback.ok and result.rollback.action == "restored"
    _, to_zero, restore = api.patches()
    assert to_zero == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert restore["spec"]["predictor"]["canaryTrafficPercent"] is None
    assert api.spec() == good["spec"]
    assert api.objects[(NS, "bc")]["metadata"]["labels"] == good["metadata"]["labels"]


def test_raw_deployment_failure_restores_the_previous_spec() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1", "RawDeployment"))
    good = copy.deepcopy(api.spec())
    result = rollout_inference_service(k8s, versioned("s3://m/broken", "RawDeployment"), canary_percent=50)
    assert not result.ok and result.canary == 0  # RawDeployment ignores canaryTrafficPercent
    assert result.rollback.action == "restored" and result.rollback.ok
    update, restore = api.patches()
    assert "canaryTrafficPercent" not in json.dumps(update) and "canaryTrafficPercent" not in json.dumps(restore)
    assert api.spec() == good


def test_a_failed_first_deployment_is_deleted() -> None:
    api, k8s = fake()
    result = rollout_inference_service(k8s, versioned("s3://m/broken"))
    assert not result.ok and result.rollback.action == "deleted"
    assert (NS, "bc") not in api.objects and result.object is None


def test_a_rollback_that_fails_is_reported_with_the_failure() -> None:
    api, k8s = fake()

    def forbidden_delete(*args: Any, **kwargs: Any) -> None:
        raise api_error(403, 'User "system:serviceaccount:kubeflow:pipeline-runner" cannot delete resource')

    api.delete_namespaced_custom_object = forbidden_delete  # type: ignore[method-assign]
    result = rollout_inference_service(k8s, versioned("s3://m/broken"))
    assert not result.ok and result.phases[-1] == "rollback failed"
    assert result.rollback.action == "error"
    assert "lacks the RBAC permission 'delete'" in result.rollback.error


def test_a_rollout_that_is_not_ready_in_time_is_rolled_back(monkeypatch: pytest.MonkeyPatch) -> None:
    api, k8s = fake(lambda obj: "progressing" if "slow" in obj["spec"]["predictor"]["model"]["storageUri"] else "ready")
    rollout_inference_service(k8s, versioned("s3://m/1"))
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    result = rollout_inference_service(k8s, versioned("s3://m/slow"), timeout_seconds=5)
    assert not result.ok and result.failure.state == "timeout"
    assert result.rollback.ok and api.spec()["predictor"]["model"]["storageUri"] == "s3://m/1"


def test_a_create_whose_answer_was_lost_is_ours_and_a_failure_deletes_it() -> None:
    api, k8s = fake()
    api.lost["create"] = 1  # created, the answer lost; the retried create meets 409
    result = rollout_inference_service(k8s, versioned("s3://m/broken"))
    assert [verb for verb, _ in api.calls if verb == "create"] == ["create", "create"]
    assert not result.ok and result.created and result.previous is None
    assert result.rollback.action == "deleted" and (NS, "bc") not in api.objects  # deleted, not "restored"


def test_a_lost_create_answer_without_retries_takes_the_object_back_before_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KML_K8S_MAX_ATTEMPTS", "1")  # only a task retry: the step fails
    api, k8s = fake()
    api.lost["create"] = 1
    with pytest.raises(ConnectionError):
        rollout_inference_service(k8s, versioned("s3://m/1"))
    assert (NS, "bc") not in api.objects, "the object this rollout created was deleted before the step failed"
    assert rollout_inference_service(k8s, versioned("s3://m/1")).ok  # the task retry


def test_a_rollback_never_deletes_an_inference_service_another_rollout_created() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"))
    result = restore_inference_service(k8s, None, None, canary_used=False, timeout_seconds=5, namespace=NS, name="bc",
                                       rollout_key="another-rollout")  # fmt: skip
    assert result.action == "not ours" and (NS, "bc") in api.objects


def test_a_lost_patch_answer_still_counts_as_the_change_and_restores_what_was_before() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"))
    api.lost["patch"] = 1  # patched, the answer lost; the retried patch meets 409 and the re-read shows our spec
    result = rollout_inference_service(k8s, versioned("s3://m/broken"))
    assert not result.ok and result.phases[:1] == ["updated"] and result.spec_changed
    assert result.previous["spec"]["predictor"]["model"]["storageUri"] == "s3://m/1"
    assert result.rollback.action == "restored" and api.spec()["predictor"]["model"]["storageUri"] == "s3://m/1"


def test_a_patch_keeps_the_registry_controllers_label_and_touches_no_finalizer() -> None:
    live = manifest()  # deploy_model wrote the inference-service-id label (it is in its managed keys)
    live["metadata"]["finalizers"] = ["inferenceservice.finalizers", "modelregistry.kubeflow.org/finalizer"]
    wanted = manifest(registry_inference_service_id="")
    patch = inference_service_patch(live, wanted)
    assert "modelregistry.kubeflow.org/inference-service-id" not in patch.get("metadata", {}).get("labels", {})
    assert "finalizers" not in patch.get("metadata", {})


def test_an_api_error_mid_rollout_still_restores_the_previous_spec() -> None:
    api, k8s = fake()
    rollout_inference_service(k8s, versioned("s3://m/1"))
    original_get = api.get_namespaced_custom_object
    reads = {"n": 0}

    def flaky_get(*args: Any, **kwargs: Any) -> dict[str, Any]:
        reads["n"] += 1
        if 3 <= reads["n"] <= 7:  # the rollout's reads 1-2 work, then all 5 attempts of the first wait fail
            raise api_error(503, "apiserver overloaded")
        return original_get(*args, **kwargs)

    api.get_namespaced_custom_object = flaky_get  # type: ignore[method-assign]
    with pytest.raises(ConnectionError, match="kept failing"):
        rollout_inference_service(k8s, versioned("s3://m/2"))
    update, _ = api.patches()
    assert update["spec"]["predictor"]["model"]["storageUri"] == "s3://m/2"
    assert api.spec()["predictor"]["model"]["storageUri"] == "s3://m/1"


# ---------------------------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------------------------


def rollout(version_id: str, outcome: str = "deployed", rollback: bool = False, previous: str = "") -> RolloutEntry:
    return RolloutEntry(version_id=version_id, outcome=outcome, rollback=rollback, previous_version_id=previous,
                        manifest="{}")  # fmt: skip


def test_rollback_target_walks_back_through_the_history() -> None:
    history = [rollout("1"), rollout("2"), rollout("3", "failed"), rollout("3")]
    assert plan_deployment_rollback(history, "3").version_id == "2"
    history.append(rollout("2", rollback=True, previous="3"))
    assert plan_deployment_rollback(history, "2").version_id == "1"  # 3 was rolled back from
    history.append(rollout("1", rollback=True, previous="2"))
    assert plan_deployment_rollback(history, "1") is None  # nothing left to go back to
    history.append(rollout("3"))  # deployed normally again: eligible again
    assert plan_deployment_rollback(history, "3").version_id == "1"
    assert plan_deployment_rollback([rollout("1")], "1") is None


def test_serve_models_decode_into_typed_rollouts() -> None:
    serve = {
        "id": "9",
        "name": "rollout-1",
        "modelVersionId": "12",
        "lastKnownState": "FAILED",
        "customProperties": {
            key: lifecycle_property(value)
            for key, value in {
                "kml_outcome": "failed",
                "kml_canary_percent": 10,
                "kml_rollback": False,
                "kml_restored": True,
                "kml_phases": "updated, canary 10%, failed, rolled back",
                "kml_from_a_newer_version": "ignored",
                "not_ours": "ignored",
            }.items()
        },
    }
    entry = decode_serve_model(serve)
    assert (entry.id, entry.version_id, entry.state, entry.outcome) == ("9", "12", "FAILED", "failed")
    assert entry.canary_percent == 10 and entry.restored is True and entry.rollback is False
    assert entry.phases.endswith("rolled back") and entry.manifest == ""
    assert decode_serve_model({"id": "1"}).outcome == "unknown"


# ---------------------------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"storage_uri_mode": "s3"}, "storage_uri_mode 's3' is not supported"),
        ({"protocol_version": "v3"}, "protocol_version 'v3' is not one of v1, v2, grpc-v2"),
        ({"min_replicas": 3, "max_replicas": 2}, r"min_replicas \(3\) is larger than max_replicas \(2\)"),
        ({"canary_percent": 101}, "canary_percent 101 must be an integer from 0 to 100"),
        ({"timeout_seconds": 0}, "timeout_seconds must be a positive number of seconds"),
    ],
)
def test_deploy_inputs_are_checked_before_anything_is_read(inputs: dict[str, Any], message: str) -> None:
    # No cluster and no registry are configured: the inputs fail first.
    with pytest.raises(InvalidInputError, match=message):
        run_deploy_model(model_reference="iris:1.0.0", env={}, context=RunContext(), **inputs)


def test_a_dry_run_does_without_a_cluster(tmp_path: Path) -> None:
    with kubernetes_session("", "", {"KUBECONFIG": str(tmp_path / "nope")}, required=False) as k8s:
        assert k8s is None
    with pytest.raises(RuntimeError, match="does not exist"), kubernetes_session("", "", {"KUBECONFIG": "/nope"}):
        pass


def failed_rollout(failure: RolloutFailure, rollback: RestoreResult) -> RolloutResult:
    return RolloutResult(ok=False, created=False, changed=True, spec_changed=True, canary=0,
                         phases=["updated", "failed"], url="", object=None, previous=None, failure=failure,
                         rollback=rollback)  # fmt: skip


def deploy_request() -> DeployRequest:
    return DeployRequest(MODEL, VERSION, "bc", NS, lambda record_id: manifest(), RolloutOptions(), RunContext())


def test_a_failed_rollout_says_what_runs_now_and_what_to_fix() -> None:
    load = RolloutFailure("BlockedByFailedLoad: ModelLoadFailed", "cannot unpickle", "canary", Readiness.FAILED, "")
    restored = failed_rollout(load, RestoreResult(True, RestoreAction.RESTORED))
    text = rollout_failure_message(deploy_request(), restored, {"name": "1.0.2"})
    assert text.startswith(
        f"deploying Breast Cancer Classifier:1.0.3 to {NS}/bc failed during the canary:"
        " BlockedByFailedLoad: ModelLoadFailed - cannot unpickle. Rolled back automatically: the previous spec was"
        " restored and is Ready (serving version 1.0.2). Fix: check that the model file loads"
    )
    slow = RolloutFailure("Timeout", "", "rollout", Readiness.TIMEOUT, "")
    gone = failed_rollout(slow, RestoreResult(True, RestoreAction.DELETED))
    deleted = rollout_failure_message(deploy_request(), gone, None)
    assert "the InferenceService this rollout created was deleted again. Fix: raise timeout_seconds" in deleted
    spec = RolloutFailure("InvalidSpec: x", "", "rollout", Readiness.FAILED, "")
    error = failed_rollout(spec, RestoreResult(False, RestoreAction.ERROR, error="forbidden"))
    assert (
        "The automatic rollback failed too (forbidden); inspect the InferenceService: kubectl describe"
        f" inferenceservice -n {NS} bc. Fix: correct the InferenceService spec"
    ) in rollout_failure_message(deploy_request(), error, None)
    state = ServiceState(Readiness.TIMEOUT, "Timeout", summary="Ready=Unknown")
    stuck = failed_rollout(spec, RestoreResult(False, RestoreAction.RESTORED, state))
    assert "did not complete: the restored spec is not Ready (Timeout: Ready=Unknown); inspect" in (
        rollout_failure_message(deploy_request(), stuck, None)
    )


# ---------------------------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------------------------


def test_components_compile_and_validate_strictly(tmp_path: Path) -> None:
    from kfp import compiler, dsl

    from kfp_model_lifecycle import __version__
    from kfp_model_lifecycle import compile as kml_compile
    from kfp_model_lifecycle.components.deploy_model import (
        deploy_model,
        deploy_model_with_context,
        rollback_deployment,
        rollback_deployment_with_context,
    )

    for component in (deploy_model, rollback_deployment):
        path = tmp_path / f"{component.name}.yaml"
        compiler.Compiler().compile(component, str(path))
        assert kml_compile.validate_file(path) == []
        spec = yaml.safe_load(path.read_text())
        (executor,) = spec["deploymentSpec"]["executors"].values()
        command = " ".join(executor["container"]["command"])
        assert f"'kfp-model-lifecycle=={__version__}'" in command
        assert "kserve" not in command.split("def ")[0]  # no kserve SDK installed
        source = executor["container"]["command"][-1]
        assert len(source.encode()) < 16 * 1024, "the program is the thin component body"
        for braces in ("{" * 2, "}" * 2):
            assert braces not in source, "pod code must not contain double braces (KFP substitutes them)"
        component_spec = next(iter(spec["components"].values()))
        assert "description" in component_spec["outputDefinitions"]["artifacts"]["manifest"]
        assert "description" in component_spec["outputDefinitions"]["parameters"]["url"]

    @dsl.pipeline(name="deploy-and-roll-back")
    def pipeline(registry_url: str = "http://model-registry-service.kubeflow.svc.cluster.local:8080") -> str:
        deployed = deploy_model_with_context(
            "iris:1.0.0", canary_percent=10, registry_url=registry_url, token_secret_name="mr-token",
            resources={"requests": {"cpu": "1"}},
        )  # fmt: skip
        back = rollback_deployment_with_context(model_name="iris", registry_url=registry_url).after(deployed)
        return back.outputs["url"]

    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    assert kml_compile.validate_file(path) == []
    documents = list(yaml.safe_load_all(path.read_text()))
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    deploy_config = executors["exec-deploy-model"]
    assert deploy_config["fieldPathAsEnv"] == [{"fieldPath": "metadata.namespace", "name": "POD_NAMESPACE"}]
    assert deploy_config["secretAsEnv"][0]["keyToEnv"] == [{"envVar": "KML_REGISTRY_TOKEN", "secretKey": "token"}]
    assert executors["exec-rollback-deployment"]["fieldPathAsEnv"][0]["name"] == "POD_NAMESPACE"
    tasks = documents[0]["root"]["dag"]["tasks"]
    params = tasks["deploy-model"]["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["pipeline_name"]["runtimeValue"]["constant"] == "deploy-and-roll-back"
    with pytest.raises(RuntimeError, match=r"inside a @dsl\.pipeline"):
        deploy_model_with_context("iris:1.0.0")


def test_cli_commands_are_added_to_the_models_group() -> None:
    from kfp_model_lifecycle.cli.parsers import build_parser

    parser = build_parser()
    args = parser.parse_args(["models", "deployments", "iris", "--registry-url", "http://127.0.0.1:1", "--json"])
    assert args.name == "iris" and args.json
    args = parser.parse_args(
        [
            "models",
            "rollback-deployment",
            "iris",
            "--namespace",
            "team-a",
            "--inference-service",
            "iris-v2",
            "--dry-run",
        ]
    )
    assert (args.namespace, args.inference_service, args.dry_run, args.timeout) == ("team-a", "iris-v2", True, 600)
    args = parser.parse_args(["models", "undeploy", "iris", "--kubeconfig", "/tmp/kc", "--reason", "retired"])
    assert args.kubeconfig == "/tmp/kc" and args.reason == "retired"
