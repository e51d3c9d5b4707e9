"""``kml doctor``'s Kubernetes checks against the local cluster stand-in, and what the stand-in serves for them.

Each check's pass and fail path: credentials (none, a rejected token), KServe's CRD (readable, found by discovery
when CRDs may not be read, absent in a cluster without KServe), RBAC per verb (SelfSubjectAccessReview), the token
Secret (present, missing, key missing, empty, unreadable: a warning). The stand-in's Secrets and CRD endpoints are
checked through the official client as the real API server answers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfp_model_lifecycle.doctor import Check, Checklist, DoctorSettings, check_installation
from kfp_model_lifecycle.doctor.kubernetes_checks import API_SERVER, CRD
from kfp_model_lifecycle.local.cluster import LocalCluster, write_kubeconfig
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

NS = "kubeflow-user"
SECRET = "model-registry-token"
ENV = {"KML_REGISTRY_MAX_ATTEMPTS": "2", "KML_K8S_MAX_ATTEMPTS": "1", "KML_K8S_BACKOFF_SECONDS": "0"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as local:
        local.create_secret(SECRET, {"token": "s3cret-value", "other": "x"})
        local.create_secret("empty-token", {"token": ""})
        yield local


@pytest.fixture(scope="module")
def no_kserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("bare"), kserve=False) as local:
        yield local


def doctor(registry: EmbeddedRegistry, kubeconfig: Path | str, **options: object) -> Checklist:
    return check_installation(
        DoctorSettings(registry_url=registry.url, kubeconfig_path=str(kubeconfig), env=dict(ENV), **options)  # type: ignore[arg-type]
    )


def message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


def check(checklist: Checklist, prefix: str) -> Check:
    found = [c for c in checklist.checks if c.name.startswith(prefix)]
    assert len(found) == 1, [c.name for c in checklist.checks]
    return found[0]


def test_a_ready_cluster_passes(registry: EmbeddedRegistry, cluster: LocalCluster) -> None:
    checklist = doctor(registry, cluster.kubeconfig_path, token_secret_name=SECRET)
    assert checklist.ok, "\n".join(checklist.text_lines())
    assert checklist.namespace == NS and "kubeconfig" in checklist.kubernetes_source
    crd = check(checklist, CRD)
    assert crd.ok and "API discovery" in crd.detail  # a namespace's service account may not read CRDs
    for verb in ("get", "create", "patch", "delete"):
        assert check(checklist, f"may {verb} inferenceservices.serving.kserve.io in {NS}").ok
    secret = check(checklist, "registry token Secret")
    assert secret.ok and "s3cret-value" not in str(checklist.to_dict())


def test_the_crd_is_read_when_allowed(registry: EmbeddedRegistry, cluster: LocalCluster) -> None:
    cluster.allow("get", "customresourcedefinitions")
    try:
        crd = check(doctor(registry, cluster.kubeconfig_path), CRD)
    finally:
        cluster.forbid("get", "customresourcedefinitions")
    assert crd.ok and "serves v1beta1 and is established" in crd.detail


@pytest.mark.parametrize("crd_readable", [True, False])
def test_a_cluster_without_kserve_fails_the_crd_check(
    registry: EmbeddedRegistry, no_kserve: LocalCluster, crd_readable: bool
) -> None:
    if crd_readable:
        no_kserve.allow("get", "customresourcedefinitions")
    try:
        checklist = doctor(registry, no_kserve.kubeconfig_path)
    finally:
        no_kserve.forbid("get", "customresourcedefinitions")
    crd = check(checklist, CRD)
    assert not crd.ok and crd.required and not checklist.ok
    assert "install KServe" in crd.fix
    assert ("KServe is not installed" if crd_readable else "does not serve serving.kserve.io/v1beta1") in crd.detail


@pytest.mark.parametrize("verb", ["get", "create", "patch", "delete"])
def test_each_denied_verb_fails_its_own_check(registry: EmbeddedRegistry, cluster: LocalCluster, verb: str) -> None:
    cluster.forbid(verb)
    try:
        checklist = doctor(registry, cluster.kubeconfig_path)
    finally:
        cluster.allow(verb)
    denied = check(checklist, f"may {verb} inferenceservices")
    assert not denied.ok and "denied by RBAC" in denied.detail and "rbac.yaml" in denied.fix
    others = [c for c in checklist.checks if c.name.startswith("may ") and c is not denied]
    assert others and all(c.ok for c in others)
    assert not checklist.ok


def test_verbs_can_be_narrowed_for_a_reader(registry: EmbeddedRegistry, cluster: LocalCluster) -> None:
    cluster.forbid("patch")
    try:
        checklist = doctor(registry, cluster.kubeconfig_path, verbs=("get",))
    finally:
        cluster.allow("patch")
    assert checklist.ok and not any("may patch" in c.name for c in checklist.checks)


def test_deployments_get_denied_is_only_a_warning(registry: EmbeddedRegistry, cluster: LocalCluster) -> None:
    cluster.forbid("get", "deployments")
    try:
        checklist = doctor(registry, cluster.kubeconfig_path)
    finally:
        cluster.allow("get", "deployments")
    warning = check(checklist, "may get deployments.apps")
    assert warning.mark == "warning" and checklist.ok


@pytest.mark.parametrize(
    ("name", "key", "expected"),
    [
        ("absent-secret", "token", "does not exist in namespace"),
        (SECRET, "api-token", "has no key 'api-token' (its keys: other, token)"),
        ("empty-token", "token", "is empty"),
    ],
)
def test_secret_problems_fail_with_the_command_that_fixes_them(
    registry: EmbeddedRegistry, cluster: LocalCluster, name: str, key: str, expected: str
) -> None:
    checklist = doctor(registry, cluster.kubeconfig_path, token_secret_name=name, token_secret_key=key)
    secret = check(checklist, "registry token Secret")
    assert not secret.ok and secret.required and not checklist.ok
    assert expected in secret.detail
    assert f"kubectl create secret generic {name} --from-literal={key}=<token> -n {NS}" in secret.fix


def test_a_secret_that_may_not_be_read_is_a_warning(registry: EmbeddedRegistry, cluster: LocalCluster) -> None:
    cluster.forbid("get", "secrets")
    try:
        checklist = doctor(registry, cluster.kubeconfig_path, token_secret_name=SECRET)
    finally:
        cluster.allow("get", "secrets")
    secret = check(checklist, "registry token Secret")
    assert secret.mark == "warning" and "(403)" in secret.detail
    assert "kubectl get secret model-registry-token" in secret.fix
    assert checklist.ok


def test_no_kubernetes_credentials_fail_with_the_way_out(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    checklist = doctor(registry, tmp_path / "missing-kubeconfig")
    credentials = check(checklist, "Kubernetes credentials")
    assert not credentials.ok and "does not exist" in credentials.detail and "--no-kubernetes" in credentials.fix
    assert check(checklist, CRD).skipped and check(checklist, API_SERVER).skipped
    assert not checklist.ok
    registry_only = check_installation(DoctorSettings(registry_url=registry.url, kubernetes=False, env=dict(ENV)))
    assert registry_only.ok and not any("Kubernetes" in c.name for c in registry_only.checks)


def test_a_rejected_cluster_token_fails_the_api_server_check(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    with LocalCluster(tmp_path / "c", token="cluster-token") as guarded:
        wrong = write_kubeconfig(tmp_path / "wrong", guarded.api_url, namespace=NS, token="not-it")
        checklist = doctor(registry, wrong)
        assert doctor(registry, guarded.kubeconfig_path).ok
    server = check(checklist, API_SERVER)
    assert not server.ok and "401" in server.detail and "refresh the kubeconfig" in server.fix
    assert check(checklist, CRD).skipped


# -- the stand-in's Secrets and CRD, as the real API server answers -------------------------------------------


def test_secrets_are_created_and_read_like_the_api_server_does(cluster: LocalCluster) -> None:
    core = client.CoreV1Api(cluster.api_client())
    body = {"metadata": {"name": "made-by-post"}, "stringData": {"token": "abc"}, "data": {"raw": "eHl6"}}
    created = core.create_namespaced_secret(NS, body)
    assert created.data == {"raw": "eHl6", "token": base64.b64encode(b"abc").decode()}
    assert created.metadata.uid and created.metadata.resource_version and created.type == "Opaque"
    read = core.read_namespaced_secret("made-by-post", NS)
    assert read.data["token"] == "YWJj" and not getattr(read, "string_data", None)
    assert "made-by-post" in [s.metadata.name for s in core.list_namespaced_secret(NS).items]
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_secret(NS, body)
    assert exists.value.status == 409 and message(exists.value) == 'secrets "made-by-post" already exists'
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("nope", NS)
    assert missing.value.status == 404 and message(missing.value) == 'secrets "nope" not found'
    with pytest.raises(ApiException) as not_base64:
        core.create_namespaced_secret(NS, {"metadata": {"name": "bad"}, "data": {"token": "not base64!"}})
    assert not_base64.value.status == 400


def test_a_forbidden_secret_is_worded_for_the_core_group(cluster: LocalCluster) -> None:
    core = client.CoreV1Api(cluster.api_client())
    cluster.forbid("get", "secrets")
    try:
        with pytest.raises(ApiException) as denied:
            core.read_namespaced_secret(SECRET, NS)
    finally:
        cluster.allow("get", "secrets")
    assert denied.value.status == 403
    assert message(denied.value).startswith(f'secrets "{SECRET}" is forbidden: User ')
    assert message(denied.value).endswith(f'cannot get resource "secrets" in API group "" in the namespace "{NS}"')


def test_the_crd_and_discovery_depend_on_kserve(cluster: LocalCluster, no_kserve: LocalCluster) -> None:
    for local in (cluster, no_kserve):
        local.allow("get", "customresourcedefinitions")
        local.allow("list", "customresourcedefinitions")
    try:
        with_kserve = client.ApiextensionsV1Api(cluster.api_client())
        crd = with_kserve.read_custom_resource_definition("inferenceservices.serving.kserve.io")
        assert crd.spec.group == "serving.kserve.io" and crd.spec.versions[0].served
        assert [c.type for c in crd.status.conditions] == ["NamesAccepted", "Established"]
        without = client.ApiextensionsV1Api(no_kserve.api_client())
        assert without.list_custom_resource_definition().items == []
        with pytest.raises(ApiException) as missing:
            without.read_custom_resource_definition("inferenceservices.serving.kserve.io")
        assert missing.value.status == 404
    finally:
        for local in (cluster, no_kserve):
            local.forbid("get", "customresourcedefinitions")
            local.forbid("list", "customresourcedefinitions")
    groups = {g.name for g in client.ApisApi(no_kserve.api_client()).get_api_versions().groups}
    assert "serving.kserve.io" not in groups and "apiextensions.k8s.io" in groups
    assert "serving.kserve.io" in {g.name for g in client.ApisApi(cluster.api_client()).get_api_versions().groups}
    custom = client.CustomObjectsApi(no_kserve.api_client())
    with pytest.raises(ApiException) as no_api:
        custom.list_namespaced_custom_object("serving.kserve.io", "v1beta1", NS, "inferenceservices")
    assert no_api.value.status == 404 and "could not find the requested resource" in no_api.value.body


def test_crds_may_not_be_read_by_default(cluster: LocalCluster) -> None:
    with pytest.raises(ApiException) as denied:
        client.ApiextensionsV1Api(cluster.api_client()).read_custom_resource_definition(
            "inferenceservices.serving.kserve.io"
        )
    assert denied.value.status == 403 and "at the cluster scope" in denied.value.body
