"""``kml doctor``'s registry checks against stand-ins: each check's pass and fail path.

The stand-ins: the embedded registry (also behind its Istio guard, and with a token), nothing listening, a server
answering 404 everywhere (another service on the port), a registry that only serves ``v1alpha3``, a server answering
200 with HTML, and a proxy in front of the embedded registry that lets reads through but refuses writes with Istio's
403 (an AuthorizationPolicy allowing GET only). The write probe is checked to leave the database byte for byte as it
was, also when run twice.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kfp_model_lifecycle.doctor import Check, Checklist, DoctorSettings, InstallationCheckError, check_installation
from kfp_model_lifecycle.doctor.registry_checks import AUTH, REACHABLE, V1_API, WRITES
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

Answer = tuple[int, str, bytes]
Handler = Callable[[str, str], Answer]
ALPHA_LIST = json.dumps({"items": [], "nextPageToken": "", "pageSize": 1, "size": 0}).encode()
ENV = {"KML_REGISTRY_MAX_ATTEMPTS": "2", "KML_REGISTRY_BACKOFF_SECONDS": "0"}


@contextlib.contextmanager
def stub_server(handler: Handler) -> Iterator[str]:
    """An HTTP server on loopback answering ``handler(method, path) -> (status, content type, body)``."""

    class Handle(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, kind, body = handler(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def read_only_proxy(upstream: str) -> Handler:
    """Reads go to ``upstream``; writes get Istio's 403, as an AuthorizationPolicy allowing only GET answers."""

    def handle(method: str, path: str) -> Answer:
        if method != "GET":
            return 403, "text/plain", b"RBAC: access denied"
        response = httpx.get(upstream + path)
        return response.status_code, response.headers.get("content-type", ""), response.content

    return handle


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def doctor(url: str, **options: object) -> Checklist:
    env = {**ENV, **dict(options.pop("env", {}))}  # type: ignore[call-overload]
    return check_installation(DoctorSettings(registry_url=url, kubernetes=False, env=env, **options))  # type: ignore[arg-type]


def by_name(checklist: Checklist) -> dict[str, Check]:
    return {c.name: c for c in checklist.checks}


def test_a_working_registry_passes_every_check(registry: EmbeddedRegistry) -> None:
    checklist = doctor(registry.url)
    checks = by_name(checklist)
    assert checklist.ok, checklist.text_lines()
    assert all(checks[n].ok for n in (REACHABLE, AUTH, V1_API, WRITES))
    assert "nothing written" in checks[WRITES].detail
    assert checklist.text_lines()[-1].endswith(": ready")


def test_nothing_listening_fails_reachable_and_skips_the_rest() -> None:
    checklist = doctor(f"http://127.0.0.1:{closed_port()}")
    checks = by_name(checklist)
    assert not checklist.ok
    assert checks[REACHABLE].mark == "failed" and "no answer" in checks[REACHABLE].detail
    assert "check registry_url" in checks[REACHABLE].fix
    assert all(checks[n].skipped for n in (AUTH, V1_API, WRITES))


def test_another_server_answering_404_is_not_the_registry() -> None:
    with stub_server(lambda method, path: (404, "text/html", b"<html>Not Found</html>")) as url:
        checks = by_name(doctor(url))
    assert checks[REACHABLE].ok
    assert not checks[V1_API].ok and "not the Model Registry REST API" in checks[V1_API].detail
    assert "point registry_url" in checks[V1_API].fix
    assert checks[AUTH].skipped and checks[WRITES].skipped


def test_a_v1alpha3_only_registry_is_named_as_such() -> None:
    def alpha(method: str, path: str) -> Answer:
        if path.startswith("/api/model_registry/v1alpha3/registered_models"):
            return 200, "application/json", ALPHA_LIST
        return 404, "text/plain; charset=utf-8", b"404 page not found\n"

    with stub_server(alpha) as url:
        checks = by_name(doctor(url))
    assert not checks[V1_API].ok
    assert "only serves the older v1alpha3 API" in checks[V1_API].detail
    assert "upgrade the Model Registry" in checks[V1_API].fix


def test_a_server_answering_200_with_html_is_another_server() -> None:
    with stub_server(lambda method, path: (200, "text/html", b"<html>dashboard</html>")) as url:
        checks = by_name(doctor(url))
    assert checks[AUTH].ok  # something let us in ...
    assert not checks[V1_API].ok and "another server answers" in checks[V1_API].detail  # ... but not the registry


def test_a_wrong_token_fails_auth_with_401(tmp_path: Path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db", token="the-right-token") as guarded:
        wrong = doctor(guarded.url, env={"KML_REGISTRY_TOKEN": "a-wrong-token"})
        right = doctor(guarded.url, env={"KML_REGISTRY_TOKEN": "the-right-token"})
    checks = by_name(wrong)
    assert not checks[AUTH].ok and "HTTP 401" in checks[AUTH].detail
    assert "KML_REGISTRY_TOKEN" in checks[AUTH].fix
    assert checks[V1_API].skipped and checks[WRITES].skipped
    assert "a-wrong-token" not in json.dumps(wrong.to_dict())
    assert right.ok, right.text_lines()


def test_istio_403_is_explained_and_the_gateway_with_a_token_passes(tmp_path: Path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db", istio_guard=True) as guarded:
        direct = doctor(guarded.url)
        gateway = doctor(guarded.gateway_url, env={"KML_REGISTRY_TOKEN": "pod-token"})
        gateway_without_token = doctor(guarded.gateway_url)
    auth = by_name(direct)[AUTH]
    assert not auth.ok and "Istio" in auth.detail and "not from the registry" in auth.detail
    assert "ingress gateway" in auth.fix and "KML_REGISTRY_SEND_SA_TOKEN" in auth.fix
    assert gateway.ok, gateway.text_lines()
    assert not by_name(gateway_without_token)[AUTH].ok


def test_writes_refused_on_the_way_fail_the_write_check(registry: EmbeddedRegistry) -> None:
    with stub_server(read_only_proxy(registry.url)) as url:
        checklist = doctor(url)
    checks = by_name(checklist)
    assert checks[REACHABLE].ok and checks[AUTH].ok and checks[V1_API].ok
    assert not checks[WRITES].ok and not checklist.ok
    assert "POST: HTTP 403 (Istio)" in checks[WRITES].detail and "PATCH: HTTP 403 (Istio)" in checks[WRITES].detail
    assert "kube-rbac-proxy" in checks[WRITES].fix


def test_the_write_check_can_be_turned_off_for_readers(registry: EmbeddedRegistry) -> None:
    with stub_server(read_only_proxy(registry.url)) as url:
        checklist = doctor(url, write_probe=False)
    assert checklist.ok and by_name(checklist)[WRITES].skipped and not by_name(checklist)[WRITES].required


def _dump(db: Path) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, *row) for t in tables for row in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]  # noqa: S608


def test_the_write_probe_leaves_the_registry_exactly_as_it_was(tmp_path: Path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db") as fresh:
        httpx.post(f"{fresh.url}/api/model_registry/v1/registered_models", json={"name": "existing"})
        before = _dump(fresh.db_path)
        assert doctor(fresh.url).ok
        assert doctor(fresh.url).ok
        after = _dump(fresh.db_path)
    assert before and after == before


def test_a_bad_address_fails_the_settings_check_without_a_crash() -> None:
    checklist = doctor("model-registry:8080")
    checks = by_name(checklist)
    assert not checklist.ok
    settings = checks["registry address and token"]
    assert not settings.ok and "has no scheme" in settings.detail
    assert checks[REACHABLE].skipped


def test_require_ok_raises_with_the_checklist_and_fixes() -> None:
    checklist = doctor(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(InstallationCheckError, match="registry reachable") as raised:
        checklist.require_ok()
    assert "[FAIL] registry reachable" in str(raised.value) and "fix:" in str(raised.value)
    assert isinstance(raised.value, RuntimeError)


def test_checklist_renderings() -> None:
    checklist = Checklist(
        [
            Check("a", True, True, "fine"),
            Check("b", True, False, "broken | badly", "do this"),
            Check("c", False, False, "meh", "maybe that"),
            Check("d", True, False, "not checked", "first b", skipped=True),
        ],
        registry_url="http://r:8080",
    )
    assert not checklist.ok and [c.name for c in checklist.failures] == ["b", "d"]
    assert [c.name for c in checklist.warnings] == ["c"]
    assert checklist.counts() == {"passed": 1, "failed": 1, "warning": 1, "skipped": 1}
    unicode = checklist.text_lines()
    assert unicode[:4] == ["✓ a: fine", "✗ b: broken | badly", "    fix: do this", "! c: meh"]
    assert "first b" not in "\n".join(unicode)  # a skipped check says why, not a fix
    ascii_lines = checklist.text_lines(unicode=False)
    assert ascii_lines[0] == "[ok] a: fine" and ascii_lines[1] == "[FAIL] b: broken | badly"
    assert all(line.isascii() for line in ascii_lines)
    markdown = checklist.markdown()
    assert "| ✗ | b | broken \\| badly | do this |" in markdown and "`http://r:8080`" in markdown
    data = checklist.to_dict()
    assert data["ok"] is False and [c["status"] for c in data["checks"]] == ["passed", "failed", "warning", "skipped"]
