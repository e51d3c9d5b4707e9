"""``Lifecycle`` objects for the UI's request threads: one per request at a time, kept open between requests.

A ``Lifecycle`` keeps one registry connection (with its own event loop) and must not be used by two threads at
once; the server answers requests in a thread pool. Each request borrows an idle ``Lifecycle`` (or makes one),
and gives it back afterwards; a few are kept open so pages do not reconnect every time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kfp_model_lifecycle.api import Lifecycle

KEEP_IDLE = 4
"""Idle ``Lifecycle`` objects kept open (more are closed when given back)."""


class LifecyclePool:
    """Lends ``Lifecycle`` objects to request threads, one borrower at a time each.

    Args:
        factory: Makes a new ``Lifecycle`` (not connected yet: the first call connects).
        keep: How many idle ones to keep open.
    """

    def __init__(self, factory: Callable[[], Lifecycle], keep: int = KEEP_IDLE) -> None:
        self._factory = factory
        self._keep = keep
        self._idle: list[Lifecycle] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Lifecycle]:
        """A ``Lifecycle`` for the duration of a block.

        Yields:
            One no other thread uses meanwhile.
        """
        with self._lock:
            lc = self._idle.pop() if self._idle else None
        if lc is None:
            lc = self._factory()
        try:
            yield lc
        finally:
            self._give_back(lc)

    def _give_back(self, lc: Lifecycle) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append(lc)
                return
        lc.close()

    @property
    def idle(self) -> int:
        """How many idle ``Lifecycle`` objects are open."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close the idle ones; those still lent out are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for lc in idle:
            lc.close()
