"""The embedded Model Registry against MLflow's model registry server: the same workload over HTTP, interleaved.

Both servers run in their own processes on loopback (``kml registry serve`` through
``EmbeddedRegistry(in_process=False)``; ``mlflow server`` on SQLite with one worker), are filled with the same
``--versions`` model versions (10 models; 4 properties / tags each), and then answer the same operations, one
request of each side after the other, on keep-alive connections:

==========================  =================================================  ==============================
operation                   embedded registry (Kubeflow REST v1)               MLflow REST 2.0
==========================  =================================================  ==============================
create registered model     ``POST /registered_models``                        ``POST registered-models/create``
create version              ``POST /model_versions`` (4 properties)            ``POST model-versions/create``
get version                 ``GET /model_version?name=&parentResourceId=``     ``GET model-versions/get``
get registered model        ``GET /registered_model?name=``                    ``GET registered-models/get``
filtered page (100)         ``GET /model_versions?filterQuery=framework =      ``GET model-versions/search?
                            "sklearn"``                                        filter=tags.framework='sklearn'``
==========================  =================================================  ==============================

Printed: p50/p99 latency, the server's CPU per request (its process tree, from /proc), MLflow / ours, the resident
memory of each server after the run, and the start-up of each to its first answer on an empty database.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from compare_table import Table, median, mib, ms, percentile, ratio, tree_cpu_seconds, tree_rss_bytes
from mlflow_server import MlflowServer, MlflowUnavailable, ensure_mlflow, say
from seeding import MLFLOW_API, REGISTRY_API, Http, parallel, string_value

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

MODELS = 10
FRAMEWORKS = ("sklearn", "xgboost", "pytorch")
OUR_FILTER = 'framework = "sklearn"'
MLFLOW_FILTER = "tags.framework = 'sklearn'"


@dataclass
class Side:
    """One server under test: its connection, process and measurements per operation."""

    name: str
    http: Http
    pid: int
    latency: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def timed(self, op: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Send one request, record its latency and the server's CPU, check the status."""
        cpu_before = tree_cpu_seconds(self.pid)
        start = time.perf_counter()
        got, answer = self.http.request(method, path, body)
        elapsed = time.perf_counter() - start
        self.cpu[op] = self.cpu.get(op, 0.0) + tree_cpu_seconds(self.pid) - cpu_before
        if got != status:
            raise RuntimeError(f"{self.name}: {method} {path}: HTTP {got}: {str(answer)[:300]}")
        self.latency.setdefault(op, []).append(elapsed)
        return answer


def _properties(i: int) -> dict[str, Any]:
    return {"accuracy": 0.5 + (i % 500) / 1000, "framework": FRAMEWORKS[i % 3], "epochs": 5 + i % 20, "dataset": "d"}


def seed(registry_port: int, mlflow_port: int | None, versions: int) -> dict[str, str]:
    """``versions`` versions over ``MODELS`` models in both servers; returns model name -> registry model id."""
    ids = {}
    client = Http(registry_port)
    for m in range(MODELS):
        ids[f"vs-{m}"] = client.expect("POST", f"{REGISTRY_API}/registered_models", {"name": f"vs-{m}"}, 201)["id"]
    client.close()
    jobs = [(f"vs-{i % MODELS}", i) for i in range(versions)]

    def ours(http: Http, job: tuple[str, int]) -> None:
        model, i = job
        props = {k: string_value(v) for k, v in _properties(i).items()}
        body = {"name": f"1.0.{i // MODELS}", "registeredModelId": ids[model], "customProperties": props}
        http.expect("POST", f"{REGISTRY_API}/model_versions", body, 201)

    parallel(registry_port, jobs, ours)
    if mlflow_port is not None:
        client = Http(mlflow_port)
        for m in range(MODELS):
            client.expect("POST", f"{MLFLOW_API}/registered-models/create", {"name": f"vs-{m}"})
        client.close()

        def theirs(http: Http, job: tuple[str, int]) -> None:
            model, i = job
            tags = [{"key": k, "value": str(v)} for k, v in _properties(i).items()]
            body = {"name": model, "source": f"s3://models/vs/{i}", "tags": tags}
            http.expect("POST", f"{MLFLOW_API}/model-versions/create", body)

        parallel(mlflow_port, jobs, theirs)
    return ids


class Workload:
    """The operations, each a method ``(side, i, rng)`` that sends the same request to either side."""

    def __init__(self, ids: dict[str, str], versions: int) -> None:
        self.ids = ids
        self.per_model = versions // MODELS

    def operations(self) -> list[tuple[str, Callable[[Side, int, random.Random], None]]]:
        """``(label, method)`` for every operation, in the order they run."""
        return [
            ("create registered model", self.create_model),
            ("create version", self.create_version),
            ("get version", self.get_version),
            ("get registered model", self.get_model),
            ("filtered page (100)", self.filtered),
        ]

    def create_model(self, side: Side, i: int, rng: random.Random) -> None:
        """A new registered model."""
        if side.name == "ours":
            side.timed("create registered model", "POST", f"{REGISTRY_API}/registered_models", {"name": f"n-{i}"}, 201)
        else:
            side.timed("create registered model", "POST", f"{MLFLOW_API}/registered-models/create", {"name": f"n-{i}"})

    def create_version(self, side: Side, i: int, rng: random.Random) -> None:
        """A new version of a model with ``versions / MODELS`` versions, with 4 properties (tags)."""
        props = _properties(i)
        if side.name == "ours":
            body = {"name": f"2.0.{i}", "registeredModelId": self.ids["vs-0"]}
            body["customProperties"] = {k: string_value(v) for k, v in props.items()}
            side.timed("create version", "POST", f"{REGISTRY_API}/model_versions", body, 201)
        else:
            tags = [{"key": k, "value": str(v)} for k, v in props.items()]
            body = {"name": "vs-0", "tags": tags, "source": f"s3://models/vs/{i}"}
            side.timed("create version", "POST", f"{MLFLOW_API}/model-versions/create", body)

    def get_version(self, side: Side, i: int, rng: random.Random) -> None:
        """One version by model and version name."""
        model, v = f"vs-{rng.randrange(MODELS)}", rng.randrange(self.per_model)
        if side.name == "ours":
            path = f"{REGISTRY_API}/model_version?name=1.0.{v}&parentResourceId={self.ids[model]}"
        else:
            path = f"{MLFLOW_API}/model-versions/get?name={model}&version={v + 1}"
        side.timed("get version", "GET", path)

    def get_model(self, side: Side, i: int, rng: random.Random) -> None:
        """One registered model by name."""
        model = f"vs-{rng.randrange(MODELS)}"
        if side.name == "ours":
            side.timed("get registered model", "GET", f"{REGISTRY_API}/registered_model?name={model}")
        else:
            side.timed("get registered model", "GET", f"{MLFLOW_API}/registered-models/get?name={model}")

    def filtered(self, side: Side, i: int, rng: random.Random) -> None:
        """The first 100 versions (of all models) with ``framework`` = ``sklearn``."""
        if side.name == "ours":
            path = f"{REGISTRY_API}/model_versions?pageSize=100&filterQuery={quote(OUR_FILTER)}"
        else:
            path = f"{MLFLOW_API}/model-versions/search?max_results=100&filter={quote(MLFLOW_FILTER)}"
        side.timed("filtered page (100)", "GET", path)


def startup(workdir: Path, python: Path | None) -> tuple[float, float]:
    """Seconds from starting each server on an empty database to its first answer (ours, MLflow's or NaN)."""
    start = time.perf_counter()
    with EmbeddedRegistry(workdir / "startup.db", in_process=False):
        ours = time.perf_counter() - start
    theirs = float("nan")
    if python is not None:
        with MlflowServer(python, workdir / "mlflow-startup") as server:
            theirs = server.startup_seconds
    return ours, theirs


def run(versions: int, iterations: int, workdir: Path, with_mlflow: bool) -> Table:
    """Start both servers, seed, measure interleaved, and build the table."""
    python, skipped = None, "" if with_mlflow else "skipped: --no-mlflow"
    if with_mlflow:
        try:
            python = ensure_mlflow()
        except MlflowUnavailable as exc:
            skipped = f"skipped: {exc}"
    rng = random.Random(20261130)
    with EmbeddedRegistry(workdir / "registry.db", in_process=False) as registry:
        mlflow = MlflowServer(python, workdir / "mlflow").__enter__() if python is not None else None
        try:
            say(f"versus MLflow: seeding {versions:,} versions into each server")
            ids = seed(registry.port, mlflow.port if mlflow else None, versions)
            sides = [Side("ours", Http(registry.port), int(registry.pid or 0))]
            if mlflow is not None and mlflow.proc is not None:
                sides.append(Side("mlflow", Http(mlflow.port), mlflow.proc.pid))
            ops = Workload(ids, versions).operations()
            say(f"versus MLflow: {iterations} requests per operation and side, interleaved")
            for i in range(-3, iterations):  # 3 warm-up rounds
                for _, op in ops:
                    for side in sides:
                        op(side, i + 10_000 if i < 0 else i, rng)
            rss = [tree_rss_bytes(side.pid) for side in sides]
        finally:
            if mlflow is not None:
                mlflow.__exit__()
    return _table(sides, [label for label, _ in ops], rss, startup(workdir, python), skipped, versions)


def _table(
    sides: list[Side], labels: list[str], rss: list[int], started: tuple[float, float], skipped: str, versions: int
) -> Table:
    ours = sides[0]
    theirs = sides[1] if len(sides) > 1 else None
    table = Table(
        f"Embedded registry vs MLflow {'' if theirs else '(' + skipped + ') '}model registry server over HTTP"
        f" ({versions:,} versions)",
        ["operation", "ours p50 ms", "p99", "cpu ms", "mlflow p50 ms", "p99", "cpu ms", "mlflow/ours p50", "cpu"],
    )
    for label in labels:
        o = ours.latency[label]
        o_cpu = ours.cpu[label] / len(o)
        row: list[Any] = [label, ms(median(o)), ms(percentile(o, 99)), ms(o_cpu)]
        if theirs is not None:
            t = theirs.latency[label]
            t_cpu = theirs.cpu[label] / len(t)
            row += [ms(median(t)), ms(percentile(t, 99)), ms(t_cpu), ratio(median(o), median(t)), ratio(o_cpu, t_cpu)]
        else:
            row += ["-", "-", "-", "-", "-"]
        table.add(*row)
    mem = f"resident memory after the run: ours {mib(rss[0])} MiB"
    mem += f", MLflow {mib(rss[1])} MiB (one worker)" if theirs else ""
    boot = f"start-up to the first answer (empty database): ours {started[0]:.2f} s"
    boot += f", MLflow {started[1]:.2f} s" if theirs else ""
    table.notes = [
        "cpu ms: the server's CPU per request (its process tree, /proc; 10 ms ticks averaged over all requests).",
        mem,
        boot,
    ]
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 versions, 30 requests per operation")
    parser.add_argument("--versions", type=int, default=0, help="versions in each server (default 1,000)")
    parser.add_argument("--iterations", type=int, default=0, help="requests per operation and side (default 100)")
    parser.add_argument("--no-mlflow", action="store_true", help="measure ours only")
    args = parser.parse_args(argv)
    versions = args.versions or (300 if args.quick else 1000)
    iterations = args.iterations or (30 if args.quick else 100)
    with tempfile.TemporaryDirectory(prefix="kml-bench-") as tmp:
        print(run(versions, iterations, Path(tmp), not args.no_mlflow).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
