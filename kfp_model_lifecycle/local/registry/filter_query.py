"""Translate Model Registry ``filterQuery`` strings into parameterised SQLite ``WHERE`` fragments.

:mod:`.filter_parser` parses the query; this module resolves each *ref* to an entity field (described by a
:class:`Field` supplied by the caller) or to a custom property, checks the values fit, and writes the SQL.

The generated SQL expects the resource row under the alias ``r`` and reads custom properties from the
``prop`` table (``rid``, ``name``, ``int_value``, ``double_value``, ``string_value``, ``bool_value``).
Every literal and property name is passed as a ``?`` parameter; nothing from the query text is interpolated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kfp_model_lifecycle.local.registry.filter_parser import (
    INT64_MAX,
    INT64_MIN,
    BoolOp,
    Comparison,
    FilterQueryError,
    Node,
    Value,
    at,
    parse,
)

__all__ = [
    "FIELD_KINDS",
    "Field",
    "FilterQueryError",
    "PropertyCondition",
    "PropertyTerm",
    "compile_filter",
    "required_property_terms",
]

#: The value kinds an entity :class:`Field` may have.
FIELD_KINDS: frozenset[str] = frozenset({"str", "int", "float", "id", "bool"})

# Custom property conditions; ``{cond}`` is generated SQL over ``p.<column>`` with ``?`` placeholders only.
_EXISTS_PROP_SQL = "EXISTS (SELECT 1 FROM prop p WHERE p.rid = {rid} AND p.name = ? AND {cond})"

_PLAIN_COLUMN_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?")
_INT_TEXT_RE = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER_TEXT_RE = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


@dataclass(frozen=True)
class Field:
    """An entity field that a filter query may reference by name.

    Attributes:
        sql: SQL expression producing the field value for the resource row ``r``, e.g. ``"r.name"`` or
            ``"json_extract(r.fields, '$.state')"``.
        kind: How values are compared: ``"str"`` (text), ``"int"`` (integers such as epoch-ms times; int literals
            and digit strings are accepted), ``"float"`` (real numbers), ``"id"`` (integer ids, possibly stored
            as decimal strings in JSON; int literals and digit strings are accepted and compared numerically)
            or ``"bool"``.
    """

    sql: str
    kind: str

    def __post_init__(self) -> None:
        """Validate ``kind``.

        Raises:
            ValueError: If ``kind`` is not one of :data:`FIELD_KINDS`.
        """
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; expected one of {sorted(FIELD_KINDS)}")


def _like_tokens(pattern: str) -> list[tuple[bool, str]]:
    """Split a SQL LIKE pattern into ``(is_wildcard, char)`` items, honouring backslash escapes."""
    items: list[tuple[bool, str]] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            items.append((False, next(chars, "\\")))
        elif char in "%_":
            items.append((True, char))
        else:
            items.append((False, char))
    return items


def _like_to_glob(pattern: str) -> str:
    glob_chars = {"%": "*", "_": "?"}
    out: list[str] = []
    for wildcard, char in _like_tokens(pattern):
        if wildcard:
            out.append(glob_chars[char])
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def _normalise_like(pattern: str) -> str:
    out: list[str] = []
    for wildcard, char in _like_tokens(pattern):
        out.append(char if wildcard or char not in "%_\\" else "\\" + char)
    return "".join(out)


def _condition(expr: str, op: str, count: int) -> str:
    if op == "IN":
        return f"{expr} IN ({', '.join('?' * count)})"
    if op == "LIKE":
        return f"{expr} GLOB ?"
    if op == "ILIKE":
        return f"lower({expr}) LIKE lower(?) ESCAPE '\\'"
    return f"{expr} {op} ?"


def _pattern_param(op: str, pattern: str) -> str:
    return _like_to_glob(pattern) if op == "LIKE" else _normalise_like(pattern)


def _bad_value(cmp: Comparison, lit: Value, expected: str) -> FilterQueryError:
    shown = repr(lit.value) if lit.kind == "str" else lit.text
    return FilterQueryError(f"{cmp.ref_text!r} expects {expected}, got {shown} {at(lit.pos)}")


def _as_text(lit: Value) -> str:
    return lit.text if lit.kind != "bool" else ("true" if lit.value else "false")


def _as_int(cmp: Comparison, lit: Value, *, allow_float: bool) -> int | float:
    if lit.kind == "int":
        return lit.value  # type: ignore[return-value]
    if lit.kind == "float" and allow_float:
        return lit.value  # type: ignore[return-value]
    if lit.kind == "str" and _INT_TEXT_RE.fullmatch(lit.value):  # type: ignore[arg-type]
        value = int(lit.value)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    raise _bad_value(cmp, lit, "an integer")


def _as_float(cmp: Comparison, lit: Value) -> float:
    if lit.kind in ("int", "float"):
        return float(lit.value)
    if lit.kind == "str" and _NUMBER_TEXT_RE.fullmatch(lit.value):  # type: ignore[arg-type]
        value = float(lit.value)
        if math.isfinite(value):
            return value
    raise _bad_value(cmp, lit, "a number")


def _as_bool(cmp: Comparison, lit: Value) -> int:
    if lit.kind == "bool":
        return int(bool(lit.value))
    if lit.kind == "str" and lit.value.lower() in ("true", "false"):  # type: ignore[union-attr]
        return int(lit.value.lower() == "true")  # type: ignore[union-attr]
    raise _bad_value(cmp, lit, "true or false")


def _check_bool_op(cmp: Comparison) -> None:
    if cmp.op not in ("=", "!=", "IN"):
        raise FilterQueryError(f"operator {cmp.op} cannot be applied to boolean {cmp.ref_text!r} {at(cmp.pos)}")


def _field_values(cmp: Comparison, kind: str) -> list[object]:
    """The values to bind for a comparison with an entity field of ``kind`` (each checked to fit it)."""
    if kind == "str":
        for lit in cmp.values:
            if lit.kind == "bool":
                raise _bad_value(cmp, lit, "a string")
        return [_as_text(lit) for lit in cmp.values]
    if kind in ("int", "id"):
        return [_as_int(cmp, lit, allow_float=kind == "int") for lit in cmp.values]
    if kind == "float":
        return [_as_float(cmp, lit) for lit in cmp.values]
    _check_bool_op(cmp)
    return [_as_bool(cmp, lit) for lit in cmp.values]


# Numeric fields read from JSON are cast, so that they compare as numbers.
_CASTS = {"int": "INTEGER", "id": "INTEGER", "float": "REAL"}


def _field_sql(field: Field) -> str:
    cast = _CASTS.get(field.kind)
    if cast is None or _PLAIN_COLUMN_RE.fullmatch(field.sql):
        return field.sql
    return f"CAST({field.sql} AS {cast})"


def _compile_field(cmp: Comparison, field: Field) -> tuple[str, list[object]]:
    if cmp.suffix is not None:
        raise FilterQueryError(f"type suffix '.{cmp.suffix}' is not allowed on entity field {cmp.name!r} {at(cmp.pos)}")
    if cmp.op in ("LIKE", "ILIKE"):
        if field.kind != "str":
            raise FilterQueryError(
                f"{cmp.op} {at(cmp.pos)} can only be applied to text fields, {cmp.name!r} is {field.kind}"
            )
        return _condition(field.sql, cmp.op, 1), [_pattern_param(cmp.op, cmp.values[0].value)]  # type: ignore[arg-type]
    params = _field_values(cmp, field.kind)
    return _condition(_field_sql(field), cmp.op, len(params)), params


def _custom_values(cmp: Comparison, column: str) -> list[object]:
    if column == "string_value":
        return [_as_text(lit) for lit in cmp.values]
    if column == "int_value":
        return [_as_int(cmp, lit, allow_float=True) for lit in cmp.values]
    if column == "double_value":
        return [_as_float(cmp, lit) for lit in cmp.values]
    _check_bool_op(cmp)
    return [_as_bool(cmp, lit) for lit in cmp.values]


def _inferred_custom(cmp: Comparison, alias: str) -> tuple[str, list[object]]:
    """A custom property comparison without a type suffix: the column follows from the literals."""
    op = cmp.op
    kinds = {lit.kind for lit in cmp.values}
    if kinds == {"str"}:
        return _condition(f"{alias}.string_value", op, len(cmp.values)), [lit.value for lit in cmp.values]
    if kinds == {"bool"}:
        _check_bool_op(cmp)
        return _condition(f"{alias}.bool_value", op, len(cmp.values)), [int(bool(lit.value)) for lit in cmp.values]
    if kinds <= {"int", "float"}:
        # A float literal can only match a double property; an int literal matches int or double properties.
        ints: list[object] = [lit.value for lit in cmp.values if lit.kind == "int"]
        doubles: list[object] = [float(lit.value) for lit in cmp.values]
        cond = _condition(f"{alias}.double_value", op, len(doubles))
        if ints:
            cond = f"({_condition(f'{alias}.int_value', op, len(ints))} OR {cond})"
        return cond, ints + doubles
    raise FilterQueryError(
        f"IN list for {cmp.ref_text!r} {at(cmp.pos)} mixes value types ({', '.join(sorted(kinds))});"
        " add a type suffix such as .string_value"
    )


def _custom_condition(cmp: Comparison, alias: str = "p") -> tuple[str, list[object]]:
    """The condition a custom property row ``alias`` must meet (its ``name`` aside), with its values."""
    op = cmp.op
    if op in ("LIKE", "ILIKE"):
        if cmp.suffix not in (None, "string_value"):
            raise FilterQueryError(f"{op} {at(cmp.pos)} can only be applied to string values, not .{cmp.suffix}")
        cond = _condition(f"{alias}.string_value", op, 1)
        values: list[object] = [_pattern_param(op, cmp.values[0].value)]  # type: ignore[arg-type]
    elif cmp.suffix is not None:
        values = _custom_values(cmp, cmp.suffix)
        cond = _condition(f"{alias}.{cmp.suffix}", op, len(values))
    else:
        cond, values = _inferred_custom(cmp, alias)
    return cond, values


def _compile_custom(cmp: Comparison, rid: str) -> tuple[str, list[object]]:
    cond, values = _custom_condition(cmp)
    return _EXISTS_PROP_SQL.format(rid=rid, cond=cond), [cmp.name, *values]


@dataclass(frozen=True)
class _Target:
    """What the compiled SQL refers to: the entity fields, the entity id's expression and a term already met."""

    fields: Mapping[str, Field]
    rid: str = "r.id"
    met: Node | None = None


def _compile(node: Node, target: _Target, params: list[object]) -> str:
    if node is target.met:
        return "1"
    if isinstance(node, BoolOp):
        joiner = f" {node.op} "
        return "(" + joiner.join(_compile(item, target, params) for item in node.items) + ")"
    field = target.fields.get(node.name)
    sql, node_params = _compile_field(node, field) if field is not None else _compile_custom(node, target.rid)
    params.extend(node_params)
    return sql


def compile_filter(
    query: str | None, fields: Mapping[str, Field], *, rid: str = "r.id", met: PropertyTerm | None = None
) -> tuple[str, list[object]]:
    """Compile a ``filterQuery`` into a SQL boolean expression over the resource row ``r``.

    Refs found in ``fields`` compare the field's SQL expression; any other ref is a custom property, matched
    with ``EXISTS (SELECT 1 FROM prop p WHERE p.rid = r.id AND p.name = ? AND ...)``.  Without a type suffix
    the property column is inferred from the literal: strings use ``string_value``, floats ``double_value``,
    integers ``int_value`` or ``double_value`` and ``true``/``false`` ``bool_value``.  ``LIKE`` is
    case-sensitive (translated to ``GLOB``), ``ILIKE`` case-insensitive.  Parsing is cached per query string.

    Args:
        query: The filter query; ``None``, empty or whitespace-only means "no filter".
        fields: Entity fields that can be referenced by name, keyed by their REST (wire) name.
        rid: The SQL expression of the entity id custom properties are looked up by (the planner passes the
            driving property row's ``d.rid``, so SQLite tests property terms before it reads the entity).
        met: A term of :func:`required_property_terms` (of this query) that the rows already meet: compiled as
            ``1``.

    Returns:
        A ``(sql, params)`` pair: a boolean SQL expression with ``?`` placeholders and the values to bind,
        in order.  Without a filter the expression is ``"1=1"`` with no parameters.

    Raises:
        FilterQueryError: If the query is malformed or uses a value that does not fit the referenced field
            (the message names the problem and its 1-based position).
    """
    if query is None or not query.strip():
        return "1=1", []
    node = parse(query)
    params: list[object] = []
    try:
        sql = _compile(node, _Target(fields, rid, met.node if met is not None else None), params)
    except RecursionError:
        raise FilterQueryError("filter query is nested too deeply") from None
    return sql, params


@dataclass(frozen=True)
class PropertyCondition:
    """One custom property comparison as a condition on a ``prop`` row.

    Attributes:
        name: The property name.
        condition: SQL over the ``prop`` row under the alias given to :func:`required_property_terms`.
        params: The values of ``condition``'s ``?`` placeholders.
    """

    name: str
    condition: str
    params: tuple[object, ...]


@dataclass(frozen=True)
class PropertyTerm:
    """A term every match of a filter meets that the property indexes can answer alone.

    Either one custom property comparison, or an OR of them. A list can read such a term's matching property
    rows from the indexes first (few, when the term is selective) instead of testing every entity of the table.

    Attributes:
        parts: The comparisons (OR-ed when several).
        node: The term in the parsed query.
    """

    parts: tuple[PropertyCondition, ...]
    node: Node

    def rows_sql(self) -> tuple[str, list[object]]:
        """A ``FROM`` item ``d`` with the column ``rid``: the ids of the entities meeting the term."""
        selects, params = [], []
        for part in self.parts:
            selects.append(f"SELECT d.rid AS rid FROM prop d WHERE d.name = ? AND ({part.condition})")  # noqa: S608
            params += [part.name, *part.params]
        return "(" + " UNION ".join(selects) + ") d", params


# Operators an index on (name, value) can answer without reading every row of the property.
_INDEXABLE_OPS = frozenset({"=", "<", ">", "<=", ">=", "IN"})


def _conjuncts(node: Node) -> list[Node]:
    """The terms of a top-level AND (nested ANDs flattened); the node itself otherwise."""
    if isinstance(node, BoolOp) and node.op == "AND":
        return [term for item in node.items for term in _conjuncts(item)]
    return [node]


def _indexable(node: Node, fields: Mapping[str, Field]) -> list[Comparison] | None:
    """The custom property comparisons an index can answer that make up ``node`` (an OR of them), or None."""
    if isinstance(node, Comparison):
        return [node] if node.name not in fields and node.op in _INDEXABLE_OPS else None
    if node.op != "OR":
        return None
    found: list[Comparison] = []
    for item in node.items:
        parts = _indexable(item, fields)
        if parts is None:
            return None
        found += parts
    return found


def required_property_terms(query: str | None, fields: Mapping[str, Field], alias: str) -> list[PropertyTerm]:
    """The index-friendly custom property terms the whole filter requires (among its top-level AND terms).

    Args:
        query: The filter query (nothing for an empty one).
        fields: The entity fields (refs found here are not custom properties).
        alias: The alias of the ``prop`` row in the conditions.

    Returns:
        One term per top-level comparison with ``=``, ``<``, ``>``, ``<=``, ``>=`` or ``IN`` on a custom property,
        or OR of such comparisons.

    Raises:
        FilterQueryError: If the query is malformed.
    """
    if query is None or not query.strip():
        return []
    terms = []
    for item in _conjuncts(parse(query)):
        comparisons = _indexable(item, fields)
        if comparisons:
            parts = []
            for cmp in comparisons:
                condition, values = _custom_condition(cmp, alias)
                parts.append(PropertyCondition(cmp.name, condition, tuple(values)))
            terms.append(PropertyTerm(tuple(parts), item))
    return terms
