"""The SQLite schema of the embedded Model Registry and how its rows become wire-form entities.

One ``resource`` table holds every entity (its own fields as JSON, custom properties as JSON), a ``prop``
table indexes custom properties for ``filterQuery`` (one partial index per value column, so a selective filter
reads only its matches), and ``link`` ties artifacts to model versions.

``externalId`` is unique per *table of the real server*: its MySQL/PostgreSQL schema keeps every artifact type in
one ``Artifact`` table, registered models, model versions, serving environments and inference services in one
``Context`` table, and serve models in ``Execution``, each with ``UNIQUE(external_id)`` (:data:`EXTERNAL_ID_SCOPE`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

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
CREATE INDEX IF NOT EXISTS resource_kind ON resource(kind, id);
CREATE INDEX IF NOT EXISTS resource_kind_name ON resource(kind, name) WHERE name IS NOT NULL;
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
CREATE INDEX IF NOT EXISTS prop_int ON prop(name, int_value) WHERE int_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS prop_double ON prop(name, double_value) WHERE double_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS prop_string ON prop(name, string_value) WHERE string_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS prop_bool ON prop(name, bool_value) WHERE bool_value IS NOT NULL;
"""

EXTERNAL_ID_SCOPE = "(CASE kind WHEN 'artifact' THEN 'artifact' WHEN 'serve_model' THEN 'execution' ELSE 'context' END)"
"""The table of the real server an entity kind lives in: ``externalId`` is unique within it."""

EXTERNAL_ID_INDEX = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS resource_external_id_scope ON resource({EXTERNAL_ID_SCOPE}, external_id)"
    " WHERE external_id IS NOT NULL"
)
"""The unique index of :data:`EXTERNAL_ID_SCOPE`; databases written before it keep a per-kind index instead."""

LEGACY_EXTERNAL_ID_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS resource_external_id ON resource(kind, external_id)"
    " WHERE external_id IS NOT NULL"
)
"""The per-kind unique index of older databases, kept when their data already breaks the wider scope."""

COLUMNS = "r.id, r.name, r.external_id, r.create_time, r.update_time, r.fields, r.custom, r.parent_id"
"""The columns :func:`row_to_entity` reads, in its order."""

ENTITY_JSON = (
    "json_set(json_patch(json_patch('{}', json_object('id', CAST(r.id AS TEXT), 'name', r.name, 'externalId',"
    " r.external_id, 'createTimeSinceEpoch', CAST(r.create_time AS TEXT), 'lastUpdateTimeSinceEpoch',"
    " CAST(r.update_time AS TEXT))), r.fields), '$.customProperties', json(r.custom))"
)
"""SQL rendering a ``resource`` row ``r`` as the JSON text of :func:`row_to_entity`'s entity, inside SQLite.

Lists render their items this way: SQLite builds the JSON without Python decoding and re-encoding each row
(about a quarter of the CPU) and without holding the GIL, so a long list leaves the other requests their share of
the CPUs. Patching with a null drops the key, as :func:`row_to_entity` omits a missing name or external id.
"""

JSON_COLUMNS = f"r.id, r.name, r.external_id, r.create_time, r.update_time, {ENTITY_JSON}"
"""The columns of a list rendered in SQLite: the keyset columns of :data:`COLUMNS` first, then the JSON."""


def statements(script: str) -> list[str]:
    """The statements of a SQL script (``;``-separated)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def row_to_entity(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """Turn a ``resource`` row (:data:`COLUMNS`) into the entity's wire form (ids and times as strings)."""
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


def prop_rows(rid: int, custom: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """The ``prop`` rows indexing an entity's scalar custom properties (struct and proto values are not indexed)."""
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
