"""Registration cost as a model grows: ``run_register_model`` against ``mlflow.register_model(..., tags=...)``.

Both registries run as servers in their own processes on loopback (the embedded registry with
``EmbeddedRegistry(in_process=False)``, MLflow's ``mlflow server`` on SQLite with one worker). For each size
(0 / 100 / 1,000 existing versions) both get a model with that many versions, then each side registers one more
version, interleaved, ``--iterations`` times: ours with the lineage a pipeline run records (metrics,
hyperparameters, run, code version, image: 16 properties), MLflow's with as many tags. Each call is timed in its own
process (ours here, MLflow's in a worker of the MLflow environment). Printed: median and p90 per size, the ratio to
the same side at 0 versions (flatness; target <= 1.2x at 1,000) and MLflow / ours.

    .venv/bin/python bench/registration.py [--quick] [--sizes 0,100,1000] [--iterations 10]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from compare_table import Table, median, ms, percentile, ratio
from mlflow_server import MlflowRegisterWorker, MlflowServer, MlflowUnavailable, ensure_mlflow, say
from seeding import lineage, seed_mlflow, seed_registry

from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.registration import run_register_model

FLAT_TARGET = 1.2
WARM_UP = 5
METRICS = ("accuracy", "f1", "roc_auc")


def register_ours(url: str, model_name: str, i: int) -> float:
    """Seconds one ``run_register_model`` took (what ``Lifecycle.register`` and the component run)."""
    values = lineage(100_000 + i)
    start = time.perf_counter()
    run_register_model(
        model_uri=f"s3://models/{model_name}/new-{i}",
        model_name=model_name,
        metrics={k: values[k] for k in METRICS},
        hyperparameters={"n_estimators": 100, "max_depth": 5, "learning_rate": 0.1},
        labels=["bench"],
        model_format_name="sklearn",
        code_version="3f9c2a1",
        training_image="python:3.11",
        registry_url=url,
        context=RunContext(
            run_id=f"bench-{model_name}-{i}",
            run_name=f"train-{i}",
            pipeline_name="train-and-register",
            task_name="register-model",
            namespace="team-a",
        ),
        env={},
    )
    return time.perf_counter() - start


def mlflow_tags(i: int) -> dict[str, str]:
    """As many tags as our registration writes properties (16)."""
    tags = {k: str(v) for k, v in lineage(100_000 + i).items()}
    tags["labels"] = "bench"
    return tags


def measure(sizes: Sequence[int], iterations: int, workdir: Path, with_mlflow: bool) -> tuple[Table, str]:
    """Seed, register interleaved, and build the table; also returns why MLflow was skipped ("" when it ran)."""
    ours: dict[int, list[float]] = {n: [] for n in sizes}
    theirs: dict[int, list[float]] = {n: [] for n in sizes}
    skipped = "" if with_mlflow else "skipped: --no-mlflow"
    logging.getLogger("kfp_model_lifecycle").setLevel(logging.ERROR)
    with EmbeddedRegistry(workdir / "registry.db", in_process=False) as registry:
        server, worker, skipped = _start_mlflow(workdir, skipped)
        try:
            for n in sizes:
                say(f"registration: seeding {n} versions into each registry")
                seed_registry(registry.port, f"reg-{n}", n)
                if worker is not None and server is not None:
                    seed_mlflow(server.port, f"reg-{n}", n)
            for i in range(WARM_UP):  # imports, first connections, the servers' caches
                register_ours(registry.url, "reg-warm-up", i)
                if worker is not None:
                    worker.register("reg-warm-up", f"s3://models/warm-up/{i}", mlflow_tags(i))
            say(f"registration: {iterations} registrations per size and side, interleaved")
            for i in range(iterations):
                for n in sizes:
                    ours[n].append(register_ours(registry.url, f"reg-{n}", i))
                    if worker is not None:
                        theirs[n].append(worker.register(f"reg-{n}", f"s3://models/reg-{n}/{i}", mlflow_tags(i)))
            legacy = _unmarked_first_registration(registry, max(sizes))
        finally:
            if worker is not None:
                worker.close()
            if server is not None:
                server.__exit__()
    return _table(sizes, ours, theirs, skipped, legacy, iterations), skipped


def _start_mlflow(workdir: Path, skipped: str) -> tuple[MlflowServer | None, MlflowRegisterWorker | None, str]:
    """MLflow's server and a ``register_model`` worker, or Nones and why they were skipped."""
    if skipped:
        return None, None, skipped
    server = None
    try:
        server = MlflowServer(ensure_mlflow(), workdir / "mlflow").__enter__()
        return server, MlflowRegisterWorker(server.python, server.url), ""
    except MlflowUnavailable as exc:
        if server is not None:
            server.__exit__()
        return None, None, f"skipped: {exc}"


def _unmarked_first_registration(registry: EmbeddedRegistry, n: int) -> tuple[int, float, float]:
    """A model whose ``n`` versions carry no mark (other clients, older releases): first and second registration."""
    seed_registry(registry.port, "reg-unmarked", n, marked=False)
    return n, register_ours(registry.url, "reg-unmarked", 0), register_ours(registry.url, "reg-unmarked", 1)


def _table(
    sizes: Sequence[int],
    ours: dict[int, list[float]],
    theirs: dict[int, list[float]],
    skipped: str,
    legacy: tuple[int, float, float],
    iterations: int,
) -> Table:
    table = Table(
        "Registration cost by existing versions: run_register_model vs mlflow.register_model(..., tags=...)",
        ["existing versions", "ours p50 ms", "ours p90", "vs 0", "mlflow p50 ms", "mlflow p90", "vs 0", "mlflow/ours"],
    )
    base_ours, base_theirs = median(ours[sizes[0]]), median(theirs[sizes[0]])
    for n in sizes:
        o, t = median(ours[n]), median(theirs[n])
        table.add(
            f"{n:,}",
            ms(o),
            ms(percentile(ours[n], 90)),
            f"{o / base_ours:.2f}x",
            ms(t) if theirs[n] else skipped or "-",
            ms(percentile(theirs[n], 90)),
            f"{t / base_theirs:.2f}x" if theirs[n] else "-",
            ratio(o, t),
        )
    flat = median(ours[sizes[-1]]) / base_ours
    verdict = "met" if flat <= FLAT_TARGET else "MISSED"
    n, first, second = legacy
    table.notes = [
        f"{iterations} registrations per size and side, interleaved; each timed in its own process.",
        f"target: ours at {sizes[-1]:,} versions <= {FLAT_TARGET}x ours at {sizes[0]}: {verdict} ({flat:.2f}x);"
        " faster than MLflow at every size: "
        + ("met" if all(median(ours[s]) < median(theirs[s]) for s in sizes if theirs[s]) else (skipped or "MISSED")),
        f"a model with {n:,} versions of other clients (no semver_high_water mark): first registration"
        f" {ms(first)} ms (reads them all once), the next {ms(second)} ms.",
    ]
    return table


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 registrations per size")
    parser.add_argument("--sizes", default="0,100,1000", help="existing versions (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=0, help="registrations per size and side (default 10)")
    parser.add_argument("--no-mlflow", action="store_true", help="measure ours only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the table."""
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    iterations = args.iterations or (3 if args.quick else 10)
    with tempfile.TemporaryDirectory(prefix="kml-bench-") as tmp:
        table, _ = measure(sizes, iterations, Path(tmp), not args.no_mlflow)
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
