"""The registry benchmark's single-client latency measurements: get, find, filtered list, full scan, create.

Each runs sequentially on one keep-alive connection after a warm-up, and a few answers are checked first: a
benchmark of wrong answers is worthless.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from urllib.parse import urlencode

from registry_load import SEED, BenchError, Client, VersionRef, find_path, version_body
from registry_stats import (
    TARGET_CREATE_P50_MS,
    TARGET_FILTER_P50_MS,
    TARGET_FIND_P50_MS,
    TARGET_GET_P50_MS,
    Row,
    ServerCpu,
    latency_row,
)

FILTER_QUERY = 'accuracy > 0.9 AND framework = "sklearn"'
PAGE_SIZE = 100


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


def _spot_check(client: Client, versions: list[VersionRef]) -> None:
    """Find and get one version and check the answers (a benchmark of wrong answers is worthless)."""
    vid, mid, name = versions[len(versions) // 2]
    if client.json("GET", find_path(mid, name))["id"] != vid:
        raise BenchError(f"find-by-name of {name!r} in model {mid} did not return version {vid}")
    if client.json("GET", f"/model_versions/{vid}")["name"] != name:
        raise BenchError(f"get-by-id of {vid} did not return version {name!r}")


def _measure_get(client: Client, cpu: ServerCpu, picks: list[VersionRef], iterations: int, warmup: int) -> Row:
    print(f"measuring get-by-id ({iterations} requests)...", flush=True)
    lat, wall, spent = timed(
        client, cpu, lambda i: ("GET", f"/model_versions/{picks[i][0]}", None), iterations, warmup, 200
    )
    return latency_row("get-by-id      GET /model_versions/{id}", lat, wall, spent, TARGET_GET_P50_MS)


def _measure_find(client: Client, cpu: ServerCpu, picks: list[VersionRef], iterations: int, warmup: int) -> Row:
    print(f"measuring find-by-name ({iterations} requests)...", flush=True)
    lat, wall, spent = timed(
        client, cpu, lambda i: ("GET", find_path(picks[i][1], picks[i][2]), None), iterations, warmup, 200
    )
    label = "find-by-name   GET /model_version?name=&parentResourceId="
    return latency_row(label, lat, wall, spent, TARGET_FIND_P50_MS)


def _measure_filter(client: Client, cpu: ServerCpu, iterations: int) -> Row:
    n_filter = max(20, iterations // 5)
    print(f"measuring filtered list ({n_filter} requests of filterQuery={FILTER_QUERY})...", flush=True)
    filter_path = "/model_versions?" + urlencode({"filterQuery": FILTER_QUERY, "pageSize": str(PAGE_SIZE)})
    page = client.json("GET", filter_path)
    for item in page["items"]:
        props = item["customProperties"]
        if not (props["accuracy"]["double_value"] > 0.9 and props["framework"]["string_value"] == "sklearn"):
            raise BenchError(f"the filtered list returned a version that does not match: {item['id']}")
    lat, wall, spent = timed(client, cpu, lambda i: ("GET", filter_path, None), n_filter, 5, 200)
    label = f"filtered list  GET /model_versions?filterQuery=..&pageSize=100 ({page['size']} items)"
    return latency_row(label, lat, wall, spent, TARGET_FILTER_P50_MS)


def _measure_scans(client: Client, cpu: ServerCpu, n_versions: int, scans: int) -> list[Row]:
    print(f"measuring full paged scan ({scans} scans of {n_versions:,} versions)...", flush=True)
    full_scan(client, PAGE_SIZE)  # warm-up
    scan_ms: list[float] = []
    page_ms: list[float] = []
    cpu_start = cpu.read()
    for _ in range(scans):
        seconds, lat, items = full_scan(client, PAGE_SIZE)
        if items != n_versions:
            raise BenchError(f"the paged scan saw {items} versions, expected {n_versions}")
        scan_ms.append(seconds * 1000)
        page_ms.extend(lat)
    spent = ServerCpu.spent(cpu_start, cpu.read())
    label = f"full scan      {n_versions:,} versions, pageSize=100 (ms per scan)"
    scan_row = latency_row(label, scan_ms, 0, spent)
    scan_row.rate = f"{n_versions * len(scan_ms) / (sum(scan_ms) / 1000):,.0f} items/s"
    page_row = latency_row("full scan      per page (100 items)", page_ms, sum(page_ms) / 1000, spent)
    return [scan_row, page_row]


def _measure_create(client: Client, cpu: ServerCpu, rng: random.Random, iterations: int, warmup: int) -> Row:
    n_create = max(20, iterations // 2)
    print(f"measuring create ({n_create} requests)...", flush=True)
    fresh = client.json("POST", "/registered_models", {"name": f"bench-create-{os.getpid()}"}, expect=201)
    model_id = str(fresh["id"])
    bodies = [json.dumps(version_body(model_id, f"c{i:05d}", rng)).encode() for i in range(warmup + n_create)]
    lat, wall, spent = timed(client, cpu, lambda i: ("POST", "/model_versions", bodies[i]), n_create, warmup, 201)
    label = "create         POST /model_versions (6 custom properties)"
    return latency_row(label, lat, wall, spent, TARGET_CREATE_P50_MS)


def measure_sequential(
    client: Client, cpu: ServerCpu, versions: list[VersionRef], iterations: int, scans: int
) -> list[Row]:
    """The single-client latency measurements: get, find, filtered list, full scan and create.

    Args:
        client: The connection.
        cpu: The server's CPU meter.
        versions: Every loaded model version.
        iterations: Requests per latency measurement.
        scans: Measured full scans.

    Returns:
        One row per measurement (two for the scans: per scan and per page).

    Raises:
        BenchError: on an unexpected status or a wrong answer.
    """
    warmup = max(20, iterations // 10)
    rng = random.Random(SEED + 1)
    _spot_check(client, versions)
    get_picks = [rng.choice(versions) for _ in range(warmup + iterations)]
    rows = [_measure_get(client, cpu, get_picks, iterations, warmup)]
    find_picks = [rng.choice(versions) for _ in range(warmup + iterations)]
    rows.append(_measure_find(client, cpu, find_picks, iterations, warmup))
    rows.append(_measure_filter(client, cpu, iterations))
    rows.extend(_measure_scans(client, cpu, len(versions), scans))
    rows.append(_measure_create(client, cpu, rng, iterations, warmup))
    return rows
