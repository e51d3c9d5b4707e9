"""Where and when model versions were deployed, and rolling a deployment back, from Python and from ``kml models``.

Python::

    from kfp_model_lifecycle.cli.deployments import model_deployments, rollback_deployment
    from kfp_model_lifecycle.cli.models import open_registry

    with open_registry("http://127.0.0.1:8080") as conn:
        history = model_deployments(conn, "iris")
        for row in history["rollouts"]:
            print(row["time"], row["target"], row["version"], row["outcome"])
        result = rollback_deployment(conn, "iris", namespace="kubeflow-user-example-com", reason="latency regression")
        print(result.version, result.url)

Command line (``kml models``; the options are declared in :mod:`kfp_model_lifecycle.cli.parsers`)::

    kml models deployments iris
    kml models rollback-deployment iris [--inference-service NAME] [--namespace NS] --reason "..."
    kml models undeploy iris [--inference-service NAME] [--namespace NS]

The history comes from the Model Registry's serving records that ``deploy_model`` writes (ServingEnvironment per
namespace, InferenceService, one ServeModel per rollout). Rolling back and undeploying also talk to the cluster:
``--kubeconfig`` (default ``KUBECONFIG``, then ``~/.kube/config``) and ``--context``. The work itself is done by
the package :mod:`kfp_model_lifecycle.deployment` (the code the components run: ``history`` for the records,
``run`` for the jobs), imported when a command runs so that ``kml`` starts fast. Rolling back and undeploying are
as safe as ``deploy_model``: readiness as KServe reports it, automatic restore, and registry writes done once per
rollout key (see the deploy_model README, "Retries and recovery").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kfp_model_lifecycle.cli.output import render_table
from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.lineage.context import RunContext

if TYPE_CHECKING:
    from kfp_model_lifecycle.deployment.history import RolloutEntry
    from kfp_model_lifecycle.deployment.run import DeploymentResult, UndeployResult

__all__ = ["model_deployments", "rollback_deployment", "undeploy"]

_ROLLOUT_COLUMNS = [
    ("time", "time (UTC)"),
    ("target", "namespace/inference service"),
    ("version", "version"),
    ("outcome", "outcome"),
    ("previous_version", "replaced"),
    ("canary_percent", "canary %"),
    ("how", "how"),
    ("by", "by"),
]
_SERVICE_COLUMNS = [
    ("target", "namespace/inference service"),
    ("state", "state"),
    ("version", "version"),
    ("since", "since (UTC)"),
    ("url", "url"),
]


def model_deployments(conn: RegistryConnection, model_name: str) -> dict[str, Any]:
    """Where and when each version of a model was deployed, as rows for a table or JSON.

    Args:
        conn: A registry connection (``kfp_model_lifecycle.cli.models.open_registry``).
        model_name: The registered model.

    Returns:
        ``model`` (name), ``services`` (one row per InferenceService: ``target`` = ``namespace/name``, ``state``
        DEPLOYED/UNDEPLOYED, ``version``, ``deployed_time``, ``url``) and ``rollouts`` (oldest first: ``time``,
        ``target``, ``version``, ``outcome`` deployed/failed/undeployed, ``previous_version``, ``canary_percent``,
        ``how`` (phases, rollback, failure reason), ``by`` (actor or run), ``url``, ``run_id``, ``manifest_sha256``).
    """
    from kfp_model_lifecycle.deployment.history import list_model_deployments

    history = list_model_deployments(conn, model_name)
    services = [
        {
            **dataclasses.asdict(s),
            "target": f"{s.namespace}/{s.name}",
            "since": s.undeployed_time if s.state == "UNDEPLOYED" and s.undeployed_time else s.deployed_time,
        }
        for s in history.services
    ]
    rollouts = [_rollout_row(r) for r in history.rollouts]
    return {"model": str(history.model.get("name") or model_name), "services": services, "rollouts": rollouts}


def _rollout_row(r: RolloutEntry) -> dict[str, Any]:
    """One rollout as a row of ``kml models deployments``."""
    how = r.phases
    if r.rollback:
        how = "rollback" + (f" ({how})" if how else "")
    if r.outcome == "failed":
        how += f"; {r.failure_reason or 'failed'}"
        how += "; previous restored" if r.restored else ""
    return {
        "time": r.time,
        "target": f"{r.namespace}/{r.inference_service}",
        "namespace": r.namespace,
        "inference_service": r.inference_service,
        "version": r.version,
        "version_id": r.version_id,
        "outcome": r.outcome,
        "previous_version": r.previous_version,
        "canary_percent": r.canary_percent or "",
        "how": how.strip("; "),
        "by": r.actor or r.run_name or r.run_id,
        "reason": r.reason,
        "url": r.url,
        "run_id": r.run_id,
        "manifest_sha256": r.manifest_sha256,
        "rollback": r.rollback,
    }


def rollback_deployment(
    conn: RegistryConnection,
    model_name: str,
    *,
    inference_service_name: str = "",
    namespace: str = "",
    timeout_seconds: float = 600,
    reason: str = "",
    actor: str = "",
    dry_run: bool = False,
    kubeconfig_path: str = "",
    kube_context: str = "",
) -> DeploymentResult:
    """Redeploy the previously deployed version of a model's InferenceService, in one step.

    Args:
        conn: A registry connection.
        model_name: The registered model.
        inference_service_name: The InferenceService ("" derives it from the model name, as deploy_model does).
        namespace: Its namespace ("" for the kubeconfig context's).
        timeout_seconds: Bound for the rollout.
        reason: Why (audit trail).
        actor: Who (default ``user:<login name>``).
        dry_run: Only show which version and manifest would be deployed.
        kubeconfig_path: Kubeconfig ("" for ``KUBECONFIG``, then ``~/.kube/config``).
        kube_context: Kubeconfig context ("" for the current one).

    Returns:
        What was deployed (see ``run_rollback_deployment``): ``inference_service_name``, ``namespace``,
        ``version``, ``rolled_back_from``, ``url``, ``manifest_yaml``, ``phases``...
    """
    from kfp_model_lifecycle.deployment.run import run_rollback_deployment

    return run_rollback_deployment(
        model_name=model_name,
        inference_service_name=inference_service_name,
        namespace=namespace,
        timeout_seconds=timeout_seconds,
        dry_run=dry_run,
        reason=reason,
        actor=actor,
        kubeconfig_path=kubeconfig_path,
        kube_context=kube_context,
        context=_cli_context(),
        conn=conn,
    )


def undeploy(
    conn: RegistryConnection,
    model_name: str,
    *,
    inference_service_name: str = "",
    namespace: str = "",
    timeout_seconds: float = 120,
    reason: str = "",
    actor: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
) -> UndeployResult:
    """Delete a model's InferenceService and mark its registry record ``UNDEPLOYED`` (with an audit entry).

    Args:
        conn: A registry connection.
        model_name: The registered model.
        inference_service_name: The InferenceService ("" derives it from the model name).
        namespace: Its namespace ("" for the kubeconfig context's).
        timeout_seconds: Bound for the object to disappear.
        reason: Why (audit trail).
        actor: Who.
        kubeconfig_path: Kubeconfig.
        kube_context: Kubeconfig context.

    Returns:
        What was deleted and recorded (see ``run_undeploy_model``): ``inference_service_name``, ``namespace``,
        ``deleted``, ``version``, ``records``.
    """
    from kfp_model_lifecycle.deployment.run import run_undeploy_model

    return run_undeploy_model(
        model_name=model_name,
        inference_service_name=inference_service_name,
        namespace=namespace,
        timeout_seconds=timeout_seconds,
        reason=reason,
        actor=actor,
        kubeconfig_path=kubeconfig_path,
        kube_context=kube_context,
        context=_cli_context(),
        conn=conn,
    )


def _cli_context() -> RunContext:
    """The run context of a command-line call: no run; the namespace comes from the kubeconfig."""
    return RunContext()


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _progress(args: argparse.Namespace) -> Iterator[None]:
    """Print progress of long waits to stderr while a command runs (``kml models`` otherwise logs warnings only)."""
    if getattr(args, "json", False) and not getattr(args, "verbose", False):
        yield
        return
    log = logging.getLogger("kfp_model_lifecycle")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def cmd_deployments(conn: RegistryConnection, args: argparse.Namespace) -> int:

    data = model_deployments(conn, args.name)
    if args.json:
        print(_json(data))
        return 0
    print(f"{data['model']}: where it is deployed now\n")
    print(render_table(data["services"], _SERVICE_COLUMNS, max_width=70))
    print("\nRollouts (oldest first):\n")
    print(render_table(data["rollouts"], _ROLLOUT_COLUMNS, max_width=70))
    return 0


def cmd_rollback_deployment(conn: RegistryConnection, args: argparse.Namespace) -> int:
    with _progress(args):
        result = rollback_deployment(
            conn,
            args.name,
            inference_service_name=args.inference_service,
            namespace=args.namespace,
            timeout_seconds=args.timeout,
            reason=args.reason,
            actor=args.actor,
            dry_run=args.dry_run,
            kubeconfig_path=args.kubeconfig,
            kube_context=args.context,
        )
    target = f"{result.namespace}/{result.inference_service_name}"
    if args.json:
        print(_json(_summary(result)))
    elif args.dry_run:
        print(
            f"dry run: would roll {target} back from {result.rolled_back_from or '?'} to {result.version} with this"
            " manifest:\n"
        )
        print(result.manifest_yaml)
    else:
        print(f"rolled {target} back from {result.rolled_back_from or '?'} to {result.reference}: {result.url}")
    return 0


def cmd_undeploy(conn: RegistryConnection, args: argparse.Namespace) -> int:
    with _progress(args):
        result = undeploy(
            conn,
            args.name,
            inference_service_name=args.inference_service,
            namespace=args.namespace,
            timeout_seconds=args.timeout,
            reason=args.reason,
            actor=args.actor,
            kubeconfig_path=args.kubeconfig,
            kube_context=args.context,
        )
    if args.json:
        keys = ("inference_service_name", "namespace", "deleted", "version")
        print(_json({key: getattr(result, key) for key in keys}))
    else:
        target = f"{result.namespace}/{result.inference_service_name}"
        state = "deleted" if result.deleted else "was not deployed (nothing to delete)"
        print(f"{target}: {state}; registry record UNDEPLOYED" if result.records else f"{target}: {state}")
    return 0


def _summary(result: DeploymentResult) -> dict[str, Any]:
    keys = ("inference_service_name", "namespace", "model", "version", "rolled_back_from", "url", "phases", "dry_run")
    return {k: getattr(result, k) for k in keys}


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True, default=str)
