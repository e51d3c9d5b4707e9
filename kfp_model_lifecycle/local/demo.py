"""``make demo``: the whole model lifecycle on one machine, with the same client code as on a cluster.

Starts an embedded Model Registry (SQLite) and the local cluster stand-in (Kubernetes API + KServe's model server),
then runs the champion/challenger pipeline with KFP's local runner (``SubprocessRunner(use_venv=False)``):

1. a first model: train -> register (with lineage) -> no production model yet -> promote -> deploy -> predict;
2. a better model: compare (gates + paired significance test) -> promote -> canary rollout -> predict;
3. a worse model: compare -> rejected, the champion stays; the rejection and its report are in the audit trail;
4. a broken model that reaches production: the deployment fails (``BlockedByFailedLoad``), is rolled back
   automatically, the previous model still answers, and the production stage is rolled back too.

It prints the lineage of every version, the audit trail, the deployment history and where the HTML comparison
reports are, then stops everything it started. Data stays in ``.kml/demo/`` for a look afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kfp import local
from model_registry import ModelRegistry
from sklearn.datasets import load_breast_cancer

from kfp_model_lifecycle.cli import main as kml
from kfp_model_lifecycle.cli.deployments import model_deployments
from kfp_model_lifecycle.cli.models import open_registry
from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.run import run_deploy_model
from kfp_model_lifecycle.lifecycle import actions
from kfp_model_lifecycle.lifecycle.queries import model_history
from kfp_model_lifecycle.local.cluster import LocalCluster
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.pipelines import champion_challenger_pipeline

MODEL_NAME = "breast-cancer-classifier"
RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a first, weak model (1 tree, depth 1)", {"n_estimators": 1, "max_depth": 1}),
    ("a better model (150 trees, depth 8), rolled out as a 30% canary", {"n_estimators": 150, "max_depth": 8}),
    ("a worse model (3 trees, depth 2)", {"n_estimators": 3, "max_depth": 2}),
)


def say(text: str) -> None:
    """Print a demo line (flushed, so it interleaves with the pipeline logs in order)."""
    print(f"[demo] {text}", flush=True)


def _short(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(rows: list[dict[str, str]], widths: dict[str, int] | None = None) -> None:
    """Print rows as an aligned text table."""
    if not rows:
        print("(nothing)")
        return
    widths = widths or {}
    columns = list(rows[0])
    cells = [[_short(row[c], widths.get(c, 60)) for c in columns] for row in rows]
    sizes = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(s) for c, s in zip(columns, sizes, strict=True)))
    print("  ".join("-" * s for s in sizes))
    for row in cells:
        print("  ".join(v.ljust(s) for v, s in zip(row, sizes, strict=True)))


def lineage_rows(client: Any, model_name: str) -> list[dict[str, str]]:
    """One row per registered version: version, run, data digest, hyperparameters, metrics and model URI."""
    rows = []
    for version in client.get_model_versions(model_name).order_by_id():
        props = version.custom_properties or {}
        artifact = client.get_model_artifact(model_name, version.name)
        hyper = {k.removeprefix("hp_"): v for k, v in props.items() if k.startswith("hp_")}
        rows.append(
            {
                "version": version.name,
                "stage": str(props.get("kml_stage", "development")),
                "run": str(props.get("kfp_run_name", "-")),
                "train data sha256": str(props.get("dataset_0_sha256", "-"))[:12],
                "hyperparameters": ", ".join(
                    f"{k}={int(v) if isinstance(v, float) and v.is_integer() else v}" for k, v in sorted(hyper.items())
                )
                or "-",
                "accuracy": f"{props['accuracy']:.4f}" if "accuracy" in props else "-",
                "roc_auc": f"{props['roc_auc']:.4f}" if "roc_auc" in props else "-",
                "model uri": artifact.uri if artifact else "-",
            }
        )
    return rows


def predict(url: str, model: str, rows: list[list[float]]) -> tuple[list[Any], str]:
    """POST a V1 ``:predict`` request; returns the predictions and the revision that answered."""
    body = json.dumps({"instances": rows}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local stand-in on loopback
        f"{url}/v1/models/{model}:predict", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())["predictions"], response.headers.get("X-Kml-Revision", "?")


def _sample_rows() -> tuple[list[list[float]], list[int]]:
    data = load_breast_cancer()
    picks = [0, 19, 20, 21, 50]  # a mix of malignant (0) and benign (1)
    return [data.data[i].tolist() for i in picks], [int(data.target[i]) for i in picks]


def show_prediction(conn: RegistryConnection, when: str) -> None:
    """Predict a few rows on the model's live InferenceService and say which revision answered."""
    services = [s for s in model_deployments(conn, MODEL_NAME)["services"] if s.get("state") == "DEPLOYED"]
    if not services or not services[0].get("url"):
        say(f"{when}: nothing deployed ({services})")
        return
    service = services[0]
    name = str(service["target"]).split("/")[-1]
    rows, labels = _sample_rows()
    predictions, revision = predict(str(service["url"]), name, rows)
    say(
        f"{when}: POST {service['url']}/v1/models/{name}:predict -> {predictions} (true labels {labels});"
        f" answered by revision {revision} serving version {service['version']}"
    )


@contextlib.contextmanager
def quiet_logs(verbose: bool) -> Iterator[None]:
    """Keep the KFP local runner's per-task logs out of the demo output unless --verbose."""
    if verbose:
        yield
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            yield
        except BaseException:
            sys.stdout.write(buffer.getvalue())  # show what happened when a run fails
            raise


def break_a_model(conn: RegistryConnection, workdir: Path, client: ModelRegistry) -> str:
    """Register a version whose model file is corrupt and promote it to production (a bad day in real life)."""
    broken = workdir.resolve() / "broken-model"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "model.joblib").write_bytes(b"this is not a joblib file")
    versions = [v.name for v in client.get_model_versions(MODEL_NAME)]
    name = f"1.0.{len(versions)}"
    client.register_model(
        MODEL_NAME,
        str(broken),
        model_format_name="sklearn",
        model_format_version="1",
        version=name,
        version_description="a corrupt model file, to show a failed rollout and its automatic rollback",
    )
    actions.promote(conn, f"{MODEL_NAME}:{name}", stage="production", reason="demo: promoted by hand, untested")
    return name


def run_pipelines(conn: RegistryConnection, verbose: bool) -> None:
    """Run the champion/challenger pipeline once per entry of :data:`RUNS`, predicting after each."""
    for number, (what, params) in enumerate(RUNS, start=1):
        say(f"run {number}/{len(RUNS)}: champion/challenger pipeline with {what} ...")
        run_started = time.monotonic()
        canary = 30 if number == 2 else 0
        with quiet_logs(verbose):
            champion_challenger_pipeline(
                model_name=MODEL_NAME, code_version="demo", deploy=True, canary_percent=canary, **params
            )
        last = model_history(conn, MODEL_NAME)[-1]
        elapsed = time.monotonic() - run_started
        say(f"run {number} finished in {elapsed:.0f}s; last audit entry: {last['description']}")
        show_prediction(conn, f"after run {number}")


def deploy_a_broken_model(conn: RegistryConnection, workdir: Path, client: ModelRegistry, verbose: bool) -> bool:
    """Promote and deploy a corrupt model: the rollout fails and is rolled back; returns whether it failed."""
    say("a broken model reaches production (promoted by hand) and is deployed ...")
    broken = break_a_model(conn, workdir, client)
    try:
        with quiet_logs(verbose):
            run_deploy_model(
                model_reference=f"{MODEL_NAME}:{broken}",
                reason="demo: deploy the broken model",
                timeout_seconds=120,
                conn=conn,
            )
    except Exception as exc:  # the expected failure, with its reason
        say(f"deployment of {broken} failed as expected: {str(exc).splitlines()[0][:300]}")
    else:
        say("unexpected: the broken model deployed")
        return False
    show_prediction(conn, "after the failed rollout (automatic rollback)")
    result = actions.rollback(conn, MODEL_NAME, reason=f"deployment of {broken} failed: BlockedByFailedLoad")
    say(f"production stage rolled back: {result.new_holder} is production again ({broken} archived)")
    return True


def print_report(workdir: Path, registry_url: str, client: ModelRegistry) -> None:
    """Print the lineage table, the audit trail, the deployments and where the comparison reports are."""
    print(f"\n[demo] versions of {MODEL_NAME!r} with their lineage:\n", flush=True)
    print_table(lineage_rows(client, MODEL_NAME), {"model uri": 60, "run": 48})
    print(f"\n[demo] the audit trail (`kml models history {MODEL_NAME}`):\n", flush=True)
    kml(["models", "history", MODEL_NAME, "--registry-url", registry_url])
    print(f"\n[demo] deployments (`kml models deployments {MODEL_NAME}`):\n", flush=True)
    kml(["models", "deployments", MODEL_NAME, "--registry-url", registry_url])
    reports = workdir.resolve() / "reports"
    reports.mkdir(exist_ok=True)
    print("\n[demo] comparison reports (open in a browser; the KFP UI renders them on a cluster):")
    found = sorted((workdir / "pipeline_root").glob("champion-challenger-*/compare-models/report_html"))
    for number, report in enumerate(found, start=1):
        copy = reports / f"comparison-run-{number}.html"  # the KFP artifact keeps its name; a browser wants .html
        shutil.copyfile(report, copy)
        print(f"    {copy}")


def run_demo(workdir: Path, verbose: bool) -> int:
    """Run the demo in ``workdir`` (recreated); returns the exit code."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    with (
        EmbeddedRegistry(workdir / "registry.db") as registry,
        LocalCluster(workdir / "cluster", registry_url=registry.url) as cluster,
    ):
        say(f"Model Registry (REST API v1 on SQLite) on {registry.url}")
        say(f"local cluster (Kubernetes API + KServe model server) on {cluster.api_url}")
        os.environ["KML_REGISTRY_URL"] = registry.url  # what every component connects to
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)  # what deploy_model's kubernetes client loads
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "pipeline_root"))
        logging.getLogger("model-registry").setLevel(logging.ERROR)  # its http:// port warning is not for a demo
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "User access token is missing": the local registry has no auth
            client = ModelRegistry(registry.address, registry.port, author="demo", is_secure=False)
        with open_registry(registry.url) as conn:
            run_pipelines(conn, verbose)
            if not deploy_a_broken_model(conn, workdir, client, verbose):
                return 1
        print_report(workdir, registry.url, client)
    say(
        f"done in {time.monotonic() - started:.0f}s; registry and cluster are stopped. The registry database and the"
        f" pipeline outputs are in {workdir}/ -- browse them with:\n"
        f"    .venv/bin/kml registry serve --db {workdir / 'registry.db'}\n"
        f"or look at them in the web UI (then open http://127.0.0.1:8090):\n"
        f"    .venv/bin/kml ui --db {workdir / 'registry.db'}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m kfp_model_lifecycle.local.demo``."""
    parser = argparse.ArgumentParser(prog="python -m kfp_model_lifecycle.local.demo", description=__doc__)
    parser.add_argument("--workdir", default=".kml/demo", help="where the demo keeps its data (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="show the full KFP local-runner logs")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")  # display names
    return run_demo(Path(args.workdir), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
