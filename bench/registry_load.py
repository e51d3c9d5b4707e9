"""The registry benchmark's HTTP client and its load phase: registered models and model versions over HTTP.

Standard library only: the spawned client processes of the throughput phase import this module and must start
quickly (the registry server's heavy imports stay in :mod:`registry`'s ``run()``).
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

HOST = "127.0.0.1"
FRAMEWORKS = ("sklearn", "xgboost", "pytorch")
VERSIONS_PER_MODEL = 100
SEED = 20240501

# Idle keep-alive connections are closed by uvicorn after 5 s (``timeout_keep_alive``); reconnect before that.
_MAX_IDLE_S = 4.0

VersionRef = tuple[str, str, str]
"""``(version id, registered model id, version name)`` of one model version."""


class BenchError(RuntimeError):
    """The server answered something unexpected (wrong status, wrong data)."""


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection to the registry API (not thread-safe: one per thread/process).

    Args:
        port: Server port on 127.0.0.1.
        base_path: API root, e.g. ``/api/model_registry/v1``.
    """

    def __init__(self, port: int, base_path: str) -> None:
        self.port = port
        self.base_path = base_path
        self._conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self._last_use = time.monotonic()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request and read the whole response.

        GETs are retried once when the server closed the keep-alive connection in the meantime.

        Args:
            method: HTTP method.
            path: Path below the API root, including any query string.
            body: JSON body (already encoded), if any.

        Returns:
            The status code and the raw response body.
        """
        if time.monotonic() - self._last_use > _MAX_IDLE_S:
            self._conn.close()  # the server may be about to drop it; reconnect now rather than mid-request
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self._conn.request(method, self.base_path + path, body=body, headers=headers)
                response = self._conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()
                if method != "GET" or attempt == 2:
                    raise
                continue
            self._last_use = time.monotonic()
            return response.status, payload
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Send a request and decode the JSON answer.

        Raises:
            BenchError: when the status is not ``expect``.
        """
        data = None if body is None else json.dumps(body).encode()
        status, payload = self.request(method, path, data)
        if status != expect:
            raise BenchError(f"{method} {path} -> {status} (expected {expect}): {payload[:300]!r}")
        return json.loads(payload)


def version_properties(rng: random.Random) -> dict[str, dict[str, Any]]:
    """Custom properties of one model version (the shape a training pipeline would log)."""
    return {
        "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": round(rng.uniform(0.5, 1.0), 6)},
        "framework": {"metadataType": "MetadataStringValue", "string_value": rng.choice(FRAMEWORKS)},
        "epochs": {"metadataType": "MetadataIntValue", "int_value": str(rng.randint(1, 200))},
        "learning_rate": {"metadataType": "MetadataDoubleValue", "double_value": round(10 ** rng.uniform(-5, -1), 8)},
        "dataset": {"metadataType": "MetadataStringValue", "string_value": f"dataset-{rng.randint(1, 20):02d}"},
        "validated": {"metadataType": "MetadataBoolValue", "bool_value": rng.random() < 0.5},
    }


def version_body(model_id: str, name: str, rng: random.Random) -> dict[str, Any]:
    """The create body of one model version."""
    return {
        "name": name,
        "registeredModelId": model_id,
        "author": "bench",
        "description": f"benchmark version {name}",
        "customProperties": version_properties(rng),
    }


def find_path(model_id: str, name: str) -> str:
    """The find-by-name path of a model version."""
    return "/model_version?" + urlencode({"name": name, "parentResourceId": model_id})


@dataclass
class Loaded:
    """What the load phase created.

    Attributes:
        model_ids: Ids of the registered models.
        versions: Every model version.
    """

    model_ids: list[str]
    versions: list[VersionRef]


class _ThreadClients:
    """One keep-alive :class:`Client` per worker thread, all closed together."""

    def __init__(self, port: int, base_path: str) -> None:
        self.port = port
        self.base_path = base_path
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def get(self) -> Client:
        """This thread's client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(self.port, self.base_path)
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client."""
        for client in self._clients:
            client.close()


def _version_tasks(model_ids: list[str], n_versions: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    """``(model id, version name, body)`` of every version to create, 100 per registered model."""
    tasks = []
    for k in range(n_versions):
        model_id = model_ids[k // VERSIONS_PER_MODEL]
        name = f"v{k % VERSIONS_PER_MODEL:03d}"
        tasks.append((model_id, name, version_body(model_id, name, rng)))
    return tasks


def _progress(done: int, total: int, start: float) -> None:
    if done % 1000 == 0 or done == total:
        elapsed = time.perf_counter() - start
        print(
            f"  loaded {done:>6,} / {total:,} versions  ({elapsed:5.1f} s, {done / elapsed:,.0f} versions/s)",
            flush=True,
        )


def load(port: int, base_path: str, n_versions: int, threads: int) -> Loaded:
    """Create ``ceil(n / 100)`` registered models and ``n_versions`` model versions over HTTP.

    Every worker thread keeps its own keep-alive connection; progress is printed every 1,000 versions.
    """
    rng = random.Random(SEED)
    n_models = max(1, math.ceil(n_versions / VERSIONS_PER_MODEL))
    clients = _ThreadClients(port, base_path)

    def create_model(i: int) -> str:
        body = {"name": f"bench-model-{i:04d}", "owner": "bench", "description": "benchmark registered model"}
        return str(clients.get().json("POST", "/registered_models", body, expect=201)["id"])

    def create_version(task: tuple[str, str, dict[str, Any]]) -> VersionRef:
        model_id, name, body = task
        created = clients.get().json("POST", "/model_versions", body, expect=201)
        return str(created["id"]), model_id, name

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-load") as pool:
            model_ids = list(pool.map(create_model, range(n_models)))
            versions: list[VersionRef] = []
            for result in pool.map(create_version, _version_tasks(model_ids, n_versions, rng)):
                versions.append(result)
                _progress(len(versions), n_versions, start)
    finally:
        clients.close()
    elapsed = time.perf_counter() - start
    print(
        f"load: {n_models:,} registered models + {n_versions:,} model versions in {elapsed:.1f} s"
        f" ({(n_models + n_versions) / elapsed:,.0f} creates/s with {threads} client threads)",
        flush=True,
    )
    return Loaded(model_ids, versions)
