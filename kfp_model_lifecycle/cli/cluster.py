"""``kml cluster ...``: the local cluster stand-in's commands (registered by :func:`register_cluster_commands`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from kfp_model_lifecycle.local.cluster.store import DEFAULT_NAMESPACE, RESOURCES, VERBS

TOKEN_ENV = "KML_CLUSTER_TOKEN"  # noqa: S105 - the name of the variable, not a token


def _cluster_up(args: argparse.Namespace) -> int:
    from kfp_model_lifecycle.local.cluster.server import serve
    from kfp_model_lifecycle.local.cluster.store import DEFAULT_FORBIDDEN

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(message)s")
    forbidden = set(DEFAULT_FORBIDDEN)
    for item in args.forbid or []:
        verb, _, resource = item.partition(":")
        resource = resource or "inferenceservices"
        if verb not in VERBS or resource not in RESOURCES:
            raise SystemExit(
                f"--forbid {item!r}: expected VERB[:RESOURCE] with VERB in {VERBS}, RESOURCE in {RESOURCES}"
            )
        forbidden.add((verb, resource))
    try:
        serve(
            port=args.port,
            kubeconfig_path=args.kubeconfig,
            registry_url=args.registry_url,
            workdir=args.workdir,
            namespace=args.namespace,
            forbidden=forbidden,
            token=args.token or os.environ.get(TOKEN_ENV) or None,
        )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def register_cluster_commands(commands: Any) -> None:
    """Add ``kml cluster up`` to the ``kml`` subcommands.

    Args:
        commands: The ``add_subparsers()`` object of the ``kml`` parser.
    """
    cluster = commands.add_parser(
        "cluster",
        help="a local stand-in for Kubernetes with KServe (developer tooling)",
        description=(
            "A local stand-in for a Kubernetes cluster with KServe: a fake API server for InferenceServices and a "
            "controller serving each one with KServe's model server on loopback (needs the dev extra: kserve)."
        ),
    )
    cluster_commands = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    up = cluster_commands.add_parser(
        "up",
        help="run the local cluster in the foreground until Ctrl-C",
        description=(
            "Serve the Kubernetes API for inferenceservices.serving.kserve.io/v1beta1 on 127.0.0.1 and reconcile "
            "InferenceServices into KServe model servers (sklearn; V1 and V2 protocols; canary splits). Writes a "
            "kubeconfig for the official kubernetes client and kubectl, prints `export KUBECONFIG=...`, and stops "
            "every model server on Ctrl-C. State is in memory: a new `up` starts empty."
        ),
    )
    up.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument(
        "--kubeconfig", default=None, metavar="PATH", help="where to write the kubeconfig (default: WORKDIR/kubeconfig)"
    )
    up.add_argument(
        "--registry-url",
        default=None,
        metavar="URL",
        help="Model Registry base URL (e.g. http://127.0.0.1:8080) for model-registry:// storage URIs",
    )
    up.add_argument(
        "--workdir", default=None, help="directory for the kubeconfig and model server logs (default: a temporary one)"
    )
    up.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help="default namespace of the kubeconfig (default: %(default)s)"
    )
    up.add_argument(
        "--forbid",
        action="append",
        metavar="VERB[:RESOURCE]",
        help=(
            "answer VERB on RESOURCE (default inferenceservices) with 403 Forbidden, e.g. --forbid patch; "
            "repeatable (writes of inferenceservices/status are always forbidden)"
        ),
    )
    up.add_argument(
        "--token",
        default=None,
        help=(
            "require 'Authorization: Bearer TOKEN' (written into the kubeconfig); or set KML_CLUSTER_TOKEN, which "
            "keeps it out of `ps`"
        ),
    )
    up.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="(default: %(default)s)"
    )
    up.set_defaults(func=_cluster_up)
