"""Tests for the filterQuery -> SQL translation of the embedded Model Registry."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

import pytest

from kfp_model_lifecycle.local.registry.errors import ApiError
from kfp_model_lifecycle.local.registry.filter_query import Field, FilterQueryError, compile_filter
from kfp_model_lifecycle.local.registry.query import ListOptions, Scope, Where, encode_token, page_sql

SCHEMA = """
CREATE TABLE resource (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  parent_id INTEGER NOT NULL DEFAULT 0,
  name TEXT,
  external_id TEXT,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  fields TEXT NOT NULL DEFAULT '{}',
  custom TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE prop (
  rid INTEGER NOT NULL,
  name TEXT NOT NULL,
  int_value INTEGER, double_value REAL, string_value TEXT, bool_value INTEGER,
  PRIMARY KEY (rid, name)
) WITHOUT ROWID;
"""

FIELDS: dict[str, Field] = {
    "id": Field("r.id", "id"),
    "name": Field("r.name", "str"),
    "externalId": Field("r.external_id", "str"),
    "createTimeSinceEpoch": Field("r.create_time", "int"),
    "state": Field("json_extract(r.fields, '$.state')", "str"),
    "author": Field("json_extract(r.fields, '$.author')", "str"),
    "registeredModelId": Field("json_extract(r.fields, '$.registeredModelId')", "id"),
    "value": Field("json_extract(r.fields, '$.value')", "float"),
    "featured": Field("json_extract(r.fields, '$.featured')", "bool"),
}

# id -> (name, external_id, create_time, fields JSON, custom properties {name: (column, value)})
RESOURCES: dict[int, tuple[str, str | None, int, dict[str, object], dict[str, tuple[str, object]]]] = {
    1: (
        "alpha",
        "ext-1",
        1000,
        {"state": "LIVE", "author": "ann", "registeredModelId": "1", "value": 0.5, "featured": True},
        {
            "accuracy": ("double_value", 0.95),
            "framework": ("string_value", "SKLearn"),
            "epochs": ("int_value", 10),
            "deployed": ("bool_value", 1),
            "my.prop": ("double_value", 1.5),
            "version": ("string_value", "1"),
        },
    ),
    2: (
        "beta",
        "ext-2",
        2000,
        {"state": "LIVE", "author": "bob", "registeredModelId": "1", "value": 1.5, "featured": False},
        {
            "accuracy": ("double_value", 0.85),
            "framework": ("string_value", "sklearn"),
            "epochs": ("int_value", 20),
            "deployed": ("bool_value", 0),
            "my.prop": ("int_value", 2),
        },
    ),
    3: (
        "gamma",
        None,
        3000,
        {"state": "ARCHIVED", "author": "ann", "registeredModelId": "2"},
        {
            "accuracy": ("int_value", 1),
            "framework": ("string_value", "PyTorch"),
            "epochs": ("int_value", 5),
            "deployed": ("bool_value", 1),
            "model-type": ("string_value", "cnn"),
        },
    ),
    4: (
        "delta",
        "ext-4",
        4000,
        {"state": "LIVE", "author": "cat", "registeredModelId": "2", "value": 2},
        {
            "accuracy": ("double_value", 0.9),
            "framework": ("string_value", "xgboost"),
            "epochs": ("double_value", 10.0),
        },
    ),
    5: (
        "epsilon",
        "ext-5",
        5000,
        {"state": "ARCHIVED", "author": "bob", "registeredModelId": "10"},
        {
            "framework": ("string_value", "TensorFlow"),
            "my prop": ("string_value", "spaced"),
            "note": ("string_value", 'it\'s "quoted"'),
        },
    ),
    6: ("zeta", None, 6000, {"state": "LIVE", "registeredModelId": "3"}, {}),
    7: (
        "eta_1",
        "ext-7",
        7000,
        {"state": "LIVE", "author": "ann", "registeredModelId": "3", "featured": True},
        {"framework": ("string_value", "Sk-learn"), "tag": ("string_value", "50%")},
    ),
    8: (
        "etaX1",
        "ext-8",
        8000,
        {"state": "ARCHIVED", "author": "dan", "registeredModelId": "10"},
        {
            "tag": ("string_value", "50x"),
            "count": ("string_value", "5"),
            "score": ("int_value", 5),
            "expr": ("string_value", "a[1]*?"),
        },
    ),
    9: (
        "O'Brien",
        "o'b",
        9000,
        {"state": "LIVE", "author": "eve", "registeredModelId": "4"},
        {"accuracy": ("double_value", 0.99)},
    ),
}

ALL_IDS = set(RESOURCES)

# Statement templates; the placeholders only ever receive test-controlled column names / compiled filters.
INSERT_PROP = "INSERT INTO prop (rid, name, {column}) VALUES (?, ?, ?)"
SELECT_IDS = "SELECT r.id FROM resource r WHERE {where}"


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    """An in-memory database holding RESOURCES."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    for rid, (name, external_id, create_time, fields, props) in RESOURCES.items():
        conn.execute(
            "INSERT INTO resource (id, kind, name, external_id, create_time, update_time, fields)"
            " VALUES (?, 'ModelVersion', ?, ?, ?, ?, ?)",
            (rid, name, external_id, create_time, create_time, json.dumps(fields)),
        )
        for prop_name, (column, value) in props.items():
            conn.execute(INSERT_PROP.format(column=column), (rid, prop_name, value))
    yield conn
    conn.close()


def run(conn: sqlite3.Connection, query: str | None, fields: dict[str, Field] | None = None) -> set[int]:
    """Compile ``query`` and return the ids of the matching resources."""
    sql, params = compile_filter(query, FIELDS if fields is None else fields)
    rows = conn.execute(SELECT_IDS.format(where=sql), params).fetchall()
    return {row[0] for row in rows}


MATCHES: list[tuple[str, set[int]]] = [
    # entity fields: plain columns
    ('name = "alpha"', {1}),
    ("name = 'alpha'", {1}),
    ('name = "O\'Brien"', {9}),
    (r"name = 'O\'Brien'", {9}),
    ('name != "alpha"', ALL_IDS - {1}),
    ('externalId = "ext-1"', {1}),
    ('name = "nope"', set()),
    # entity fields stored in the JSON column
    ('state = "LIVE"', {1, 2, 4, 6, 7, 9}),
    ("state = 'ARCHIVED'", {3, 5, 8}),
    ('state != "LIVE"', {3, 5, 8}),
    ('state <> "LIVE"', {3, 5, 8}),
    ('author = "ann"', {1, 3, 7}),
    ('author != "ann"', {2, 4, 5, 8, 9}),  # row 6 has no author: NULL never matches
    # id fields: int literals and digit strings, compared numerically
    ("id = 3", {3}),
    ('id = "3"', {3}),
    ("id >= 8", {8, 9}),
    ('id IN (1, "2", 9)', {1, 2, 9}),
    ("registeredModelId = 10", {5, 8}),
    ('registeredModelId = "10"', {5, 8}),
    ("registeredModelId > 2", {5, 6, 7, 8, 9}),  # numeric, not string order ("10" < "2")
    ("registeredModelId IN (1, 3)", {1, 2, 6, 7}),
    # times
    ("createTimeSinceEpoch > 7000", {8, 9}),
    ("createTimeSinceEpoch >= 7000", {7, 8, 9}),
    ("createTimeSinceEpoch <= 1000", {1}),
    ('createTimeSinceEpoch < "2500"', {1, 2}),
    ("createTimeSinceEpoch >= 8e3", {8, 9}),
    # float and bool entity fields
    ("value > 1", {2, 4}),
    ("value = 2", {4}),
    ("featured = true", {1, 7}),
    ("featured = false", {2}),
    # custom properties, type inferred from the literal
    ("accuracy > 0.9", {1, 9}),  # float literal: double_value only (row 3 has int 1)
    ("accuracy >= 0.9", {1, 4, 9}),
    ("accuracy = 1", {3}),  # int literal matches int_value ...
    ("epochs = 10", {1, 4}),  # ... and double_value
    ("epochs < 10", {3}),
    ("accuracy > 0", {1, 2, 3, 4, 9}),
    ("accuracy > -1", {1, 2, 3, 4, 9}),
    ("accuracy > -1.5", {1, 2, 4, 9}),
    ("score = 5", {8}),
    ("count = 5", set()),  # count is stored as a string
    ('count = "5"', {8}),
    ('framework = "sklearn"', {2}),
    ('framework != "sklearn"', {1, 3, 4, 5, 7}),  # only resources that have the property
    ('framework <> "sklearn"', {1, 3, 4, 5, 7}),
    ("deployed = true", {1, 3}),
    ("deployed = FALSE", {2}),
    ("deployed != true", {2}),
    ('model-type = "cnn"', {3}),
    ('nonexistent = "x"', set()),
    # explicit type suffixes
    ("epochs.int_value = 10", {1}),
    ("epochs.double_value = 10", {4}),
    ("epochs.INT_VALUE = 10", {1}),
    ("accuracy.double_value > 0", {1, 2, 4, 9}),
    ("accuracy.double_value > 0.5", {1, 2, 4, 9}),
    ("accuracy.int_value >= 1", {3}),
    ("count.string_value = 5", {8}),
    ("version.string_value = 1", {1}),
    ('framework.string_value = "xgboost"', {4}),
    ("deployed.bool_value = true", {1, 3}),
    ("deployed.bool_value = false", {2}),
    # backquoted names
    ("`my.prop` = 1.5", {1}),
    ("`my.prop` > 1", {1, 2}),
    ("`my.prop`.int_value = 2", {2}),
    ("`my.prop`.double_value > 1", {1}),
    ('`my prop` = "spaced"', {5}),
    ('`framework` = "xgboost"', {4}),
    # escaped quotes in string literals
    ('note = "it\'s \\"quoted\\""', {5}),
    ("note = 'it\\'s \"quoted\"'", {5}),
    # IN
    ('framework IN ("SKLearn", "xgboost")', {1, 4}),
    ('name IN ("alpha", "nope")', {1}),
    ("epochs IN (5, 20)", {2, 3}),
    ("epochs IN (10, 5.5)", {1, 4}),
    ("accuracy IN (0.85, 1)", {2, 3}),
    ('state IN ("ARCHIVED")', {3, 5, 8}),
    # LIKE is case-sensitive, ILIKE is not
    ('framework LIKE "%Sk%"', {7}),
    ('framework LIKE "%sk%"', {2}),
    ('framework LIKE "sklearn"', {2}),
    ('framework LIKE "SKLEARN"', set()),
    ('framework ILIKE "%sk%"', {1, 2, 7}),
    ('framework ILIKE "SKLEARN"', {1, 2}),
    ('name LIKE "%a"', {1, 2, 3, 4, 6}),
    ('name ILIKE "%A"', {1, 2, 3, 4, 6}),
    ('name LIKE "o\'%"', set()),
    ('name ILIKE "o\'%"', {9}),
    ('name LIKE "eta_1"', {7, 8}),  # _ matches one character
    ('name LIKE "eta\\_1"', {7}),  # ... unless escaped
    ('name ILIKE "ETA\\_1"', {7}),
    ('name LIKE "e_a%"', {7, 8}),
    ('tag LIKE "50%"', {7, 8}),
    ('tag LIKE "50\\%"', {7}),
    ('tag ILIKE "50\\%"', {7}),
    ('expr LIKE "a[1]*?"', {8}),  # GLOB metacharacters are literal
    ('expr LIKE "a[1]%"', {8}),
    ('expr LIKE "a1%"', set()),
    ('name LIKE "*"', set()),
    ('framework.string_value LIKE "Py%"', {3}),
    # precedence: AND binds tighter than OR
    ('name = "alpha" OR name = "gamma" AND state = "ARCHIVED"', {1, 3}),
    ('name = "alpha" OR (name = "gamma" AND state = "ARCHIVED")', {1, 3}),
    ('(name = "alpha" OR name = "gamma") AND state = "ARCHIVED"', {3}),
    ('state = "ARCHIVED" AND name = "gamma" OR name = "alpha"', {1, 3}),
    ('state = "ARCHIVED" AND (name = "gamma" OR name = "alpha")', {3}),
    # keywords are case-insensitive
    ('name = "alpha" or name = "gamma" and state = "ARCHIVED"', {1, 3}),
    ('framework ilike "%SK%" And deployed = True', {1}),
    ('framework like "%sk%" oR name in ("zeta")', {2, 6}),
    # nesting
    ('((state = "LIVE" AND (author = "ann" OR author = "cat")) OR (id = 5))', {1, 4, 5, 7}),
    ('(((name = "zeta")))', {6}),
    ('state = "LIVE" AND accuracy > 0.8', {1, 2, 4, 9}),
    ('state = "LIVE" AND (framework ILIKE "%learn" OR accuracy > 0.95) AND id != 2', {1, 7, 9}),
    # whitespace
    ('  name\n=\t"alpha"  ', {1}),
    ('name="alpha"AND id=1', {1}),
]


@pytest.mark.parametrize(("query", "expected"), MATCHES)
def test_matches(db: sqlite3.Connection, query: str, expected: set[int]) -> None:
    assert run(db, query) == expected


MALFORMED: list[str] = [
    "name =",
    '= "x"',
    'name == "x"',
    '(name = "x"',
    'name = "x")',
    "name LIKE 5",
    "name ILIKE true",
    'name IN "x"',
    "name IN ()",
    "name IN (1 2)",
    'name = ("a", "b")',
    "accuracy.float_value > 1",
    "`my.prop`.float_value > 1",
    "my.prop = 1",
    'name = "unterminated',
    "name = 'unterminated",
    'name = "x" AND',
    'name = "x" OR OR name = "y"',
    'name = "x" AND AND name = "y"',
    "foo ~ 1",
    "()",
    "AND",
    "name = foo",
    'name = "x" "y"',
    "`` = 1",
    "`unterminated = 1",
    "x = 99999999999999999999",
    'x IN (1, "a")',
    'id = "abc"',
    "id = 1.5",
    'id LIKE "1%"',
    'createTimeSinceEpoch = "soon"',
    'featured = "maybe"',
    "featured > true",
    "deployed > true",
    'value = "abc"',
    "name = true",
    'name.string_value = "x"',
    'x.int_value = "abc"',
    'x.int_value LIKE "a"',
    'x.bool_value = "yes"',
    'and = "x"',
]


@pytest.mark.parametrize("query", MALFORMED)
def test_malformed(query: str) -> None:
    with pytest.raises(FilterQueryError) as info:
        compile_filter(query, FIELDS)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ('name == "x"', ["'='", "position 7"]),
        ("foo ~ 1", ["'~'", "position 5"]),
        ('name = "unterminated', ["unterminated string", "position 8"]),
        ('name = "x" AND', ["end of query"]),
        ('name = "x" OR OR name = "y"', ["'OR'", "position 15"]),
        ("name LIKE 5", ["LIKE", "string"]),
        ('name IN "x"', ["IN", "list"]),
        ("accuracy.float_value > 1", ["float_value", "position 1"]),
        ('id = "abc"', ["'id'", "integer"]),
    ],
)
def test_error_messages_say_what_and_where(query: str, fragments: list[str]) -> None:
    with pytest.raises(FilterQueryError) as info:
        compile_filter(query, FIELDS)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("query", [None, "", "   ", "\n\t "])
def test_empty_query_matches_everything(db: sqlite3.Connection, query: str | None) -> None:
    assert compile_filter(query, FIELDS) == ("1=1", [])
    assert run(db, query) == ALL_IDS


@pytest.mark.parametrize(
    "query",
    [
        'name = "x\' OR 1=1 --"',
        "name = 'x\\' OR \\'1\\'=\\'1'",
        '`x\' OR 1=1 --` = "y"',
        'framework = "sklearn\\" OR 1=1 --"',
        'name IN ("x\') OR 1=1 --")',
        'name LIKE "%\' OR 1=1 --"',
    ],
)
def test_sql_in_values_is_parameterised(db: sqlite3.Connection, query: str) -> None:
    sql, _ = compile_filter(query, FIELDS)
    assert "1=1" not in sql
    assert "--" not in sql
    assert run(db, query) == set()


def test_literals_and_property_names_are_parameters() -> None:
    sql, params = compile_filter('`secret.prop` = "secret-value" AND name = "other"', FIELDS)
    assert "secret" not in sql
    assert "other" not in sql
    assert params == ["secret.prop", "secret-value", "other"]


def test_like_is_translated_to_glob() -> None:
    assert compile_filter('name LIKE "a%b_c*[?"', FIELDS) == ("r.name GLOB ?", ["a*b?c[*][[][?]"])


def test_int_literal_on_custom_property_checks_int_and_double() -> None:
    sql, params = compile_filter("epochs > 3", FIELDS)
    assert "p.int_value > ?" in sql
    assert "p.double_value > ?" in sql
    assert params == ["epochs", 3, 3.0]


def test_parse_cache_does_not_leak_between_field_sets(db: sqlite3.Connection) -> None:
    assert run(db, 'name = "alpha"') == {1}
    # Without the entity field, "name" is a custom property that no resource has.
    assert run(db, 'name = "alpha"', fields={}) == set()
    assert run(db, 'name = "alpha"') == {1}


def test_field_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown field kind"):
        Field("r.name", "text")


def test_compile_is_fast() -> None:
    queries = [f'name = "m{i}" AND (accuracy > 0.9 OR framework ILIKE "%sk%") AND id IN (1, 2, {i})' for i in range(50)]
    start = time.perf_counter()
    for query in queries:  # distinct strings: no cache hits
        compile_filter(query, FIELDS)
    per_query = (time.perf_counter() - start) / len(queries)
    assert per_query < 0.005  # typically well under 1 ms; generous bound for slow CI machines


# -- the list query around a filter ---------------------------------------------------------------------------


def test_list_query_ands_scope_filter_and_keyset_page_in_order() -> None:
    options = ListOptions(
        filter_query='name = "alpha"',
        page_token=encode_token(1000, 7),
        page_size=2,
        order_by="CREATE_TIME",
        descending=True,
    )
    where = Where("model_version").scope(Scope(parent_id=3, name="alpha")).filter(options.filter_query, FIELDS)
    sql, params = page_sql("r.id", where.after(options), options)
    assert params == ["model_version", 3, "alpha", "alpha", 1000, 1000, 7, 3]  # one row more than the page
    assert "(r.create_time < ? OR (r.create_time = ? AND r.id < ?))" in sql
    assert sql.endswith("ORDER BY r.create_time DESC, r.id DESC LIMIT ?")


def test_list_query_without_options_lists_everything_by_id() -> None:
    options = ListOptions()
    sql, params = page_sql(
        "r.id", Where("registered_model").scope(Scope()).filter("  ", FIELDS).after(options), options
    )
    assert (sql, params) == ("SELECT r.id FROM resource r WHERE r.kind = ? ORDER BY r.id ASC", ["registered_model"])


@pytest.mark.parametrize("token", ["not-base64!", encode_token(1, 0), "MToyOjM="])
def test_foreign_page_tokens_are_a_400_naming_the_fix(token: str) -> None:
    with pytest.raises(ApiError) as raised:
        Where("model_version").after(ListOptions(page_token=token))
    assert raised.value.status == 400
    assert "pass the nextPageToken of the previous page unchanged" in raised.value.message


def test_a_malformed_filter_in_a_list_is_a_400() -> None:
    with pytest.raises(ApiError) as raised:
        Where("model_version").filter("name =", FIELDS)
    assert raised.value.status == 400
    assert raised.value.message.startswith("invalid filter query: unexpected end of query")
