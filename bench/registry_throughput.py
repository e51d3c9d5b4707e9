"""The registry benchmark's throughput phase: client processes mixing get-by-id and find-by-name.

Each client is a spawned process with one keep-alive connection (so the load generator does not share a GIL
with itself or the server); they start together behind a barrier and report their latencies on a queue.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from registry_load import SEED, BenchError, Client, VersionRef, find_path
from registry_stats import TARGET_THROUGHPUT_RPS, Row, ServerCpu, latency_row

_WARMUP_REQUESTS = 50
_START_TIMEOUT_S = 120


@dataclass(frozen=True)
class ClientReport:
    """What one client process reports.

    Attributes:
        latencies: Every request's latency in milliseconds.
        errors: Requests that did not answer 200.
        start: When its timed requests started (``time.monotonic``, comparable between processes on one machine).
        end: When they ended.
        failure: Why the client failed, if it did (the other fields are then empty).
        slow: Whether it was the slow client of a concurrency measurement.
    """

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    start: float = 0.0
    end: float = 0.0
    failure: str | None = None
    slow: bool = False


def _timed_requests(one: Callable[[], bool], duration: float) -> ClientReport:
    """Call ``one`` (a request; True when it answered 200) for ``duration`` seconds, timing every call."""
    latencies: list[float] = []
    errors = 0
    start = time.monotonic()
    deadline = start + duration
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        ok = one()
        latencies.append((time.perf_counter() - t0) * 1000)
        errors += not ok
    return ClientReport(latencies, errors, start, time.monotonic())


def _throughput_worker(
    port: int,
    base_path: str,
    targets: list[VersionRef],
    duration: float,
    barrier: Any,
    results: Any,
    seed: int,
    slow_path: str | None = None,
) -> None:
    """One client process of the throughput phase: alternate get-by-id and find-by-name until the deadline.

    With ``slow_path``, request only that path instead (the slow client of the concurrency measurement). Puts a
    :class:`ClientReport` on ``results``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates us
    rng = random.Random(seed)
    client = Client(port, base_path)
    try:

        def one() -> bool:
            if slow_path is not None:
                status, _ = client.request("GET", slow_path)
                return status == 200
            version_id, model_id, name = rng.choice(targets)
            path = f"/model_versions/{version_id}" if rng.random() < 0.5 else find_path(model_id, name)
            status, _ = client.request("GET", path)
            return status == 200

        for _ in range(1 if slow_path else _WARMUP_REQUESTS):  # warm-up: connection, server-side caches
            one()
        barrier.wait(timeout=_START_TIMEOUT_S)
        results.put(replace(_timed_requests(one, duration), slow=slow_path is not None))
    except Exception as exc:
        results.put(ClientReport(failure=f"{type(exc).__name__}: {exc}"))
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

    @classmethod
    def of(cls, reports: list[ClientReport], server_cpu_s: float | None) -> Throughput:
        """Sum up the client reports.

        Raises:
            BenchError: when a client failed.
        """
        failures = [r.failure for r in reports if r.failure is not None]
        if failures:
            raise BenchError(f"throughput client failed: {failures[0]}")
        wall = max(r.end for r in reports) - min(r.start for r in reports)
        latencies = [x for r in reports for x in r.latencies]
        return cls(len(latencies) / wall, latencies, sum(r.errors for r in reports), wall, server_cpu_s)

    def row(self, clients: int, label: str = "") -> Row:
        """The throughput line of the result table."""
        label = label or f"throughput     {clients} client processes, 50% get-by-id / 50% find"
        row = latency_row(label, self.latencies_ms, self.wall_s, self.server_cpu_s)
        row.rate = f"{self.rps:,.0f} req/s"
        if self.server_cpu_s is not None:
            row.rate += f" (server CPU {self.server_cpu_s / self.wall_s:.0%})"
        row.target = f">= {TARGET_THROUGHPUT_RPS:g} req/s"
        row.met = self.rps >= TARGET_THROUGHPUT_RPS and self.errors == 0
        if self.errors:
            row.operation += f" ({self.errors:,} errors)"
        return row


def _wait_for_start(barrier: Any, results: Any) -> None:
    """Release the clients together once all are warm.

    Raises:
        BenchError: when a client failed to start.
    """
    try:
        barrier.wait(timeout=_START_TIMEOUT_S)
    except threading.BrokenBarrierError:
        try:
            reason = results.get(timeout=5).failure or "unknown error"
        except queue.Empty:
            reason = f"no client process got ready within {_START_TIMEOUT_S} s"
        raise BenchError(f"a throughput client process failed to start: {reason}") from None


def _collect(results: Any, clients: int, duration: float) -> list[ClientReport]:
    reports = []
    for _ in range(clients):
        try:
            reports.append(results.get(timeout=duration + 60))
        except queue.Empty:
            raise BenchError("a throughput client process did not report") from None
    return reports


@dataclass
class SlowClient:
    """What the slow client of a concurrency measurement saw.

    Attributes:
        path: The slow request it repeated.
        latencies_ms: Its latencies.
    """

    path: str
    latencies_ms: list[float] = field(default_factory=list)


def throughput(
    port: int,
    cpu: ServerCpu,
    targets: list[VersionRef],
    base_path: str,
    clients: int,
    duration: float,
    slow: SlowClient | None = None,
) -> Throughput:
    """Run ``clients`` client processes (one keep-alive connection each) for ``duration`` seconds.

    With ``slow``, one more process repeats ``slow.path`` meanwhile (a slow list), and its latencies are added to
    ``slow``; the result counts only the ``clients``.

    Raises:
        BenchError: when a client process fails.
    """
    ctx = mp.get_context("spawn")
    total = clients + (1 if slow else 0)
    barrier = ctx.Barrier(total + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_throughput_worker,
            args=(port, base_path, targets, duration, barrier, results, SEED + i),
            kwargs={"slow_path": slow.path if slow and i == clients else None},
            name=f"bench-client-{i}",
            daemon=True,
        )
        for i in range(total)
    ]
    try:
        for p in procs:
            p.start()
        _wait_for_start(barrier, results)
        cpu_start = cpu.read()
        reports = _collect(results, total, duration)
        cpu_spent = ServerCpu.spent(cpu_start, cpu.read())
        if slow is not None:
            slow.latencies_ms.extend(x for r in reports if r.slow for x in r.latencies)
            reports = [r for r in reports if not r.slow]
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        results.close()
        results.join_thread()
    return Throughput.of(reports, cpu_spent)
