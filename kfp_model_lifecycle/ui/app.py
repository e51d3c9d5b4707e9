"""The UI's web application: routes, templates, error pages and the headers every answer carries.

Read-only: every route answers GET (and HEAD) only. Templates are Jinja2 with autoescaping on, so every name and
property from the registry is shown as text; the SVG charts are built in Python with every text escaped. The
Content-Security-Policy allows no script at all and loads nothing from elsewhere, and requests must name this
server by a loopback name unless it listens on another address (no DNS rebinding from a web page).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.errors import NotFoundError, RegistryAuthError, RegistryError, RegistryUnavailableError
from kfp_model_lifecycle.ui import links, pages
from kfp_model_lifecycle.ui.pool import LifecyclePool

if TYPE_CHECKING:
    from kfp_model_lifecycle.api import Lifecycle

log = logging.getLogger("kfp_model_lifecycle.ui")

PACKAGE = "kfp_model_lifecycle.ui"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")  # noqa: S104 - the addresses that mean "every interface"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PORT_FORWARD_HINT = "kubectl port-forward -n kubeflow svc/model-registry-service 8081:8080"


@dataclass(frozen=True)
class UiSettings:
    """What the UI shows and where it listens.

    Attributes:
        registry_url: The Model Registry's base URL (shown on every page and in error pages).
        kfp_ui_url: The KFP UI's base URL, to link runs that recorded no run URL ("" for none).
        host: The address the server listens on (requests must name it, or a loopback name).
    """

    registry_url: str
    kfp_ui_url: str = ""
    host: str = "127.0.0.1"

    @property
    def allowed_hosts(self) -> list[str]:
        """The ``Host`` names requests may use (any, when listening on every interface)."""
        if self.host in ANY_ADDRESS:
            return ["*"]
        return list(dict.fromkeys([*LOOPBACK_NAMES, self.host]))


def template_environment() -> Environment:
    """The Jinja2 environment of the UI's templates: autoescaping on, undefined names are errors.

    Returns:
        The environment, with the link builders and the number format as globals.
    """
    env = Environment(
        loader=PackageLoader(PACKAGE, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        models_url=links.models_url,
        model_url=links.model_url,
        version_url=links.version_url,
        compare_url=links.compare_url,
        outside_href=links.outside_href,
        web_href=links.web_href,
        fmt=format_number,
        version=__version__,
    )
    return env


class SecurityHeaders:
    """Adds the security headers (no scripts, no framing, no sniffing, no referrer) to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def error_page(exc: BaseException, settings: UiSettings) -> pages.Page:
    """The error page for a failure: what went wrong, in words, and what to do.

    Args:
        exc: The error.
        settings: The UI's settings.

    Returns:
        The page (503 when the registry does not answer, 404 for an unknown model or version...).
    """
    message = pages.user_error(exc) if isinstance(exc, Exception) else str(exc)
    url, detail = settings.registry_url, ""
    if isinstance(exc, RegistryUnavailableError):
        heading, status = "The Model Registry does not answer", HTTPStatus.SERVICE_UNAVAILABLE
        message, detail = f"No answer from the Model Registry at {url}.", message
        hints = [
            f"Nothing answers at {url}: is the registry running (`kml registry serve --db FILE`)?",
            f"For a cluster's registry, is the port-forward up (`{PORT_FORWARD_HINT}`)?",
            "Reload this page when it is back.",
        ]
    elif isinstance(exc, RegistryAuthError):
        heading, status = "The Model Registry refused the request", HTTPStatus.BAD_GATEWAY
        hints = ["Pass a token that may read the registry: `kml ui --token-file FILE` (or KML_REGISTRY_TOKEN)."]
    elif isinstance(exc, NotFoundError):
        heading, status = "Not found", HTTPStatus.NOT_FOUND
        hints = ["The Models page lists every registered model."]
    elif isinstance(exc, ValueError):
        heading, status, hints = "Cannot show this", HTTPStatus.BAD_REQUEST, []
    elif isinstance(exc, RegistryError):
        heading, status, hints = "The Model Registry answered with an error", HTTPStatus.BAD_GATEWAY, []
    else:
        heading, status = "Something went wrong", HTTPStatus.INTERNAL_SERVER_ERROR
        message, hints = f"{type(exc).__name__} while building the page (the server's log has the details).", []
    context = {"title": heading, "heading": heading, "message": message, "hints": hints, "detail": detail}
    return pages.Page("error.html", context, status)


class UiApp:
    """The handlers: each borrows a ``Lifecycle``, builds its page and renders it (or the error page).

    Args:
        settings: The UI's settings.
        pool: Lends the ``Lifecycle`` objects.
    """

    def __init__(self, settings: UiSettings, pool: LifecyclePool) -> None:
        self.settings = settings
        self.pool = pool
        self.templates = template_environment()

    def render(self, page: pages.Page) -> HTMLResponse:
        """Render a page with its template (and the registry's URL, shown in the footer)."""
        context = {**page.context, "registry_url": self.settings.registry_url}
        html = self.templates.get_template(page.template).render(context)
        return HTMLResponse(html, status_code=int(page.status), headers={"cache-control": "no-store"})

    def page(self, build: Callable[[Lifecycle], pages.Page]) -> HTMLResponse:
        """Build a page with a borrowed ``Lifecycle``; an error becomes the error page."""
        try:
            with self.pool.borrow() as lc:
                page = build(lc)
        except (RegistryError, NotFoundError, ValueError) as exc:
            log.warning("%s", pages.user_error(exc))
            page = error_page(exc, self.settings)
        except Exception as exc:
            log.exception("the page could not be built")
            page = error_page(exc, self.settings)
        return self.render(page)

    def models(self, request: Request) -> Response:
        """``/``: the Models page (``q``: a search, ``sort``: the order)."""
        q = request.query_params
        return self.page(lambda lc: pages.models_page(lc, q.get("q", ""), q.get("sort", "")))

    def model(self, request: Request) -> Response:
        """``/model?name=NAME``: one model (``sort``, ``metric``)."""
        q = request.query_params
        kfp = self.settings.kfp_ui_url
        return self.page(
            lambda lc: pages.model_page(lc, q.get("name", ""), q.get("sort", ""), q.get("metric", ""), kfp)
        )

    def version(self, request: Request) -> Response:
        """``/version?model=NAME&version=VERSION``: one version."""
        q = request.query_params
        kfp = self.settings.kfp_ui_url
        return self.page(lambda lc: pages.version_page(lc, q.get("model", ""), q.get("version", ""), kfp))

    def compare(self, request: Request) -> Response:
        """``/compare?ref=A&ref=B[&metric=M]...``: a leaderboard of the versions (``model``: versions to offer)."""
        q = request.query_params
        return self.page(lambda lc: pages.compare_page(lc, q.getlist("ref"), q.getlist("metric"), q.get("model", "")))

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """An unknown address (404) or a method other than GET (405), as a page."""
        status = exc.status_code if isinstance(exc, HTTPException) else HTTPStatus.INTERNAL_SERVER_ERROR
        reason = HTTPStatus(status).phrase
        message = (
            f"There is no page at {request.url.path}."
            if status == HTTPStatus.NOT_FOUND
            else f"{reason}: this UI only reads."
        )
        context = {"title": reason, "heading": reason, "message": message, "hints": [], "detail": ""}
        return self.render(pages.Page("error.html", context, status))


def _closing(pool: LifecyclePool) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the pool's registry connections when the server stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(pool.close)

    return lifespan


def create_app(settings: UiSettings, lifecycle: Callable[[], Lifecycle]) -> Starlette:
    """The UI as an ASGI application.

    Args:
        settings: The UI's settings.
        lifecycle: Makes a ``Lifecycle`` for the registry (one per concurrent request).

    Returns:
        The application; ``app.state.pool`` lends the ``Lifecycle`` objects (close it when the server stops).
    """
    pool = LifecyclePool(lifecycle)
    ui = UiApp(settings, pool)
    get = ["GET"]
    routes: list[Any] = [
        Route("/", ui.models, methods=get),
        Route("/model", ui.model, methods=get),
        Route("/version", ui.version, methods=get),
        Route("/compare", ui.compare, methods=get),
        Mount("/static", StaticFiles(packages=[(PACKAGE, "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts),
        ],
        exception_handlers={HTTPException: ui.http_error},
        lifespan=_closing(pool),
    )
    app.state.pool = pool
    return app
