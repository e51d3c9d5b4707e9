"""Reading a registry request: JSON bodies, ids in paths, list options and the query of find endpoints.

Everything a client can get wrong here is answered as the real server answers it: 400 Bad Request naming the
parameter and what is expected, or 404 for an id that cannot exist.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from kfp_model_lifecycle.local.registry.entities import EntityKind
from kfp_model_lifecycle.local.registry.errors import bad_request, not_found
from kfp_model_lifecycle.local.registry.query import ORDER_COLUMNS, ListOptions, Scope, parse_id

_PAGE_SIZE = re.compile(r"^[1-9][0-9]{0,8}$")
SORT_ORDERS = ("ASC", "DESC")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 32 else text[:29] + "..."
        raise ValueError(f"json: cannot unmarshal number {shown} into a 64-bit float: out of range")
    return value


def _int_or_float(text: str) -> int | float:
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _finite_float(text)


def _replace_surrogates(value: Any) -> Any:
    """``value`` with every lone UTF-16 surrogate replaced by U+FFFD (what Go's JSON decoder does)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def decode_json(raw: bytes) -> Any:
    r"""Decode a JSON request body the way the real server's Go decoder reads it.

    Invalid UTF-8 and lone ``\uD800``-style surrogate escapes become U+FFFD (Go replaces them; SQLite could not
    store them), numbers must fit a 64-bit float (``1e400`` is refused like Go refuses it), ``NaN`` and
    ``Infinity`` are not JSON.

    Raises:
        ApiError: 400 when the body is not JSON, holds an out-of-range number or is nested too deeply.
    """
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int_or_float)
        return _replace_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value
    except RecursionError:
        raise bad_request("request body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None


async def json_body(request: Request) -> Any:
    """The decoded JSON body (see :func:`decode_json`; its size is limited by :mod:`.middleware`).

    Raises:
        ApiError: 400 when the body is empty or not JSON.
    """
    raw = await request.body()
    if not raw:
        raise bad_request("request body is empty: expected a JSON object")
    return decode_json(raw)


def int_id(value: str, label: str) -> int:
    """The id of a ``{id}`` path parameter.

    Raises:
        ApiError: 404 when ``value`` cannot be an id (the entity cannot exist).
    """
    rid = parse_id(value)
    if rid is None:
        raise not_found(f"{label} with id {value!r} not found: ids are positive decimal integers")
    return rid


def list_options(request: Request) -> ListOptions:
    """``filterQuery``, ``pageSize``, ``orderBy``, ``sortOrder`` and ``nextPageToken`` of a list request.

    Raises:
        ApiError: 400 for a page size, order or sort order the API does not define.
    """
    q = request.query_params
    page_size = q.get("pageSize")
    if page_size is not None and page_size != "" and not _PAGE_SIZE.match(page_size):
        raise bad_request(f"invalid pageSize {page_size!r}: expected a positive integer")
    order_by = q.get("orderBy") or "ID"
    if order_by not in ORDER_COLUMNS:
        raise bad_request(f"invalid orderBy {order_by!r}: expected one of {', '.join(ORDER_COLUMNS)}")
    sort_order = q.get("sortOrder") or "ASC"
    if sort_order not in SORT_ORDERS:
        raise bad_request(f"invalid sortOrder {sort_order!r}: expected ASC or DESC")
    return ListOptions(
        filter_query=q.get("filterQuery"),
        page_token=q.get("nextPageToken") or None,
        page_size=int(page_size) if page_size else None,
        order_by=order_by,
        descending=sort_order == "DESC",
    )


def name_scope(request: Request, **scope: Any) -> Scope:
    """``scope`` narrowed by the ``name`` and ``externalId`` query parameters of a list of children."""
    q = request.query_params
    return Scope(name=q.get("name"), external_id=q.get("externalId"), **scope)


@dataclass(frozen=True)
class Lookup:
    """The query of a find endpoint: a name (within a parent) or an external id.

    Attributes:
        name: ``name``, if given.
        external_id: ``externalId``, if given.
        parent: ``parentResourceId`` as given, if given.
        parent_id: ``parentResourceId`` as an id.
    """

    name: str | None
    external_id: str | None
    parent: str | None
    parent_id: int | None

    def scope(self, *, artifact: bool, subtype: str | None) -> Scope:
        """The store scope: the parent is the linked model version for artifacts, the parent resource otherwise."""
        return Scope(
            name=self.name,
            external_id=self.external_id,
            subtype=subtype,
            parent_id=None if artifact else self.parent_id,
            linked_to_version=self.parent_id if artifact else None,
        )

    def describe(self) -> str:
        """The given parameters, for a 404 message."""
        given = (("name", self.name), ("externalId", self.external_id), ("parentResourceId", self.parent))
        return ", ".join(f"{k}={v!r}" for k, v in given if v)


def lookup(request: Request, kind: EntityKind, *, parent_required: bool) -> Lookup:
    """Read the query of a find endpoint.

    Args:
        request: The request.
        kind: The entity kind looked for (for messages).
        parent_required: Names are unique only within a parent, so a name needs ``parentResourceId``.

    Returns:
        The lookup.

    Raises:
        ApiError: 400 when neither name nor externalId is given, the parent is missing or not an id.
    """
    q = request.query_params
    name, external_id, parent = q.get("name"), q.get("externalId"), q.get("parentResourceId")
    if not name and not external_id:
        raise bad_request(
            "missing query parameters: give name"
            + (" and parentResourceId" if parent_required else "")
            + " or externalId"
        )
    if name and not external_id and parent_required and not parent:
        raise bad_request(f"missing parentResourceId: a {kind.label} name is unique only within its parent")
    parent_id = None
    if parent:
        parent_id = parse_id(parent)
        if parent_id is None:
            raise bad_request(f"invalid parentResourceId {parent!r}: expected a positive decimal id")
    return Lookup(name or None, external_id or None, parent, parent_id)
