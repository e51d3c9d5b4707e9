"""``make demo``: the example pipeline end to end on a laptop, then the lineage of every registered version.

Starts an embedded Model Registry (SQLite, free loopback port), runs the example training pipeline twice with
KFP's local runner (``SubprocessRunner(use_venv=False)``) and different hyperparameters, prints each
registered version with its lineage, and stops everything it started. The registry database and the
pipeline outputs stay in ``.kml/demo/`` for a look afterwards.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEMO_RUNS: tuple[dict[str, Any], ...] = (
    {"n_estimators": 5, "max_depth": 2},
    {"n_estimators": 150, "max_depth": 8},
)
MODEL_NAME = "breast-cancer-classifier"


def _short(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def lineage_rows(client: Any, model_name: str) -> list[dict[str, str]]:
    """One row per registered version of ``model_name``: version, run, data digest, hyperparameters, metrics, URI."""
    rows = []
    for version in client.get_model_versions(model_name).order_by_id():
        props = version.custom_properties or {}
        artifact = client.get_model_artifact(model_name, version.name)
        hyper = {k.removeprefix("hp_"): v for k, v in props.items() if k.startswith("hp_")}
        rows.append(
            {
                "version": version.name,
                "run": f"{props.get('kfp_run_name', '?')} ({props.get('kfp_run_id', '?')})",
                "train data sha256": str(props.get("dataset_0_sha256", "?"))[:12],
                "hyperparameters": ", ".join(
                    f"{k}={int(v) if isinstance(v, float) and v.is_integer() else v}" for k, v in sorted(hyper.items())
                ),
                "accuracy": f"{props['accuracy']:.4f}" if "accuracy" in props else "?",
                "roc_auc": f"{props['roc_auc']:.4f}" if "roc_auc" in props else "?",
                "model uri": artifact.uri if artifact else "?",
            }
        )
    return rows


def print_table(rows: list[dict[str, str]], widths: dict[str, int] | None = None) -> None:
    """Print rows as an aligned text table."""
    if not rows:
        print("(nothing registered)")
        return
    widths = widths or {}
    columns = list(rows[0])
    cells = [[_short(row[c], widths.get(c, 60)) for c in columns] for row in rows]
    sizes = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(s) for c, s in zip(columns, sizes, strict=True)))
    print("  ".join("-" * s for s in sizes))
    for row in cells:
        print("  ".join(v.ljust(s) for v, s in zip(row, sizes, strict=True)))


def run_demo(workdir: Path) -> int:
    """Run the demo in ``workdir`` (recreated); returns the exit code."""
    from kfp import local

    from kfp_model_lifecycle.pipelines import sklearn_training_pipeline
    from kfp_model_lifecycle.registry import EmbeddedRegistry

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    with EmbeddedRegistry(workdir / "registry.db") as registry:
        print(f"[demo] Model Registry (REST API v1, SQLite) on {registry.url}", flush=True)
        os.environ["KML_REGISTRY_URL"] = registry.url  # what the register step connects to
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "pipeline_root"))
        for number, params in enumerate(DEMO_RUNS, start=1):
            print(f"[demo] run {number}/{len(DEMO_RUNS)}: training pipeline with {params} ...", flush=True)
            run_started = time.monotonic()
            sklearn_training_pipeline(model_name=MODEL_NAME, code_version="demo", **params)
            print(f"[demo] run {number} finished in {time.monotonic() - run_started:.1f}s", flush=True)

        from model_registry import ModelRegistry

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "User access token is missing": the local registry has no auth
            client = ModelRegistry(registry.address, registry.port, author="demo", is_secure=False)
        rows = lineage_rows(client, MODEL_NAME)
        print(f"\n[demo] versions of {MODEL_NAME!r} in the Model Registry, with their lineage:\n")
        print_table(rows, {"model uri": 70})
    print(
        f"\n[demo] done in {time.monotonic() - started:.0f}s; the registry is stopped. Its database and the pipeline"
        f" outputs are in {workdir}/ -- browse them with:\n"
        f"    .venv/bin/kml registry serve --db {workdir / 'registry.db'}"
    )
    return 0 if len(rows) == len(DEMO_RUNS) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m kfp_model_lifecycle.demo``."""
    parser = argparse.ArgumentParser(prog="python -m kfp_model_lifecycle.demo", description=__doc__)
    parser.add_argument("--workdir", default=".kml/demo", help="where the demo keeps its data (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="show the full KFP local-runner logs")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("kfp").setLevel(logging.WARNING)
    return run_demo(Path(args.workdir))


if __name__ == "__main__":
    sys.exit(main())
