"""Search queries with lifecycle helpers (``stage``, ``approval``, ``alias``) turned into a registry ``filterQuery``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.conventions import (
    APPROVAL_STATUSES,
    INITIAL_STAGE,
    LABEL_ALIAS,
    STAGES,
    VERSION_APPROVAL_STATUS,
    VERSION_STAGE,
)
from kfp_model_lifecycle.lifecycle.inputs import check_text, shown
from kfp_model_lifecycle.lifecycle.names import check_alias_name

_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<quoted>`(?:[^`\\]|\\.)+`(?:\.[A-Za-z_]+)?)"""
    r"""|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<word>[^\s"'`()<>=!,]+))""",
)
# Helpers that name a version property.
_FIELD_HELPERS = {"stage": VERSION_STAGE, "approval": VERSION_APPROVAL_STATUS}
_WORD_OPERATORS = ("IN", "LIKE", "ILIKE")
# The values each helper may be compared with by =, !=, <> and IN.
_HELPER_VALUES = {"stage": STAGES, "approval": APPROVAL_STATUSES}
_EQUALITY_OPERATORS = ("=", "!=", "<>", "IN")
_OPEN, _CLOSE, _COMMA = ("punct", "("), ("punct", ")"), ("punct", ",")

Token = tuple[str, str]


def _tokens(query: str) -> list[Token]:
    query = check_text(query, "search query", example="'accuracy > 0.9 AND stage = \"production\"'")
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(query, pos)
        if not match or match.end() == pos:
            raise InvalidInputError(
                f"cannot read the search query at {shown(query[pos : pos + 20])}: check quotes and operators"
            )
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"').replace("\\'", "'")


def _compared(tokens: list[Token], i: int) -> bool:
    """Whether token ``i`` is the left side of a comparison (followed by an operator, IN, LIKE or ILIKE)."""
    kind, text = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
    return kind == "op" or (kind == "word" and text.upper() in _WORD_OPERATORS)


def _label_test(alias: str) -> str:
    return f'`{LABEL_ALIAS.format(alias=alias)}` = ""'


def _alias_names(tokens: list[Token], start: int) -> tuple[list[str], int]:
    """The quoted alias names of ``alias IN (...)`` from ``start`` (after the parenthesis), and the index of ``)``."""
    j, names = start, []
    while j < len(tokens) and tokens[j] != _CLOSE:
        if tokens[j][0] == "string":
            names.append(check_alias_name(_unquote(tokens[j][1])))
        elif tokens[j] != _COMMA:
            raise InvalidInputError(f"alias IN (...) takes quoted alias names, not {tokens[j][1]!r}")
        j += 1
    if not names:
        raise InvalidInputError("alias IN () names no alias")
    return names, j


def _alias_clause(tokens: list[Token], i: int) -> tuple[str, int]:
    """The filter for ``alias = "NAME"`` or ``alias IN ("A", "B")`` at token ``i``, and the index after it."""
    op = tokens[i + 1][1].upper()
    following = tokens[i + 2] if i + 2 < len(tokens) else ("", "")
    if op == "=" and following[0] == "string":
        return _label_test(check_alias_name(_unquote(following[1]))), i + 3
    if op == "IN" and following == _OPEN:
        names, j = _alias_names(tokens, i + 3)
        return "(" + " OR ".join(_label_test(a) for a in names) + ")", j + 1
    raise InvalidInputError(
        'the alias helper supports alias = "NAME" and alias IN ("A", "B"); to find versions without an'
        " alias, list the model's aliases with `kml models show NAME`"
    )


def _check_helper_values(tokens: list[Token], i: int, helper: str) -> None:
    """Refuse ``stage = "prod"`` or ``stage = 5``: a helper compared for equality takes quoted known names."""
    op = tokens[i + 1][1].upper()
    if op not in _EQUALITY_OPERATORS:
        return
    allowed = _HELPER_VALUES[helper]
    j = i + 2
    values = tokens[j : j + 1]
    if op == "IN" and values == [_OPEN]:
        values = []
        while j + 1 < len(tokens) and tokens[j + 1] != _CLOSE:
            j += 1
            values += [tokens[j]] if tokens[j] != _COMMA else []
    for kind, text in values or [("", "")]:
        if kind != "string" or _unquote(text) not in allowed:
            raise InvalidInputError(
                f"{helper} {op} {text[:40] or '(nothing)'}: the {helper} helper compares with a quoted"
                f' name, one of {", ".join(allowed)}, e.g. {helper} = "{allowed[0]}"'
            )


def _joined(pieces: list[str]) -> str:
    text = ""
    for piece in pieces:
        if not text or text.endswith("(") or piece in (")", ","):
            text += piece
        else:
            text += " " + piece
    return text


def translate_search_query(query: str) -> str:
    """Turn a search with lifecycle helpers into a registry ``filterQuery`` on model versions.

    Helpers: ``stage = "production"`` (``=``, ``!=``, ``IN``) -> ``kml_stage``; ``approval = "approved"`` ->
    ``kml_approval_status``; ``alias = "champion"`` (``=`` or ``IN``) -> the alias label ``kml:@champion``.
    Everything else is passed to the registry unchanged (e.g. ``accuracy > 0.9``, ``name LIKE "1.%"``,
    ``author = "alice"``, ``kfp_run_id = "..."``).

    Args:
        query: e.g. ``accuracy > 0.9 AND stage = "production"``.

    Returns:
        The filterQuery, e.g. ``accuracy > 0.9 AND kml_stage = "production"``.

    Raises:
        InvalidInputError: For unsupported helper forms (a ``ValueError``; the message says what works).
    """
    tokens = _tokens(query)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        helper = text.lower() if kind == "word" else ""
        if helper in _FIELD_HELPERS and _compared(tokens, i):
            _check_helper_values(tokens, i, helper)
            out.append(_FIELD_HELPERS[helper])
            i += 1
        elif helper == "alias" and _compared(tokens, i):
            clause, i = _alias_clause(tokens, i)
            out.append(clause)
        else:
            out.append(text)
            i += 1
    return _joined(out)


# ---------------------------------------------------------------------------------------------------------------
# Versions that never moved: no ``kml_stage`` property, so no server-side comparison on it can match them.
# ---------------------------------------------------------------------------------------------------------------

_AND, _OR = "AND", "OR"


@dataclass(frozen=True)
class _Comparison:
    """One ``ref OP value`` of a query: its translated text, or the stage test it makes."""

    text: str
    stage_op: str = ""
    stage_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Group:
    """Terms joined by one connective; ``parenthesized`` when the query wrote parentheses around it."""

    connective: str
    terms: tuple[_Group | _Comparison, ...]
    parenthesized: bool = False


class _QueryParser:
    """Recursive descent over the tokens, in the registry's own filterQuery grammar.

    ``or := and (OR and)*``, ``and := term (AND term)*``, ``term := ( or ) | ref OP value``.
    """

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("", "")

    def fail(self, expected: str) -> InvalidInputError:
        found = self.peek()[1] or "the end"
        return InvalidInputError(f"cannot read the search query at {found!r}: expected {expected}")

    def parse(self) -> _Group:
        group = self.connected(_OR)
        if self.i < len(self.tokens):
            raise self.fail("AND, OR or the end of the query")
        return group

    def connected(self, connective: str) -> _Group:
        parts = [self.connected(_AND) if connective == _OR else self.term()]
        while self.peek()[0] == "word" and self.peek()[1].upper() == connective:
            self.i += 1
            parts.append(self.connected(_AND) if connective == _OR else self.term())
        return _Group(connective, tuple(parts))

    def term(self) -> _Group | _Comparison:
        if self.peek() == _OPEN:
            self.i += 1
            inner = self.connected(_OR)
            if self.peek() != _CLOSE:
                raise self.fail("')'")
            self.i += 1
            return _Group(inner.connective, inner.terms, parenthesized=True)
        return self.comparison()

    def comparison(self) -> _Comparison:
        start = self.i
        if self.peek()[0] not in ("word", "quoted") or not _compared(self.tokens, self.i):
            raise self.fail("a comparison such as accuracy > 0.9")
        self.i += 2
        if self.peek() == _OPEN:
            while self.i < len(self.tokens) and self.peek() != _CLOSE:
                self.i += 1
            if self.peek() != _CLOSE:
                raise self.fail("')' closing the list of values")
        elif self.peek()[0] not in ("string", "word"):
            raise self.fail("a value")
        self.i += 1
        tokens = self.tokens[start : self.i]
        text = translate_search_query(_joined([t for _, t in tokens]))
        if tokens[0][0] == "word" and tokens[0][1].lower() == "stage":
            values = tuple(_unquote(t) for kind, t in tokens[2:] if kind == "string")
            return _Comparison(text, stage_op=tokens[1][1].upper(), stage_values=values)
        return _Comparison(text)


def _like(value: str, pattern: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _stage_test(op: str, values: tuple[str, ...], stage: str) -> bool:
    """Whether ``stage <op> <values>`` holds for a version in ``stage``."""
    first = values[0] if values else None
    tests = {
        "=": lambda: stage == first,
        "!=": lambda: first is not None and stage != first,
        "<>": lambda: first is not None and stage != first,
        "IN": lambda: stage in values,
        "LIKE": lambda: first is not None and _like(stage, first, ignore_case=False),
        "ILIKE": lambda: first is not None and _like(stage, first, ignore_case=True),
        "<": lambda: first is not None and stage < first,
        ">": lambda: first is not None and stage > first,
        "<=": lambda: first is not None and stage <= first,
        ">=": lambda: first is not None and stage >= first,
    }
    return bool(tests.get(op, lambda: False)())


def _with_stage(node: _Group | _Comparison, stage: str) -> str | bool:
    """The query with every stage test decided for versions in ``stage``: the filter left, or True/False."""
    if isinstance(node, _Comparison):
        return _stage_test(node.stage_op, node.stage_values, stage) if node.stage_op else node.text
    decisive = node.connective == _OR  # True decides an OR, False an AND
    parts: list[str] = []
    for term in node.terms:
        value = _with_stage(term, stage)
        if value is decisive:
            return decisive
        if isinstance(value, str):
            parts.append(value)
    if not parts:
        return not decisive
    text = f" {node.connective} ".join(parts)
    return f"({text})" if node.parenthesized or (len(parts) > 1 and node.connective == _OR) else text


def has_stage_helper(query: str) -> bool:
    """Whether a search uses the ``stage`` helper (then versions that never moved need a second look).

    Args:
        query: The search.

    Returns:
        True when some ``stage`` word is compared.
    """
    tokens = _tokens(query)
    return any(
        kind == "word" and text.lower() == "stage" and _compared(tokens, i) for i, (kind, text) in enumerate(tokens)
    )


def unmoved_versions_query(query: str) -> str | bool:
    """The filter that finds, among versions without ``kml_stage`` (they never moved: ``development``), the matches.

    The registry cannot test a property a version lacks (every comparison on a missing property is false, ``!=``
    included), so ``stage = "development"`` would miss them; here each stage test is decided for ``development``
    and the rest of the query is left to the registry.

    Args:
        query: A search with lifecycle helpers.

    Returns:
        A filterQuery, or True (every unmoved version matches) or False (none does).

    Raises:
        InvalidInputError: When the query does not follow the registry's grammar.
    """
    return _with_stage(_QueryParser(_tokens(query)).parse(), INITIAL_STAGE)
