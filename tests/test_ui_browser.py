"""``kml ui`` in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright, JavaScript off.

The registry is started with known data (tests/ui_seed.py) and the UI in front of it; each test opens pages as a
person would -- following links, ticking boxes, submitting the search form -- and checks what is on the screen:
the production version marked, the audit timeline in order, the lineage graph's nodes, a search narrowing the
table, names with ``<script>`` shown as text. JavaScript is disabled in the browser: the UI must work without it.
Screenshots are saved under each test's temporary directory.

Without ``chromium`` or the ``playwright`` package these tests skip and say why (``make test`` installs chromium
where it can).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_seed import EVIL_METRIC, EVIL_MODEL, MODEL, SERVICE_URL, Seeded, seed_registry

from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.local.registry.server import free_port
from kfp_model_lifecycle.ui.server import UiServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def chromium() -> tuple[Any, str]:
    """Playwright's sync API and Debian's chromium, or a skip saying which is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (dev extra)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on PATH: install Debian's chromium package (`make test` does so when it can)")
    return sync_api, executable


@pytest.fixture(scope="module")
def browser(chromium: tuple[Any, str], ui_url: str) -> Iterator[Any]:
    """One headless Chromium for the module (started after the registry is seeded: Playwright's sync API runs an
    event loop in this thread, which the registry client's own loop must not meet)."""
    sync_api, executable = chromium
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"chromium at {executable} does not start here: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def seeded(registry: EmbeddedRegistry, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_registry(registry.url, tmp_path_factory.mktemp("ui-data"))


@pytest.fixture(scope="module")
def ui_url(seeded: Seeded) -> Iterator[str]:
    with UiServer(seeded.registry_url, env={}) as server:
        yield server.url


class Screen:
    """A browser tab with JavaScript off that records dialogs and console errors, and saves screenshots."""

    def __init__(self, browser: Any, base_url: str, shots: Path) -> None:
        self.context = browser.new_context(
            base_url=base_url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.shots = shots
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def open(self, path: str, status: int = 200) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.status == status, path
        return self.page

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5000  # a rendered page, not a blank one
        return path


@pytest.fixture
def screen(browser: Any, ui_url: str, tmp_path: Path) -> Iterator[Screen]:
    tab = Screen(browser, ui_url, tmp_path)
    yield tab
    assert tab.dialogs == []  # no script ever ran
    assert [e for e in tab.errors if "Content Security Policy" in e] == []  # nothing the page needs is blocked
    tab.context.close()


def texts(locator: Any) -> list[str]:
    return [t.strip() for t in locator.all_text_contents()]


def test_models_page_and_a_search_narrowing_it(screen: Screen) -> None:
    page = screen.open("/")
    rows = page.locator("table.models tbody tr")
    assert rows.count() == 3
    iris = page.locator(f'table.models tr[data-model="{MODEL}"]')
    assert iris.locator("td.production").inner_text().strip() == "1.0.1"
    assert "@champion → 1.0.1" in iris.locator("td.aliases").inner_text()
    screen.shot("models")

    page.fill("#q", "accuracy > 0.94")
    page.press("#q", "Enter")  # a plain GET form: no script needed
    page.wait_for_url("**/?q=accuracy*")
    assert texts(page.locator("table.models tbody td.name a")) == [MODEL]
    assert texts(page.locator("table.matches tbody td:first-child")) == ["iris:1.0.1", "iris:1.0.3"]
    assert page.locator("#q").input_value() == "accuracy > 0.94"
    screen.shot("models-search")

    page.fill("#q", "accuracy >> 1")
    page.press("#q", "Enter")
    assert "invalid filter query" in page.locator("p.error").inner_text()
    screen.shot("models-bad-search")


def test_model_page_marks_production_orders_the_timeline_and_sorts(screen: Screen) -> None:
    page = screen.open("/")
    page.click(f'table.models tr[data-model="{MODEL}"] td.name a')
    page.wait_for_url("**/model?name=iris")
    assert page.locator("h1").inner_text().strip() == MODEL
    production = page.locator("table.versions tr.production")
    assert production.count() == 1 and production.get_attribute("data-version") == "1.0.1"
    assert "★ production" in production.inner_text()
    assert page.locator("dd.production").inner_text().startswith("1.0.1")
    dot = page.locator("svg.trend circle.dot.production")
    assert dot.count() == 1 and "1.0.1: accuracy = 0.95 (production)" in dot.locator("title").text_content()
    assert page.locator("svg.trend text.production-label").is_visible()

    events = page.locator("ol.timeline > li")
    seqs = [int(s) for s in (events.nth(i).get_attribute("data-seq") for i in range(events.count()))]
    assert seqs == sorted(seqs) and seqs[0] == 1
    assert "stage 1.0.0: development -> production" in events.first.inner_text()
    rejection = page.locator("ol.timeline > li.type-rejection")
    assert "accuracy 0.89 is below the champion's 0.95" in rejection.inner_text()
    assert rejection.locator("dl.evidence a").get_attribute("href").startswith("file:///")
    assert page.locator("table.services").get_by_role("link", name=SERVICE_URL).is_visible()
    screen.shot("model")

    def versions() -> list[str]:
        rows = page.locator("table.versions tbody tr")
        return [rows.nth(i).get_attribute("data-version") for i in range(rows.count())]

    assert versions() == ["1.0.3", "1.0.2", "1.0.1", "1.0.0"]
    page.click("table.versions thead th:has-text('accuracy') a")
    assert versions() == ["1.0.2", "1.0.0", "1.0.1", "1.0.3"]
    page.click("table.versions thead th:has-text('accuracy') a")
    assert versions() == ["1.0.3", "1.0.1", "1.0.0", "1.0.2"]
    assert page.locator("table.versions th[aria-sort=descending]").inner_text().startswith("accuracy")
    screen.shot("model-sorted")


def test_version_page_draws_the_lineage_graph(screen: Screen, seeded: Seeded) -> None:
    page = screen.open("/model?name=iris")
    page.click("table.versions tr[data-version='1.0.1'] td.version a")
    page.wait_for_url("**/version?model=iris&version=1.0.1")
    graph = page.locator("svg.lineage")
    assert graph.is_visible() and graph.bounding_box()["width"] > 600
    assert texts(graph.locator("g.node[data-kind=dataset] text.label")) == ["train", "test"]
    assert graph.locator("g.node[data-kind=run] text.label").text_content().startswith("manual (")
    assert graph.locator("g.node[data-kind=run] text.detail").text_content() == "registered by hand"
    assert graph.locator("g.node[data-kind=version] text.label").text_content() == "iris:1.0.1"
    deployment = graph.locator("g.node[data-kind=deployment]")
    assert deployment.count() == 1 and deployment.get_attribute("data-state") == "serving"
    assert deployment.locator("text.label").text_content() == "kubeflow-user/iris"
    assert graph.locator("path.edge").count() == 4
    datasets = page.locator("table.datasets tbody tr")
    assert datasets.count() == 2 and len(datasets.first.locator("code.digest").inner_text()) == 64
    report = page.locator("ul.reports a")
    assert report.get_attribute("href") == seeded.promotion_report.as_uri()
    assert page.locator("table.hyperparameters").inner_text().split() == ["C", "1", "max_iter", "101"]
    screen.shot("version")


def test_compare_picked_versions(screen: Screen) -> None:
    page = screen.open("/model?name=iris")
    for version in ("1.0.0", "1.0.1", "1.0.3"):
        page.check(f"table.versions tr[data-version='{version}'] input[type=checkbox]")
    page.click("text=Compare selected")
    page.wait_for_url("**/compare?**")
    assert page.locator("p.banner b").inner_text() == "iris:1.0.3"
    ranked = page.locator("table.leaderboard tbody tr")
    assert texts(ranked.locator("td:nth-child(2)")) == ["iris:1.0.3", "iris:1.0.1", "iris:1.0.0"]
    assert ranked.first.locator("td.best").count() == 2  # the best accuracy and f1
    assert page.locator("figure.chart svg").count() == 2
    checked = page.locator("table.choices input[type=checkbox]:checked")
    assert sorted(checked.nth(i).get_attribute("value") for i in range(checked.count())) == [
        "iris:1.0.0",
        "iris:1.0.1",
        "iris:1.0.3",
    ]
    screen.shot("compare")


def test_names_with_script_tags_are_shown_as_text(screen: Screen) -> None:
    page = screen.open("/")
    link = page.locator("table.models td.name a").first
    assert link.inner_text() == EVIL_MODEL
    link.click()
    page.wait_for_url("**/model?name=*")
    assert page.locator("h1").inner_text() == EVIL_MODEL, page.content()[:3000]
    page.click("table.versions td.version a")
    page.wait_for_url("**/version?**")
    assert texts(page.locator("table.metrics th")) == [EVIL_METRIC, "accuracy"]
    assert page.locator("svg.lineage g.node[data-kind=version] title").text_content().startswith(EVIL_MODEL)
    assert page.locator("body script").count() == 0
    screen.shot("escaped")


def test_error_pages(screen: Screen, browser: Any, tmp_path: Path) -> None:
    page = screen.open("/model?name=no-such-model", status=404)
    assert page.locator("h1").inner_text() == "Not found"
    assert "no registered model named 'no-such-model'" in page.locator("p.message").inner_text()
    screen.shot("not-found")
    dead = f"http://127.0.0.1:{free_port()}"
    with UiServer(dead, env={}) as server:
        down = Screen(browser, server.url, tmp_path)
        page = down.open("/", status=503)
        assert page.locator("h1").inner_text() == "The Model Registry does not answer"
        assert dead in page.locator("ul.hints").inner_text()
        down.shot("registry-down")
        down.context.close()
