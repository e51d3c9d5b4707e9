"""The register_model component (``register_model.python_func``) against the embedded Model Registry.

Covers the recorded lineage field by field, version bumps, idempotency (retries, half-written versions,
concurrent duplicates), concurrent automatic bumps, retries through a flaky proxy, authentication, TLS and
connection errors.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from kfp.dsl import Dataset, Metrics, Model
from model_registry import ModelRegistry

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.components.register_model import register_model
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.server import free_port
from kfp_model_lifecycle.registration import writes
from kfp_model_lifecycle.registration.run import RegistrationResult, run_register_model

# -- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry settings leak in from the developer's shell; retries are fast."""
    for name in (
        "KML_REGISTRY_URL",
        "KML_REGISTRY_TOKEN",
        "KF_PIPELINES_SA_TOKEN_PATH",
        "POD_NAMESPACE",
        "KFP_POD_NAME",
        "KFP_RUN_ID",
        "KFP_RUN_NAME",
        "KML_KFP_UI_URL",
        "KML_REGISTRY_MAX_ATTEMPTS",
        "GIT_COMMIT",
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KML_REGISTRY_BACKOFF_SECONDS", "0.01")


def _artifact(cls: type, directory: Path, name: str, content: bytes | None = None, metadata: dict | None = None) -> Any:
    path = directory / name
    if content is not None:
        path.write_bytes(content)
    return cls(name=name, uri=str(path), metadata=dict(metadata or {}))


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Any]:
    """A trained model (with metadata), metrics, two datasets and an output artifact, as local KFP artifacts."""
    model = _artifact(
        Model,
        tmp_path,
        "model.joblib",
        b"model-bytes",
        {"framework": "sklearn", "framework_version": "1", "n_estimators": 50, "git_commit": "meta-commit"},
    )
    return {
        "model": model,
        "registered_model": _artifact(Model, tmp_path, "registered_model"),
        "metrics": _artifact(Metrics, tmp_path, "metrics", None, {"accuracy": 0.97, "f1": 0.91}),
        "train_dataset": _artifact(Dataset, tmp_path, "train.csv", b"x,y\n1,0\n2,1\n"),
        "eval_dataset": _artifact(Dataset, tmp_path, "eval.csv", b"x,y\n3,1\n"),
    }


def _register(registry_url: str, inputs: dict[str, Any], model_name: str, **kwargs: Any) -> Any:
    args = {"model": inputs["model"], "registered_model": inputs["registered_model"], "model_name": model_name}
    args.update(kwargs)
    return register_model.python_func(registry_url=registry_url, **args)


def _get(registry: EmbeddedRegistry, path: str, **params: Any) -> Any:
    response = httpx.get(registry.api_url + path, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _versions(registry: EmbeddedRegistry, model_id: str) -> list[dict[str, Any]]:
    return _get(registry, f"/registered_models/{model_id}/versions")["items"]


def _artifacts(registry: EmbeddedRegistry, version_id: str) -> dict[str, dict[str, Any]]:
    """The artifacts LINKED to the version: only its model artifact (what KServe's model-registry:// takes)."""
    return {a["name"]: a for a in _get(registry, f"/model_versions/{version_id}/artifacts")["items"]}


def _datasets(registry: EmbeddedRegistry, version_id: str) -> dict[str, dict[str, Any]]:
    """The version's dataset artifacts by role: created on their own, referencing the version."""
    query = f'kml_model_version_id = "{version_id}"'
    items = _get(registry, "/artifacts", filterQuery=query, artifactType="dataset-artifact")["items"]
    return {a["customProperties"]["role"]["string_value"]: a for a in items}


def _prop(entity: dict[str, Any], key: str) -> Any:
    value = entity["customProperties"][key]
    kind = value["metadataType"]
    return value[{"MetadataStringValue": "string_value", "MetadataDoubleValue": "double_value"}.get(kind, "int_value")]


class FlakyProxy:
    """A reverse proxy on a free loopback port in front of a registry that fails requests on demand.

    Args:
        upstream: The registry base URL.
        failures: Failures for the next requests, in order. Each is ``"<mode>"`` (the next request),
            ``"<METHOD> <mode>"`` (the next request with that method) or ``"<METHOD> <path end> <mode>"`` (the
            next one whose path, without query, ends so); modes: ``503``, ``429`` (HTTP errors),
            ``reset`` (the connection is reset before the request reaches the registry) and ``lose`` (the
            registry handles the request, then the connection is reset instead of answering).
        always: A mode for every request.
        tls: An SSL server context: the proxy then serves https.
    """

    def __init__(
        self,
        upstream: str,
        failures: list[str] | None = None,
        always: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.failures = [self._parse_failure(f) for f in failures or []]
        self.always = always
        self.requests = 0
        self.failed = 0
        self.authorization: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _next_mode(self) -> str | None:
                with proxy.lock:
                    proxy.requests += 1
                    proxy.authorization.append(self.headers.get("Authorization", ""))
                    mode = proxy.always
                    path = self.path.split("?")[0]
                    for i, (method, path_end, failure) in enumerate(proxy.failures):
                        if method in (None, self.command) and (path_end is None or path.endswith(path_end)):
                            mode = failure
                            del proxy.failures[i]
                            break
                    proxy.failed += bool(mode)
                    return mode

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                mode = self._next_mode()
                if mode == "reset":
                    self._reset()
                    return
                if mode in ("503", "429"):
                    status = int(mode)
                    error = {"code": "Service Unavailable" if status == 503 else "Too Many Requests", "message": "x"}
                    extra = {"Retry-After": "0"} if status == 429 else {}
                    self._reply(status, json.dumps(error).encode(), {"Content-Type": "application/json", **extra})
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if mode == "lose":
                    self._reset()
                    return
                self._reply(response.status, data, {"Content-Type": response.getheader("Content-Type", "")})

            do_GET = do_POST = do_PATCH = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # resets and failed TLS handshakes are expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def _parse_failure(spec: str) -> tuple[str | None, str | None, str]:
        parts = spec.split()
        if len(parts) == 1:
            return None, None, parts[0]
        if len(parts) == 2:
            return parts[0], None, parts[1]
        return parts[0], parts[1], parts[2]

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- lineage, field by field --------------------------------------------------------------------------------


def test_registers_model_version_artifact_and_lineage_field_by_field(
    registry: EmbeddedRegistry, client: Any, inputs: dict[str, Any], unique: str, capsys: pytest.CaptureFixture
) -> None:
    name = f"iris-{unique}"
    out = _register(
        registry.url,
        inputs,
        name,
        metrics=inputs["metrics"],
        train_dataset=inputs["train_dataset"],
        eval_dataset=inputs["eval_dataset"],
        hyperparameters={"max_depth": 4, "criterion": "gini", "class_weight": {"0": 1.0}},
        labels=["candidate", "tabular"],
        description="nightly retrain",
        author="ci-bot",
        owner="team-ml",
        storage_key="aws-connection-models",
        storage_path="models/iris",
        service_account_name="model-reader",
        code_version="0a1b2c3d",
        training_image="quay.io/acme/train:1.4",
        run_id="run-uuid-1",
        run_name="nightly 2026-05-01",
        pipeline_name="train-and-register",
        task_name="register-model",
        namespace="team-ml",
        kfp_ui_url="https://kubeflow.example.com/_/pipeline/",
    )
    # outputs
    assert out.version_name == "1.0.0"
    model = _get(registry, f"/registered_models/{out.model_id}")
    assert model["name"] == name and model["owner"] == "team-ml"
    version = _get(registry, f"/model_versions/{out.version_id}")
    assert version["name"] == "1.0.0" and version["registeredModelId"] == out.model_id
    assert version["externalId"].startswith(f"kfp:run-uuid-1:register-model:{name}:")
    assert version["description"] == "nightly retrain" and version["author"] == "ci-bot"
    assert version["state"] == "LIVE"
    # lineage on the version
    assert _prop(version, "kfp_run_id") == "run-uuid-1"
    assert _prop(version, "kfp_run_name") == "nightly 2026-05-01"
    assert _prop(version, "kfp_pipeline_name") == "train-and-register"
    assert _prop(version, "kfp_namespace") == "team-ml"
    assert _prop(version, "kfp_task_name") == "register-model"
    assert _prop(version, "kfp_run_url") == "https://kubeflow.example.com/_/pipeline/#/runs/details/run-uuid-1"
    assert _prop(version, "kfp_model_uri") == inputs["model"].uri
    assert _prop(version, "code_version") == "0a1b2c3d"  # the input wins over model.metadata['git_commit']
    assert _prop(version, "training_image") == "quay.io/acme/train:1.4"
    # datasets with digests
    train_sha = hashlib.sha256(b"x,y\n1,0\n2,1\n").hexdigest()
    eval_sha = hashlib.sha256(b"x,y\n3,1\n").hexdigest()
    assert _prop(version, "dataset_0_uri") == inputs["train_dataset"].uri
    assert _prop(version, "dataset_0_sha256") == train_sha
    assert _prop(version, "dataset_0_role") == "train"
    assert _prop(version, "dataset_1_uri") == inputs["eval_dataset"].uri
    assert _prop(version, "dataset_1_sha256") == eval_sha
    # hyperparameters (input), typed; the other model.metadata keys as model_meta_*
    assert version["customProperties"]["hp_max_depth"] == {"int_value": "4", "metadataType": "MetadataIntValue"}
    assert _prop(version, "hp_criterion") == "gini"
    assert _prop(version, "hp_class_weight") == '{"0": 1.0}'
    assert version["customProperties"]["model_meta_n_estimators"]["int_value"] == "50"
    assert _prop(version, "model_meta_framework") == "sklearn"
    # metrics as doubles, labels as empty strings
    assert version["customProperties"]["accuracy"] == {"double_value": 0.97, "metadataType": "MetadataDoubleValue"}
    assert _prop(version, "f1") == 0.91
    assert _prop(version, "candidate") == "" and _prop(version, "tabular") == ""
    # the model artifact with its modelSource* lineage
    artifacts = _artifacts(registry, out.version_id)
    art = artifacts[name]
    assert art["artifactType"] == "model-artifact" and art["uri"] == inputs["model"].uri
    assert (art["modelFormatName"], art["modelFormatVersion"]) == ("sklearn", "1")
    assert (art["storageKey"], art["storagePath"], art["serviceAccountName"]) == (
        "aws-connection-models",
        "models/iris",
        "model-reader",
    )
    assert art["modelSourceKind"] == "kfp" and art["modelSourceClass"] == "pipelinerun"
    assert art["modelSourceGroup"] == "team-ml"
    assert art["modelSourceId"] == "run-uuid-1" and art["modelSourceName"] == "nightly 2026-05-01"
    # the model artifact names its version, so readers tell complete versions with one filtered list
    assert art["customProperties"]["kml_model_version_id"]["string_value"] == out.version_id
    # dataset artifacts: NOT linked to the version (its only artifact is the model artifact), they reference it
    assert set(artifacts) == {name}
    datasets = _datasets(registry, out.version_id)
    assert datasets["train"]["name"] == f"train-dataset-of-version-{out.version_id}"
    assert datasets["train"]["externalId"] == f"kml-dataset:{out.version_id}:0"
    assert datasets["train"]["uri"] == inputs["train_dataset"].uri
    assert datasets["train"]["digest"] == f"sha256:{train_sha}"
    assert datasets["eval"]["digest"] == f"sha256:{eval_sha}"
    assert _prop(datasets["eval"], "kml_registered_model_id") == out.model_id
    assert _prop(datasets["eval"], "kml_version_name") == "1.0.0"
    # the output Model artifact: metadata convention and pointer file
    meta = inputs["registered_model"].metadata
    assert meta["registered_models"] == [
        {
            "modelName": name,
            "versionName": "1.0.0",
            "versionID": out.version_id,
            "modelID": out.model_id,
            "modelRegistryURL": registry.url,
        }
    ]
    assert meta["storage_uri"] == f"model-registry://{name}/1.0.0" and meta["model_format_name"] == "sklearn"
    pointer = json.loads(Path(inputs["registered_model"].path).read_text())
    assert pointer["versionID"] == out.version_id and pointer["modelUri"] == inputs["model"].uri
    # metrics are queryable as numbers; the official client finds the artifact by model and version name
    found = _get(registry, "/model_versions", filterQuery='accuracy > 0.9 AND kfp_run_id = "run-uuid-1"')
    assert [v["id"] for v in found["items"]] == [out.version_id]
    assert client.get_model_artifact(name, "1.0.0").uri == inputs["model"].uri
    log = capsys.readouterr().out
    assert "[register_model] INFO registered model" in log
    assert "could not find" not in log


def test_version_bumps_explicit_names_and_clashes(registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str):
    name = f"bumps-{unique}"
    names = []
    for i, version in enumerate(["patch", "patch", "minor", "major", "experiment-a", "patch", "MAJOR"]):
        names.append(_register(registry.url, inputs, name, version=version, run_id=f"r{i}").version_name)
    assert names == ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "experiment-a", "2.0.1", "3.0.0"]
    with pytest.raises(ValueError, match=r"version '2\.0\.0' of model .* already exists") as info:
        _register(registry.url, inputs, name, version="2.0.0", run_id="r-clash")
    assert "version='patch'" in str(info.value) and "kfp:r3:" in str(info.value)


# -- idempotency --------------------------------------------------------------------------------------------


def test_same_task_twice_gives_one_version(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, capsys: pytest.CaptureFixture
) -> None:
    name = f"twice-{unique}"
    lineage = {"run_id": "run-x", "task_name": "register-model", "train_dataset": inputs["train_dataset"]}
    first = _register(registry.url, inputs, name, **lineage)
    second = _register(registry.url, inputs, name, **lineage)
    assert first == second
    assert len(_versions(registry, first.model_id)) == 1
    assert set(_artifacts(registry, first.version_id)) == {name}
    assert set(_datasets(registry, first.version_id)) == {"train"}
    assert "registered version '1.0.0' (id" in capsys.readouterr().out
    # another run of the same pipeline is a new version
    third = _register(registry.url, inputs, name, run_id="run-y", task_name="register-model")
    assert third.version_name == "1.0.1"


def test_half_written_version_is_completed_on_rerun(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"half-{unique}"
    lineage = {"run_id": "run-h", "task_name": "register-model", "eval_dataset": inputs["eval_dataset"]}

    def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionResetError("pod killed before the artifacts were written")

    monkeypatch.setattr(writes, "ensure_dataset_artifacts", crash)
    with pytest.raises(ConnectionResetError):
        _register(registry.url, inputs, name, **lineage)
    model = _get(registry, "/registered_model", name=name)
    [half] = _versions(registry, model["id"])
    assert _artifacts(registry, half["id"]) == {} and _datasets(registry, half["id"]) == {}  # artifacts missing
    assert not Path(inputs["registered_model"].path).exists()  # no output written for a failed registration

    monkeypatch.undo()
    monkeypatch.setenv("KML_REGISTRY_BACKOFF_SECONDS", "0.01")
    out = _register(registry.url, inputs, name, **lineage)
    assert (out.version_id, out.version_name) == (half["id"], "1.0.0")
    assert set(_artifacts(registry, half["id"])) == {name} and set(_datasets(registry, half["id"])) == {"eval"}
    assert len(_versions(registry, model["id"])) == 1


def _run_threads(count: int, target: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_parallel_automatic_bumps_never_reuse_a_version(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str
) -> None:
    name = f"parallel-{unique}"

    def register(i: int) -> RegistrationResult:
        return run_register_model(
            model_uri=f"s3://models/{name}/{i}", model_name=name, run_id=f"run-{i}", registry_url=registry.url
        )

    results = _run_threads(8, register)
    versions = sorted((r.version_name for r in results), key=lambda v: tuple(map(int, v.split("."))))
    assert versions == [f"1.0.{i}" for i in range(8)]
    assert len({r.version_id for r in results}) == 8
    assert len(_versions(registry, results[0].model_id)) == 8


def test_parallel_duplicates_of_one_task_create_one_version(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str
) -> None:
    name = f"dupes-{unique}"

    def register(i: int) -> RegistrationResult:
        return run_register_model(
            model_uri="s3://models/same", model_name=name, run_id="one-run", task_name="t", registry_url=registry.url
        )

    results = _run_threads(4, register)
    assert len({r.version_id for r in results}) == 1
    assert sum(not r.reused for r in results) == 1
    assert len(_versions(registry, results[0].model_id)) == 1
    assert set(_artifacts(registry, results[0].version_id)) == {name}


# -- retries ------------------------------------------------------------------------------------------------


def test_transient_failures_are_retried(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, capsys: pytest.CaptureFixture
) -> None:
    # aiohttp itself retries an idempotent request once on a reset, so the first GET is reset twice
    failures = ["reset", "reset", "503", "429", "POST reset", "POST 503"]
    with FlakyProxy(registry.url, failures=failures) as proxy:
        out = _register(proxy.url, inputs, f"flaky-{unique}", run_id="r-flaky")
    assert out.version_name == "1.0.0" and proxy.failed == 6
    log = capsys.readouterr().out
    assert log.count("transient failure") == 5
    assert "HTTP 503" in log and "HTTP 429" in log and "Connection reset by peer" in log


@pytest.mark.parametrize(("run_id", "with_dataset"), [("r-lost", True), ("", True), ("r-lost-2", False)])
def test_lost_answers_to_writes_create_no_duplicates(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, run_id: str, with_dataset: bool
) -> None:
    name = f"lost-{unique}-{run_id}"
    # the registry performs each create, but the answer never arrives: the retry must find what was created.
    # The first POST .../artifacts is the dataset artifact's (POST /artifacts) when there is one, else the model
    # artifact's link (POST /model_versions/{id}/artifacts).
    failures = ["POST /registered_models lose", "POST /model_versions lose", "POST /artifacts lose"]
    datasets = {"train_dataset": inputs["train_dataset"]} if with_dataset else {}
    with FlakyProxy(registry.url, failures=failures) as proxy:
        out = _register(proxy.url, inputs, name, run_id=run_id, **datasets)
    assert proxy.failed == 3
    assert len(_get(registry, "/registered_models", filterQuery=f'name = "{name}"')["items"]) == 1
    assert [v["name"] for v in _versions(registry, out.model_id)] == ["1.0.0"]
    assert set(_artifacts(registry, out.version_id)) == {name}
    assert set(_datasets(registry, out.version_id)) == ({"train"} if with_dataset else set())


def test_registry_that_always_fails_gives_a_clear_error_after_bounded_attempts(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KML_REGISTRY_MAX_ATTEMPTS", "3")
    with FlakyProxy(registry.url, always="503") as proxy, pytest.raises(ConnectionError) as info:
        _register(proxy.url, inputs, f"down-{unique}")
    assert proxy.requests == 3
    message = str(info.value)
    assert f"Model Registry at {proxy.url}: could not reach the registry (after 3 attempts): HTTP 503" in message
    assert "Fix: check the registry's health" in message


# -- authentication, TLS, addresses -------------------------------------------------------------------------


def test_token_protected_registry(
    inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    secret = "s3cret-registry-token-value"
    with EmbeddedRegistry(tmp_path / "auth.db", token=secret) as reg:
        with pytest.raises(PermissionError) as info:
            _register(reg.url, inputs, "auth-model")
        assert "401" in str(info.value) and "token_secret_name" in str(info.value)

        monkeypatch.setenv("KML_REGISTRY_TOKEN", "wrong-token-123")
        with pytest.raises(PermissionError) as info:
            _register(reg.url, inputs, "auth-model")
        assert "wrong-token-123" not in str(info.value)

        monkeypatch.setenv("KML_REGISTRY_TOKEN", secret)
        out = _register(reg.url, inputs, "auth-model", run_id="r-auth")
        assert out.version_name == "1.0.0"
    log = capsys.readouterr()
    assert "token: the environment variable KML_REGISTRY_TOKEN" in log.out
    for text in (log.out, log.err, json.dumps(inputs["registered_model"].metadata)):
        assert secret not in text and "wrong-token-123" not in text
    assert secret not in Path(inputs["registered_model"].path).read_text()


def test_address_errors_name_the_fix(
    registry: EmbeddedRegistry, inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=rf"has no scheme: write it as 'http://127.0.0.1:{registry.port}'"):
        _register(f"127.0.0.1:{registry.port}", inputs, "addr")
    with pytest.raises(ConnectionError, match=r"does not speak TLS on this port. Fix: use http://"):
        _register(f"https://127.0.0.1:{registry.port}", inputs, "addr")
    with pytest.raises(ValueError, match="no Model Registry address"):
        _register("", inputs, "addr")
    monkeypatch.setenv("KML_REGISTRY_MAX_ATTEMPTS", "2")
    port = free_port()
    with pytest.raises(ConnectionError) as info:
        _register(f"http://127.0.0.1:{port}", inputs, "addr")
    assert f"Model Registry at http://127.0.0.1:{port}: could not reach the registry (after 2 attempts)" in str(
        info.value
    )
    assert "unreachable. Fix: check registry_url" in str(info.value)


def test_registry_that_never_answers_times_out(inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KML_REGISTRY_TIMEOUT_SECONDS", "0.2")
    monkeypatch.setenv("KML_REGISTRY_MAX_ATTEMPTS", "2")
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ConnectionError) as info:
            _register(url, inputs, "silent")
    assert "(after 2 attempts): TimeoutError: no answer in time (KML_REGISTRY_TIMEOUT_SECONDS)" in str(info.value)


def test_registry_url_from_environment(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KML_REGISTRY_URL", registry.url)
    out = register_model.python_func(
        model=inputs["model"], registered_model=inputs["registered_model"], model_name=f"env-{unique}"
    )
    assert out.version_name == "1.0.0"


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    crypto = pytest.importorskip("cryptography")
    del crypto
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_verification_custom_ca_and_service_account_token(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str, tmp_path: Path
) -> None:
    cert, key = _self_signed_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sa_token = tmp_path / "sa-token"
    sa_token.write_text("pod-sa-token")
    with FlakyProxy(registry.url, tls=context) as proxy:
        # TLS verification is on by default: a self-signed certificate is rejected, with the fix in the message
        with pytest.raises(ConnectionError, match=r"could not be verified\. Fix: set ca_bundle_path"):
            _register(proxy.url, inputs, f"tls-{unique}")
        out = _register(proxy.url, inputs, f"tls-{unique}", ca_bundle_path=str(cert), run_id="r-tls")
        assert out.version_name == "1.0.0"
        out = _register(proxy.url, inputs, f"tls-{unique}", verify_tls=False, run_id="r-tls-2")
        assert out.version_name == "1.0.1"
        # like the official client, the pod's service-account token is sent -- over https only
        conn = connect_model_registry(proxy.url, ca_bundle_path=str(cert), env={}, sa_token_path=str(sa_token))
        conn.close()
        assert conn.token_source == "the pod's service-account token"
        assert proxy.authorization[-1] == "Bearer pod-sa-token"
        assert "pod-sa-token" not in repr(conn)
    with pytest.raises(FileNotFoundError, match=r"ca_bundle_path '/nonexistent/ca\.pem' is not a readable file"):
        _register(registry.url.replace("http", "https"), inputs, "x", ca_bundle_path="/nonexistent/ca.pem")
    with FlakyProxy(registry.url) as plain:
        conn = connect_model_registry(plain.url, env={}, sa_token_path=str(sa_token))
        conn.close()
        assert conn.token_source.startswith("none") and plain.authorization == [""]


def test_connection_is_a_working_official_client(
    registry: EmbeddedRegistry, inputs: dict[str, Any], unique: str
) -> None:
    name = f"facade-{unique}"
    _register(registry.url, inputs, name, version="3.2.1")
    conn = connect_model_registry(registry.url, env={})
    try:
        found = conn.call("find the version", lambda api: api.find_model_version(name="3.2.1"), tolerate=(400,))
        model = conn.call("find the model", lambda api: api.find_registered_model(name=name))
    finally:
        conn.close()
    conn.close()  # closing twice is harmless
    assert found is None  # the registry answers 400 for a version name without its model, as the real one does
    official = ModelRegistry(registry.url, author="test", is_secure=False)  # what we wrote, the official client reads
    mv = official.get_model_version(name, "3.2.1")
    assert model is not None and mv is not None and mv.name == "3.2.1" and mv.registered_model_id == model["id"]


def test_minimal_inputs_register_and_log_what_is_missing(
    registry: EmbeddedRegistry, tmp_path: Path, unique: str, capsys: pytest.CaptureFixture
) -> None:
    model = _artifact(Model, tmp_path, "bare-model", b"m")
    out = register_model.python_func(
        model=model,
        registered_model=_artifact(Model, tmp_path, "out"),
        model_name=f"bare-{unique}",
        run_id="{{$.pipeline_job_uuid}}",  # a placeholder the backend did not substitute counts as missing
        registry_url=registry.url,
    )
    version = _get(registry, f"/model_versions/{out.version_id}")
    assert version["externalId"].startswith("kfp:attempt:")  # protects this attempt only (no run id)
    assert set(version["customProperties"]) == {"kfp_model_uri", "semver_high_water"}  # the next bump reads it
    art = _artifacts(registry, out.version_id)[f"bare-{unique}"]
    assert art["modelSourceKind"] == "kfp" and "modelSourceId" not in art
    log = capsys.readouterr().out
    for field in ("run_id", "run_name", "pipeline_name", "task_name", "namespace", "model_format_name"):
        assert f"could not find {field} -- not recorded" in log
    assert "no idempotency key" in log
