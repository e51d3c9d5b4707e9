"""Unit tests of register_model's plain functions and shared pod helpers (no registry, no KFP run)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mr_openapi import exceptions as mr_exc

from kfp_model_lifecycle import client as registry_client
from kfp_model_lifecycle.client import (
    RetryPolicy,
    call_with_backoff,
    describe_registry_error,
    is_transient_registry_error,
    parse_registry_url,
    resolve_registry_token,
    resolve_registry_url,
)
from kfp_model_lifecycle.lineage.context import RunContext, build_run_url, collect_run_context, is_missing_value
from kfp_model_lifecycle.lineage.sources import (
    DatasetInput,
    DatasetRecord,
    describe_dataset_input,
    find_code_version,
    find_training_image,
    sha256_of_path,
)
from kfp_model_lifecycle.registration.artifacts import (
    ArtifactStorage,
    ModelFormat,
    build_dataset_artifacts,
    build_model_artifact,
)
from kfp_model_lifecycle.registration.model_lineage import find_model_lineage, resolve_model_format
from kfp_model_lifecycle.registration.names import check_registry_name
from kfp_model_lifecycle.registration.output import registered_model_output, write_json_atomically
from kfp_model_lifecycle.registration.properties import build_version_properties, to_metadata_value
from kfp_model_lifecycle.registration.run import run_register_model
from kfp_model_lifecycle.registration.versions import (
    SemVerBump,
    VersionRequest,
    next_semver,
    parse_semver,
    parse_version_request,
)
from kfp_model_lifecycle.registration.writes import RegisteredVersion, registration_key

# -- registry URL, token, retry policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", ("http", "127.0.0.1", 8080, "http://127.0.0.1:8080")),
        ("https://mr.kubeflow.svc.cluster.local:8443/", ("https", "mr.kubeflow.svc.cluster.local", 8443, None)),
        ("HTTPS://mr:8443/api/model_registry/v1", ("https", "mr", 8443, "https://mr:8443")),
        ("http://mr", ("http", "mr", 80, "http://mr:80")),
        ("https://mr", ("https", "mr", 443, "https://mr:443")),
        ("http://[::1]:9000", ("http", "::1", 9000, "http://[::1]:9000")),
    ],
)
def test_parse_registry_url_accepts(url: str, expected: tuple) -> None:
    parts = parse_registry_url(url)
    scheme, host, port, canonical = expected
    assert (parts.scheme, parts.host, parts.port) == (scheme, host, port)
    if canonical:
        assert parts.url == canonical
    assert parts.server_address.startswith(scheme + "://")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("model-registry-service.kubeflow.svc:8080", "'http://model-registry-service.kubeflow.svc:8080'"),
        ("mr.kubeflow:8443", "'https://mr.kubeflow:8443'"),
        ("grpc://mr:9090", "unsupported scheme 'grpc'"),
        ("model-registry://mr:8080", "'http://mr:8080'"),
        ("http://user:pw@mr:8080", "must not contain credentials"),
        ("http://mr:8080/some/prefix", "give only scheme, host and port, e.g. 'http://mr:8080'"),
        ("http://mr:99999", "invalid port"),
        ("http://:8080", "no host name"),
    ],
)
def test_parse_registry_url_rejects_with_fix(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="registry_url") as info:
        parse_registry_url(url)
    assert fragment in str(info.value)
    assert "pw" not in str(info.value) or "credentials" in str(info.value)


def test_resolve_registry_url_parameter_env_and_error() -> None:
    assert resolve_registry_url(" http://a:1 ", env={"KML_REGISTRY_URL": "http://b:2"}) == "http://a:1"
    assert resolve_registry_url("", env={"KML_REGISTRY_URL": "http://b:2"}) == "http://b:2"
    with pytest.raises(ValueError, match="set the registry_url input") as info:
        resolve_registry_url("", env={})
    assert "KML_REGISTRY_URL" in str(info.value)


def test_resolve_registry_token_order(tmp_path: Path) -> None:
    sa = tmp_path / "sa-token"
    sa.write_text("sa-secret\n")
    explicit = tmp_path / "explicit"
    explicit.write_text("explicit-secret")
    env_token = {"KML_REGISTRY_TOKEN": "env-secret", "KF_PIPELINES_SA_TOKEN_PATH": str(explicit)}
    assert resolve_registry_token("http", env_token, str(sa)) == (
        "env-secret",
        "the environment variable KML_REGISTRY_TOKEN",
    )
    token, source = resolve_registry_token("http", {"KF_PIPELINES_SA_TOKEN_PATH": str(explicit)}, str(sa))
    assert token == "explicit-secret" and "KF_PIPELINES_SA_TOKEN_PATH" in source
    assert resolve_registry_token("https", {}, str(sa)) == ("sa-secret", "the pod's service-account token")
    token, source = resolve_registry_token("http", {}, str(sa))
    assert token is None and "only sent over https" in source
    assert resolve_registry_token("https", {}, str(tmp_path / "missing")) == (None, "none")
    with pytest.raises(FileNotFoundError, match="KF_PIPELINES_SA_TOKEN_PATH"):
        resolve_registry_token("https", {"KF_PIPELINES_SA_TOKEN_PATH": str(tmp_path / "nope")}, str(sa))


def test_retry_policy_defaults_env_and_errors() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=10.0, timeout=30.0)
    policy = RetryPolicy.from_env({"KML_REGISTRY_MAX_ATTEMPTS": "2", "KML_REGISTRY_BACKOFF_SECONDS": "0.5"})
    assert policy.max_attempts == 2 and policy.base_delay == 0.5 and policy.max_delay == 5.0
    with pytest.raises(ValueError, match="KML_REGISTRY_MAX_ATTEMPTS='x' is not a number"):
        RetryPolicy.from_env({"KML_REGISTRY_MAX_ATTEMPTS": "x"})
    with pytest.raises(ValueError, match="must be at least 1"):
        RetryPolicy.from_env({"KML_REGISTRY_MAX_ATTEMPTS": "0"})


def _api_error(cls: type, status: int, message: str) -> Exception:
    exc = cls(status=status, reason="x", body=json.dumps({"code": "x", "message": message}))
    return exc


def test_transient_classification() -> None:
    import aiohttp

    assert is_transient_registry_error(_api_error(mr_exc.ServiceException, 503, "down"))
    assert is_transient_registry_error(_api_error(mr_exc.ApiException, 429, "slow down"))
    assert is_transient_registry_error(aiohttp.ServerDisconnectedError())
    assert is_transient_registry_error(ConnectionResetError(104, "reset"))
    assert is_transient_registry_error(TimeoutError())
    assert not is_transient_registry_error(_api_error(mr_exc.UnauthorizedException, 401, "no"))
    assert not is_transient_registry_error(_api_error(mr_exc.ConflictException, 409, "taken"))
    assert not is_transient_registry_error(ValueError("bad"))


def test_call_with_backoff_retries_transient_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError(104, "Connection reset by peer")
        return "ok"

    caplog.set_level("WARNING", logger="kfp_model_lifecycle")
    assert call_with_backoff(flaky, max_attempts=5, base_delay=0.001, max_delay=0.002) == ("ok", 3)
    assert sum("transient failure" in r.message for r in caplog.records) == 2


def test_call_with_backoff_is_bounded_and_keeps_permanent_errors() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise _api_error(mr_exc.ServiceException, 503, "unavailable")

    with pytest.raises(mr_exc.ServiceException) as info:
        call_with_backoff(down, max_attempts=3, base_delay=0.001, max_delay=0.001)
    assert len(calls) == 3 and info.value.kml_attempts == 3  # type: ignore[attr-defined]

    calls.clear()

    def denied() -> None:
        calls.append(1)
        raise _api_error(mr_exc.UnauthorizedException, 401, "no")

    with pytest.raises(mr_exc.UnauthorizedException):
        call_with_backoff(denied, max_attempts=5, base_delay=0.001)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("exc", "kind", "fragments"),
    [
        (_api_error(mr_exc.UnauthorizedException, 401, "bad token"), PermissionError, ["401", "token_secret_name"]),
        (_api_error(mr_exc.ForbiddenException, 403, "rbac"), PermissionError, ["403", "RoleBinding"]),
        (_api_error(mr_exc.BadRequestException, 400, 'json: unknown field "x"'), ValueError, ['unknown field "x"']),
        (_api_error(mr_exc.ServiceException, 503, "down"), ConnectionError, ["503", "after 5 attempts", "health"]),
        (ConnectionRefusedError(111, "refused"), ConnectionError, ["unreachable", "8080", "8443"]),
        (RuntimeError("boom"), RuntimeError, ["boom"]),
    ],
)
def test_describe_registry_error(exc: Exception, kind: type, fragments: list[str]) -> None:
    err = describe_registry_error(exc, "http://mr:8080", "create model version '1.0.0'", attempts=5)
    assert isinstance(err, kind)
    assert "Model Registry at http://mr:8080: could not create model version '1.0.0'" in str(err)
    for fragment in fragments:
        assert fragment in str(err)


def test_describe_registry_error_scheme_hints() -> None:
    http_to_tls = _api_error(mr_exc.BadRequestException, 400, "Client sent an HTTP request to an HTTPS server.")
    err = describe_registry_error(http_to_tls, "http://mr:8443", "reach the registry")
    assert isinstance(err, ConnectionError) and "https://mr:8443" in str(err)
    err = describe_registry_error(
        _api_error(mr_exc.NotFoundException, 404, "nope"), "http://x:80", "reach the registry"
    )
    assert isinstance(err, ConnectionError) and "/api/model_registry/v1" in str(err)


# -- lineage ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        ("{{$.pipeline_job_uuid}}", True),
        ("{{$.pipeline_task_name}}", True),
        ("{{workflow.uid}}", True),
        ("run-123", False),
        ("a {b} c", False),
    ],
)
def test_is_missing_value(value: object, missing: bool) -> None:
    assert is_missing_value(value) is missing


def test_collect_run_context_from_inputs() -> None:
    ctx = collect_run_context("rid", "rname", "pipe", "task", "ns", "https://ui/_/pipeline/", env={})
    assert (ctx.run_id, ctx.run_name, ctx.pipeline_name, ctx.task_name, ctx.namespace) == (
        "rid",
        "rname",
        "pipe",
        "task",
        "ns",
    )
    assert ctx.run_url == "https://ui/_/pipeline/#/runs/details/rid"
    assert ctx.missing == {}
    assert ctx.sources["run_id"] == "the run_id input"


def test_collect_run_context_placeholders_are_missing_and_env_fallbacks(tmp_path: Path) -> None:
    ns_file = tmp_path / "namespace"
    ns_file.write_text("team-a\n")
    ctx = collect_run_context(
        "{{$.pipeline_job_uuid}}",
        "{{$.pipeline_job_name}}",
        "",
        "{{$.pipeline_task_name}}",
        env={"KML_KFP_UI_URL": "http://ui"},
        sa_namespace_path=str(ns_file),
    )
    assert ctx.run_id == ctx.run_name == ctx.task_name == ctx.pipeline_name == ""
    assert ctx.namespace == "team-a" and ctx.sources["namespace"] == "the service-account namespace file"
    assert set(ctx.missing) == {"run_id", "run_name", "pipeline_name", "task_name", "run_url"}
    assert "PIPELINE_JOB_ID_PLACEHOLDER" in ctx.missing["run_id"]
    assert ctx.missing["run_url"] == "needs the run id"
    assert any("KFP_POD_NAME is not set" in n for n in ctx.notes)
    ctx = collect_run_context(env={"POD_NAMESPACE": "ns-env", "KFP_RUN_ID": "r-env"}, sa_namespace_path=str(ns_file))
    assert ctx.namespace == "ns-env" and ctx.run_id == "r-env"


class _FakeKubernetes:
    """A fake Kubernetes API over http on loopback: one pod and its Argo workflow (or 403 for what is forbidden).

    Shaped like the KFP v2 backend's objects: the pod carries the labels ``pipeline/runid`` and
    ``workflows.argoproj.io/workflow``; the run's display name is only on the Workflow, as the annotation
    ``pipelines.kubeflow.org/run_name``.
    """

    def __init__(self, *, forbidden: tuple[str, ...] = (), pod_annotations: dict | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        objects = {
            "/api/v1/namespaces/team-a/pods/train-pod-123": {
                "metadata": {
                    "name": "train-pod-123",
                    "labels": {"pipeline/runid": "5f1c-run-uuid", "workflows.argoproj.io/workflow": "wf-abc"},
                    "annotations": pod_annotations or {},
                }
            },
            "/apis/argoproj.io/v1alpha1/namespaces/team-a/workflows/wf-abc": {
                "metadata": {"annotations": {"pipelines.kubeflow.org/run_name": "nightly run 7"}}
            },
        }
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization", "")))
                body = objects.get(self.path)
                denied = any(self.path.startswith(prefix) for prefix in forbidden)
                status = 403 if denied else (200 if body is not None else 404)
                data = json.dumps(body if status == 200 else {"kind": "Status", "code": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_k8s() -> Iterator[_FakeKubernetes]:
    server = _FakeKubernetes()
    yield server
    server.close()


def test_run_id_from_pod_label_and_display_name_from_its_workflow(fake_k8s: _FakeKubernetes, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("k8s-sa-token")
    ctx = collect_run_context(
        "{{$.pipeline_job_uuid}}",
        "{{$.pipeline_job_name}}",
        namespace="team-a",
        env={"KFP_POD_NAME": "train-pod-123"},
        k8s_api_url=fake_k8s.url,
        k8s_token_path=str(token),
    )
    assert ctx.run_id == "5f1c-run-uuid" and ctx.run_name == "nightly run 7"
    assert ctx.sources["run_id"] == "the pod's label pipeline/runid (Kubernetes API)"
    assert ctx.sources["run_name"] == (
        "the annotation pipelines.kubeflow.org/run_name of Argo Workflow wf-abc (Kubernetes API)"
    )
    assert fake_k8s.requests[0] == ("/api/v1/namespaces/team-a/pods/train-pod-123", "Bearer k8s-sa-token")
    assert fake_k8s.requests[1][0] == "/apis/argoproj.io/v1alpha1/namespaces/team-a/workflows/wf-abc"


def test_a_run_name_annotation_on_the_pod_is_not_read(tmp_path: Path) -> None:
    """KFP never annotates pods with the run name (only the Workflow): the display name comes from the Workflow."""
    server = _FakeKubernetes(pod_annotations={"pipelines.kubeflow.org/run_name": "not-kfp"})
    try:
        ctx = collect_run_context(
            namespace="team-a", env={"KFP_POD_NAME": "train-pod-123"}, k8s_api_url=server.url, k8s_token_path=""
        )
    finally:
        server.close()
    assert ctx.run_name == "nightly run 7" and len(server.requests) == 2


def test_a_known_display_name_reads_no_workflow(fake_k8s: _FakeKubernetes) -> None:
    ctx = collect_run_context(
        run_name="my run", namespace="team-a", env={"KFP_POD_NAME": "train-pod-123"}, k8s_api_url=fake_k8s.url,
        k8s_token_path="",
    )  # fmt: skip
    assert (ctx.run_id, ctx.run_name) == ("5f1c-run-uuid", "my run")
    assert [path for path, _ in fake_k8s.requests] == ["/api/v1/namespaces/team-a/pods/train-pod-123"]


def test_workflows_forbidden_says_what_is_not_recorded_and_why() -> None:
    server = _FakeKubernetes(forbidden=("/apis/argoproj.io/",))
    try:
        ctx = collect_run_context(
            namespace="team-a", env={"KFP_POD_NAME": "train-pod-123"}, k8s_api_url=server.url, k8s_token_path=""
        )
    finally:
        server.close()
    assert ctx.run_id == "5f1c-run-uuid" and ctx.run_name == "" and "run_name" in ctx.missing
    [note] = [n for n in ctx.notes if "workflows.argoproj.io" in n]
    assert "may not 'get' workflows.argoproj.io in team-a" in note and "display name" in note
    assert "PIPELINE_JOB_NAME_PLACEHOLDER" in note and "wf-abc" in note


def test_kubernetes_api_forbidden_is_a_note_not_an_error() -> None:
    server = _FakeKubernetes(forbidden=("/",))
    try:
        ctx = collect_run_context(
            namespace="team-a", env={"KFP_POD_NAME": "train-pod-123"}, k8s_api_url=server.url, k8s_token_path=""
        )
    finally:
        server.close()
    assert ctx.run_id == "" and "run_id" in ctx.missing
    assert any("may not 'get' pods in team-a" in n for n in ctx.notes)


def test_kubernetes_api_unreachable_is_a_note() -> None:
    from kfp_model_lifecycle.local.registry.server import free_port

    ctx = collect_run_context(
        namespace="team-a",
        env={"KFP_POD_NAME": "p"},
        k8s_api_url=f"http://127.0.0.1:{free_port()}",
        k8s_token_path="",
    )
    assert ctx.run_id == "" and any("could not read pod p" in n for n in ctx.notes)


def test_code_version_and_training_image_sources() -> None:
    assert find_code_version("abc123", {"git_commit": "x"}, {"GITHUB_SHA": "y"}) == ("abc123", "the code_version input")
    assert find_code_version("", {"git_commit": "x"}, {"GITHUB_SHA": "y"}) == ("x", "model.metadata['git_commit']")
    assert find_code_version("", {}, {"CI_COMMIT_SHA": "z"}) == ("z", "the environment variable CI_COMMIT_SHA")
    assert find_code_version("{{$.x}}", {}, {}) == ("", "")
    assert find_training_image("", {"training_image": "img:1"}, {})[0] == "img:1"
    assert find_training_image("", {}, {"KML_TRAINING_IMAGE": "img:2"})[0] == "img:2"
    assert find_training_image("", {}, {}) == ("", "")


def test_sha256_of_file_and_directory(tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    f.write_bytes(b"a,b\n1,2\n")
    assert sha256_of_path(str(f)) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_text("B")
    (d / "sub" / "a.txt").write_text("A")
    first = sha256_of_path(str(d))
    assert first == sha256_of_path(str(d))
    (d / "sub" / "a.txt").rename(d / "sub" / "c.txt")
    assert sha256_of_path(str(d)) != first
    info = describe_dataset_input(DatasetInput("train", "", "s3://b/x", str(tmp_path / "missing")))
    assert info.sha256 == "" and "not readable" in info.problem and info.name == "train"
    info = describe_dataset_input(DatasetInput("", uri="s3://b/y", path=str(f)))
    assert (info.role, info.name, info.sha256, info.problem) == ("data", "data", sha256_of_path(str(f)), "")
    assert describe_dataset_input(DatasetInput("eval", "e", "s3://b/z")).problem == "no local path"


def test_build_run_url() -> None:
    assert build_run_url("http://ui/", "r1") == "http://ui/#/runs/details/r1"
    assert build_run_url("", "r1") == "" and build_run_url("http://ui", "") == ""


# -- names, versions, properties, records -------------------------------------------------------------------


def test_check_registry_name() -> None:
    assert check_registry_name("  iris  ", "model_name") == "iris"
    with pytest.raises(ValueError, match="model_name is empty"):
        check_registry_name(" ", "model_name")
    with pytest.raises(ValueError, match=r"contains '/'.*'team-iris'"):
        check_registry_name("team/iris", "model_name")
    # the registry stores '<owner id>:<name>' in 255 characters; ids have at most 10 digits
    assert check_registry_name("x" * 244, "version") == "x" * 244
    with pytest.raises(ValueError, match=r"is 245 characters long: at most 244 are allowed") as info:
        check_registry_name("v" * 245, "version")
    assert "'<owner id>:<name>'" in str(info.value) and "Fix: use a shorter version" in str(info.value)
    assert "v" * 41 not in str(info.value)  # the value is cut in the message
    with pytest.raises(ValueError, match="control characters"):
        check_registry_name("a\nb", "version")


def test_versions_and_semver_bumps() -> None:
    assert parse_version_request("") == VersionRequest(bump=SemVerBump.PATCH)
    assert parse_version_request("MINOR") == VersionRequest(bump=SemVerBump.MINOR)
    assert parse_version_request("v2-candidate") == VersionRequest(name="v2-candidate")
    assert parse_semver("1.2.3") == (1, 2, 3)
    assert parse_semver("1.2") is None and parse_semver("1.2.3-rc1") is None and parse_semver("01.2.3") is None
    assert next_semver([], "major") == "1.0.0"
    assert next_semver(["latest", "v9"], "patch") == "1.0.0"
    names = ["1.0.0", "1.10.0", "1.9.7", "2.0.0-rc1", "experiment"]
    assert next_semver(names, "patch") == "1.10.1"
    assert next_semver(names, "minor") == "1.11.0"
    assert next_semver(names, "major") == "2.0.0"
    assert next_semver(["1.0.0"], "patch", floor=(1, 0, 4)) == "1.0.5"
    with pytest.raises(ValueError, match="not one of"):
        next_semver([], "huge")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, {"bool_value": True, "metadataType": "MetadataBoolValue"}),
        (7, {"int_value": "7", "metadataType": "MetadataIntValue"}),
        (0.5, {"double_value": 0.5, "metadataType": "MetadataDoubleValue"}),
        (float("nan"), {"string_value": "nan", "metadataType": "MetadataStringValue"}),
        ("x", {"string_value": "x", "metadataType": "MetadataStringValue"}),
        ({"b": 1, "a": [1, 2]}, {"string_value": '{"a": [1, 2], "b": 1}', "metadataType": "MetadataStringValue"}),
        (None, None),
    ],
)
def test_to_metadata_value(value: object, expected: dict | None) -> None:
    assert to_metadata_value(value) == expected


def test_build_version_properties_keys_types_and_precedence() -> None:
    context = RunContext(run_id="r", run_name="n", pipeline_name="p", namespace="ns", task_name="t", run_url="")
    datasets = [
        DatasetRecord("train", "train", "s3://d/train", sha256="ab" * 32),
        DatasetRecord("eval", "eval", "s3://d/e"),
    ]
    props, notes = build_version_properties(
        context,
        model_uri="s3://m/model",
        datasets=datasets,
        hyperparameters={"lr": 0.1, "depth": 3, "layers": [1, 2], "skip": None, "trees": "150", "rate": "0.25"},
        model_metadata={
            "framework": "sklearn",
            "hyperparameters": {"depth": 2, "seed": 7},
            "registered_models": [],
            "display_name": "x",
        },
        metrics={"accuracy": 0.93, "f1": 1, "confusion": "n/a", "kfp_run_id": 0.5},
        labels=["prod", "", "accuracy"],
        code_version="abc",
        training_image="img",
    )
    assert props["kfp_run_id"] == to_metadata_value("r")  # lineage wins over a metric with the same name
    assert props["kfp_model_uri"]["string_value"] == "s3://m/model"
    assert "kfp_run_url" not in props
    assert props["hp_depth"] == to_metadata_value(3)  # explicit hyperparameters override model.metadata's
    assert props["hp_seed"] == to_metadata_value(7)  # model.metadata["hyperparameters"] is flattened into hp_*
    assert props["hp_trees"] == to_metadata_value(150)  # numeric strings (pipeline parameters in a dict)
    assert props["hp_rate"] == to_metadata_value(0.25)
    assert props["model_meta_framework"] == to_metadata_value("sklearn")  # other model.metadata keys
    assert "hp_framework" not in props and "model_meta_hyperparameters" not in props
    assert props["hp_layers"]["string_value"] == "[1, 2]"
    assert not any(k.endswith("registered_models") for k in props) and "hp_skip" not in props
    assert "model_meta_display_name" not in props
    # the run name is the run's display name (what PIPELINE_JOB_NAME becomes), under both keys
    assert props["kfp_run_display_name"] == props["kfp_run_name"] == to_metadata_value("n")
    assert props["accuracy"] == to_metadata_value(0.93)  # metric replaces the label of the same name
    assert props["f1"] == {"double_value": 1.0, "metadataType": "MetadataDoubleValue"}
    assert "confusion" not in props
    assert props["prod"] == to_metadata_value("")
    assert props["dataset_0_sha256"]["string_value"] == "ab" * 32 and "dataset_1_sha256" not in props
    assert props["dataset_1_role"]["string_value"] == "eval"
    assert props["code_version"]["string_value"] == "abc" and props["training_image"]["string_value"] == "img"
    assert any("'confusion'" in n for n in notes) and any("'skip'" in n for n in notes)
    assert any("'accuracy' replaces" in n for n in notes)


def test_model_and_dataset_artifacts() -> None:
    context = RunContext(run_id="r1", run_name="run one", namespace="ns")
    art = build_model_artifact("iris", "s3://b/m", context, ModelFormat(name="sklearn"), ArtifactStorage(key="aws"))
    assert art == {
        "artifactType": "model-artifact",
        "name": "iris",
        "uri": "s3://b/m",
        "state": "LIVE",
        "modelFormatName": "sklearn",
        "storageKey": "aws",
        "modelSourceKind": "kfp",
        "modelSourceClass": "pipelinerun",
        "modelSourceGroup": "ns",
        "modelSourceId": "r1",
        "modelSourceName": "run one",
    }
    assert "modelSourceId" not in build_model_artifact("iris", "s3://b/m", RunContext())
    bodies = build_dataset_artifacts(
        [DatasetRecord("train", "out", "s3://d", sha256="cd"), DatasetRecord("eval", "", "")]
    )
    assert len(bodies) == 1 and bodies[0]["name"] == "train-dataset" and bodies[0]["digest"] == "sha256:cd"
    assert "externalId" not in bodies[0]  # given when written, with the version id
    assert bodies[0]["customProperties"]["kfp_artifact_name"]["string_value"] == "out"


def test_model_format_and_lineage_beyond_the_run(caplog: pytest.LogCaptureFixture) -> None:
    meta = {"framework": "sklearn", "format_version": "2", "git_commit": "abc"}
    assert resolve_model_format("", "", meta) == ModelFormat("sklearn", "2")
    assert resolve_model_format(" xgboost ", "{{$.x}}", meta) == ModelFormat("xgboost", "2")
    assert resolve_model_format("", "", {}) == ModelFormat()
    context = RunContext(run_id="r", missing={"run_name": "pass run_name"})
    caplog.set_level("WARNING", logger="kfp_model_lifecycle")
    lineage = find_model_lineage(context, ModelFormat(), meta, "", "", [DatasetInput("train", "d", "s3://d")], env={})
    assert (lineage.code_version, lineage.code_version_source) == ("abc", "model.metadata['git_commit']")
    assert list(lineage.missing) == ["run_name", "model_format_name", "training_image"]
    assert lineage.datasets == (DatasetRecord("train", "d", "s3://d", problem="no local path"),)
    assert "dataset train (s3://d): no sha256 digest: no local path" in caplog.text


def test_registration_key() -> None:
    ctx = RunContext(run_id="r1", task_name="register-model")
    key = registration_key(ctx, "iris", "s3://b/m")
    assert key.startswith("kfp:r1:register-model:iris:") and len(key.rsplit(":", 1)[1]) == 12
    assert registration_key(ctx, "iris", "s3://b/other") != key  # ParallelFor iterations differ
    assert registration_key(RunContext(task_name="t"), "iris", "s3://b/m") == ""


def test_registered_model_output_convention() -> None:
    registered = RegisteredVersion(
        "1", "iris", "2", "1.0.0", model_artifact_id="3", dataset_artifact_ids=(), reused=False
    )
    meta = registered_model_output(registered, "http://mr:8080", "s3://m")
    assert meta["registered_models"] == [
        {
            "modelName": "iris",
            "versionName": "1.0.0",
            "versionID": "2",
            "modelID": "1",
            "modelRegistryURL": "http://mr:8080",
        }
    ]
    assert meta["storage_uri"] == "model-registry://iris/1.0.0" and "model_format_name" not in meta
    meta = registered_model_output(registered, "http://mr:8080", "s3://m", ModelFormat("sklearn", "1"))
    assert (meta["model_format_name"], meta["model_format_version"]) == ("sklearn", "1")


def test_write_json_atomically_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "pointer.json"
    write_json_atomically(str(target), {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        write_json_atomically(str(target), {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["pointer.json"]


def test_invalid_inputs_fail_before_any_network_call() -> None:
    with pytest.raises(ValueError, match="contains '/'"):
        run_register_model(model_uri="s3://m", model_name="a/b", registry_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="version 'x/y' contains '/'"):
        run_register_model(model_uri="s3://m", model_name="ab", version="x/y", registry_url="http://h:1")
    with pytest.raises(ValueError, match="has no URI"):
        run_register_model(model_uri="", model_name="ab", registry_url="http://127.0.0.1:1")


def test_readme_documents_every_input_and_output() -> None:
    import re

    from kfp_model_lifecycle.components.register_model import register_model

    readme = (Path(__file__).resolve().parents[1] / "components" / "register_model" / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", readme, flags=re.MULTILINE))
    spec = register_model.component_spec
    assert set(spec.inputs) | set(spec.outputs) <= documented


def test_bad_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match="is not a usable PEM CA bundle"):
        registry_client.connect_model_registry("https://127.0.0.1:1", ca_bundle_path=str(bad), env={}, probe=False)
