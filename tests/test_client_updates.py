"""update_with_retry: a 409 on PATCH is re-read and re-applied, a bounded number of times."""

from typing import Any

import pytest

from kfp_model_lifecycle.client import update_with_retry
from kfp_model_lifecycle.errors import ConcurrencyError, RegistryError


class _Conn:
    """Answers each call with the next scripted outcome (an exception or a value) and records the bodies."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.bodies: list[dict[str, Any]] = []

    def call(self, action: str, operation: Any, tolerate: tuple[int, ...] = ()) -> Any:
        self.bodies.append(operation("api"))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _write(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    return body


def test_a_conflict_is_re_read_and_re_applied() -> None:
    reads = iter([{"customProperties": {"a": 1}}, {"customProperties": {"a": 1, "b": 2}}])
    conn = _Conn([RegistryError("409", status=409), {"id": "1"}])
    result = update_with_retry(
        conn,  # type: ignore[arg-type]
        "update x",
        read=lambda: next(reads),
        modify=lambda current: {"customProperties": {**current["customProperties"], "c": 3}},
        write=_write,
    )
    assert result == {"id": "1"}
    # the second PATCH carries what the second read saw: nothing the other writer added is lost
    assert conn.bodies == [{"customProperties": {"a": 1, "c": 3}}, {"customProperties": {"a": 1, "b": 2, "c": 3}}]


def test_nothing_to_change_writes_nothing_and_other_errors_pass_through() -> None:
    conn = _Conn([])
    assert update_with_retry(conn, "x", read=dict, modify=lambda _: None, write=_write) is None  # type: ignore[arg-type]
    assert conn.bodies == []
    conn = _Conn([RegistryError("bad", status=400)])
    with pytest.raises(RegistryError, match="bad"):
        update_with_retry(conn, "x", read=dict, modify=lambda _: {}, write=_write)  # type: ignore[arg-type]


def test_conflicts_are_bounded() -> None:
    conn = _Conn([RegistryError("409", status=409) for _ in range(3)])
    with pytest.raises(ConcurrencyError, match="409 Conflict 3 times"):
        update_with_retry(conn, "x", read=dict, modify=lambda _: {}, write=_write, max_attempts=3)  # type: ignore[arg-type]
    assert len(conn.bodies) == 3
