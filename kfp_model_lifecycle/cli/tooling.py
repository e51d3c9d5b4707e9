"""Handlers of the tooling commands: ``kml registry serve``, ``kml compile`` and ``kml cluster up``.

The embedded registry and the cluster stand-in need the ``local`` extra (``pip install
"kfp-model-lifecycle[local]"``); without it these commands say so instead of failing with an import error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from kfp_model_lifecycle.compile import PackageRoute
from kfp_model_lifecycle.compile import main as compile_main

REGISTRY_TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
CLUSTER_TOKEN_ENV = "KML_CLUSTER_TOKEN"  # noqa: S105 - the variable's name
LOCAL_EXTRA_HINT = 'install the local tooling: pip install "kfp-model-lifecycle[local]"'


def _local_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SystemExit(f"error: {exc.name} is not installed: {LOCAL_EXTRA_HINT}") from None


def registry_serve(args: argparse.Namespace) -> int:
    """``kml registry serve``: run the embedded Model Registry until interrupted.

    ``kml`` calls :func:`kfp_model_lifecycle.local.registry.command.serve_command` directly (this module imports
    KFP, which the registry does not need); this name stays for callers of the old handler.
    """
    return int(_local_module("kfp_model_lifecycle.local.registry.command").serve_command(args))


def compile_command(args: argparse.Namespace) -> int:
    """``kml compile``: compile (or check) every component and pipeline."""
    try:
        route = PackageRoute(args.base_image or "", args.package_spec or "", args.pip_index_url or "")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return compile_main(Path(args.out), route, args.check)


def cluster_up(args: argparse.Namespace) -> int:
    """``kml cluster up``: run the local Kubernetes/KServe stand-in until interrupted."""
    server = _local_module("kfp_model_lifecycle.local.cluster.server")
    store = _local_module("kfp_model_lifecycle.local.cluster.store")

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(message)s")
    forbidden = set(store.DEFAULT_FORBIDDEN)
    for item in args.forbid or []:
        verb, _, resource = item.partition(":")
        resource = resource or "inferenceservices"
        if verb not in store.VERBS or resource not in store.RESOURCES:
            raise SystemExit(
                f"--forbid {item!r}: expected VERB[:RESOURCE] with VERB in {store.VERBS}, RESOURCE in {store.RESOURCES}"
            )
        forbidden.add((verb, resource))
    try:
        server.serve(
            port=args.port,
            kubeconfig_path=args.kubeconfig,
            registry_url=args.registry_url,
            workdir=args.workdir,
            namespace=args.namespace,
            forbidden=forbidden,
            token=args.token or os.environ.get(CLUSTER_TOKEN_ENV) or None,
            progress_deadline=args.progress_deadline,
        )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
