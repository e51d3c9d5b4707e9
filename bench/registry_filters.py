"""The registry benchmark's filter phase: ``filterQuery`` latency at 1k, 10k and 100k model versions.

For each size a database is seeded directly (``Store.create_many``, the rows the server itself writes: loading
100,000 versions over HTTP would take minutes), then served by ``EmbeddedRegistry(in_process=False)`` and every
filter of :data:`FILTERS` is requested over keep-alive HTTP with ``pageSize=100``. Each row reports the p50, the
server CPU per request, the number of matching versions, whether the filter is index-friendly, and SQLite's
``EXPLAIN QUERY PLAN`` of the list (printed below the table): a selective filter starts from a property index and
reads only its matches; a broad one scans versions in id order and stops when the page is full.

Target: at 100,000 versions every index-friendly filter under 15 ms p50. A filter no index can answer (``ILIKE``
on a substring) scans the versions in order until the page is full, so a rare one reads the whole table; two such
filters are reported as such (no target).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from registry_load import SEED, VERSIONS_PER_MODEL, BenchError, Client, version_properties
from registry_stats import Row, ServerCpu, latency_row

TARGET_FILTER_P50_MS_100K = 15.0
PAGE_SIZE = 100


@dataclass(frozen=True)
class Filter:
    """One filter of the benchmark.

    Attributes:
        query: The ``filterQuery``.
        indexed: Whether the property indexes can answer it (the target applies to these).
    """

    query: str
    indexed: bool = True


FILTERS = (
    Filter('accuracy > 0.99 AND framework = "xgboost"'),  # 0.7 %: starts from the accuracy index
    Filter('accuracy > 0.9 AND framework = "sklearn"'),  # 6.7 %: a scan in id order fills the page quickly
    Filter('framework = "pytorch"'),  # 33 %
    Filter("epochs = 17"),  # 0.5 %, an int literal (matches int or double properties)
    Filter('dataset = "dataset-07" AND validated = true'),  # 2.5 %
    Filter("accuracy > 0.9995 OR epochs = 200"),  # 0.6 %: an OR of two indexed terms
    Filter("accuracy > 0.99999"),  # 0.002 %: almost nothing matches
    Filter('name = "v042"'),  # 1 %: the name index
    Filter('dataset ILIKE "%-0_" AND accuracy > 0.999'),  # ILIKE narrowed by an indexed term
    Filter('name ILIKE "%99"', indexed=False),  # 1 %: no index answers a substring match; the scan fills the page
    Filter('dataset ILIKE "%-99"', indexed=False),  # nothing matches: the scan reads every version
)


def seed(db_path: Path, n_versions: int) -> None:
    """Write ``n_versions`` model versions (100 per registered model, the properties of the load phase)."""
    from kfp_model_lifecycle.local.registry import entities
    from kfp_model_lifecycle.local.registry.store import Store

    rng = random.Random(SEED)
    n_models = max(1, -(-n_versions // VERSIONS_PER_MODEL))
    store = Store(db_path)
    try:
        models = (({"name": f"bench-model-{i:05d}", "owner": "bench"}, 0) for i in range(n_models))
        store.create_many(entities.REGISTERED_MODEL, models)

        def versions() -> Iterator[tuple[dict[str, Any], int]]:
            for k in range(n_versions):
                model_id = k // VERSIONS_PER_MODEL + 1
                body = {
                    "name": f"v{k % VERSIONS_PER_MODEL:03d}",
                    "registeredModelId": str(model_id),
                    "author": "bench",
                    "state": "LIVE",
                    "customProperties": version_properties(rng),
                }
                yield body, model_id

        store.create_many(entities.MODEL_VERSION, versions())
    finally:
        store.close()


@dataclass(frozen=True)
class Inspection:
    """What the database says about a filter: its query plan and how many versions match.

    Attributes:
        plan: ``EXPLAIN QUERY PLAN`` of the list, as the server plans it (same code, same data).
        matches: Matching versions.
    """

    plan: list[str]
    matches: int


def inspect(db_path: Path) -> dict[str, Inspection]:
    """The plan and the number of matches of each filter."""
    from kfp_model_lifecycle.local.registry import entities
    from kfp_model_lifecycle.local.registry.query import ListOptions
    from kfp_model_lifecycle.local.registry.store import Store

    store = Store(db_path)
    try:
        found = {}
        for f in FILTERS:
            plan = store.explain(entities.MODEL_VERSION, None, ListOptions(filter_query=f.query, page_size=PAGE_SIZE))
            matches = len(store.list(entities.MODEL_VERSION, None, ListOptions(filter_query=f.query))[0])
            found[f.query] = Inspection(plan, matches)
        return found
    finally:
        store.close()


def measure_filter(client: Client, cpu: ServerCpu, flt: Filter, n: int) -> tuple[list[float], float | None]:
    """``n`` timed requests of one filter (after 3 untimed); returns the latencies and the server CPU seconds."""
    path = "/model_versions?" + urlencode({"filterQuery": flt.query, "pageSize": str(PAGE_SIZE)})
    status, payload = client.request("GET", path)
    if status != 200:
        raise BenchError(f"filter {flt.query!r} -> {status}: {payload[:300]!r}")
    for _ in range(2):
        client.request("GET", path)
    latencies = []
    cpu_start = cpu.read()
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = client.request("GET", path)
        latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise BenchError(f"filter {flt.query!r} -> {status}")
    return latencies, ServerCpu.spent(cpu_start, cpu.read())


def filter_rows(
    port: int, base_path: str, cpu: ServerCpu, n_versions: int, n: int, found: dict[str, Inspection]
) -> list[Row]:
    """One table row per filter, measured against the server on ``port`` holding ``n_versions`` versions."""
    client = Client(port, base_path)
    rows = []
    try:
        for flt in FILTERS:
            latencies, spent = measure_filter(client, cpu, flt, n)
            label = f"filter {n_versions:>7,}  {flt.query} ({found[flt.query].matches:,} match)"
            target = TARGET_FILTER_P50_MS_100K if n_versions >= 100_000 and flt.indexed else None
            row = latency_row(label, latencies, sum(latencies) / 1000, spent, target)
            if not flt.indexed:
                row.target = "scan (no index)"
            rows.append(row)
    finally:
        client.close()
    return rows


def run_filters(sizes: list[int], n: int) -> tuple[list[Row], dict[int, dict[str, Inspection]]]:
    """Seed, serve and measure every size; returns the rows and each size's plans and match counts."""
    from kfp_model_lifecycle.local.registry.app import BASE_PATH
    from kfp_model_lifecycle.local.registry.server import EmbeddedRegistry

    rows: list[Row] = []
    plans: dict[int, dict[str, Inspection]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="kml-bench-filters-") as tmp:
            db_path = Path(tmp) / "registry.db"
            t0 = time.perf_counter()
            seed(db_path, size)
            print(f"filters: seeded {size:,} versions in {time.perf_counter() - t0:.1f} s", flush=True)
            plans[size] = inspect(db_path)
            with EmbeddedRegistry(db_path, in_process=False) as registry:
                rows += filter_rows(registry.port, BASE_PATH, ServerCpu(registry.pid), size, n, plans[size])
    return rows, plans


def print_plans(plans: dict[int, dict[str, Inspection]]) -> None:
    """Print the query plan of each filter at the largest size."""
    size = max(plans)
    print(f"\nquery plans at {size:,} versions (EXPLAIN QUERY PLAN of the list with pageSize=100):")
    for query, found in plans[size].items():
        print(f"  {query}    ({found.matches:,} matches)")
        for line in found.plan:
            print(f"      {line}")
