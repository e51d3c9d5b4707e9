"""The controller's work queue: InferenceService keys handed to one worker at a time, as client-go's does."""

from __future__ import annotations

import heapq
import threading
import time

Key = tuple[str, str]
"""An InferenceService's ``(namespace, name)``."""


class WorkQueue:
    """A client-go style work queue: a key is handed to one worker at a time; re-adds while busy run after.

    Args:
        name: For thread names.
    """

    def __init__(self, name: str = "kml") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._queue: list[Key] = []
        self._queued: set[Key] = set()
        self._busy: set[Key] = set()
        self._dirty: set[Key] = set()
        self._delayed: list[tuple[float, Key]] = []
        self._closed = False

    def add(self, key: Key) -> None:
        """Queue ``key`` (once; a key being processed is processed again when done)."""
        with self._cond:
            self._enqueue(key)
            self._cond.notify_all()

    def add_after(self, key: Key, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds."""
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + delay, key))
            self._cond.notify_all()

    def get(self) -> Key | None:
        """The next key (blocking); None once the queue is closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, key = heapq.heappop(self._delayed)
                    self._enqueue(key)
                if self._queue:
                    key = self._queue.pop(0)
                    self._queued.discard(key)
                    self._busy.add(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def done(self, key: Key) -> None:
        """Mark ``key`` processed; queue it again if it was added meanwhile."""
        with self._cond:
            self._busy.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._enqueue(key)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiting worker with None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _enqueue(self, key: Key) -> None:
        """Queue ``key`` unless it is queued already; mark it dirty while a worker holds it (lock held)."""
        if key in self._busy:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queue.append(key)
            self._queued.add(key)
