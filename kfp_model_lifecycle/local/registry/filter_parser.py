"""Parse Model Registry ``filterQuery`` strings into a small syntax tree (cached per query string).

The grammar follows the upstream Kubeflow Model Registry REST API (v1)::

    or    := and (OR and)*
    and   := term (AND term)*
    term  := "(" or ")" | ref OP value
    OP    := = | != | <> | < | > | <= | >= | LIKE | ILIKE | IN

``AND`` binds tighter than ``OR`` and keywords are case-insensitive.  A *ref* is an entity field or the name of
a custom property, optionally suffixed with the property value column (``.string_value``, ``.int_value``,
``.double_value``, ``.bool_value``).  Names containing dots or spaces are written in backquotes:
``` `my.prop`.double_value > 1 ```.  The tree does not depend on the entity's fields; :mod:`.filter_query`
turns it into SQL.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# The property value columns a ref may name after a dot.
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

_QNAME_RE = re.compile(r"`((?:[^`\\]|\\.)+)`(?:\.(.+))?", re.DOTALL)
_NAME_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_STRING_ESCAPE_RE = re.compile(r"\\([\\\"'])")


class FilterQueryError(ValueError):
    """A ``filterQuery`` could not be parsed or does not make sense for the entity type.

    The message describes the problem and where it is (1-based character position and offending token);
    the REST layer reports it as ``400 invalid filter query: <message>``.
    """


@dataclass(frozen=True, slots=True)
class Value:
    """A literal of the query.

    Attributes:
        kind: ``str``, ``int``, ``float`` or ``bool``.
        value: The decoded value.
        text: The literal as written (numbers) or its decoded value (strings).
        pos: Its 0-based position in the query.
    """

    kind: str
    value: str | int | float | bool
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """``ref OP value`` (or ``ref IN (values)``).

    Attributes:
        name: The field or custom property name (backquotes removed).
        suffix: The property value column (``string_value`` ...), if given.
        op: ``=``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``LIKE``, ``ILIKE`` or ``IN`` (``<>`` reads as ``!=``).
        values: One value, or the list of ``IN``.
        ref_text: The ref as written, for messages.
        pos: The ref's 0-based position in the query.
    """

    name: str
    suffix: str | None
    op: str
    values: tuple[Value, ...]
    ref_text: str
    pos: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``AND`` or ``OR`` of two or more terms.

    Attributes:
        op: ``AND`` or ``OR``.
        items: The terms.
    """

    op: str
    items: tuple[Node, ...]


Node = Comparison | BoolOp


def at(pos: int) -> str:
    """Where a 0-based position is, as error messages say it (1-based)."""
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

    def start(self, children: list[Node]) -> Node:
        return children[0]

    def or_expr(self, children: list[Node]) -> BoolOp:
        return BoolOp("OR", tuple(children))

    def and_expr(self, children: list[Node]) -> BoolOp:
        return BoolOp("AND", tuple(children))

    def list(self, children: list[Value]) -> tuple[Value, ...]:
        return tuple(children)

    def STRING(self, token: Token) -> Value:
        text = _STRING_ESCAPE_RE.sub(r"\1", token.value[1:-1])
        return Value("str", text, text, token.start_pos)

    def INT(self, token: Token) -> Value:
        value = int(token.value)
        if not INT64_MIN <= value <= INT64_MAX:
            raise FilterQueryError(f"integer {token.value} out of range {at(token.start_pos)}")
        return Value("int", value, token.value, token.start_pos)

    def FLOAT(self, token: Token) -> Value:
        value = float(token.value)
        if not math.isfinite(value):
            raise FilterQueryError(f"number {token.value} out of range {at(token.start_pos)}")
        return Value("float", value, token.value, token.start_pos)

    def TRUE(self, token: Token) -> Value:
        return Value("bool", True, "true", token.start_pos)

    def FALSE(self, token: Token) -> Value:
        return Value("bool", False, "false", token.start_pos)

    @v_args(inline=True)
    def comparison(self, ref: Token, op: Token, rhs: Value | tuple[Value, ...]) -> Comparison:
        name, suffix = _split_ref(ref)
        op_text = op.value.upper()
        if op_text == "<>":
            op_text = "!="
        if isinstance(rhs, tuple):
            if op_text != "IN":
                raise FilterQueryError(
                    f"operator {op.value} {at(op.start_pos)} takes a single value, not a parenthesised list"
                )
            values = rhs
        else:
            if op_text == "IN":
                raise FilterQueryError(
                    f'IN {at(op.start_pos)} requires a parenthesised list of values, e.g. ("a", "b"), got {rhs.text!r}'
                )
            if op_text in ("LIKE", "ILIKE") and rhs.kind != "str":
                raise FilterQueryError(
                    f"{op_text} {at(op.start_pos)} requires a string pattern, got {rhs.kind} literal {rhs.text}"
                )
            values = (rhs,)
        return Comparison(name, suffix, op_text, values, ref.value, ref.start_pos)


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
                f"unknown type suffix '.{suffix}' on {text!r} {at(ref.start_pos)}; expected one of"
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
            return FilterQueryError(f"unterminated string starting {at(pos)}")
        if char == "`":
            return FilterQueryError(f"unterminated or empty `quoted name` starting {at(pos)}")
        return FilterQueryError(f"unexpected character {char!r} {at(pos)}")
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = exc.accepts or exc.expected  # ``accepts`` resolves LALR look-ahead merging, so prefer it
        if token.type == "$END":
            return FilterQueryError(f"unexpected end of query {at(len(query.rstrip()))}{_describe_expected(expected)}")
        return FilterQueryError(f"unexpected {token.value!r} {at(token.start_pos)}{_describe_expected(expected)}")
    return FilterQueryError(f"syntax error: {exc}")  # pragma: no cover - other lark errors (e.g. UnexpectedEOF)


@functools.lru_cache(maxsize=512)
def parse(query: str) -> Node:
    """The syntax tree of a non-empty ``filterQuery``.

    Raises:
        FilterQueryError: A syntax error, naming its position and what was expected there.
    """
    try:
        return _parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
