"""Watches of the local API server: ``?watch=true`` streams ADDED / MODIFIED / DELETED events as JSON lines.

Without ``resourceVersion`` a watch starts with an ADDED event for every existing object; with one it replays
the store's history after that version (``ERROR`` 410 Expired when the history no longer reaches back that far).
A watch ends after ``timeoutSeconds`` (default 1800) or when the server shuts down.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.local.cluster.selectors import selected
from kfp_model_lifecycle.local.cluster.store import Store, bad_request, status_object

DEFAULT_TIMEOUT_SECONDS = 1800.0
POLL_SECONDS = 0.5


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


@dataclass(frozen=True)
class WatchRequest:
    """What one watch asks for.

    Attributes:
        namespace: The namespace watched (None: all namespaces).
        query: The request's query parameters (selectors included).
        timeout: Seconds the watch lasts.
        since: The resourceVersion to replay after; None starts with the objects that exist.
    """

    namespace: str | None
    query: dict[str, str]
    timeout: float
    since: int | None

    @classmethod
    def parse(cls, namespace: str | None, query: dict[str, str]) -> WatchRequest:
        """Read a watch request's query parameters.

        Raises:
            ApiError: 400 when ``resourceVersion`` or ``timeoutSeconds`` is not a number.
        """
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
            since = int(query["resourceVersion"]) if query.get("resourceVersion") not in (None, "", "0") else None
        except ValueError:
            raise bad_request("resourceVersion and timeoutSeconds must be numbers") from None
        return cls(namespace, query, timeout, since)

    def wanted(self, obj: dict[str, Any]) -> bool:
        """Whether an event about ``obj`` goes to this watch."""
        in_namespace = self.namespace is None or obj["metadata"].get("namespace") == self.namespace
        return in_namespace and selected(obj, self.query)


def _existing(store: Store, request: WatchRequest) -> tuple[int, list[bytes]]:
    """ADDED events for the objects that exist now, and the resourceVersion they are at."""
    items, resource_version = store.list(request.namespace)
    return int(resource_version), [_event("ADDED", obj) for obj in items if request.wanted(obj)]


async def watch_events(store: Store, request: WatchRequest, closing: threading.Event) -> AsyncIterator[bytes]:
    """The event lines of one watch.

    Args:
        store: The objects.
        request: What the watch asks for.
        closing: Set when the server shuts down (the watch then ends).

    Yields:
        One JSON line per event.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.timeout
    position = request.since
    if position is None:
        position, added = _existing(store, request)
        for line in added:
            yield line
    while loop.time() < deadline and not closing.is_set():
        history = store.events_since(position)
        if history is None:
            gone = status_object(410, "Expired", f"too old resource version: {position}")
            yield _event("ERROR", gone)
            return
        for rv, kind, obj in history:
            position = rv
            if request.wanted(obj):
                yield _event(kind, obj)
        wait = min(POLL_SECONDS, max(0.0, deadline - loop.time()))
        await loop.run_in_executor(None, store.wait_for_change, position, wait)
