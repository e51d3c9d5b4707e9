"""The SQLite connections of the embedded registry: one writer, and one reader per thread (WAL mode).

Writes take the writer connection under a lock, one ``BEGIN IMMEDIATE`` transaction each, so writers in this
process and in other processes serialise cleanly. Reads run on a connection of their own thread: in WAL mode a
slow read (a filter over 100,000 versions) never blocks writers or other readers, and every read sees the last
committed write. An in-memory database has a single connection, shared under the lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kfp_model_lifecycle.local.registry.errors import RegistryDatabaseError
from kfp_model_lifecycle.local.registry.schema import (
    EXTERNAL_ID_INDEX,
    LEGACY_EXTERNAL_ID_INDEX,
    SCHEMA,
    statements,
)

logger = logging.getLogger("kfp_model_lifecycle.local.registry")

MEMORY = ":memory:"
MMAP_BYTES = 1 << 30
"""How much of the database file connections read through a memory map (1 GiB)."""


def _describe_open_error(path: str, exc: Exception) -> str:
    if Path(path).is_dir():
        return f"the registry database {path!r} is a directory: give the path of a SQLite file (created if missing)"
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return f"{path!r} is not a SQLite database: give a new path or the file of a registry database"
    return f"cannot open the registry database {path!r}: {exc}"


SQLITE_HEADER = b"SQLite format 3\x00"


def check_database_path(path: str | Path) -> None:
    """Refuse a path that cannot hold a registry database before anything is started on it.

    Raises:
        RegistryDatabaseError: When ``path`` is a directory or a non-empty file that is not a SQLite database.
    """
    target = Path(path)
    if str(path) == MEMORY or not target.exists():
        return
    if target.is_dir():
        raise RegistryDatabaseError(_describe_open_error(str(path), IsADirectoryError(str(path))))
    try:
        with target.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise RegistryDatabaseError(_describe_open_error(str(path), exc)) from None
    if header and header != SQLITE_HEADER:
        raise RegistryDatabaseError(_describe_open_error(str(path), sqlite3.DatabaseError("file is not a database")))


class Database:
    """The registry's SQLite file: a writer connection and per-thread reader connections.

    Args:
        path: Database file (created if missing); ``":memory:"`` for a throw-away registry.
        busy_timeout_ms: How long a write waits for another process's transaction before failing.

    Raises:
        RegistryDatabaseError: When ``path`` is a directory, not a SQLite database, or cannot be opened.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        try:
            if self.path != MEMORY:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            if self.path != MEMORY:
                self._writer.execute("PRAGMA journal_mode = WAL")
            self._create_schema()
        except (sqlite3.Error, OSError) as exc:
            raise RegistryDatabaseError(_describe_open_error(self.path, exc)) from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Reads through a memory map share the OS page cache instead of each connection's 2 MB cache: a list that
        # reads a few thousand rows of a 100 MB database by id then costs about a millisecond, not ten.
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        return conn

    def _create_schema(self) -> None:
        with self.transaction() as conn:
            for statement in statements(SCHEMA):
                conn.execute(statement)
        try:
            with self.transaction() as conn:
                conn.execute(EXTERNAL_ID_INDEX)
                conn.execute("DROP INDEX IF EXISTS resource_external_id")
        except sqlite3.IntegrityError:
            logger.warning(
                "database %s holds entities of different kinds with the same externalId; externalId stays unique"
                " per kind for it (the real server keeps it unique per table)",
                self.path,
            )
            with self.transaction() as conn:
                conn.execute(LEGACY_EXTERNAL_ID_INDEX)

    @property
    def shared(self) -> bool:
        """Whether reads share the writer connection (an in-memory database)."""
        return self.path == MEMORY

    def close(self) -> None:
        """Close every connection (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for conn in [*self._readers, self._writer]:
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before any read so concurrent writers serialise cleanly."""
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads in this thread; several statements in it see one snapshot."""
        if self.shared:
            with self._lock:
                yield self._writer
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                conn = self._local.conn = self._connect()
                conn.execute("PRAGMA query_only = ON")
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")
