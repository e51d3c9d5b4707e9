"""Databases written by older versions open unchanged: new indexes are added, the externalId scope widens when it can.

Older versions kept ``externalId`` unique per entity kind; the real server keeps it unique per table (every
artifact type in one, registered models, versions, environments and inference services in another). A database
whose data already breaks the wider rule keeps the per-kind rule (with a warning) instead of refusing to open.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from kfp_model_lifecycle.local.registry import entities
from kfp_model_lifecycle.local.registry.errors import ApiError
from kfp_model_lifecycle.local.registry.store import Store

NEW_INDEXES = (
    "resource_external_id_scope",
    "prop_int",
    "prop_double",
    "prop_string",
    "prop_bool",
    "resource_kind_name",
)


def _as_older_version(path: Path) -> None:
    """Turn a database into what an older version wrote: its indexes only, externalId unique per kind."""
    Store(path).close()
    with sqlite3.connect(path) as conn:
        for index in NEW_INDEXES:
            conn.execute(f"DROP INDEX {index}")
        conn.execute(
            "CREATE UNIQUE INDEX resource_external_id ON resource(kind, external_id) WHERE external_id IS NOT NULL"
        )


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def _insert(path: Path, kind: str, name: str, external_id: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO resource (kind, name, external_id, create_time, update_time) VALUES (?, ?, ?, 1, 1)",
            (kind, name, external_id),
        )


def test_an_older_database_gets_the_new_indexes_and_the_wider_external_id_scope(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _as_older_version(path)
    _insert(path, "registered_model", "m", "ext-1")
    store = Store(path)
    try:
        assert set(NEW_INDEXES) <= _indexes(path)
        assert "resource_external_id" not in _indexes(path)
        with pytest.raises(ApiError) as raised:
            store.create(entities.SERVING_ENVIRONMENT, {"name": "env", "externalId": "ext-1"})
        assert raised.value.status == 409
    finally:
        store.close()


def test_an_older_database_that_breaks_the_wider_scope_keeps_the_per_kind_rule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    _as_older_version(path)
    _insert(path, "registered_model", "m", "ext-1")
    _insert(path, "serving_environment", "env", "ext-1")  # allowed by older versions, not by the real server
    with caplog.at_level(logging.WARNING, logger="kfp_model_lifecycle.local.registry"):
        store = Store(path)
    try:
        assert "externalId stays unique per kind" in caplog.text
        assert "resource_external_id" in _indexes(path)
        with pytest.raises(ApiError):
            store.create(entities.REGISTERED_MODEL, {"name": "m2", "externalId": "ext-1"})  # still unique per kind
        assert store.list(entities.SERVING_ENVIRONMENT)[0][0]["externalId"] == "ext-1"
    finally:
        store.close()
