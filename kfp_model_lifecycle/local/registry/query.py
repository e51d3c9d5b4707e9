"""Which rows a read of the embedded registry selects, in which order: scopes, list options, keyset pages.

:class:`Scope` narrows a find or a list (parent, linked model version, artifact type, name, external id);
:class:`ListOptions` carries a list request's ``filterQuery``, ordering and page; :class:`Where` builds the
parameterised ``WHERE`` clause over the ``resource`` row ``r``. Pages are keyset-paginated: the
``nextPageToken`` encodes the order value and id of a page's last row.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.local.registry.errors import bad_request
from kfp_model_lifecycle.local.registry.filter_query import Field, FilterQueryError, PropertyTerm, compile_filter

ORDER_COLUMNS = {"ID": "r.id", "CREATE_TIME": "r.create_time", "LAST_UPDATE_TIME": "r.update_time"}
"""The ``orderBy`` values and the columns they sort by."""
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


def encode_token(order_value: int, last_id: int) -> str:
    """Encode a keyset pagination position as an opaque token."""
    return base64.urlsafe_b64encode(f"{order_value}:{last_id}".encode()).decode()


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


@dataclass(frozen=True)
class Scope:
    """The entities a find or list looks at (every criterion given must match).

    Attributes:
        parent_id: Only children of this parent.
        linked_to_version: Only artifacts linked to this model version.
        subtype: Only artifacts of this ``artifactType``.
        name: Only entities with this name.
        external_id: Only entities with this external id.
    """

    parent_id: int | None = None
    linked_to_version: int | None = None
    subtype: str | None = None
    name: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class ListOptions:
    """How a list request pages, orders and filters.

    Attributes:
        filter_query: A ``filterQuery`` expression (see :mod:`.filter_query`).
        page_token: ``nextPageToken`` of the previous page.
        page_size: Items per page; None lists everything.
        order_by: ``ID``, ``CREATE_TIME`` or ``LAST_UPDATE_TIME`` (a key of :data:`ORDER_COLUMNS`).
        descending: Sort order.
    """

    filter_query: str | None = None
    page_token: str | None = None
    page_size: int | None = None
    order_by: str = "ID"
    descending: bool = False

    @property
    def column(self) -> str:
        """The column the list is ordered by."""
        return ORDER_COLUMNS[self.order_by]


class Where:
    """A ``WHERE`` clause over the resource row ``r`` being built: conditions joined by AND, with their values.

    Args:
        kind: The entity kind (``kind`` column) every row must have.
    """

    def __init__(self, kind: str) -> None:
        self.conditions = ["r.kind = ?"]
        self.params: list[Any] = [kind]

    def add(self, condition: str, *params: Any) -> Where:
        """AND one condition with its ``?`` values."""
        self.conditions.append(condition)
        self.params.extend(params)
        return self

    def scope(self, scope: Scope) -> Where:
        """AND the criteria of ``scope`` that are set."""
        if scope.subtype:
            self.add("r.subtype = ?", scope.subtype)
        if scope.parent_id is not None:
            self.add("r.parent_id = ?", scope.parent_id)
        if scope.linked_to_version is not None:
            self.add("r.id IN (SELECT artifact_id FROM link WHERE version_id = ?)", scope.linked_to_version)
        if scope.name is not None:
            self.add("r.name = ?", scope.name)
        if scope.external_id is not None:
            self.add("r.external_id = ?", scope.external_id)
        return self

    def filter(
        self, filter_query: str | None, fields: Mapping[str, Field], driver: PropertyTerm | None = None
    ) -> Where:
        """AND a ``filterQuery`` (nothing when it is empty).

        Args:
            filter_query: The filter.
            fields: The entity fields it may refer to.
            driver: The term a planned list reads its rows by (``prop d``, see :func:`page_sql`): the rows meet
                it already, and the other property terms are looked up by ``d.rid``.

        Raises:
            ApiError: 400 for a malformed filter.
        """
        if filter_query and filter_query.strip():
            rid = "r.id" if driver is None else "d.rid"
            try:
                sql, params = compile_filter(filter_query, fields, rid=rid, met=driver)
            except FilterQueryError as exc:
                raise bad_request(f"invalid filter query: {exc}") from None
            self.add(f"({sql})", *params)
        return self

    def after(self, options: ListOptions) -> Where:
        """AND the keyset condition of the page after ``options.page_token`` (nothing without a token).

        Raises:
            ApiError: 400 for a token this server did not issue.
        """
        if options.page_token:
            value, last_id = decode_token(options.page_token)
            op = "<" if options.descending else ">"
            column = options.column
            if column == "r.id":
                self.add(f"r.id {op} ?", last_id)
            else:
                self.add(f"({column} {op} ? OR ({column} = ? AND r.id {op} ?))", value, value, last_id)
        return self

    @property
    def sql(self) -> str:
        """The conditions, joined by AND."""
        return " AND ".join(self.conditions)


def page_sql(
    columns: str, where: Where, options: ListOptions, driver: PropertyTerm | None = None
) -> tuple[str, list[Any]]:
    """The SELECT of one page (one row more than the page size, to tell whether another page follows).

    Args:
        columns: The selected columns.
        where: The conditions (built with the same ``driver``).
        options: Ordering and page size.
        driver: A custom property term the filter requires, to read candidates from its index first (``prop d``
            joined to ``resource r``, the ids of the page chosen before the rows are read); None scans the
            entities in order.

    Returns:
        The SQL and its parameters.
    """
    direction = "DESC" if options.descending else "ASC"
    order = f"{options.column} {direction}" + (f", r.id {direction}" if options.column != "r.id" else "")
    limit = " LIMIT ?" if options.page_size else ""
    page = [options.page_size + 1] if options.page_size else []
    if driver is None:
        sql = f"SELECT {columns} FROM resource r WHERE {where.sql} ORDER BY {order}{limit}"  # noqa: S608 - fixed fragments
        return sql, [*where.params, *page]
    # CROSS JOIN keeps prop d as the outer loop: SQLite reads the term's matches from its index, tests the other
    # property terms by d.rid, reads the survivors' entities by id and sorts their ids; only the page is fetched.
    rows, rows_params = driver.rows_sql()
    ids = f"SELECT r.id FROM {rows} CROSS JOIN resource r ON r.id = d.rid WHERE {where.sql} ORDER BY {order}{limit}"  # noqa: S608 - fixed fragments
    sql = f"SELECT {columns} FROM resource r WHERE r.id IN ({ids}) ORDER BY {order}"  # noqa: S608 - fixed fragments
    return sql, [*rows_params, *where.params, *page]
