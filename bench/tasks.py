"""What a task costs in KFP's local runner, per component, against a trivial component.

Runs ``task_pipeline.build``: every component of this package once (``deploy_model`` and ``rollback_deployment``
against the local cluster stand-in unless ``--no-deploy``) and two references, a trivial component with KFP's
defaults (``@dsl.component(base_image="python:3.11")``: KFP pip-installs ``kfp`` at start-up, as for any user
component) and one that installs nothing. ``SubprocessRunner(use_venv=False)`` runs each task as a subprocess
(``sh -c "pip install <packages> && python -m kfp.dsl.executor_main ..."``); the wall time of that subprocess is the
task's cost. ``--runs`` runs of the pipeline; the median per component is printed with its ratio to the trivial
component (target <= 2x for the components that do not wait for a deployment).

Both routes of ``components/_common/runtime.py`` are measured, each in its own process (the route is chosen when
the components are imported): the default one (``pip install kfp-model-lifecycle==<version>`` at start-up: in the
local runner a check that finds it installed) and the runtime image (``KML_COMPONENT_BASE_IMAGE``: nothing
installed at start-up; here the image is this environment).

    .venv/bin/python bench/tasks.py [--quick] [--runs 3] [--no-deploy] [--route default|image|both]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import joblib
import kfp.local.subprocess_task_handler as task_handler
from compare_table import Table, median
from kfp import local
from mlflow_server import say
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.registry import EmbeddedRegistry

TARGET_RATIO = 2.0
BASE_IMAGE_ENV = "KML_COMPONENT_BASE_IMAGE"
ROUTES = {"default": "pip install at start-up", "image": "runtime image (nothing installed)"}
REFERENCE = "trivial"
WAITS = ("deploy_model", "rollback_deployment")  # their cost includes waiting for KServe's model server


@contextlib.contextmanager
def timed_tasks(times: dict[str, list[float]]) -> Iterator[None]:
    """Record the wall time of every task subprocess the local runner starts, by component function name."""
    original = task_handler.run_local_subprocess

    def run(full_command: list[str], env_vars: dict[str, str] | None = None) -> int:
        name = next((full_command[i + 1] for i, p in enumerate(full_command[:-1]) if p == "--function_to_execute"), "?")
        start = time.perf_counter()
        code = original(full_command, env_vars)
        times.setdefault(name, []).append(time.perf_counter() - start)
        if code != 0:
            raise RuntimeError(f"task {name} failed (exit {code}): run with --verbose to see its log")
        return code

    task_handler.run_local_subprocess = run
    try:
        yield
    finally:
        task_handler.run_local_subprocess = original


def _model_file(workdir: Path) -> str:
    x, y = load_iris(return_X_y=True)
    path = workdir / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    return str(path)


def run(workdir: Path, runs: int, with_deploy: bool, verbose: bool) -> dict[str, list[float]]:
    """Run the pipeline ``runs`` times; task wall times by component."""
    times: dict[str, list[float]] = {}
    model_file = _model_file(workdir)
    with contextlib.ExitStack() as stack:
        registry = stack.enter_context(EmbeddedRegistry(workdir / "registry.db", in_process=False))
        if with_deploy:
            cluster = stack.enter_context(LocalCluster(workdir / "cluster", registry_url=registry.url))
            stack.enter_context(_environ(KUBECONFIG=str(cluster.kubeconfig_path)))
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "pipeline-root"))
        stack.enter_context(timed_tasks(times))
        for i in range(runs):
            say(f"tasks: pipeline run {i + 1} of {runs}")
            build = importlib.import_module("task_pipeline").build  # imports the components: after the route is set
            pipeline = build(f"bench-tasks-{i}", model_file, registry.url, with_deploy)
            output = io.StringIO()
            with contextlib.redirect_stdout(sys.stdout if verbose else output):
                pipeline()
    return times


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def table(routes: dict[str, dict[str, list[float]]], runs: int) -> Table:
    """One row per component: median task time per route and its ratio to the trivial component."""
    header = ["task"]
    for route in routes:
        header += [f"{route}: median s", "vs trivial"]
    out = Table(
        "Task cost in KFP's local runner (SubprocessRunner(use_venv=False)), per component", [*header, "target"]
    )
    first = next(iter(routes.values()))
    names = sorted(
        (n for n in first if n != "make_model"), key=lambda n: (n != REFERENCE, n == "trivial_no_install", n)
    )
    for name in names:
        row: list[str] = [name]
        ratios = []
        for times in routes.values():
            value = median(times.get(name, []))
            ratios.append(value / median(times[REFERENCE]))
            row += [f"{value:.2f}", f"{ratios[-1]:.2f}x"]
        if name in (REFERENCE, "trivial_no_install"):
            row.append("reference")
        elif name in WAITS:
            row.append("waits for KServe")
        else:
            row.append(" / ".join("met" if r <= TARGET_RATIO else "MISSED" for r in ratios))
        out.add(*row)
    out.notes = [
        f"{runs} pipeline run(s) per route; routes: "
        + "; ".join(f"{r} = {ROUTES[r]}" for r in routes)
        + f". {REFERENCE}: @dsl.component(base_image='python:3.11') returning a string (KFP pip-installs kfp first,"
        " as for any user component); trivial_no_install: the same without any install.",
        f"target: every component that does not wait for a deployment <= {TARGET_RATIO:.0f}x {REFERENCE}.",
    ]
    return out


def measure_route(route: str, runs: int, with_deploy: bool, verbose: bool) -> dict[str, list[float]]:
    """Task times of one route, measured in a process of its own (the route is fixed when components are imported)."""
    argv = [sys.executable, __file__, "--route", route, "--runs", str(runs), "--json"]
    argv += [] if with_deploy else ["--no-deploy"]
    argv += ["--verbose"] if verbose else []
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench/tasks.py --route {route} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run, no deployment")
    parser.add_argument("--runs", type=int, default=0, help="pipeline runs (default 3)")
    parser.add_argument("--no-deploy", action="store_true", help="leave out deploy_model and rollback_deployment")
    parser.add_argument("--route", choices=[*ROUTES, "both"], default="both", help="(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the times as JSON (one route)")
    parser.add_argument("--verbose", action="store_true", help="show the tasks' logs")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    with_deploy = not (args.no_deploy or args.quick)
    if args.route == "both":
        routes = {route: measure_route(route, runs, with_deploy, args.verbose) for route in ROUTES}
        print(table(routes, runs).render())
        return 0
    if args.route == "image":
        os.environ[BASE_IMAGE_ENV] = os.environ.get(BASE_IMAGE_ENV) or "python:3.11"
    else:
        os.environ.pop(BASE_IMAGE_ENV, None)
    logging.getLogger("kfp").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="kml-bench-") as tmp:
        times = run(Path(tmp), runs, with_deploy, args.verbose)
    print(json.dumps(times) if args.json else table({args.route: times}, runs).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
