"""The embedded Model Registry as a server: persistence, bearer token, binding, concurrency, subprocesses, CLI.

Every test starts the servers it needs itself (free ports, ``tmp_path`` databases) and checks that no
process is left behind.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
from model_registry import ModelRegistry
from mr_openapi.exceptions import UnauthorizedException

from kfp_model_lifecycle.cli.parsers import build_parser
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.server import TOKEN_ENV, free_port, serve, wait_until_ready

API = "/api/model_registry/v1"
TOKEN = "kml-test-token-6f1c2b9a"  # a test value, not a secret
LOGGER = "kfp_model_lifecycle.local.registry"
KML = Path(sys.executable).parent / "kml"
LOG_LINE = re.compile(r"\b(GET|POST|PATCH|PUT|DELETE|HEAD) (/\S*) (\d{3}) \d+\.\dms$")


# -- helpers -----------------------------------------------------------------------------------------------


def _http(url: EmbeddedRegistry | str, token: str | None = None, **headers: str) -> httpx.Client:
    """A plain HTTP client for a registry (or base URL); ``token`` adds ``Authorization: Bearer <token>``."""
    base_url = url if isinstance(url, str) else url.url
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # Plain http on loopback: no TLS, so no CA bundle to load (loading one costs ~50 ms per client).
    return httpx.Client(base_url=base_url, headers=headers, timeout=60, trust_env=False, verify=False)  # noqa: S501


def _one_ca_certificate() -> str:
    pem = Path(certifi.where()).read_text()
    start = pem.index("-----BEGIN CERTIFICATE-----")
    end = pem.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return pem[start:end] + "\n"


def _client(registry: EmbeddedRegistry, token: str | None = None) -> ModelRegistry:
    """The official client; with ``token`` it sends ``Authorization: Bearer <token>``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "User access token is missing" / port hints
        client = ModelRegistry(registry.address, registry.port, author="tester", is_secure=False, user_token=token)
    # Speed only: the client builds an ssl context per call (even over http); one CA instead of the whole bundle.
    client._api.config.ca_cert_data = _one_ca_certificate()
    return client


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _stop_process(proc: subprocess.Popen[Any]) -> tuple[str, str]:
    """Terminate ``proc`` (SIGTERM, then SIGKILL) and return its decoded stdout and stderr."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")


@contextlib.contextmanager
def _kml_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str, list]]:
    """Run ``kml registry serve --port <free> ...``; yields (process, base URL, [stdout, stderr] after exit)."""
    if not KML.exists():
        pytest.skip(f"the kml console script is not installed beside {sys.executable}")
    port = free_port()
    proc = subprocess.Popen(
        [str(KML), "registry", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        wait_until_ready(url, timeout=30, proc=proc)
        yield proc, url, output
    finally:
        output.extend(_stop_process(proc))
        assert proc.poll() is not None


def _request_lines(text: str) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request log line in ``text``."""
    matches = (LOG_LINE.search(line) for line in text.splitlines())
    return [(m.group(1), m.group(2), int(m.group(3))) for m in matches if m]


# -- persistence -------------------------------------------------------------------------------------------


def test_data_survives_a_restart_and_ids_keep_increasing(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    with EmbeddedRegistry(db) as first:
        first_port = first.port
        client = _client(first)
        client.register_model(
            "persisted",
            "s3://models/persisted/1",
            model_format_name="onnx",
            model_format_version="1",
            version="v1",
            version_description="kept",
            storage_key="conn",
            model_source_kind="kfp",
            metadata={"accuracy": 0.9, "epochs": 3, "approved": True, "stage": "candidate"},
        )
        mv = client.get_model_version("persisted", "v1")
        assert mv is not None
        mv.state = "ARCHIVED"
        client.update(mv)
        rm_before = client.get_registered_model("persisted")
        mv_before = client.get_model_version("persisted", "v1")
        ma_before = client.get_model_artifact("persisted", "v1")
        with _http(first) as http:
            env = http.post(f"{API}/serving_environments", json={"name": "ns"}).json()
        ids_before = [int(x.id) for x in (rm_before, mv_before, ma_before)] + [int(env["id"])]
    assert not _port_open("127.0.0.1", first_port)
    assert db.is_file()

    port = free_port()
    while port == first_port:  # pragma: no cover - the OS handed out the same port again
        port = free_port()
    with EmbeddedRegistry(db, port=port) as second:
        client = _client(second)
        assert client.get_registered_model("persisted") == rm_before
        assert client.get_model_version("persisted", "v1") == mv_before
        assert client.get_model_artifact("persisted", "v1") == ma_before
        assert mv_before is not None
        assert mv_before.state == "ARCHIVED"
        assert mv_before.custom_properties == {"accuracy": 0.9, "epochs": 3, "approved": True, "stage": "candidate"}
        with _http(second) as http:
            assert http.get(f"{API}/serving_environments/{env['id']}").json() == env

        client.register_model(
            "after-restart", "s3://m/2", model_format_name="onnx", model_format_version="1", version="v1"
        )
        client.register_model("persisted", "s3://m/3", model_format_name="onnx", model_format_version="1", version="v2")
        new = [
            client.get_registered_model("after-restart"),
            client.get_model_version("after-restart", "v1"),
            client.get_model_artifact("after-restart", "v1"),
            client.get_model_version("persisted", "v2"),
            client.get_model_artifact("persisted", "v2"),
        ]
        new_ids = [int(x.id) for x in new if x is not None and x.id is not None]
        assert len(new_ids) == 5
        assert min(new_ids) > max(ids_before)  # no id is handed out twice
        assert len(set(new_ids)) == 5
        assert [v.name for v in client.get_model_versions("persisted")] == ["v1", "v2"]

    with EmbeddedRegistry(db) as third:  # and once more: both generations are there
        with _http(third) as http:
            names = {m["name"] for m in http.get(f"{API}/registered_models").json()["items"]}
        assert names == {"persisted", "after-restart"}


# -- bearer token ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(token=TOKEN) as reg:
        yield reg


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer",
        "Bearer wrong",
        TOKEN,  # without the scheme
        f"Basic {TOKEN}",
        f"Bearer  {TOKEN}",
    ],
    ids=["missing", "empty", "longer", "shorter", "bearer-only", "wrong", "no-scheme", "basic", "two-spaces"],
)
def test_requests_without_the_right_token_get_401(secured: EmbeddedRegistry, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with _http(secured, **headers) as http:
        for method, path, body in [
            ("GET", f"{API}/registered_models", None),
            ("GET", f"{API}/registered_models/1", None),
            ("POST", f"{API}/registered_models", {"name": "intruder"}),
            ("PATCH", f"{API}/registered_models/1", {"description": "x"}),
            ("GET", f"{API}/model_version?name=v1&parentResourceId=1", None),
            ("GET", "/", None),
        ]:
            response = http.request(method, path, json=body)
            assert response.status_code == 401, (method, path)
            payload = response.json()
            assert payload["code"] == "Unauthorized"
            assert isinstance(payload["message"], str) and payload["message"]
            assert TOKEN not in response.text
            if header and header.strip() != "Bearer":
                assert header not in response.text  # what the caller sent is not echoed either
    with _http(secured, TOKEN) as http:
        names = [m["name"] for m in http.get(f"{API}/registered_models").json()["items"]]
    assert "intruder" not in names  # the rejected POST created nothing


def test_the_right_token_is_accepted(secured: EmbeddedRegistry) -> None:
    with _http(secured, TOKEN) as http:
        assert http.get(f"{API}/registered_models").status_code == 200
        assert http.get("/").status_code == 404  # authorized, but there is nothing at /
        created = http.post(f"{API}/registered_models", json={"name": "with-token"})
        assert created.status_code == 201


def test_the_official_client_with_user_token(secured: EmbeddedRegistry) -> None:
    client = _client(secured, TOKEN)
    client.register_model(
        "client-with-token", "s3://m/1", model_format_name="onnx", model_format_version="1", version="v1"
    )
    mv = client.get_model_version("client-with-token", "v1")
    assert mv is not None
    assert mv.author == "tester"
    assert [v.name for v in client.get_model_versions("client-with-token")] == ["v1"]

    with pytest.raises(UnauthorizedException):  # the constructor probes the server
        _client(secured, None)
    with pytest.raises(UnauthorizedException):
        _client(secured, "not-the-token")


def test_the_token_never_appears_in_debug_logs(secured: EmbeddedRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    wrong = "wrong-token-0b7e4d"
    with _http(secured, TOKEN) as good, _http(secured, wrong) as bad:
        assert good.get(f"{API}/registered_models", params={"pageSize": "1"}).status_code == 200
        assert good.post(f"{API}/registered_models", json={"name": "logged"}).status_code == 201
        assert good.post(f"{API}/registered_models", json={"name": "logged"}).status_code == 409
        assert bad.get(f"{API}/registered_models").status_code == 401
    _client(secured, TOKEN).get_registered_model("logged")
    records = [r for r in caplog.records if r.name.startswith(LOGGER)]
    assert len(records) >= 5
    text = "\n".join(r.getMessage() for r in records) + caplog.text
    assert TOKEN not in text
    assert wrong not in text
    assert "Bearer" not in text
    assert any(r.getMessage().startswith(f"GET {API}/registered_models 401 ") for r in records)


# -- debug logging -----------------------------------------------------------------------------------------


def test_debug_log_has_one_line_per_request(registry: EmbeddedRegistry, caplog: pytest.LogCaptureFixture) -> None:
    requests = [
        ("GET", "/", None, 404),
        ("POST", f"{API}/registered_models", {"name": "logged-model"}, 201),
        ("POST", f"{API}/registered_models", {"name": "logged-model"}, 409),
        ("GET", f"{API}/registered_models?pageSize=1&orderBy=ID", None, 200),
        ("GET", f"{API}/registered_model?name=logged-model", None, 200),
        ("GET", f"{API}/registered_models/424242", None, 404),
        ("POST", f"{API}/registered_models", {"name": "x", "bogus": 1}, 400),
        ("POST", f"{API}/registered_models", {}, 422),
        ("PUT", f"{API}/registered_models", None, 405),
    ]
    with _http(registry) as http:
        caplog.set_level(logging.INFO, logger=LOGGER)
        assert http.get(f"{API}/registered_models").status_code == 200
        time.sleep(0.2)  # the line is written right after the response is sent
        assert not [r for r in caplog.records if r.name == LOGGER]  # nothing logged above debug
        caplog.set_level(logging.DEBUG, logger=LOGGER)
        for method, path, body, status in requests:
            assert http.request(method, path, json=body).status_code == status, (method, path)
    time.sleep(0.2)
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.levelno == logging.DEBUG for r in lines)
    assert _request_lines("\n".join(r.getMessage() for r in lines)) == [
        (m, p.split("?")[0], s) for m, p, _, s in requests
    ]


# -- binding -----------------------------------------------------------------------------------------------


def test_default_host_is_loopback() -> None:
    assert inspect.signature(EmbeddedRegistry).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert build_parser().parse_args(["registry", "serve"]).host == "127.0.0.1"
    assert inspect.signature(free_port).parameters["host"].default == "127.0.0.1"

    with EmbeddedRegistry() as reg:
        assert reg.host == "127.0.0.1"
        assert reg.url == f"http://127.0.0.1:{reg.port}"
        assert _port_open("127.0.0.1", reg.port)
        # bound to 127.0.0.1 only, not 0.0.0.0: another loopback address of this host does not answer
        assert not _port_open("127.0.0.2", reg.port)


# -- concurrency -------------------------------------------------------------------------------------------


def test_eight_threads_register_at_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with EmbeddedRegistry(tmp_path / "registry.db") as reg:
        clients = [_client(reg) for _ in range(8)]
        barrier = threading.Barrier(8)

        def work(i: int) -> list[str]:
            client = clients[i]
            http = _http(reg)
            barrier.wait()
            for v in range(3):
                client.register_model(
                    f"thread-{i}",
                    f"s3://m/{i}/{v}",
                    model_format_name="onnx",
                    model_format_version="1",
                    version=f"v{v}",
                    metadata={"thread": i, "v": v},
                )
                # and a shared model everybody adds versions to (its creation races: the loser gets 409)
                shared = http.get(f"{API}/registered_model", params={"name": "shared"})
                if shared.status_code == 404:
                    shared = http.post(f"{API}/registered_models", json={"name": "shared"})
                    if shared.status_code == 409:
                        shared = http.get(f"{API}/registered_model", params={"name": "shared"})
                assert shared.status_code in (200, 201), shared.text
                created = http.post(
                    f"{API}/registered_models/{shared.json()['id']}/versions", json={"name": f"t{i}-v{v}"}
                )
                assert created.status_code == 201, created.text
            http.close()
            return [v.name for v in client.get_model_versions(f"thread-{i}")]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))

        assert results == [["v0", "v1", "v2"]] * 8
        with _http(reg) as http:
            models = http.get(f"{API}/registered_models").json()["items"]
            versions = http.get(f"{API}/model_versions").json()["items"]
            artifacts = http.get(f"{API}/model_artifacts").json()["items"]
        assert sorted(m["name"] for m in models) == sorted([f"thread-{i}" for i in range(8)] + ["shared"])
        assert len(versions) == 8 * 3 * 2
        assert len(artifacts) == 8 * 3
        ids = [int(x["id"]) for x in models + versions + artifacts]
        assert len(ids) == len(set(ids))

    statuses = [int(line[2]) for line in _request_lines("\n".join(r.getMessage() for r in caplog.records))]
    assert statuses, "no request was logged"
    assert not [s for s in statuses if s >= 500]


def _start_in_parallel(*registries: EmbeddedRegistry) -> None:
    with ThreadPoolExecutor(len(registries)) as pool:
        list(pool.map(lambda r: r.start(), registries))


def test_two_server_processes_share_one_database(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "shared.db"
    a = EmbeddedRegistry(db, in_process=False)
    b = EmbeddedRegistry(db, in_process=False)
    try:
        _start_in_parallel(a, b)  # both create the schema / switch to WAL at the same moment
        procs = [a._proc, b._proc]
        assert all(p is not None and p.poll() is None for p in procs)
        assert procs[0].pid != procs[1].pid  # type: ignore[union-attr]

        n = 20
        barrier = threading.Barrier(4)

        def writer(reg: EmbeddedRegistry, names: list[str]) -> list[tuple[str, int, str]]:
            out = []
            with _http(reg) as http:
                barrier.wait()
                for name in names:
                    r = http.post(f"{API}/registered_models", json={"name": name, "description": reg.url})
                    out.append((name, r.status_code, r.text))
            return out

        jobs = [
            (a, [f"a-{i}" for i in range(n)]),
            (b, [f"b-{i}" for i in range(n)]),
            (a, [f"both-{i}" for i in range(n)]),  # the same names through both processes at once
            (b, [f"both-{i}" for i in range(n)]),
        ]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda job: writer(*job), jobs))

        for res in results[:2]:
            assert [s for _, s, _ in res] == [201] * n, [t for _, s, t in res if s != 201]
        contested: dict[str, list[int]] = {}
        for res in results[2:]:
            for name, status, text in res:
                assert status in (201, 409), text
                contested.setdefault(name, []).append(status)
        assert all(sorted(s) == [201, 409] for s in contested.values()), contested  # unique index holds

        expected = {f"{p}-{i}" for p in ("a", "b", "both") for i in range(n)}
        seen = []
        for reg in (a, b):
            with _http(reg) as http:
                items = http.get(f"{API}/registered_models").json()["items"]
                paged: list[dict[str, Any]] = []
                token = ""
                while True:
                    page = http.get(f"{API}/registered_models", params={"pageSize": "7", "nextPageToken": token})
                    paged += page.json()["items"]
                    token = page.json()["nextPageToken"]
                    if not token:
                        break
            assert {m["name"] for m in items} == expected
            assert len(items) == 3 * n
            assert [m["id"] for m in paged] == [m["id"] for m in items]
            seen.append(items)
        assert seen[0] == seen[1]  # the same rows, field for field, from both processes
        ids = [int(m["id"]) for m in seen[0]]
        assert len(set(ids)) == len(ids)

        # a name created through one process is taken in the other one
        with _http(a) as ha, _http(b) as hb:
            created = ha.post(f"{API}/registered_models", json={"name": "solo"})
            assert created.status_code == 201
            dup = hb.post(f"{API}/registered_models", json={"name": "solo"})
            assert dup.status_code == 409
            assert dup.json()["code"] == "Conflict"
            model_id = created.json()["id"]
            assert hb.post(f"{API}/registered_models/{model_id}/versions", json={"name": "v1"}).status_code == 201
            again = ha.post(f"{API}/registered_models/{model_id}/versions", json={"name": "v1"})
            assert again.status_code == 409
            assert again.json()["code"] == "Conflict"
            # an update through one process is read back by the other
            patched = hb.patch(f"{API}/registered_models/{model_id}", json={"state": "ARCHIVED"})
            assert patched.status_code == 200
            assert ha.get(f"{API}/registered_models/{model_id}").json()["state"] == "ARCHIVED"

        # the official client through one process sees what was registered through the other
        _client(a).register_model("via-a", "s3://m/a", model_format_name="onnx", model_format_version="1", version="1")
        mv = _client(b).get_model_version("via-a", "1")
        assert mv is not None

        # one process dies hard (no shutdown at all): the other keeps reading and writing
        procs[0].send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        procs[0].wait(10)  # type: ignore[union-attr]
        with _http(b) as hb:
            assert hb.post(f"{API}/registered_models", json={"name": "after-kill"}).status_code == 201
            assert hb.get(f"{API}/registered_models").json()["size"] == 3 * n + 3
            final = hb.get(f"{API}/registered_models").json()["items"]
    finally:
        a.stop()
        b.stop()
    assert all(p is not None and p.poll() is not None for p in procs)

    # every committed write of both processes, the killed one included, is in the file
    with EmbeddedRegistry(db) as again, _http(again) as http:
        assert http.get(f"{API}/registered_models").json()["items"] == final
        assert http.post(f"{API}/registered_models", json={"name": "a-0"}).status_code == 409
        newest = http.post(f"{API}/registered_models", json={"name": "reopened"}).json()
        assert int(newest["id"]) > max(int(m["id"]) for m in final)
    captured = capfd.readouterr()
    assert "database is locked" not in captured.err + captured.out
    assert "internal error" not in captured.err + captured.out
    assert "Traceback" not in captured.err + captured.out


# -- subprocess mode ---------------------------------------------------------------------------------------


def test_subprocess_mode_starts_and_stops_cleanly(tmp_path: Path) -> None:
    reg = EmbeddedRegistry(token=TOKEN, in_process=False)
    tmpdir = reg.db_path.parent
    with reg:
        proc = reg._proc
        assert proc is not None and proc.poll() is None
        assert reg.in_process is False
        assert TOKEN not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")  # env, not argv
        with _http(reg, TOKEN) as http:
            assert http.get(f"{API}/registered_models").status_code == 200
            assert http.post(f"{API}/registered_models", json={"name": "sub"}).status_code == 201
        with _http(reg) as http:
            assert http.get(f"{API}/registered_models").status_code == 401
        assert reg.db_path.is_file()
    assert proc.poll() is not None  # the process is gone after stop()
    assert proc.returncode in (0, -signal.SIGTERM)
    assert not _port_open("127.0.0.1", reg.port)
    assert not tmpdir.exists()  # its temporary database is removed
    reg.stop()  # stopping twice is harmless


def test_subprocess_stop_closes_the_database(tmp_path: Path) -> None:
    """BUG: on SIGTERM (what stop(), docker and Kubernetes send) uvicorn shuts down and then re-raises SIGTERM
    with the default handler, so the process dies before ``serve()``'s ``finally: store.close()``: the SQLite
    connection is never closed, the WAL is never checkpointed and ``-wal``/``-shm`` files stay behind.
    (SIGINT / Ctrl-C and the in-process mode close the database properly.)"""
    db = tmp_path / "closed.db"
    with EmbeddedRegistry(db, in_process=False) as reg, _http(reg) as http:
        assert http.post(f"{API}/registered_models", json={"name": "m"}).status_code == 201
        proc = reg._proc
    assert proc is not None and proc.poll() is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["closed.db"], "the database was not closed cleanly"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("in_process", [True, False], ids=["thread", "subprocess"])
def test_start_on_a_busy_port_fails_instead_of_using_the_other_server(in_process: bool, tmp_path: Path) -> None:
    """BUG: start() polls ``GET /`` for readiness; when the port is taken by another server, that server's 404
    counts as ready, so start() returns while its own server failed to bind and every request goes elsewhere."""
    with EmbeddedRegistry(tmp_path / "first.db") as first:
        second = EmbeddedRegistry(tmp_path / "second.db", port=first.port, in_process=in_process)
        try:
            with pytest.raises((RuntimeError, OSError)):
                second.start(timeout=15)
        finally:
            second.stop()
        assert second._proc is None


# -- CLI ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        ([], ["registry", "usage: kml"]),
        (["registry"], ["serve", "usage: kml registry"]),
        (["registry", "serve"], ["--host", "--port", "--db", "--token", "--log-level", "127.0.0.1", "8080"]),
    ],
)
def test_cli_help(args: list[str], mentions: list[str]) -> None:
    if not KML.exists():
        pytest.skip(f"the kml console script is not installed beside {sys.executable}")
    done = subprocess.run([str(KML), *args, "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    for word in mentions:
        assert word in done.stdout, word


def test_cli_without_a_command_fails() -> None:
    if not KML.exists():
        pytest.skip(f"the kml console script is not installed beside {sys.executable}")
    done = subprocess.run([str(KML)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "usage: kml" in done.stderr


def test_cli_serve_answers_and_logs_one_line_per_request_at_debug(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    requests = [
        ("GET", "/", None, 404),
        ("GET", f"{API}/registered_models", None, 200),
        ("POST", f"{API}/registered_models", {"name": "cli-model"}, 201),
        ("POST", f"{API}/registered_models", {"name": "cli-model"}, 409),
        ("GET", f"{API}/registered_models/999", None, 404),
        ("PATCH", f"{API}/registered_models/1", {"description": "d"}, 200),
        ("GET", f"{API}/registered_models?orderBy=NAME", None, 400),
        ("DELETE", f"{API}/registered_models/1", None, 405),
    ]
    with _kml_serve("--db", str(db), "--log-level", "debug") as (proc, url, output):
        assert proc.poll() is None
        with _http(url) as http:
            root = http.get("/")
            assert root.status_code == 404
            assert root.json()["code"] == "Not Found"
            listed = http.get(f"{API}/registered_models")
            assert listed.status_code == 200
            assert listed.json() == {"items": [], "nextPageToken": "", "pageSize": 0, "size": 0}
            for method, path, body, status in requests:
                assert http.request(method, path, json=body).status_code == status, (method, path)
    out, err = output
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Shutting down" in err  # uvicorn's graceful shutdown
    assert db.is_file()
    assert f"on http://127.0.0.1:{url.rsplit(':', 1)[1]}{API}" in err  # the start-up banner
    logged = _request_lines(out + "\n" + err)
    # the wait_until_ready probes come first (GET / 404 ...), then the two checks, then our requests
    expected = [("GET", "/", 404), ("GET", f"{API}/registered_models", 200)] + [
        (m, p.split("?")[0], s) for m, p, _, s in requests
    ]
    assert logged[-len(expected) :] == expected, logged
    assert all(line == ("GET", "/", 404) for line in logged[: -len(expected)])


def test_cli_serve_token_from_environment_is_required_and_never_printed(tmp_path: Path) -> None:
    with (
        _kml_serve("--db", str(tmp_path / "t.db"), "--log-level", "debug", env={TOKEN_ENV: TOKEN}) as (
            _proc,
            url,
            output,
        ),
        _http(url) as http,
    ):
        assert http.get(f"{API}/registered_models").status_code == 401
        r = http.get(f"{API}/registered_models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        r = http.get(f"{API}/registered_models", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert r.json()["code"] == "Unauthorized"
    out, err = output
    assert "bearer token required" in err
    assert TOKEN not in out + err
    assert "nope" not in out + err
    statuses = [s for m, p, s in _request_lines(out + "\n" + err) if p == f"{API}/registered_models"]
    assert statuses == [401, 200, 401]
