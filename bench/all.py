"""``make bench``: every benchmark of the project, one table per part, each measured side by side in its run.

Steps (each a script of this folder, run in its own process; progress on stderr, tables on stdout):

=============  =======================================================================================
``versus``     the embedded registry against MLflow's registry server over HTTP (``versus_mlflow.py``)
``register``   registration at 0 / 100 / 1,000 existing versions against ``mlflow.register_model``
``registry``   the embedded registry alone: latencies, filters at 1k / 10k / 100k versions, throughput,
               start-up (``registry.py``)
``tasks``      per-task cost of each component in KFP's local runner against a trivial component
``cli``        start-up of ``kml`` commands (``cli_startup.py``)
``demo``       ``make demo``'s lifecycle run (its own "done in" time and the wall time)
=============  =======================================================================================

MLflow is installed on first use into ``.bench/mlflow-venv`` (never a dependency of the project); when that is not
possible the MLflow columns say "skipped: <reason>" and everything else is measured.

    .venv/bin/python bench/all.py [--quick] [--only versus,register,...] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STEPS = ("versus", "register", "registry", "tasks", "cli", "demo")
DONE_IN = re.compile(r"done in (\d+)s")
SERVER_BANNER = "Model Registry (REST API v1) on "  # what `kml registry serve` prints when it starts


def command(step: str, quick: bool, no_mlflow: bool) -> list[str]:
    """The command of one step."""
    python = sys.executable
    mlflow = ["--no-mlflow"] if no_mlflow else []
    if step == "versus":
        return [python, str(BENCH / "versus_mlflow.py"), *(["--quick"] if quick else []), *mlflow]
    if step == "register":
        return [python, str(BENCH / "registration.py"), *(["--quick"] if quick else []), *mlflow]
    if step == "registry":
        return [python, str(BENCH / "registry.py"), *(["--quick"] if quick else [])]
    if step == "tasks":
        return [python, str(BENCH / "tasks.py"), *(["--quick"] if quick else [])]
    if step == "cli":
        return [python, str(BENCH / "cli_startup.py"), "--runs", "3" if quick else "7"]
    return [python, "-m", "kfp_model_lifecycle.local.demo"]


def run_step(step: str, quick: bool, no_mlflow: bool) -> tuple[str, float, bool]:
    """Run one step; returns its tables (stdout), its wall time and whether it succeeded."""
    print(f"[bench] == {step} ==", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        command(step, quick, no_mlflow), cwd=REPO, stdout=subprocess.PIPE, text=True, check=False, env=os.environ
    )
    elapsed = time.perf_counter() - start
    out = "\n".join(line for line in done.stdout.splitlines() if not line.startswith(SERVER_BANNER)) + "\n"
    if step == "demo":
        found = DONE_IN.search(out)
        out = (
            "## make demo (the lifecycle run; set-up excluded)\n\n"
            f"lifecycle run: {found.group(1) + ' s' if found else '?'} (the demo's own 'done in'), wall time"
            f" {elapsed:.0f} s including start-up and the final report; target: under 60 s on an idle machine\n"
        )
    if done.returncode != 0:
        out += f"\n{step} FAILED (exit {done.returncode}); its last output:\n{done.stdout[-2000:]}\n"
    return out, elapsed, done.returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the steps and print their tables; 1 when a step failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions; no demo")
    parser.add_argument("--only", default="", help=f"comma-separated steps of {', '.join(STEPS)}")
    parser.add_argument("--no-mlflow", action="store_true", help="measure without MLflow (no install)")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.only.split(",") if s.strip()] or [
        s for s in STEPS if not (args.quick and s == "demo")
    ]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}: choose from {', '.join(STEPS)}")
    results = []
    for step in steps:
        tables, elapsed, ok = run_step(step, args.quick, args.no_mlflow)
        results.append((step, elapsed, ok))
        print(tables.rstrip() + "\n", flush=True)
    print("## Steps\n")
    for step, elapsed, ok in results:
        print(f"{step:<10} {elapsed:6.0f} s  {'ok' if ok else 'FAILED'}")
    return 0 if all(ok for _, _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
