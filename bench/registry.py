"""Benchmark of the embedded Model Registry (REST API v1 on SQLite) over loopback HTTP.

The script starts the registry in a subprocess on a temporary database (so the load generator does not
share the GIL with the server), loads ``--versions`` model versions with custom properties over keep-alive
HTTP connections, then measures with raw ``http.client`` requests (not the ``model_registry`` client, whose
per-call session set-up would dominate):

* get-by-id ``GET /model_versions/{id}``,
* find-by-name ``GET /model_version?name=..&parentResourceId=..``,
* a filtered list ``GET /model_versions?filterQuery=accuracy > 0.9 AND framework = "sklearn"&pageSize=100``,
* a full keyset-paged scan of every model version (``pageSize=100``),
* create ``POST /model_versions`` (into a fresh registered model),
* sustained throughput of 4 concurrent client processes mixing get-by-id and find-by-name.

It prints one table with p50/p99 latencies, the rate, the server's CPU time per request (read from
``/proc/<pid>/stat``: unlike wall-clock latency it excludes the client's work and moves less when other
processes compete for the CPUs) and the targets, plus how much CPU other processes used meanwhile (a warning
says when the machine was busy). It exits 0 (it is a measurement); ``--check`` exits 1 when a target is
missed. All traffic goes to 127.0.0.1; the server and the temporary directory are removed on exit, also on
Ctrl-C, SIGTERM and errors.

Usage::

    .venv/bin/python bench/registry.py            # 10,000 versions, ~1-2 minutes
    .venv/bin/python bench/registry.py --quick    # 1,000 versions, smoke run
    .venv/bin/python bench/registry.py --check    # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

# Heavy imports (the registry server: uvicorn, starlette, pydantic, mr_openapi) are done lazily in
# ``run()`` so the spawned client processes of the throughput phase start quickly.

HOST = "127.0.0.1"
FRAMEWORKS = ("sklearn", "xgboost", "pytorch")
FILTER_QUERY = 'accuracy > 0.9 AND framework = "sklearn"'
VERSIONS_PER_MODEL = 100
SEED = 20240501

# Targets (p50 in milliseconds; throughput in requests per second).
TARGET_GET_P50_MS = 3.0
TARGET_FIND_P50_MS = 3.0
TARGET_CREATE_P50_MS = 5.0
TARGET_FILTER_P50_MS = 30.0
TARGET_THROUGHPUT_RPS = 500.0

# Idle keep-alive connections are closed by uvicorn after 5 s (``timeout_keep_alive``); reconnect before that.
_MAX_IDLE_S = 4.0


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


def _version_properties(rng: random.Random) -> dict[str, dict[str, Any]]:
    """Custom properties of one model version (the shape a training pipeline would log)."""
    return {
        "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": round(rng.uniform(0.5, 1.0), 6)},
        "framework": {"metadataType": "MetadataStringValue", "string_value": rng.choice(FRAMEWORKS)},
        "epochs": {"metadataType": "MetadataIntValue", "int_value": str(rng.randint(1, 200))},
        "learning_rate": {"metadataType": "MetadataDoubleValue", "double_value": round(10 ** rng.uniform(-5, -1), 8)},
        "dataset": {"metadataType": "MetadataStringValue", "string_value": f"dataset-{rng.randint(1, 20):02d}"},
        "validated": {"metadataType": "MetadataBoolValue", "bool_value": rng.random() < 0.5},
    }


def _version_body(model_id: str, name: str, rng: random.Random) -> dict[str, Any]:
    return {
        "name": name,
        "registeredModelId": model_id,
        "author": "bench",
        "description": f"benchmark version {name}",
        "customProperties": _version_properties(rng),
    }


def _find_path(model_id: str, name: str) -> str:
    return "/model_version?" + urlencode({"name": name, "parentResourceId": model_id})


# --------------------------------------------------------------------------------------------------------------
# Statistics and results
# --------------------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank method (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Row:
    """One line of the result table.

    Attributes:
        operation: What was measured.
        n: Number of samples (requests, pages or scans).
        p50_ms: Median latency in milliseconds.
        p99_ms: 99th percentile latency in milliseconds.
        rate: Requests (or items) per second achieved, as text.
        server_cpu_ms: CPU time the server process spent per sample, in milliseconds (None when unknown).
        target: The target, as text ("-" when there is none).
        met: Whether the target was met (None when there is no target).
    """

    operation: str
    n: int
    p50_ms: float
    p99_ms: float
    rate: str
    server_cpu_ms: float | None = None
    target: str = "-"
    met: bool | None = None


def latency_row(
    operation: str,
    latencies_ms: Sequence[float],
    elapsed_s: float,
    server_cpu_s: float | None,
    target_p50_ms: float | None = None,
) -> Row:
    """A table row from a list of latencies, with an optional p50 target.

    Args:
        operation: What was measured.
        latencies_ms: One latency per sample.
        elapsed_s: Wall time of the samples (0 when a rate makes no sense).
        server_cpu_s: Server CPU time spent on the samples, if known.
        target_p50_ms: The p50 target, if any.
    """
    n = len(latencies_ms)
    row = Row(
        operation,
        n,
        percentile(latencies_ms, 50),
        percentile(latencies_ms, 99),
        f"{n / elapsed_s:,.0f} req/s" if elapsed_s > 0 else "-",
        server_cpu_s * 1000 / n if server_cpu_s is not None and n else None,
    )
    if target_p50_ms is not None:
        row.target = f"p50 <= {target_p50_ms:g} ms"
        row.met = row.p50_ms <= target_p50_ms
    return row


def print_table(rows: Sequence[Row]) -> None:
    """Print the result table."""
    header = ("operation", "n", "p50 ms", "p99 ms", "rate", "server CPU ms", "target", "met?")
    cells = [
        (
            r.operation,
            f"{r.n:,}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            r.rate,
            "-" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}",
            r.target,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    right = {1, 2, 3, 4, 5}

    def fmt(row: Sequence[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    print(fmt(header).rstrip())
    print("-+-".join("-" * w for w in widths))
    for c in cells:
        print(fmt(c).rstrip())


def machine_info() -> list[str]:
    """Lines describing the machine and the software under test."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"nproc: {os.cpu_count()} (usable: {affinity}); cpu: {cpu}; load average (1/5/15 min): {load}",
        f"python: {platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
        f"sqlite: {sqlite3.sqlite_version}; uvicorn {version('uvicorn')} (http: "
        f"{'httptools' if importlib.util.find_spec('httptools') else 'h11'}, loop: "
        f"{'uvloop' if importlib.util.find_spec('uvloop') else 'asyncio'}); starlette {version('starlette')}; "
        f"pydantic {version('pydantic')}",
    ]


class ServerCpu:
    """CPU time (user + system) used so far by the server process, read from ``/proc`` (Linux only).

    Server CPU per request excludes the client's own work and varies less than wall-clock latency when
    other processes compete for the CPUs, so it is the figure to compare between runs and versions.

    Args:
        pid: The server's process id; None (or a platform without ``/proc``) disables the measurement.
    """

    def __init__(self, pid: int | None) -> None:
        self._stat = Path(f"/proc/{pid}/stat") if pid else None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        if self.read() is None:
            self._stat = None

    def read(self) -> float | None:
        """Seconds of CPU the server has used since it started, or None when unknown."""
        if self._stat is None:
            return None
        try:
            text = self._stat.read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
        return (int(fields[11]) + int(fields[12])) / self._tick  # fields 14 and 15: utime and stime

    @staticmethod
    def spent(before: float | None, after: float | None) -> float | None:
        """CPU seconds between two readings, or None when either is unknown."""
        return None if before is None or after is None else after - before


def system_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have used since boot (``/proc/stat``), or None when unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its waited-for children (the server, the client processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What the load phase created.

    Attributes:
        model_ids: Ids of the registered models.
        versions: ``(version id, registered model id, version name)`` of every model version.
    """

    model_ids: list[str]
    versions: list[tuple[str, str, str]]


def load(port: int, base_path: str, n_versions: int, threads: int) -> Loaded:
    """Create ``ceil(n / 100)`` registered models and ``n_versions`` model versions over HTTP.

    Every worker thread keeps its own keep-alive connection; progress is printed every 1,000 versions.
    """
    rng = random.Random(SEED)
    n_models = max(1, math.ceil(n_versions / VERSIONS_PER_MODEL))
    local = threading.local()
    clients: list[Client] = []
    clients_lock = threading.Lock()

    def client() -> Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = Client(port, base_path)
            with clients_lock:
                clients.append(c)
        return c

    def create_model(i: int) -> str:
        body = {"name": f"bench-model-{i:04d}", "owner": "bench", "description": "benchmark registered model"}
        return str(client().json("POST", "/registered_models", body, expect=201)["id"])

    def create_version(task: tuple[str, str, dict[str, Any]]) -> tuple[str, str, str]:
        model_id, name, body = task
        created = client().json("POST", "/model_versions", body, expect=201)
        return str(created["id"]), model_id, name

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-load") as pool:
            model_ids = list(pool.map(create_model, range(n_models)))
            tasks = []
            for k in range(n_versions):
                model_id = model_ids[k // VERSIONS_PER_MODEL]
                name = f"v{k % VERSIONS_PER_MODEL:03d}"
                tasks.append((model_id, name, _version_body(model_id, name, rng)))
            versions: list[tuple[str, str, str]] = []
            for versions_done, result in enumerate(pool.map(create_version, tasks), start=1):
                versions.append(result)
                if versions_done % 1000 == 0 or versions_done == n_versions:
                    elapsed = time.perf_counter() - start
                    print(
                        f"  loaded {versions_done:>6,} / {n_versions:,} versions"
                        f"  ({elapsed:5.1f} s, {versions_done / elapsed:,.0f} versions/s)",
                        flush=True,
                    )
    finally:
        for c in clients:
            c.close()
    elapsed = time.perf_counter() - start
    print(
        f"load: {n_models:,} registered models + {n_versions:,} model versions in {elapsed:.1f} s"
        f" ({(n_models + n_versions) / elapsed:,.0f} creates/s with {threads} client threads)",
        flush=True,
    )
    return Loaded(model_ids, versions)


def timed(
    client: Client,
    cpu: ServerCpu,
    make: Callable[[int], tuple[str, str, bytes | None]],
    n: int,
    warmup: int,
    expect: int,
) -> tuple[list[float], float, float | None]:
    """Run ``warmup`` + ``n`` requests sequentially on one connection and time the last ``n``.

    Args:
        client: The connection.
        cpu: The server's CPU meter.
        make: Builds request ``i`` as ``(method, path, body)``; called outside the timed section.
        n: Timed requests.
        warmup: Untimed requests first.
        expect: Expected status code of every response.

    Returns:
        The latencies in milliseconds, the wall time of the timed requests in seconds and the server CPU
        seconds they took (None when unknown).

    Raises:
        BenchError: on an unexpected status.
    """
    latencies: list[float] = []
    wall = 0.0
    cpu_start = None
    for i in range(warmup + n):
        method, path, body = make(i)
        if i == warmup:
            cpu_start = cpu.read()
        t0 = time.perf_counter()
        status, payload = client.request(method, path, body)
        t1 = time.perf_counter()
        if status != expect:
            raise BenchError(f"{method} {path} -> {status} (expected {expect}): {payload[:300]!r}")
        if i >= warmup:
            latencies.append((t1 - t0) * 1000)
            wall += t1 - t0
    return latencies, wall, ServerCpu.spent(cpu_start, cpu.read())


def full_scan(client: Client, page_size: int) -> tuple[float, list[float], int]:
    """Page through every model version with keyset pagination.

    Returns:
        The total time in seconds, each page's latency in milliseconds and the number of items seen.
    """
    latencies: list[float] = []
    items = 0
    token = ""
    start = time.perf_counter()
    while True:
        query = {"pageSize": str(page_size), "orderBy": "ID", "sortOrder": "ASC"}
        if token:
            query["nextPageToken"] = token
        t0 = time.perf_counter()
        status, payload = client.request("GET", "/model_versions?" + urlencode(query))
        latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise BenchError(f"list page -> {status}: {payload[:300]!r}")
        page = json.loads(payload)
        items += len(page["items"])
        token = page["nextPageToken"]
        if not token:
            break
    return time.perf_counter() - start, latencies, items


def _throughput_worker(
    port: int,
    base_path: str,
    targets: list[tuple[str, str, str]],
    duration: float,
    barrier: Any,
    results: Any,
    seed: int,
) -> None:
    """One client process of the throughput phase: alternate get-by-id and find-by-name until the deadline.

    Puts a dict with ``count``, ``errors``, ``start``, ``end`` (``time.monotonic``, comparable between
    processes on one machine) and ``latencies`` (ms) on ``results``; or ``{"error": ...}``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates us
    rng = random.Random(seed)
    client = Client(port, base_path)
    try:

        def one() -> bool:
            version_id, model_id, name = rng.choice(targets)
            path = f"/model_versions/{version_id}" if rng.random() < 0.5 else _find_path(model_id, name)
            status, _ = client.request("GET", path)
            return status == 200

        for _ in range(50):  # warm-up: connection, server-side caches
            one()
        barrier.wait(timeout=120)
        latencies: list[float] = []
        errors = 0
        start = time.monotonic()
        deadline = start + duration
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            ok = one()
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok
        end = time.monotonic()
        results.put({"count": len(latencies), "errors": errors, "start": start, "end": end, "latencies": latencies})
    except Exception as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        barrier.abort()  # do not leave the parent waiting for a client that will never come
    finally:
        client.close()


@dataclass
class Throughput:
    """The outcome of the throughput phase.

    Attributes:
        rps: Requests per second, all clients together.
        latencies_ms: Every request's latency.
        errors: Requests that did not answer 200.
        wall_s: Wall time from the first client's start to the last client's end.
        server_cpu_s: Server CPU seconds used meanwhile (None when unknown).
    """

    rps: float
    latencies_ms: list[float]
    errors: int
    wall_s: float
    server_cpu_s: float | None


def throughput(
    port: int, cpu: ServerCpu, targets: list[tuple[str, str, str]], base_path: str, clients: int, duration: float
) -> Throughput:
    """Run ``clients`` client processes (one keep-alive connection each) for ``duration`` seconds.

    Raises:
        BenchError: when a client process fails.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_throughput_worker,
            args=(port, base_path, targets, duration, barrier, results, SEED + i),
            name=f"bench-client-{i}",
            daemon=True,
        )
        for i in range(clients)
    ]
    try:
        for p in procs:
            p.start()
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            try:
                reason = results.get(timeout=5).get("error", "unknown error")
            except queue.Empty:
                reason = "no client process got ready within 120 s"
            raise BenchError(f"a throughput client process failed to start: {reason}") from None
        cpu_start = cpu.read()
        outcomes = []
        for _ in procs:
            try:
                outcomes.append(results.get(timeout=duration + 60))
            except queue.Empty:
                raise BenchError("a throughput client process did not report") from None
        cpu_spent = ServerCpu.spent(cpu_start, cpu.read())
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        results.close()
        results.join_thread()
    failures = [o["error"] for o in outcomes if "error" in o]
    if failures:
        raise BenchError(f"throughput client failed: {failures[0]}")
    wall = max(o["end"] for o in outcomes) - min(o["start"] for o in outcomes)
    latencies = [x for o in outcomes for x in o["latencies"]]
    return Throughput(len(latencies) / wall, latencies, sum(o["errors"] for o in outcomes), wall, cpu_spent)


# --------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------


class Interrupts:
    """Context manager: SIGTERM and SIGINT raise KeyboardInterrupt, and :attr:`received` remembers them.

    SIGTERM then runs the clean-up in ``finally`` blocks like Ctrl-C does. Ctrl-C also reaches the server
    (same process group), which may close connections before this process sees the signal; ``received``
    tells such an error apart from a real failure. A SIGINT that is ignored (e.g. under ``nohup``) stays so.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        raise KeyboardInterrupt

    def __enter__(self) -> Interrupts:
        for sig in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def measure_sequential(
    client: Client, cpu: ServerCpu, versions: list[tuple[str, str, str]], args: argparse.Namespace
) -> list[Row]:
    """The single-client latency measurements: get, find, filtered list, full scan and create.

    Raises:
        BenchError: on an unexpected status or a wrong answer.
    """
    iterations: int = args.iterations
    warmup = max(20, iterations // 10)
    rng = random.Random(SEED + 1)
    rows: list[Row] = []

    # Correctness spot-checks first: a benchmark of wrong answers is worthless.
    vid, mid, name = versions[len(versions) // 2]
    if client.json("GET", _find_path(mid, name))["id"] != vid:
        raise BenchError(f"find-by-name of {name!r} in model {mid} did not return version {vid}")
    if client.json("GET", f"/model_versions/{vid}")["name"] != name:
        raise BenchError(f"get-by-id of {vid} did not return version {name!r}")

    print(f"measuring get-by-id ({iterations} requests)...", flush=True)
    picks = [rng.choice(versions) for _ in range(warmup + iterations)]
    lat, wall, spent = timed(
        client, cpu, lambda i: ("GET", f"/model_versions/{picks[i][0]}", None), iterations, warmup, 200
    )
    rows.append(latency_row("get-by-id      GET /model_versions/{id}", lat, wall, spent, TARGET_GET_P50_MS))

    print(f"measuring find-by-name ({iterations} requests)...", flush=True)
    picks = [rng.choice(versions) for _ in range(warmup + iterations)]
    lat, wall, spent = timed(
        client, cpu, lambda i: ("GET", _find_path(picks[i][1], picks[i][2]), None), iterations, warmup, 200
    )
    label = "find-by-name   GET /model_version?name=&parentResourceId="
    rows.append(latency_row(label, lat, wall, spent, TARGET_FIND_P50_MS))

    n_filter = max(20, iterations // 5)
    print(f"measuring filtered list ({n_filter} requests of filterQuery={FILTER_QUERY})...", flush=True)
    filter_path = "/model_versions?" + urlencode({"filterQuery": FILTER_QUERY, "pageSize": "100"})
    page = client.json("GET", filter_path)
    for item in page["items"]:
        props = item["customProperties"]
        if not (props["accuracy"]["double_value"] > 0.9 and props["framework"]["string_value"] == "sklearn"):
            raise BenchError(f"the filtered list returned a version that does not match: {item['id']}")
    lat, wall, spent = timed(client, cpu, lambda i: ("GET", filter_path, None), n_filter, 5, 200)
    label = f"filtered list  GET /model_versions?filterQuery=..&pageSize=100 ({page['size']} items)"
    rows.append(latency_row(label, lat, wall, spent, TARGET_FILTER_P50_MS))

    print(f"measuring full paged scan ({args.scans} scans of {len(versions):,} versions)...", flush=True)
    full_scan(client, 100)  # warm-up
    scan_ms: list[float] = []
    page_ms: list[float] = []
    cpu_start = cpu.read()
    for _ in range(args.scans):
        seconds, lat, items = full_scan(client, 100)
        if items != len(versions):
            raise BenchError(f"the paged scan saw {items} versions, expected {len(versions)}")
        scan_ms.append(seconds * 1000)
        page_ms.extend(lat)
    spent = ServerCpu.spent(cpu_start, cpu.read())
    label = f"full scan      {len(versions):,} versions, pageSize=100 (ms per scan)"
    scan_row = latency_row(label, scan_ms, 0, spent)
    scan_row.rate = f"{len(versions) * len(scan_ms) / (sum(scan_ms) / 1000):,.0f} items/s"
    rows.append(scan_row)
    rows.append(latency_row("full scan      per page (100 items)", page_ms, sum(page_ms) / 1000, spent))

    n_create = max(20, iterations // 2)
    print(f"measuring create ({n_create} requests)...", flush=True)
    fresh = client.json("POST", "/registered_models", {"name": f"bench-create-{os.getpid()}"}, expect=201)
    model_id = str(fresh["id"])
    bodies = [json.dumps(_version_body(model_id, f"c{i:05d}", rng)).encode() for i in range(warmup + n_create)]
    lat, wall, spent = timed(client, cpu, lambda i: ("POST", "/model_versions", bodies[i]), n_create, warmup, 201)
    label = "create         POST /model_versions (6 custom properties)"
    rows.append(latency_row(label, lat, wall, spent, TARGET_CREATE_P50_MS))
    return rows


def run(args: argparse.Namespace) -> list[Row]:
    """Start the server, load it, measure everything and return the table rows (the server is always stopped)."""
    from kfp_model_lifecycle.local.registry.app import BASE_PATH
    from kfp_model_lifecycle.local.registry.server import EmbeddedRegistry

    with tempfile.TemporaryDirectory(prefix="kml-bench-") as tmp:
        db_path = Path(tmp) / "registry.db"
        registry = EmbeddedRegistry(db_path, in_process=False)
        t0 = time.perf_counter()
        registry.start()  # stops (and cleans up) by itself when it fails
        try:
            startup = time.perf_counter() - t0
            print(f"server: {registry.api_url} (subprocess), database {db_path}, started in {startup:.2f} s")
            # EmbeddedRegistry has no public pid; without it the "server CPU" column just shows "-".
            proc = getattr(registry, "_proc", None)
            cpu = ServerCpu(getattr(proc, "pid", None))
            loaded = load(registry.port, BASE_PATH, args.versions, args.load_threads)
            size = sum(f.stat().st_size for f in Path(tmp).iterdir() if f.name.startswith("registry.db"))
            print(f"database size: {size / 2**20:.1f} MiB (with WAL)", flush=True)

            client = Client(registry.port, BASE_PATH)
            try:
                rows = measure_sequential(client, cpu, loaded.versions, args)
            finally:
                client.close()

            print(f"measuring throughput ({args.clients} client processes, {args.duration:g} s)...", flush=True)
            result = throughput(registry.port, cpu, loaded.versions, BASE_PATH, args.clients, args.duration)
            label = f"throughput     {args.clients} client processes, 50% get-by-id / 50% find"
            row = latency_row(label, result.latencies_ms, result.wall_s, result.server_cpu_s)
            row.rate = f"{result.rps:,.0f} req/s"
            if result.server_cpu_s is not None:
                row.rate += f" (server CPU {result.server_cpu_s / result.wall_s:.0%})"
            row.target = f">= {TARGET_THROUGHPUT_RPS:g} req/s"
            row.met = result.rps >= TARGET_THROUGHPUT_RPS and result.errors == 0
            if result.errors:
                row.operation += f" ({result.errors:,} errors)"
            rows.append(row)
        finally:
            registry.stop()
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Benchmark the embedded Model Registry (REST API v1 on SQLite) over loopback HTTP."
    )
    parser.add_argument("--versions", type=int, default=None, help="model versions to load (default: 10000)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds of the throughput phase (default: 5, --quick: 2)"
    )
    parser.add_argument(
        "--iterations", type=int, default=None, help="requests per latency measurement (default: 1000, --quick: 200)"
    )
    parser.add_argument("--clients", type=int, default=4, help="client processes of the throughput phase (default: 4)")
    parser.add_argument("--load-threads", type=int, default=4, help="client threads of the load phase (default: 4)")
    parser.add_argument("--scans", type=int, default=None, help="measured full scans (default: 3, --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 versions, fewer iterations")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.versions = args.versions if args.versions is not None else (1000 if args.quick else 10_000)
    args.duration = args.duration if args.duration is not None else (2.0 if args.quick else 5.0)
    args.iterations = args.iterations if args.iterations is not None else (200 if args.quick else 1000)
    args.scans = args.scans if args.scans is not None else (1 if args.quick else 3)
    for name in ("versions", "iterations", "clients", "load_threads", "scans"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0:
        parser.error("--duration must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success (1 with ``--check`` when a target is missed, 130 when interrupted)."""
    args = parse_args(argv)
    print("Model Registry benchmark")
    for line in machine_info():
        print("  " + line)
    print(
        f"  settings: {args.versions:,} versions, {args.iterations} requests per latency measurement,"
        f" {args.clients} clients x {args.duration:g} s throughput",
        flush=True,
    )
    started = time.perf_counter()
    busy_before, own_before = system_busy_seconds(), own_cpu_seconds()
    interrupts = Interrupts()
    try:
        with interrupts:
            rows = run(args)
    except (KeyboardInterrupt, BenchError, OSError, RuntimeError) as exc:
        if isinstance(exc, KeyboardInterrupt) or interrupts.received:
            print("\ninterrupted: server stopped and temporary database removed", file=sys.stderr)
            return 130
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print()
    print_table(rows)
    missed = [r.operation for r in rows if r.met is False]
    elapsed = time.perf_counter() - started
    print()
    print(f"total time: {elapsed:.1f} s; targets missed: {len(missed)}")
    busy_after = system_busy_seconds()
    if busy_before is not None and busy_after is not None:
        others = max(0.0, (busy_after - busy_before) - (own_cpu_seconds() - own_before))
        print(
            f"CPU used by other processes meanwhile: {others:.1f} CPU-s"
            f" ({others / elapsed:.2f} of {os.cpu_count()} CPUs on average)"
        )
        if others / elapsed > 0.2:
            print(
                "warning: other processes used the CPUs meanwhile, so latencies and rates are worse than on an"
                " idle machine; compare the server CPU column between runs"
            )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
