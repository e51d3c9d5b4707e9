"""Opening the registry a ``kml models`` command talks to: a URL, or an embedded registry on a SQLite file.

The command line fails fast where retrying cannot help: a ``--db`` file that does not exist (only ``kml models
register`` creates one), is a directory or is not a registry database; and a URL where nothing listens (connection
refused) or whose host is unknown -- said at once with how to start a registry, instead of after the retries a
component makes for a registry that is restarting.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.errors import RegistryUnavailableError

TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the name of the variable, not a token
URL_ENV = "KML_REGISTRY_URL"
SQLITE_HEADER = b"SQLite format 3\x00"
REGISTRY_TABLE = "resource"  # the embedded registry's main table
START_HINT = (
    "start one with `kml registry serve --db registry.db --port {port}` (in another shell, or with & at the end),"
    " or read a registry file directly with --db FILE (`make demo` leaves .kml/demo/registry.db)"
)


def registry_env(token: str = "", token_file: str = "") -> dict[str, str]:
    """The environment a registry connection reads, with the token from ``token`` or ``token_file`` in it.

    Args:
        token: Bearer token ("" keeps ``KML_REGISTRY_TOKEN``).
        token_file: File holding the token.

    Returns:
        A copy of ``os.environ`` with ``KML_REGISTRY_TOKEN`` set when a token was given.

    Raises:
        FileNotFoundError: When ``token_file`` cannot be read.
    """
    env = dict(os.environ)
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FileNotFoundError(f"--token-file {token_file!r} cannot be read ({exc.strerror})") from None
    if token:
        env[TOKEN_ENV] = token
    return env


def check_database(path: str, *, create: bool = False) -> None:
    """Check that ``--db`` names a registry database (or, with ``create``, a new file) before anything opens it.

    Args:
        path: The ``--db`` value.
        create: A missing file may be created (``kml models register``).

    Raises:
        FileNotFoundError: When the file does not exist and may not be created.
        ValueError: When it is a directory, not a SQLite file, or a SQLite file of something else.
    """
    db = Path(path).expanduser()
    if db.is_dir():
        raise ValueError(f"--db {path!r} is a directory: pass the registry's SQLite file, e.g. {db / 'registry.db'}")
    if not db.exists():
        if create:
            return
        raise FileNotFoundError(
            f"--db {path!r}: no such file (nothing was created). Check the path -- `make demo` leaves"
            " .kml/demo/registry.db -- or create a registry with `kml models register NAME --uri URI --db FILE`"
            " or `kml registry serve --db FILE`"
        )
    try:
        with db.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise ValueError(f"--db {path!r} cannot be read ({exc.strerror})") from None
    if header and header != SQLITE_HEADER:
        raise ValueError(f"--db {path!r} is not a SQLite database: pass the registry's file, e.g. registry.db")
    if header and not _is_registry(db):
        raise ValueError(
            f"--db {path!r} is a SQLite database of something else (no Model Registry tables): pass the file"
            " `kml registry serve --db` or `make demo` wrote"
        )


def _is_registry(db: Path) -> bool:
    """Whether a SQLite file is empty or holds the embedded registry's tables (opened read-only)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return False
    return not tables or REGISTRY_TABLE in tables


def _refusal(exc: BaseException) -> str:
    """Why a connection could not even start: "connection refused", "unknown host", or "" (worth retrying)."""
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and all(cause is not c for c in seen):
        seen.append(cause)
        code = getattr(cause, "errno", None)
        if isinstance(cause, ConnectionRefusedError) or code == errno.ECONNREFUSED:
            return "connection refused: nothing listens there"
        if code == socket.EAI_NONAME:
            return "unknown host name"
        cause = cause.__cause__ or cause.__context__
    return ""


def probe_registry(conn: RegistryConnection) -> None:
    """Check that the registry answers; fail at once when nothing listens, else with the usual retries.

    Args:
        conn: A connection made with ``probe=False``.

    Raises:
        RegistryUnavailableError: At once for a refused connection or an unknown host (with how to start one).
        RegistryError: From the retried probe for other failures (401, 404, TLS, timeouts...).
    """
    try:
        conn.run(conn.api.get_registered_models(page_size="1"))
        return
    except Exception as exc:
        why = _refusal(exc)
        if why:
            hint = START_HINT.format(port=conn.address.port)
            raise RegistryUnavailableError(
                f"no Model Registry at {conn.url} ({why}). Check --registry-url (or {URL_ENV}), or {hint}"
            ) from None
    conn.call("reach the registry", lambda api: api.get_registered_models(page_size="1"))


@contextlib.contextmanager
def open_registry(
    registry_url: str = "",
    *,
    token: str = "",
    token_file: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    db: str = "",
    create_db: bool = False,
) -> Iterator[RegistryConnection]:
    """Connect to a Model Registry (remote, or an embedded one on a SQLite file) for the duration of a block.

    Args:
        registry_url: Base URL with scheme and port; "" means ``KML_REGISTRY_URL``.
        token: Bearer token ("" means ``KML_REGISTRY_TOKEN`` or ``token_file``; never logged).
        token_file: File holding the token.
        verify_tls: Verify the server certificate (https).
        ca_bundle_path: PEM bundle of CAs to trust (https).
        db: Instead of a URL: serve this SQLite file with the embedded registry (in this process) while the block
            runs. Do not use it while a ``kml registry serve`` on the same file is writing heavily.
        create_db: ``db`` may name a file that does not exist yet (it is created).

    Yields:
        A connection for the lifecycle's queries and actions (and every other registry function).

    Raises:
        ValueError: When both ``db`` and ``registry_url`` are given, or neither (and no ``KML_REGISTRY_URL``), or
            ``db`` is not a registry database.
        FileNotFoundError: When ``token_file`` cannot be read, or ``db`` does not exist (and may not be created).
        RegistryUnavailableError: When nothing listens at the URL (at once, without retries).
    """
    env = registry_env(token, token_file)
    with contextlib.ExitStack() as stack:
        if db:
            if registry_url:
                raise ValueError("give either --db (an embedded registry on a SQLite file) or --registry-url, not both")
            check_database(db, create=create_db)
            from kfp_model_lifecycle.local.registry import EmbeddedRegistry

            embedded = stack.enter_context(EmbeddedRegistry(db, token=env.get(TOKEN_ENV) or None))
            registry_url = embedded.url
        elif not (registry_url or env.get(URL_ENV, "").strip()):
            raise ValueError(
                "no Model Registry given: pass --registry-url URL (e.g. http://127.0.0.1:8080 for `kml registry"
                " serve`, or the cluster's registry service), set KML_REGISTRY_URL, or use --db FILE for an embedded"
                " registry on a SQLite file"
            )
        conn = connect_model_registry(
            registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env, probe=False
        )
        stack.callback(conn.close)
        probe_registry(conn)
        yield conn
