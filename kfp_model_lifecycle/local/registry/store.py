"""SQLite storage of the embedded Model Registry.

One ``resource`` table holds every entity (its own fields as JSON, custom properties as JSON), a ``prop``
table indexes custom properties for ``filterQuery``, and ``link`` ties artifacts to model versions. The
database runs in WAL mode; every write is one ``BEGIN IMMEDIATE`` transaction, so several server
processes (or other writers) can share one file safely and a crash never leaves half an entity behind.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kfp_model_lifecycle.local.registry.entities import EntityKind, bad_request, conflict
from kfp_model_lifecycle.local.registry.filter_query import FilterQueryError, compile_filter

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  subtype TEXT NOT NULL DEFAULT '',
  parent_id INTEGER NOT NULL DEFAULT 0,
  name TEXT,
  external_id TEXT,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  fields TEXT NOT NULL DEFAULT '{}',
  custom TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_name ON resource(kind, parent_id, name) WHERE name IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS resource_external_id ON resource(kind, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS resource_kind ON resource(kind, id);
CREATE INDEX IF NOT EXISTS resource_parent ON resource(kind, parent_id, id);
CREATE INDEX IF NOT EXISTS resource_create ON resource(kind, create_time, id);
CREATE INDEX IF NOT EXISTS resource_update ON resource(kind, update_time, id);
CREATE TABLE IF NOT EXISTS prop (
  rid INTEGER NOT NULL,
  name TEXT NOT NULL,
  int_value INTEGER,
  double_value REAL,
  string_value TEXT,
  bool_value INTEGER,
  PRIMARY KEY (rid, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS link (
  version_id INTEGER NOT NULL,
  artifact_id INTEGER NOT NULL,
  PRIMARY KEY (version_id, artifact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_artifact ON link(artifact_id);
"""

ORDER_COLUMNS = {"ID": "r.id", "CREATE_TIME": "r.create_time", "LAST_UPDATE_TIME": "r.update_time"}
_COLUMNS = "r.id, r.name, r.external_id, r.create_time, r.update_time, r.fields, r.custom, r.parent_id"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_token(order_value: int, last_id: int) -> str:
    """Encode a keyset pagination position as an opaque token."""
    return base64.urlsafe_b64encode(f"{order_value}:{last_id}".encode()).decode()


INT64_MAX = 2**63 - 1


def parse_id(value: Any) -> int | None:
    """An entity id from its wire form (a string or int of a positive int64), or None when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        rid = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        rid = int(value)
    else:
        return None
    return rid if 0 < rid <= INT64_MAX else None


def decode_token(token: str) -> tuple[int, int]:
    """Decode a token made by :func:`encode_token`.

    Raises:
        ApiError: 400 when the token is not one this server issued.
    """
    try:
        value, last_id = (int(v) for v in base64.urlsafe_b64decode(token.encode()).decode().split(":"))
        if not (-INT64_MAX <= value <= INT64_MAX and 0 < last_id <= INT64_MAX):
            raise ValueError("out of range")
        return value, last_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request(
            f"invalid nextPageToken {token!r}: pass the nextPageToken of the previous page unchanged"
        ) from None


def row_to_entity(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """Turn a ``resource`` row into the entity's wire form (ids and times as strings)."""
    rid, name, external_id, create_time, update_time, fields, custom, _parent = row
    entity: dict[str, Any] = {"id": str(rid)}
    if name is not None:
        entity["name"] = name
    if external_id is not None:
        entity["externalId"] = external_id
    entity["createTimeSinceEpoch"] = str(create_time)
    entity["lastUpdateTimeSinceEpoch"] = str(update_time)
    entity.update(json.loads(fields))
    entity["customProperties"] = json.loads(custom)
    return entity


def _prop_rows(rid: int, custom: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
    for name, value in custom.items():
        kind = value.get("metadataType")
        if kind == "MetadataIntValue":
            yield rid, name, int(value["int_value"]), None, None, None
        elif kind == "MetadataDoubleValue":
            yield rid, name, None, float(value["double_value"]), None, None
        elif kind == "MetadataStringValue":
            yield rid, name, None, None, value["string_value"], None
        elif kind == "MetadataBoolValue":
            yield rid, name, None, None, None, int(bool(value["bool_value"]))


class Store:
    """The registry's SQLite database.

    Args:
        path: Database file; ``":memory:"`` for a throw-away registry. Created if missing.
        busy_timeout_ms: How long a write waits for another process's transaction before failing.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._closed = False
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction() as conn:
            for statement in _statements(SCHEMA):
                conn.execute(statement)

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before any read so concurrent writers serialise cleanly."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, kind: EntityKind, rid: int | str, subtype: str | None = None) -> dict[str, Any] | None:
        """An entity by id, or None."""
        parsed = parse_id(rid)
        if parsed is None:
            return None
        rid = parsed
        sql = f"SELECT {_COLUMNS} FROM resource r WHERE r.id = ? AND r.kind = ?"
        params: list[Any] = [rid, kind.kind]
        if subtype:
            sql += " AND r.subtype = ?"
            params.append(subtype)
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return row_to_entity(row) if row else None

    def parent_of(self, kind: EntityKind, rid: int) -> int:
        """The parent id stored with an entity (0 when it has none)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT parent_id FROM resource WHERE id = ? AND kind = ?", (rid, kind.kind)
            ).fetchone()
        return int(row[0]) if row else 0

    def find(
        self,
        kind: EntityKind,
        *,
        name: str | None = None,
        external_id: str | None = None,
        parent_id: int | None = None,
        linked_to_version: int | None = None,
        subtype: str | None = None,
    ) -> dict[str, Any] | None:
        """The entity matching all the given criteria, or None."""
        sql = f"SELECT {_COLUMNS} FROM resource r WHERE r.kind = ?"
        params: list[Any] = [kind.kind]
        if name is not None:
            sql += " AND r.name = ?"
            params.append(name)
        if external_id is not None:
            sql += " AND r.external_id = ?"
            params.append(external_id)
        if parent_id is not None:
            sql += " AND r.parent_id = ?"
            params.append(parent_id)
        if linked_to_version is not None:
            sql += " AND r.id IN (SELECT artifact_id FROM link WHERE version_id = ?)"
            params.append(linked_to_version)
        if subtype:
            sql += " AND r.subtype = ?"
            params.append(subtype)
        sql += " ORDER BY r.id LIMIT 1"
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return row_to_entity(row) if row else None

    def list(
        self,
        kind: EntityKind,
        *,
        filter_query: str | None = None,
        page_size: int | None = None,
        order_by: str = "ID",
        descending: bool = False,
        page_token: str | None = None,
        parent_id: int | None = None,
        linked_to_version: int | None = None,
        subtype: str | None = None,
        name: str | None = None,
        external_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of entities, with keyset pagination.

        Args:
            kind: Entity kind to list.
            filter_query: A ``filterQuery`` expression (see :mod:`.filter_query`).
            page_size: Items per page; None lists everything.
            order_by: ``ID``, ``CREATE_TIME`` or ``LAST_UPDATE_TIME``.
            descending: Sort order.
            page_token: ``nextPageToken`` of the previous page.
            parent_id: Only children of this parent.
            linked_to_version: Only artifacts linked to this model version.
            subtype: Only artifacts of this ``artifactType``.
            name: Only entities with this name.
            external_id: Only entities with this external id.

        Returns:
            The items and the token of the next page (``""`` on the last page).

        Raises:
            ApiError: 400 for a malformed filter or token.
        """
        column = ORDER_COLUMNS[order_by]
        where = ["r.kind = ?"]
        params: list[Any] = [kind.kind]
        if subtype:
            where.append("r.subtype = ?")
            params.append(subtype)
        if parent_id is not None:
            where.append("r.parent_id = ?")
            params.append(parent_id)
        if linked_to_version is not None:
            where.append("r.id IN (SELECT artifact_id FROM link WHERE version_id = ?)")
            params.append(linked_to_version)
        if name is not None:
            where.append("r.name = ?")
            params.append(name)
        if external_id is not None:
            where.append("r.external_id = ?")
            params.append(external_id)
        if filter_query and filter_query.strip():
            try:
                sql, fparams = compile_filter(filter_query, kind.filter_fields())
            except FilterQueryError as exc:
                raise bad_request(f"invalid filter query: {exc}") from None
            where.append(f"({sql})")
            params.extend(fparams)
        if page_token:
            value, last_id = decode_token(page_token)
            op = "<" if descending else ">"
            if column == "r.id":
                where.append(f"r.id {op} ?")
                params.append(last_id)
            else:
                where.append(f"({column} {op} ? OR ({column} = ? AND r.id {op} ?))")
                params.extend([value, value, last_id])
        direction = "DESC" if descending else "ASC"
        sql = f"SELECT {_COLUMNS} FROM resource r WHERE {' AND '.join(where)} ORDER BY {column} {direction}"
        if column != "r.id":
            sql += f", r.id {direction}"
        if page_size:
            sql += " LIMIT ?"
            params.append(page_size + 1)
        with self._lock:
            try:
                rows = self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:  # e.g. a filter comparing incompatible values
                raise bad_request(f"invalid filter query: {exc}") from None
        next_token = ""
        if page_size and len(rows) > page_size:
            rows = rows[:page_size]
            last = rows[-1]
            order_value = {"r.id": last[0], "r.create_time": last[3], "r.update_time": last[4]}[column]
            next_token = encode_token(order_value, last[0])
        return [row_to_entity(r) for r in rows], next_token

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
        data = dict(data)
        name = data.pop("name", None)
        external_id = data.pop("externalId", None)
        custom = data.pop("customProperties", None) or {}
        for key in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
            data.pop(key, None)
        fields = {**kind.defaults, **data}
        now = _now_ms()
        with self.transaction() as conn:
            if link_version is not None and name is not None:
                self._check_name_free_in_version(conn, name, link_version)
            try:
                cur = conn.execute(
                    "INSERT INTO resource (kind, subtype, parent_id, name, external_id, create_time, update_time,"
                    " fields, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        kind.kind,
                        subtype,
                        parent_id,
                        name,
                        external_id,
                        now,
                        now,
                        json.dumps(fields),
                        json.dumps(custom),
                    ),
                )
            except sqlite3.IntegrityError:
                raise self._conflict(kind, name, external_id) from None
            rid = int(cur.lastrowid or 0)
            conn.executemany("INSERT INTO prop VALUES (?, ?, ?, ?, ?, ?)", _prop_rows(rid, custom))
            if link_version is not None:
                conn.execute("INSERT OR IGNORE INTO link VALUES (?, ?)", (link_version, rid))
            row = conn.execute(f"SELECT {_COLUMNS} FROM resource r WHERE r.id = ?", (rid,)).fetchone()
        return row_to_entity(row)

    def update(
        self, kind: EntityKind, rid: int, changes: Mapping[str, Any], *, link_version: int | None = None
    ) -> dict[str, Any] | None:
        """Apply a PATCH: given fields replace stored ones, ``customProperties`` replaces the whole map.

        Returns:
            The updated entity, or None when it does not exist.

        Raises:
            ApiError: 409 when the new external id is taken, or the artifact's name is taken in the version
                it is being linked to.
        """
        changes = dict(changes)
        for key in ("id", "name", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
            changes.pop(key, None)
        with self.transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM resource r WHERE r.id = ? AND r.kind = ?",
                (rid, kind.kind),
            ).fetchone()
            if row is None:
                return None
            name = row[1]
            external_id = changes.pop("externalId", row[2])
            fields = json.loads(row[5])
            custom = changes.pop("customProperties", None)
            fields.update(changes)
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
                conn.executemany("INSERT INTO prop VALUES (?, ?, ?, ?, ?, ?)", _prop_rows(rid, custom))
            if link_version is not None:
                conn.execute("INSERT OR IGNORE INTO link VALUES (?, ?)", (link_version, rid))
            row = conn.execute(f"SELECT {_COLUMNS} FROM resource r WHERE r.id = ?", (rid,)).fetchone()
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
        if name is not None:
            return conflict(
                f"a {kind.label} named {name!r} already exists (names are unique"
                + (" per parent" if kind.parent_field or kind.kind in ("artifact", "serve_model") else "")
                + f"){' or externalId ' + repr(external_id) + ' is taken' if external_id else ''}"
            )
        return conflict(f"a {kind.label} with externalId {external_id!r} already exists")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
