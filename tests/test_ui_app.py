"""``kml ui`` over HTTP: the pages against an embedded registry with known data, errors, headers, the command.

What a browser shows is checked in tests/test_ui_browser.py; here the server's answers: statuses, the HTML the
pages carry, the security headers, the error pages, and ``kml ui`` itself.
"""

from __future__ import annotations

import contextlib
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ui_seed import EMPTY_MODEL, EVIL_METRIC, EVIL_MODEL, MODEL, SERVICE_URL, Seeded, seed_registry

from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.server import free_port
from kfp_model_lifecycle.ui.server import UiServer

ESCAPED_MODEL = "&lt;script&gt;alert(&#34;model&#34;)&lt;/script&gt;"


@pytest.fixture(scope="module")
def seeded(registry: EmbeddedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_registry(registry.url, tmp_path_factory.mktemp("ui-data"))


@pytest.fixture(scope="module")
def ui(seeded: Seeded) -> Iterator[httpx.Client]:
    with UiServer(seeded.registry_url, env={}) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def matching_versions(html: str) -> list[str]:
    table = html.split('<table class="matches">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td><a href="/version\?[^"]+">([^<]+)</a></td>', table)


def versions_in_order(html: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" data-version="([^"]+)"', html)


def test_models_page_lists_every_model_with_its_production_version(ui: httpx.Client) -> None:
    page = ui.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    rows = re.findall(r'<tr data-model="([^"]*)">', page.text)
    assert rows == [ESCAPED_MODEL, EMPTY_MODEL, MODEL]  # by name
    iris = page.text.split(f'<tr data-model="{MODEL}">')[1].split("</tr>")[0]
    assert '<td class="production"><a href="/version?model=iris&amp;version=1.0.1">1.0.1</a>' in iris
    assert "@champion" in iris and "@candidate" in iris and '<td class="num">4</td>' in iris


def test_a_search_narrows_the_models_and_lists_the_matching_versions(ui: httpx.Client) -> None:
    page = ui.get("/", params={"q": "accuracy > 0.94"})
    assert page.status_code == 200
    assert re.findall(r'<tr data-model="([^"]*)">', page.text) == [MODEL]
    assert matching_versions(page.text) == ["iris:1.0.1", "iris:1.0.3"]
    assert 'value="accuracy &gt; 0.94"' in page.text  # the query stays in the box
    stage = ui.get("/", params={"q": 'stage = "production"'})
    assert matching_versions(stage.text) == ["iris:1.0.1"]


def test_a_search_the_registry_refuses_says_why_on_the_page(ui: httpx.Client) -> None:
    page = ui.get("/", params={"q": "accuracy >> 1"})
    assert page.status_code == 400
    assert '<p class="error" role="alert">' in page.text and "invalid filter query" in page.text
    assert 'value="accuracy &gt;&gt; 1"' in page.text


def test_model_page_marks_production_and_sorts_on_request(ui: httpx.Client) -> None:
    page = ui.get("/model", params={"name": MODEL})
    assert page.status_code == 200
    assert versions_in_order(page.text) == ["1.0.3", "1.0.2", "1.0.1", "1.0.0"]  # newest first
    assert re.search(r'<tr class="production" data-version="1.0.1">', page.text)
    assert page.text.count("★ production") == 1
    assert '<circle class="dot production"' in page.text  # the trend marks it too
    best = ui.get("/model", params={"name": MODEL, "sort": "-metric:accuracy"})
    assert versions_in_order(best.text) == ["1.0.3", "1.0.1", "1.0.0", "1.0.2"]
    assert 'aria-sort="descending" class="num"><a href="/model?name=iris&amp;sort=metric%3Aaccuracy' in best.text


def test_model_page_has_the_audit_trail_in_order_and_the_deployment(ui: httpx.Client) -> None:
    page = ui.get("/model", params={"name": MODEL}).text
    seqs = [int(s) for s in re.findall(r'<li class="event type-\w+" data-seq="(\d+)">', page)]
    assert seqs == sorted(seqs) and len(seqs) >= 8
    assert "accuracy 0.89 is below the champion&#39;s 0.95" in page  # the rejection's reason
    assert "report-1.0.2.html" in page
    assert f'<a href="{SERVICE_URL}">{SERVICE_URL}</a>' in page
    assert "kubeflow-user/iris" in page and '<span class="badge deployed">deployed</span>' in page


def test_version_page_shows_lineage_graph_and_reports(ui: httpx.Client, seeded: Seeded) -> None:
    page = ui.get("/version", params={"model": MODEL, "version": "1.0.1"})
    assert page.status_code == 200
    kinds = re.findall(r'<g class="node" data-kind="(\w+)"(?: data-state="(\w+)")?', page.text)
    assert kinds == [("dataset", ""), ("dataset", ""), ("run", ""), ("version", ""), ("deployment", "serving")]
    assert f'<a href="{seeded.promotion_report.as_uri()}">{seeded.promotion_report}</a>' in page.text
    assert "<code>abc1234</code>" in page.text  # code version
    assert re.search(r"<th scope=\"row\">max_iter</th><td class=\"num\">101</td>", page.text)
    rejected = ui.get("/version", params={"model": MODEL, "version": "1.0.2"}).text
    assert f'<a href="{seeded.rejection_report.as_uri()}">{seeded.rejection_report}</a>' in rejected
    assert '<span class="decision">rejected 1.0.2</span>' in rejected


def test_compare_page_ranks_the_versions_and_marks_the_best(ui: httpx.Client) -> None:
    page = ui.get("/compare", params=[("ref", "iris:1.0.0"), ("ref", "iris:1.0.1"), ("ref", "iris:1.0.3")])
    assert page.status_code == 200
    assert "Best: <b>iris:1.0.3</b>" in page.text
    assert page.text.count('<td class="num best" title="the best value">') == 2  # accuracy and f1
    assert page.text.count('role="img" aria-label="accuracy by version"') == 1
    unknown = ui.get("/compare", params=[("ref", "iris:1.0.0"), ("ref", "iris:1.0.1"), ("metric", "nope")])
    assert unknown.status_code == 400 and "unknown metric &#39;nope&#39;" in unknown.text


def test_names_and_properties_are_shown_as_text(ui: httpx.Client) -> None:
    for path, params in [
        ("/", {}),
        ("/model", {"name": EVIL_MODEL}),
        ("/version", {"model": EVIL_MODEL, "version": "1.0.0"}),
        ("/compare", {"model": EVIL_MODEL}),
    ]:
        page = ui.get(path, params=params)
        assert page.status_code == 200, path
        assert "<script" not in page.text.lower(), path
        assert ESCAPED_MODEL in page.text, path
    version = ui.get("/version", params={"model": EVIL_MODEL, "version": "1.0.0"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in version and EVIL_METRIC not in version


def test_empty_states(ui: httpx.Client) -> None:
    page = ui.get("/model", params={"name": EMPTY_MODEL}).text
    assert "No versions yet" in page and "No lifecycle events yet" in page and "Not deployed" in page


def test_unknown_model_version_and_page_answer_404_pages(ui: httpx.Client) -> None:
    model = ui.get("/model", params={"name": "no-such-model"})
    assert model.status_code == 404 and "no registered model named &#39;no-such-model&#39;" in model.text
    version = ui.get("/version", params={"model": MODEL, "version": "9.9.9"})
    assert version.status_code == 404 and "has no version named &#39;9.9.9&#39;" in version.text
    missing = ui.get("/nowhere")
    assert missing.status_code == 404 and "There is no page at /nowhere." in missing.text
    assert ui.get("/model").status_code == 400


def test_the_ui_only_reads(ui: httpx.Client) -> None:
    answer = ui.post("/", data={"q": "x"})
    assert answer.status_code == 405 and "this UI only reads" in answer.text


def test_every_answer_forbids_scripts_framing_and_sniffing(ui: httpx.Client) -> None:
    for path in ("/", "/nowhere", "/static/style.css"):
        headers = ui.get(path).headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"


def test_requests_must_name_the_ui_by_a_loopback_name(ui: httpx.Client) -> None:
    assert ui.get("/", headers={"host": "attacker.example.com"}).status_code == 400  # DNS rebinding
    assert ui.get("/", headers={"host": f"localhost:{ui.base_url.port}"}).status_code == 200


def test_the_registrys_own_root_still_answers_404(seeded: Seeded) -> None:
    assert httpx.get(seeded.registry_url + "/", timeout=10).status_code == 404


def test_an_unreachable_registry_gives_a_page_saying_so_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with UiServer(url, env={}) as server:
        started = time.monotonic()
        page = httpx.get(server.url + "/model", params={"name": MODEL}, timeout=30)
        elapsed = time.monotonic() - started
    assert page.status_code == 503
    assert (
        "The Model Registry does not answer" in page.text
        and f"No answer from the Model Registry at {url}." in page.text
    )
    assert "<details" in page.text and "after 3 attempts" in page.text  # the client's own words, folded
    assert elapsed < 20  # a generous bound: the UI's retries take about a second, a pipeline step's 15 s


def test_a_registry_that_needs_a_token_is_read_with_it(tmp_path: Path) -> None:
    with EmbeddedRegistry(tmp_path / "r.db", token="s3cret-token") as secured:
        with UiServer(secured.url, env={"KML_REGISTRY_TOKEN": "s3cret-token"}) as server:
            assert httpx.get(server.url + "/", timeout=30).status_code == 200
        with UiServer(secured.url, env={}) as server:
            refused = httpx.get(server.url + "/", timeout=30)
    assert refused.status_code == 502 and "The Model Registry refused the request" in refused.text
    assert "--token-file" in refused.text and "s3cret-token" not in refused.text


# -- the command ---------------------------------------------------------------------------------------------


def kml(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfp_model_lifecycle.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_kml_ui_refuses_a_missing_db_file_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    result = kml("ui", "--db", str(db), "--port", "0")
    assert result.returncode == 1 and "no such file (nothing was created)" in result.stderr
    assert not db.exists()


def test_kml_ui_refuses_an_unreadable_token_file(tmp_path: Path) -> None:
    result = kml("ui", "--registry-url", "http://127.0.0.1:1", "--token-file", str(tmp_path / "nope"), "--port", "0")
    assert result.returncode == 1 and "--token-file" in result.stderr and "cannot be read" in result.stderr


def test_kml_ui_needs_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KML_REGISTRY_URL", raising=False)
    result = kml("ui", "--port", "0")
    assert result.returncode == 1 and "no Model Registry given" in result.stderr
    both = kml("ui", "--db", str(tmp_path / "x.db"), "--registry-url", "http://127.0.0.1:1")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_kml_ui_help_imports_neither_the_client_nor_the_server() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kfp_model_lifecycle.cli", "ui", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "[--registry-url URL | --db FILE]" in result.stdout
    modules = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    heavy = {m.split(".")[0] for m in modules} & {
        "mr_openapi",
        "model_registry",
        "starlette",
        "uvicorn",
        "jinja2",
        "kfp",
    }
    assert heavy == set()


@contextlib.contextmanager
def kml_ui(*args: str) -> Iterator[tuple[str, list[str]]]:
    """``kml ui ARGS --port 0`` in a subprocess: its URL and what it printed before serving; Ctrl-C at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_model_lifecycle.cli", "ui", *args, "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    printed: list[str] = []
    try:
        while not printed or "kml ui on" not in printed[-1]:
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            assert ready and proc.poll() is None, f"kml ui did not start: {printed}"
            printed.append(proc.stderr.readline())
        match = re.search(r"kml ui on (http://127\.0\.0\.1:\d+)/", printed[-1])
        assert match, printed
        yield match.group(1), printed
    finally:
        proc.send_signal(signal.SIGINT)
        _, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in errors  # Ctrl-C stops it cleanly


def test_kml_ui_serves_a_registry_file_until_ctrl_c(seeded: Seeded, registry: EmbeddedRegistry) -> None:
    with kml_ui("--db", str(registry.db_path)) as (url, _):
        page = httpx.get(url + "/model", params={"name": MODEL}, timeout=30)
        assert page.status_code == 200 and "★ production" in page.text


def test_kml_ui_starts_before_the_registry_answers_and_says_so() -> None:
    registry_url = f"http://127.0.0.1:{free_port()}"
    with kml_ui("--registry-url", registry_url) as (url, printed):
        assert f"warning: the Model Registry at {registry_url} does not answer yet" in printed[0]
        assert "transient failure" not in "".join(printed)  # the client's retry notes stay out of the console
        assert httpx.get(url + "/", timeout=30).status_code == 503
