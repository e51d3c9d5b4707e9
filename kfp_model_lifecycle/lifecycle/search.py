"""Search queries with lifecycle helpers (``stage``, ``approval``, ``alias``) turned into a registry ``filterQuery``."""

from __future__ import annotations

import re

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.conventions import LABEL_ALIAS, VERSION_APPROVAL_STATUS, VERSION_STAGE
from kfp_model_lifecycle.lifecycle.names import check_alias_name

_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<quoted>`(?:[^`\\]|\\.)+`(?:\.[A-Za-z_]+)?)"""
    r"""|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<word>[^\s"'`()<>=!,]+))""",
)
# Helpers that name a version property.
_FIELD_HELPERS = {"stage": VERSION_STAGE, "approval": VERSION_APPROVAL_STATUS}
_WORD_OPERATORS = ("IN", "LIKE", "ILIKE")
_OPEN, _CLOSE, _COMMA = ("punct", "("), ("punct", ")"), ("punct", ",")

Token = tuple[str, str]


def _tokens(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(query, pos)
        if not match or match.end() == pos:
            raise InvalidInputError(
                f"cannot read the search query at {query[pos : pos + 20]!r}: check quotes and operators"
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
            out.append(_FIELD_HELPERS[helper])
            i += 1
        elif helper == "alias" and _compared(tokens, i):
            clause, i = _alias_clause(tokens, i)
            out.append(clause)
        else:
            out.append(text)
            i += 1
    return _joined(out)
