"""Server-side sorting of the UI's tables: ``?sort=created`` (ascending) or ``?sort=-created`` (descending).

Rows without a value for the sort key (a version without the metric) always come last, whichever the direction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
DESCENDING = "-"


@dataclass(frozen=True)
class SortOrder:
    """A table's sort order.

    Attributes:
        key: The column, e.g. ``created`` or ``metric:accuracy``.
        descending: Largest first.
    """

    key: str
    descending: bool = False

    @property
    def param(self) -> str:
        """The ``?sort=`` value, e.g. ``-created``."""
        return (DESCENDING if self.descending else "") + self.key

    def link_for(self, key: str) -> str:
        """The ``?sort=`` value a column heading links to: its key, reversed when it is the current one.

        Args:
            key: The column.

        Returns:
            ``key`` or ``-key``.
        """
        if key == self.key:
            return SortOrder(key, not self.descending).param
        return key

    def aria(self, key: str) -> str:
        """The ``aria-sort`` value of a column heading: ``ascending``, ``descending`` or ``none``.

        Args:
            key: The column.

        Returns:
            The value.
        """
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"


def parse_sort(text: str, allowed: Iterable[str], default: SortOrder) -> SortOrder:
    """The sort order a ``?sort=`` value asks for, or ``default`` when it names no sortable column.

    Args:
        text: The parameter, e.g. ``-created``.
        allowed: The sortable columns.
        default: The order to use otherwise.

    Returns:
        The order.

    Example:
        >>> parse_sort("-created", ["created"], SortOrder("name"))
        SortOrder(key='created', descending=True)
    """
    text = (text or "").strip()
    descending = text.startswith(DESCENDING)
    key = text[len(DESCENDING) :] if descending else text
    return SortOrder(key, descending) if key in set(allowed) else default


def sort_rows(rows: Iterable[T], order: SortOrder, keys: Mapping[str, Callable[[T], Any]]) -> list[T]:
    """The rows in ``order``; rows whose value is None come last; equal values keep their order.

    Args:
        rows: The rows.
        order: The order.
        keys: Column -> the row's value (None when it has none).

    Returns:
        The sorted rows.
    """
    value_of = keys[order.key]
    items = list(rows)
    present = [row for row in items if value_of(row) is not None]
    missing = [row for row in items if value_of(row) is None]
    return sorted(present, key=value_of, reverse=order.descending) + missing
