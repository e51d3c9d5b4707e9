"""Where the UI's links go: its own pages, and outside links that are safe to put in an ``href``.

Registry data is user data: a URI recorded as evidence or lineage becomes a link only when it is ``http(s)`` (with a
host), ``file`` or an absolute local path (a local KFP run records report and dataset paths without a scheme; they
become ``file://`` links). Anything else (``javascript:``, ``s3://``, ``minio://``...) is shown as text, never as
a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import urlencode, urlsplit

from kfp_model_lifecycle.lineage.context import build_run_url

WEB_SCHEMES = ("http", "https")


def outside_href(uri: object) -> str:
    """The ``href`` for a URI from the registry, or "" when it must be shown as text only.

    Args:
        uri: A URI or path as recorded.

    Returns:
        ``http(s)://`` URLs with a host and ``file://`` URIs as given; absolute local paths as ``file://`` URIs;
        "" for anything else.

    Example:
        >>> outside_href("/runs/1/report_html")
        'file:///runs/1/report_html'
        >>> outside_href("javascript:alert(1)")
        ''
    """
    text = str(uri or "").strip()
    if not text or any(ch in text for ch in "\r\n\t"):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme in WEB_SCHEMES:
        return text if parts.netloc else ""
    if scheme == "file":
        return text
    if not scheme and text.startswith("/") and not text.startswith("//"):
        return PurePosixPath(text).as_uri()
    return ""


def web_href(uri: object) -> str:
    """The ``href`` for a link that must be a web page (a KFP run, a model server): ``http(s)`` only, else "".

    Args:
        uri: A URL as recorded.

    Returns:
        The URL, or "".
    """
    href = outside_href(uri)
    return href if urlsplit(href).scheme.lower() in WEB_SCHEMES else ""


def run_href(recorded_url: object, run_id: object, kfp_ui_url: str) -> str:
    """The link to a KFP run: the recorded ``kfp_run_url``, else one built from ``--kfp-ui-url`` and the run id.

    Args:
        recorded_url: The run URL the registration recorded ("" when none).
        run_id: The run id.
        kfp_ui_url: The KFP UI's base URL given to ``kml ui`` ("" when none).

    Returns:
        An ``http(s)`` URL, or "" when the run cannot be linked.
    """
    return web_href(recorded_url) or (web_href(build_run_url(kfp_ui_url, str(run_id or ""))) if kfp_ui_url else "")


def _query(params: Iterable[tuple[str, str]]) -> str:
    pairs = [(k, v) for k, v in params if v != ""]
    return "?" + urlencode(pairs) if pairs else ""


def models_url(query: str = "", sort: str = "") -> str:
    """The models page.

    Args:
        query: A search (the ``kml models search`` filter language).
        sort: The sort key.

    Returns:
        The path with its query string.
    """
    return "/" + _query([("q", query), ("sort", sort)])


def model_url(name: str, *, sort: str = "", metric: str = "") -> str:
    """A model's page (names go in the query string: they may contain any character).

    Args:
        name: The registered model.
        sort: The versions table's sort key.
        metric: The trend chart's metric.

    Returns:
        The path with its query string.
    """
    return "/model" + _query([("name", name), ("sort", sort), ("metric", metric)])


def version_url(model: str, version: str) -> str:
    """A version's page.

    Args:
        model: The registered model.
        version: The version's name.

    Returns:
        The path with its query string.
    """
    return "/version" + _query([("model", model), ("version", version)])


def compare_url(references: Iterable[str] = (), metrics: Iterable[str] = (), model: str = "") -> str:
    """The compare page for some versions.

    Args:
        references: ``model:version`` references.
        metrics: Ranking metrics (``name``, ``-name``, ``name:min``...).
        model: A model whose versions to offer.

    Returns:
        The path with its query string.
    """
    params = [("model", model), *(("ref", r) for r in references), *(("metric", m) for m in metrics)]
    return "/compare" + _query(params)
