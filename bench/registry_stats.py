"""The registry benchmark's results: latency statistics, the result table and its targets, CPU accounting.

The server's CPU time (``/proc/<pid>/stat``) excludes the client's work and moves less than wall-clock latency
when other processes compete for the CPUs; :func:`system_busy_seconds` and :func:`own_cpu_seconds` tell how
busy the machine was meanwhile.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import platform
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Targets (p50 in milliseconds; throughput in requests per second).
TARGET_GET_P50_MS = 3.0
TARGET_FIND_P50_MS = 3.0
TARGET_CREATE_P50_MS = 5.0
TARGET_FILTER_P50_MS = 30.0
TARGET_THROUGHPUT_RPS = 500.0


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
