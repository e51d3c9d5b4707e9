"""SQLite storage of the embedded Model Registry: reads and writes of entities, one transaction per write.

The connections are in :mod:`.database` (a writer, and a reader per thread in WAL mode: a slow list never stalls
other requests), the tables in :mod:`.schema`; which rows a find or list selects is built by :mod:`.query` and
planned by :mod:`.planner`. Every write is one ``BEGIN IMMEDIATE`` transaction, so several server processes (or
other writers) can share one file safely and a crash never leaves half an entity behind.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kfp_model_lifecycle.local.registry.database import Database
from kfp_model_lifecycle.local.registry.entities import EntityKind
from kfp_model_lifecycle.local.registry.errors import bad_request, conflict
from kfp_model_lifecycle.local.registry.planner import list_sql, query_plan
from kfp_model_lifecycle.local.registry.query import ListOptions, Scope, Where, encode_token, parse_id
from kfp_model_lifecycle.local.registry.responses import json_bytes
from kfp_model_lifecycle.local.registry.schema import COLUMNS, JSON_COLUMNS, prop_rows, row_to_entity


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Store:
    """The registry's SQLite database.

    Args:
        path: Database file; ``":memory:"`` for a throw-away registry. Created if missing.
        busy_timeout_ms: How long a write waits for another process's transaction before failing.

    Raises:
        RegistryDatabaseError: When ``path`` is a directory, not a SQLite database, or cannot be opened.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.db = Database(path, busy_timeout_ms=busy_timeout_ms)
        self.path = self.db.path

    def close(self) -> None:
        """Close the database connections (idempotent)."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before any read so concurrent writers serialise cleanly."""
        with self.db.transaction() as conn:
            yield conn

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, kind: EntityKind, rid: int | str, subtype: str | None = None) -> dict[str, Any] | None:
        """An entity by id, or None."""
        parsed = parse_id(rid)
        if parsed is None:
            return None
        where = Where(kind.kind).add("r.id = ?", parsed).scope(Scope(subtype=subtype))
        with self.db.reader() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM resource r WHERE {where.sql}", where.params).fetchone()
        return row_to_entity(row) if row else None

    def parent_of(self, kind: EntityKind, rid: int) -> int:
        """The parent id stored with an entity (0 when it has none)."""
        with self.db.reader() as conn:
            row = conn.execute("SELECT parent_id FROM resource WHERE id = ? AND kind = ?", (rid, kind.kind)).fetchone()
        return int(row[0]) if row else 0

    def find(self, kind: EntityKind, scope: Scope) -> dict[str, Any] | None:
        """The first entity (by id) in ``scope``, or None."""
        where = Where(kind.kind).scope(scope)
        sql = f"SELECT {COLUMNS} FROM resource r WHERE {where.sql} ORDER BY r.id LIMIT 1"
        with self.db.reader() as conn:
            row = conn.execute(sql, where.params).fetchone()
        return row_to_entity(row) if row else None

    def list(
        self, kind: EntityKind, scope: Scope | None = None, options: ListOptions | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of entities, with keyset pagination.

        Args:
            kind: Entity kind to list.
            scope: Which entities (all of ``kind`` when None).
            options: Filter, order and page (everything by id when None).

        Returns:
            The items and the token of the next page (``""`` on the last page).

        Raises:
            ApiError: 400 for a malformed filter or token.
        """
        options = options or ListOptions()
        with self.db.reader() as conn:
            sql, params = list_sql(conn, kind.kind, COLUMNS, scope or Scope(), options, kind.filter_fields())
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:  # e.g. a filter comparing incompatible values
                raise bad_request(f"invalid filter query: {exc}") from None
        next_token = ""
        if options.page_size and len(rows) > options.page_size:
            rows = rows[: options.page_size]
            next_token = _token_after(rows[-1], options)
        return [row_to_entity(r) for r in rows], next_token

    def list_json(
        self, kind: EntityKind, scope: Scope | None = None, options: ListOptions | None = None
    ) -> tuple[list[str], str]:
        """One page of entities like :meth:`list`, each already rendered as JSON text (by SQLite when it can).

        Raises:
            ApiError: 400 for a malformed filter or token.
        """
        options = options or ListOptions()
        with self.db.reader() as conn:
            sql, params = list_sql(conn, kind.kind, JSON_COLUMNS, scope or Scope(), options, kind.filter_fields())
            try:
                rows = conn.execute(sql, params).fetchall()
                texts = [row[5] for row in rows]
            except sqlite3.OperationalError as exc:
                if "malformed JSON" not in str(exc):  # e.g. a filter comparing incompatible values
                    raise bad_request(f"invalid filter query: {exc}") from None
                # A row an older version stored with a non-finite number: JSON has none, render it in Python.
                sql, params = list_sql(conn, kind.kind, COLUMNS, scope or Scope(), options, kind.filter_fields())
                rows = conn.execute(sql, params).fetchall()
                texts = [json_bytes(row_to_entity(row)).decode() for row in rows]
        next_token = ""
        if options.page_size and len(rows) > options.page_size:
            texts = texts[: options.page_size]
            next_token = _token_after(rows[options.page_size - 1], options)
        return texts, next_token

    def explain(self, kind: EntityKind, scope: Scope | None = None, options: ListOptions | None = None) -> list[str]:
        """SQLite's query plan of :meth:`list` for the same arguments (``EXPLAIN QUERY PLAN``), one line a step."""
        options = options or ListOptions()
        with self.db.reader() as conn:
            sql, params = list_sql(conn, kind.kind, COLUMNS, scope or Scope(), options, kind.filter_fields())
            return query_plan(conn, sql, params)

    # -- writes ------------------------------------------------------------------------------------------

    def create(
        self,
        kind: EntityKind,
        data: Mapping[str, Any],
        *,
        parent_id: int = 0,
        subtype: str = "",
        link_version: int | None = None,
    ) -> dict[str, Any]:
        """Insert an entity (and link it to a model version), in one transaction.

        Raises:
            ApiError: 409 when the name (per parent) or the external id is taken.
        """
        with self.transaction() as conn:
            if link_version is not None and data.get("name") is not None:
                self._check_name_free_in_version(conn, data["name"], link_version)
            rid = self._insert(conn, kind, data, parent_id, subtype, _now_ms())
            if link_version is not None:
                conn.execute("INSERT OR IGNORE INTO link VALUES (?, ?)", (link_version, rid))
            row = conn.execute(f"SELECT {COLUMNS} FROM resource r WHERE r.id = ?", (rid,)).fetchone()
        return row_to_entity(row)

    def create_many(self, kind: EntityKind, entries: Iterable[tuple[Mapping[str, Any], int]]) -> int:
        """Insert many entities of one kind in one transaction (seeding a database, e.g. for a benchmark).

        Args:
            kind: The entity kind.
            entries: ``(validated body, parent id)`` pairs.

        Returns:
            How many were inserted.

        Raises:
            ApiError: 409 when a name (per parent) or an external id is taken (nothing is inserted then).
        """
        now = _now_ms()
        count = 0
        with self.transaction() as conn:
            for data, parent_id in entries:
                self._insert(conn, kind, data, parent_id, "", now)
                count += 1
        return count

    def _insert(
        self,
        conn: sqlite3.Connection,
        kind: EntityKind,
        data: Mapping[str, Any],
        parent_id: int,
        subtype: str,
        now: int,
    ) -> int:
        data = dict(data)
        name = data.pop("name", None)
        external_id = data.pop("externalId", None)
        custom = data.pop("customProperties", None) or {}
        for key in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
            data.pop(key, None)
        fields = {**kind.defaults, **data}
        try:
            cur = conn.execute(
                "INSERT INTO resource (kind, subtype, parent_id, name, external_id, create_time, update_time,"
                " fields, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind.kind, subtype, parent_id, name, external_id, now, now, json.dumps(fields), json.dumps(custom)),
            )
        except sqlite3.IntegrityError:
            raise self._conflict(kind, name, external_id) from None
        rid = int(cur.lastrowid or 0)
        conn.executemany("INSERT INTO prop VALUES (?, ?, ?, ?, ?, ?)", prop_rows(rid, custom))
        return rid

    def update(
        self,
        kind: EntityKind,
        rid: int,
        changes: Mapping[str, Any],
        *,
        link_version: int | None = None,
        seen_keys: frozenset[str] | None = None,
    ) -> dict[str, Any] | None:
        """Apply a PATCH: given fields replace stored ones, ``customProperties`` replaces the whole map.

        Args:
            kind: The entity kind.
            rid: The entity id.
            changes: The validated body.
            link_version: Also link the (artifact) entity to this model version.
            seen_keys: The custom property keys the request read before it writes (the real server reads the
                stored properties, then inserts the new ones): a key it adds that another write stored meanwhile
                collides like on the real server's property table (409). None skips the check.

        Returns:
            The updated entity, or None when it does not exist.

        Raises:
            ApiError: 409 when the new external id is taken, the artifact's name is taken in the version it is
                being linked to, or (``seen_keys``) a concurrent write added a key this one adds.
        """
        changes = dict(changes)
        for key in ("id", "name", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
            changes.pop(key, None)
        with self.transaction() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM resource r WHERE r.id = ? AND r.kind = ?",
                (rid, kind.kind),
            ).fetchone()
            if row is None:
                return None
            name = row[1]
            external_id = changes.pop("externalId", row[2])
            fields = json.loads(row[5])
            custom = changes.pop("customProperties", None)
            fields.update(changes)
            if seen_keys is not None and custom is not None:
                _check_no_concurrent_key(kind, name, set(custom) - seen_keys, json.loads(row[6]))
            if link_version is not None and name is not None:
                linked = conn.execute(
                    "SELECT 1 FROM link WHERE version_id = ? AND artifact_id = ?", (link_version, rid)
                ).fetchone()
                if not linked:
                    self._check_name_free_in_version(conn, name, link_version)
            try:
                conn.execute(
                    "UPDATE resource SET external_id = ?, fields = ?, update_time = ?"
                    + (", custom = ?" if custom is not None else "")
                    + " WHERE id = ?",
                    (external_id, json.dumps(fields), max(_now_ms(), row[4]))
                    + ((json.dumps(custom),) if custom is not None else ())
                    + (rid,),
                )
            except sqlite3.IntegrityError:
                raise self._conflict(kind, None, external_id) from None
            if custom is not None:
                conn.execute("DELETE FROM prop WHERE rid = ?", (rid,))
                conn.executemany("INSERT INTO prop VALUES (?, ?, ?, ?, ?, ?)", prop_rows(rid, custom))
            if link_version is not None:
                conn.execute("INSERT OR IGNORE INTO link VALUES (?, ?)", (link_version, rid))
            row = conn.execute(f"SELECT {COLUMNS} FROM resource r WHERE r.id = ?", (rid,)).fetchone()
        return row_to_entity(row)

    @staticmethod
    def _check_name_free_in_version(conn: sqlite3.Connection, name: str, version_id: int) -> None:
        taken = conn.execute(
            "SELECT r.id FROM resource r JOIN link l ON l.artifact_id = r.id WHERE l.version_id = ? AND r.name = ?",
            (version_id, name),
        ).fetchone()
        if taken:
            raise conflict(f"an artifact named {name!r} already exists in model version {version_id}")

    @staticmethod
    def _conflict(kind: EntityKind, name: str | None, external_id: str | None) -> Exception:
        scope = _EXTERNAL_ID_SCOPES.get(kind.kind, _CONTEXTS)
        taken = f"externalId {external_id!r} is taken (externalId is unique across {scope})"
        if name is not None:
            return conflict(
                f"a {kind.label} named {name!r} already exists (names are unique"
                + (" per parent" if kind.parent_field or kind.kind in ("artifact", "serve_model") else "")
                + f"){' or ' + taken if external_id else ''}"
            )
        return conflict(f"{kind.label}: {taken}")


_CONTEXTS = "registered models, model versions, serving environments and inference services"
_EXTERNAL_ID_SCOPES = {"artifact": "artifacts of every type", "serve_model": "serve models"}


def _check_no_concurrent_key(kind: EntityKind, name: str | None, added: set[str], stored: Mapping[str, Any]) -> None:
    """409 like the real server when a key this write adds was stored by another write after this one read."""
    if added & set(stored):
        raise conflict(f"{kind.label} with name {name} already exists: conflict")


def _token_after(row: tuple[Any, ...], options: ListOptions) -> str:
    """The ``nextPageToken`` of the page ending with ``row`` (its order value and id)."""
    order_value = {"r.id": row[0], "r.create_time": row[3], "r.update_time": row[4]}[options.column]
    return encode_token(order_value, row[0])
