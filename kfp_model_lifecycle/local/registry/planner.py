"""How a list request reads its rows: scan the entities in order, or start from a selective property's index.

A list with a ``filterQuery`` can be answered two ways:

* **scan**: walk the entities of the kind in the requested order and test each against the filter (a property
  test is a primary-key lookup), stopping once the page is full. Cheap when many entities match, but a filter
  that matches 0.03 % of 100,000 versions reads all of them.
* **drive**: read the rows of one custom property term the filter requires (``accuracy > 0.99`` in
  ``accuracy > 0.99 AND framework = "xgboost"``) from the property's index, fetch each such entity by id, test
  the whole filter, then sort. Its cost is bounded by that term's matches, not by the table.

:func:`choose_driver` counts each candidate term's matches ``C`` from the index, capped (so counting is cheap
too), and drives from the most selective term when that is cheaper than a scan. A scan of a page of ``P`` items
reads about ``P * N / C`` entities when the term matches ``C`` of ``N`` (fewer rows would not fill the page), so
driving wins when ``C * C < P * N`` (``N`` estimated by the largest id: an O(log n) read). An unpaged list always
drives when it can (it reads every match anyway). Lists inside a parent (the versions of one model, the artifacts
of one version) always scan: the parent already bounds them.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.local.registry.filter_query import (
    Field,
    FilterQueryError,
    PropertyTerm,
    required_property_terms,
)
from kfp_model_lifecycle.local.registry.query import ListOptions, Scope, Where, page_sql

MIN_DRIVER_ROWS = 100
"""A paged list may always drive from a term with this many matches (small tables)."""
DRIVER_ALIAS = "d"

_COUNT_SQL = "SELECT count(*) FROM (SELECT 1 FROM prop d WHERE d.name = ? AND ({cond}) LIMIT ?)"


def _capped_count(conn: sqlite3.Connection, term: PropertyTerm, cap: int) -> int:
    """How many property rows match ``term`` (at most: an OR's parts may overlap), counting about ``cap`` at most.

    Each part is an index range read, stopped after ``cap`` rows (``-1``: no cap).
    """
    total = 0
    for part in term.parts:
        sql = _COUNT_SQL.format(cond=part.condition)
        total += int(conn.execute(sql, (part.name, *part.params, cap)).fetchone()[0])
        if 0 <= cap < total:
            break
    return total


def _driver_limit(conn: sqlite3.Connection, options: ListOptions) -> int | None:
    """The most matches a driving term may have: ``sqrt(P * N)`` (None: any, for an unpaged list)."""
    if options.page_size is None:
        return None
    largest_id = conn.execute("SELECT max(id) FROM resource").fetchone()[0] or 0
    return max(MIN_DRIVER_ROWS, math.isqrt(options.page_size * largest_id))


def choose_driver(
    conn: sqlite3.Connection, scope: Scope, options: ListOptions, fields: Mapping[str, Field]
) -> PropertyTerm | None:
    """The custom property term a list should start from, or None to scan the entities in order.

    Args:
        conn: A connection inside the list's read transaction.
        scope: The list's scope (lists inside a parent always scan).
        options: The list's filter and page.
        fields: The entity fields of the kind listed.

    Returns:
        The most selective required term when it has few enough matches, else None.
    """
    if scope.parent_id is not None or scope.linked_to_version is not None or scope.name or scope.external_id:
        return None
    try:
        terms = required_property_terms(options.filter_query, fields, DRIVER_ALIAS)
    except (FilterQueryError, RecursionError):
        return None
    limit = _driver_limit(conn, options)
    best: PropertyTerm | None = None
    best_count: int | None = None
    for term in terms:
        ceiling = limit if best_count is None else best_count  # a term is chosen only with fewer matches
        count = _capped_count(conn, term, -1 if ceiling is None else ceiling + 1)  # LIMIT -1: no limit
        if (ceiling is None or count <= ceiling) and (best_count is None or count < best_count):
            best, best_count = term, count
    return best


def list_sql(
    conn: sqlite3.Connection,
    kind: str,
    columns: str,
    scope: Scope,
    options: ListOptions,
    fields: Mapping[str, Field],
) -> tuple[str, list[Any]]:
    """The SELECT of one page of a list, planned by :func:`choose_driver`.

    Raises:
        ApiError: 400 for a malformed filter or page token.
    """
    where = Where(kind).scope(scope).filter(options.filter_query, fields)  # checks the filter first
    driver = choose_driver(conn, scope, options, fields)
    if driver is not None:
        where = Where(kind).scope(scope).filter(options.filter_query, fields, driver)
    return page_sql(columns, where.after(options), options, driver)


def query_plan(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[str]:
    """SQLite's ``EXPLAIN QUERY PLAN`` of ``sql``, one line per step, indented by depth."""
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + str(detail))
    return lines
