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
* sustained throughput of 4 concurrent client processes mixing get-by-id and find-by-name, alone and while a
  fifth process keeps listing every version unpaged (a slow query must not stall the others),
* the time from starting ``kml registry serve`` (a fresh process) to its first answer, on an empty and on the
  loaded database (``registry_startup.py``),
* ``filterQuery`` lists at 1,000, 10,000 and 100,000 versions (seeded directly, not over HTTP) with their query
  plans (``registry_filters.py``).

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

The phases live beside this entry point: ``registry_load.py`` (the HTTP client and the load phase),
``registry_measure.py`` (the single-client latencies), ``registry_throughput.py`` (the client processes),
``registry_startup.py`` (start-up), ``registry_filters.py`` (filters by size, query plans) and
``registry_stats.py`` (statistics, the table, the targets, CPU accounting).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from registry_filters import print_plans, run_filters
from registry_load import BenchError, Client, load
from registry_measure import measure_sequential
from registry_startup import run_startup
from registry_stats import Row, ServerCpu, latency_row, machine_info, own_cpu_seconds, print_table, system_busy_seconds
from registry_throughput import SlowClient, throughput

# Heavy imports (the registry server: uvicorn, starlette, pydantic, mr_openapi) are done lazily in
# ``run()`` so the spawned client processes of the throughput phase start quickly.


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


def _concurrency_rows(
    registry: Any, cpu: ServerCpu, loaded: Any, base_path: str, args: argparse.Namespace
) -> list[Row]:
    """Throughput alone, then with a fifth client listing every version unpaged meanwhile."""
    print(f"measuring throughput ({args.clients} client processes, {args.duration:g} s)...", flush=True)
    rows = [throughput(registry.port, cpu, loaded.versions, base_path, args.clients, args.duration).row(args.clients)]
    print("measuring throughput while another client lists every version unpaged...", flush=True)
    slow = SlowClient("/model_versions")
    busy = throughput(registry.port, cpu, loaded.versions, base_path, args.clients, args.duration, slow)
    label = f"throughput     {args.clients} clients as above, while a 5th lists all {len(loaded.versions):,} versions"
    rows.append(busy.row(args.clients, label))
    rows.append(
        latency_row(
            f"slow list      GET /model_versions (unpaged, {len(loaded.versions):,} items)", slow.latencies_ms, 0, None
        )
    )
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
            cpu = ServerCpu(registry.pid)
            loaded = load(registry.port, BASE_PATH, args.versions, args.load_threads)
            size = sum(f.stat().st_size for f in Path(tmp).iterdir() if f.name.startswith("registry.db"))
            print(f"database size: {size / 2**20:.1f} MiB (with WAL)", flush=True)

            client = Client(registry.port, BASE_PATH)
            try:
                rows = measure_sequential(client, cpu, loaded.versions, args.iterations, args.scans)
            finally:
                client.close()
            rows += _concurrency_rows(registry, cpu, loaded, BASE_PATH, args)
        finally:
            registry.stop()
        print(f"measuring start-up ({args.startup_runs} fresh processes each)...", flush=True)
        rows += run_startup(db_path, args.startup_runs)
    if args.filter_sizes:
        filter_rows, plans = run_filters(args.filter_sizes, args.filter_requests)
        rows += filter_rows
        args.plans = plans
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
    parser.add_argument(
        "--filter-sizes",
        default=None,
        help="comma-separated version counts of the filter phase (default: 1000,10000,100000; --quick: 1000,10000;"
        " 0 skips it)",
    )
    parser.add_argument(
        "--filter-requests", type=int, default=None, help="requests per filter and size (default: 30, --quick: 10)"
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=None,
        help="fresh server processes per start-up row (default: 5, --quick: 3)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 versions, fewer iterations")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.versions = args.versions if args.versions is not None else (1000 if args.quick else 10_000)
    args.duration = args.duration if args.duration is not None else (2.0 if args.quick else 5.0)
    args.iterations = args.iterations if args.iterations is not None else (200 if args.quick else 1000)
    args.scans = args.scans if args.scans is not None else (1 if args.quick else 3)
    args.filter_requests = args.filter_requests or (10 if args.quick else 30)
    args.startup_runs = args.startup_runs or (3 if args.quick else 5)
    sizes = (
        args.filter_sizes if args.filter_sizes is not None else ("1000,10000" if args.quick else "1000,10000,100000")
    )
    try:
        args.filter_sizes = [int(x) for x in sizes.split(",") if x.strip() and int(x) > 0]
    except ValueError:
        parser.error(f"--filter-sizes {sizes!r}: expected comma-separated numbers of versions")
    args.plans = {}
    for name in ("versions", "iterations", "clients", "load_threads", "scans", "filter_requests", "startup_runs"):
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
    if args.plans:
        print_plans(args.plans)
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
