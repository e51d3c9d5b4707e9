"""Translate Model Registry ``filterQuery`` strings into parameterised SQLite ``WHERE`` fragments.

The grammar follows the upstream Kubeflow Model Registry REST API (v1)::

    or    := and (OR and)*
    and   := term (AND term)*
    term  := "(" or ")" | ref OP value
    OP    := = | != | <> | < | > | <= | >= | LIKE | ILIKE | IN

``AND`` binds tighter than ``OR`` and keywords are case-insensitive.  A *ref* is either an entity field
(described by a :class:`Field` supplied by the caller) or the name of a custom property, optionally suffixed
with the property value column (``.string_value``, ``.int_value``, ``.double_value``, ``.bool_value``).
Names containing dots or spaces are written in backquotes: ``` `my.prop`.double_value > 1 ```.

The generated SQL expects the resource row under the alias ``r`` and reads custom properties from the
``prop`` table (``rid``, ``name``, ``int_value``, ``double_value``, ``string_value``, ``bool_value``).
Every literal and property name is passed as a ``?`` parameter; nothing from the query text is interpolated.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

__all__ = ["FIELD_KINDS", "Field", "FilterQueryError", "compile_filter"]

#: The value kinds an entity :class:`Field` may have.
FIELD_KINDS: frozenset[str] = frozenset({"str", "int", "float", "id", "bool"})

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SUFFIXES: frozenset[str] = frozenset({"string_value", "int_value", "double_value", "bool_value"})

_GRAMMAR = r"""
start: or_expr

?or_expr: and_expr (_OR and_expr)*
?and_expr: term (_AND term)*
?term: "(" or_expr ")"
     | comparison

comparison: ref op rhs
?ref: NAME | QNAME
?op: OP | LIKE | ILIKE | IN
?rhs: scalar | list
list: "(" scalar ("," scalar)* ")"
?scalar: STRING | FLOAT | INT | TRUE | FALSE

_OR.3: /or(?![A-Za-z0-9_-])/i
_AND.3: /and(?![A-Za-z0-9_-])/i
ILIKE.3: /ilike(?![A-Za-z0-9_-])/i
LIKE.3: /like(?![A-Za-z0-9_-])/i
IN.3: /in(?![A-Za-z0-9_-])/i
TRUE.3: /true(?![A-Za-z0-9_-])/i
FALSE.3: /false(?![A-Za-z0-9_-])/i

NAME: /[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?/
QNAME: /`(?:[^`\\]|\\.)+`(?:\.[A-Za-z_][A-Za-z0-9_-]*)?/s
OP: /!=|<>|<=|>=|=|<|>/
STRING: /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/s
FLOAT.2: /[+-]?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)/
INT: /[+-]?[0-9]+/

%ignore /\s+/
"""

# Human-readable names of the grammar terminals, used in syntax error messages.
_TERMINAL_NAMES: dict[str, str] = {
    "$END": "end of query",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "_OR": "OR",
    "_AND": "AND",
    "OP": "comparison operator",
    "LIKE": "LIKE",
    "ILIKE": "ILIKE",
    "IN": "IN",
    "NAME": "property name",
    "QNAME": "`quoted name`",
    "STRING": "string",
    "INT": "integer",
    "FLOAT": "number",
    "TRUE": "true",
    "FALSE": "false",
}

# Custom property conditions; ``{cond}`` is generated SQL over ``p.<column>`` with ``?`` placeholders only.
_EXISTS_PROP_SQL = "EXISTS (SELECT 1 FROM prop p WHERE p.rid = r.id AND p.name = ? AND {cond})"

_PLAIN_COLUMN_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?")
_QNAME_RE = re.compile(r"`((?:[^`\\]|\\.)+)`(?:\.(.+))?", re.DOTALL)
_NAME_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_STRING_ESCAPE_RE = re.compile(r"\\([\\\"'])")
_INT_TEXT_RE = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER_TEXT_RE = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


class FilterQueryError(ValueError):
    """A ``filterQuery`` could not be parsed or does not make sense for the entity type.

    The message describes the problem and where it is (1-based character position and offending token);
    the REST layer reports it as ``400 invalid filter query: <message>``.
    """


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


# --------------------------------------------------------------------------------------------------------------
# Parsed form (independent of the entity fields, hence cacheable per query string)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    kind: str  # "str" | "int" | "float" | "bool"
    value: str | int | float | bool
    text: str  # the literal as written (numbers) or its decoded value (strings)
    pos: int


@dataclass(frozen=True, slots=True)
class _Comparison:
    name: str
    suffix: str | None
    op: str  # "=", "!=", "<", ">", "<=", ">=", "LIKE", "ILIKE", "IN"
    values: tuple[_Literal, ...]
    ref_text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _BoolOp:
    op: str  # "AND" | "OR"
    items: tuple[_Node, ...]


_Node = _Comparison | _BoolOp


def _where(pos: int) -> str:
    return f"at position {pos + 1}"


def _describe_expected(expected: set[str] | frozenset[str]) -> str:
    names = sorted({_TERMINAL_NAMES.get(name, name) for name in expected})
    if not names:
        return ""
    if len(names) == 1:
        return f"; expected {names[0]}"
    return "; expected one of: " + ", ".join(names)


class _ToAst(Transformer):
    """Build the internal AST directly from the LALR parser callbacks (no parse tree is materialised)."""

    def start(self, children: list[_Node]) -> _Node:
        return children[0]

    def or_expr(self, children: list[_Node]) -> _BoolOp:
        return _BoolOp("OR", tuple(children))

    def and_expr(self, children: list[_Node]) -> _BoolOp:
        return _BoolOp("AND", tuple(children))

    def list(self, children: list[_Literal]) -> tuple[_Literal, ...]:
        return tuple(children)

    def STRING(self, token: Token) -> _Literal:
        text = _STRING_ESCAPE_RE.sub(r"\1", token.value[1:-1])
        return _Literal("str", text, text, token.start_pos)

    def INT(self, token: Token) -> _Literal:
        value = int(token.value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise FilterQueryError(f"integer {token.value} out of range {_where(token.start_pos)}")
        return _Literal("int", value, token.value, token.start_pos)

    def FLOAT(self, token: Token) -> _Literal:
        value = float(token.value)
        if not math.isfinite(value):
            raise FilterQueryError(f"number {token.value} out of range {_where(token.start_pos)}")
        return _Literal("float", value, token.value, token.start_pos)

    def TRUE(self, token: Token) -> _Literal:
        return _Literal("bool", True, "true", token.start_pos)

    def FALSE(self, token: Token) -> _Literal:
        return _Literal("bool", False, "false", token.start_pos)

    @v_args(inline=True)
    def comparison(self, ref: Token, op: Token, rhs: _Literal | tuple[_Literal, ...]) -> _Comparison:
        name, suffix = _split_ref(ref)
        op_text = op.value.upper()
        if op_text == "<>":
            op_text = "!="
        if isinstance(rhs, tuple):
            if op_text != "IN":
                raise FilterQueryError(
                    f"operator {op.value} {_where(op.start_pos)} takes a single value, not a parenthesised list"
                )
            values = rhs
        else:
            if op_text == "IN":
                raise FilterQueryError(
                    f'IN {_where(op.start_pos)} requires a parenthesised list of values, e.g. ("a", "b"),'
                    f" got {rhs.text!r}"
                )
            if op_text in ("LIKE", "ILIKE") and rhs.kind != "str":
                raise FilterQueryError(
                    f"{op_text} {_where(op.start_pos)} requires a string pattern, got {rhs.kind} literal {rhs.text}"
                )
            values = (rhs,)
        return _Comparison(name, suffix, op_text, values, ref.value, ref.start_pos)


def _split_ref(ref: Token) -> tuple[str, str | None]:
    text: str = ref.value
    if ref.type == "QNAME":
        match = _QNAME_RE.fullmatch(text)
        assert match is not None  # guaranteed by the QNAME terminal
        name = _NAME_ESCAPE_RE.sub(r"\1", match.group(1))
        suffix = match.group(2)
    else:
        name, _, suffix_text = text.partition(".")
        suffix = suffix_text or None
    if suffix is not None:
        normalised = suffix.lower()
        if normalised not in _SUFFIXES:
            hint = " (use backquotes for names containing dots, e.g. `my.prop`)" if ref.type == "NAME" else ""
            raise FilterQueryError(
                f"unknown type suffix '.{suffix}' on {text!r} {_where(ref.start_pos)}; expected one of"
                f" .string_value, .int_value, .double_value, .bool_value{hint}"
            )
        suffix = normalised
    return name, suffix


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="basic", transformer=_ToAst(), maybe_placeholders=False)


def _syntax_error(query: str, exc: UnexpectedInput) -> FilterQueryError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        char = query[pos] if pos < len(query) else ""
        if char in ('"', "'"):
            return FilterQueryError(f"unterminated string starting {_where(pos)}")
        if char == "`":
            return FilterQueryError(f"unterminated or empty `quoted name` starting {_where(pos)}")
        return FilterQueryError(f"unexpected character {char!r} {_where(pos)}")
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = exc.accepts or exc.expected  # ``accepts`` resolves LALR look-ahead merging, so prefer it
        if token.type == "$END":
            return FilterQueryError(
                f"unexpected end of query {_where(len(query.rstrip()))}{_describe_expected(expected)}"
            )
        return FilterQueryError(f"unexpected {token.value!r} {_where(token.start_pos)}{_describe_expected(expected)}")
    return FilterQueryError(f"syntax error: {exc}")  # pragma: no cover - other lark errors (e.g. UnexpectedEOF)


@functools.lru_cache(maxsize=512)
def _parse(query: str) -> _Node:
    try:
        return _parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None


# --------------------------------------------------------------------------------------------------------------
# SQL generation
# --------------------------------------------------------------------------------------------------------------


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


def _bad_value(cmp: _Comparison, lit: _Literal, expected: str) -> FilterQueryError:
    shown = repr(lit.value) if lit.kind == "str" else lit.text
    return FilterQueryError(f"{cmp.ref_text!r} expects {expected}, got {shown} {_where(lit.pos)}")


def _as_text(lit: _Literal) -> str:
    return lit.text if lit.kind != "bool" else ("true" if lit.value else "false")


def _as_int(cmp: _Comparison, lit: _Literal, *, allow_float: bool) -> int | float:
    if lit.kind == "int":
        return lit.value  # type: ignore[return-value]
    if lit.kind == "float" and allow_float:
        return lit.value  # type: ignore[return-value]
    if lit.kind == "str" and _INT_TEXT_RE.fullmatch(lit.value):  # type: ignore[arg-type]
        value = int(lit.value)
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
    raise _bad_value(cmp, lit, "an integer")


def _as_float(cmp: _Comparison, lit: _Literal) -> float:
    if lit.kind in ("int", "float"):
        return float(lit.value)
    if lit.kind == "str" and _NUMBER_TEXT_RE.fullmatch(lit.value):  # type: ignore[arg-type]
        value = float(lit.value)
        if math.isfinite(value):
            return value
    raise _bad_value(cmp, lit, "a number")


def _as_bool(cmp: _Comparison, lit: _Literal) -> int:
    if lit.kind == "bool":
        return int(bool(lit.value))
    if lit.kind == "str" and lit.value.lower() in ("true", "false"):  # type: ignore[union-attr]
        return int(lit.value.lower() == "true")  # type: ignore[union-attr]
    raise _bad_value(cmp, lit, "true or false")


def _check_bool_op(cmp: _Comparison) -> None:
    if cmp.op not in ("=", "!=", "IN"):
        raise FilterQueryError(f"operator {cmp.op} cannot be applied to boolean {cmp.ref_text!r} {_where(cmp.pos)}")


def _compile_field(cmp: _Comparison, field: Field) -> tuple[str, list[object]]:
    if cmp.suffix is not None:
        raise FilterQueryError(
            f"type suffix '.{cmp.suffix}' is not allowed on entity field {cmp.name!r} {_where(cmp.pos)}"
        )
    kind = field.kind
    expr = field.sql
    if cmp.op in ("LIKE", "ILIKE"):
        if kind != "str":
            raise FilterQueryError(
                f"{cmp.op} {_where(cmp.pos)} can only be applied to text fields, {cmp.name!r} is {kind}"
            )
        return _condition(expr, cmp.op, 1), [_pattern_param(cmp.op, cmp.values[0].value)]  # type: ignore[arg-type]
    params: list[object]
    if kind == "str":
        for lit in cmp.values:
            if lit.kind == "bool":
                raise _bad_value(cmp, lit, "a string")
        params = [_as_text(lit) for lit in cmp.values]
    elif kind in ("int", "id"):
        params = [_as_int(cmp, lit, allow_float=kind == "int") for lit in cmp.values]
        if not _PLAIN_COLUMN_RE.fullmatch(expr):
            expr = f"CAST({expr} AS INTEGER)"
    elif kind == "float":
        params = [_as_float(cmp, lit) for lit in cmp.values]
        if not _PLAIN_COLUMN_RE.fullmatch(expr):
            expr = f"CAST({expr} AS REAL)"
    else:  # bool
        _check_bool_op(cmp)
        params = [_as_bool(cmp, lit) for lit in cmp.values]
    return _condition(expr, cmp.op, len(params)), params


def _custom_values(cmp: _Comparison, column: str) -> list[object]:
    if column == "string_value":
        return [_as_text(lit) for lit in cmp.values]
    if column == "int_value":
        return [_as_int(cmp, lit, allow_float=True) for lit in cmp.values]
    if column == "double_value":
        return [_as_float(cmp, lit) for lit in cmp.values]
    _check_bool_op(cmp)
    return [_as_bool(cmp, lit) for lit in cmp.values]


def _compile_custom(cmp: _Comparison) -> tuple[str, list[object]]:
    op = cmp.op
    cond: str
    params: list[object] = [cmp.name]
    if op in ("LIKE", "ILIKE"):
        if cmp.suffix not in (None, "string_value"):
            raise FilterQueryError(f"{op} {_where(cmp.pos)} can only be applied to string values, not .{cmp.suffix}")
        cond = _condition("p.string_value", op, 1)
        params.append(_pattern_param(op, cmp.values[0].value))  # type: ignore[arg-type]
    elif cmp.suffix is not None:
        values = _custom_values(cmp, cmp.suffix)
        cond = _condition(f"p.{cmp.suffix}", op, len(values))
        params.extend(values)
    else:
        kinds = {lit.kind for lit in cmp.values}
        if kinds == {"str"}:
            cond = _condition("p.string_value", op, len(cmp.values))
            params.extend(lit.value for lit in cmp.values)
        elif kinds == {"bool"}:
            _check_bool_op(cmp)
            cond = _condition("p.bool_value", op, len(cmp.values))
            params.extend(int(bool(lit.value)) for lit in cmp.values)
        elif kinds <= {"int", "float"}:
            # A float literal can only match a double property; an int literal matches int or double properties.
            ints = [lit.value for lit in cmp.values if lit.kind == "int"]
            doubles = [float(lit.value) for lit in cmp.values]
            cond = _condition("p.double_value", op, len(doubles))
            if ints:
                cond = f"({_condition('p.int_value', op, len(ints))} OR {cond})"
                params.extend(ints)
            params.extend(doubles)
        else:
            raise FilterQueryError(
                f"IN list for {cmp.ref_text!r} {_where(cmp.pos)} mixes value types ({', '.join(sorted(kinds))});"
                " add a type suffix such as .string_value"
            )
    return _EXISTS_PROP_SQL.format(cond=cond), params


def _compile(node: _Node, fields: Mapping[str, Field], params: list[object]) -> str:
    if isinstance(node, _BoolOp):
        joiner = f" {node.op} "
        return "(" + joiner.join(_compile(item, fields, params) for item in node.items) + ")"
    field = fields.get(node.name)
    sql, node_params = _compile_field(node, field) if field is not None else _compile_custom(node)
    params.extend(node_params)
    return sql


def compile_filter(query: str | None, fields: Mapping[str, Field]) -> tuple[str, list[object]]:
    """Compile a ``filterQuery`` into a SQL boolean expression over the resource row ``r``.

    Refs found in ``fields`` compare the field's SQL expression; any other ref is a custom property, matched
    with ``EXISTS (SELECT 1 FROM prop p WHERE p.rid = r.id AND p.name = ? AND ...)``.  Without a type suffix
    the property column is inferred from the literal: strings use ``string_value``, floats ``double_value``,
    integers ``int_value`` or ``double_value`` and ``true``/``false`` ``bool_value``.  ``LIKE`` is
    case-sensitive (translated to ``GLOB``), ``ILIKE`` case-insensitive.  Parsing is cached per query string.

    Args:
        query: The filter query; ``None``, empty or whitespace-only means "no filter".
        fields: Entity fields that can be referenced by name, keyed by their REST (wire) name.

    Returns:
        A ``(sql, params)`` pair: a boolean SQL expression with ``?`` placeholders and the values to bind,
        in order.  Without a filter the expression is ``"1=1"`` with no parameters.

    Raises:
        FilterQueryError: If the query is malformed or uses a value that does not fit the referenced field
            (the message names the problem and its 1-based position).
    """
    if query is None or not query.strip():
        return "1=1", []
    node = _parse(query)
    params: list[object] = []
    try:
        sql = _compile(node, fields, params)
    except RecursionError:
        raise FilterQueryError("filter query is nested too deeply") from None
    return sql, params
