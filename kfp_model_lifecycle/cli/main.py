"""The ``kml`` command: developer tooling of kfp-model-lifecycle.

``kml registry serve`` runs the embedded Kubeflow Model Registry. Every subcommand has ``--help``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from kfp_model_lifecycle.cli.cluster import register_cluster_commands
from kfp_model_lifecycle.cli.models import register_models_commands


def _registry_serve(args: argparse.Namespace) -> int:
    from kfp_model_lifecycle.local.registry.server import TOKEN_ENV, serve

    token = args.token or os.environ.get(TOKEN_ENV) or None
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1") and not token:
        print(
            f"warning: serving on {args.host} without --token:"
            " anyone who can reach this address can change the registry",
            file=sys.stderr,
        )
    print(
        f"Model Registry (REST API v1) on http://{args.host}:{args.port}/api/model_registry/v1"
        f" - database {args.db}{' - bearer token required' if token else ''}",
        file=sys.stderr,
        flush=True,
    )
    serve(args.host, args.port, args.db, token=token, log_level=args.log_level, fd=args.fd)
    return 0


def _compile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kfp_model_lifecycle.compile import PackageRoute, main

    try:
        route = PackageRoute(args.base_image or "", args.package_spec or "", args.pip_index_url or "")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return main(Path(args.out), route, args.check)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kml`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="kml",
        description="kfp-model-lifecycle tooling: an embedded Kubeflow Model Registry and more.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    registry = commands.add_parser(
        "registry", help="the embedded Kubeflow Model Registry", description="Run the embedded Model Registry."
    )
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    serve = registry_commands.add_parser(
        "serve",
        help="serve the Model Registry REST API v1 on SQLite",
        description=(
            "Serve the Kubeflow Model Registry REST API v1 (under /api/model_registry/v1) from a SQLite file. "
            "The official model-registry client connects with ModelRegistry('http://HOST', PORT, author=..., "
            "is_secure=False). Stop with Ctrl-C; stopping and starting again on the same file loses nothing."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s, loopback only)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    serve.add_argument(
        "--db", default="registry.db", help="SQLite database file, created if missing (default: %(default)s)"
    )
    serve.add_argument(
        "--token",
        default=None,
        help=(
            "require 'Authorization: Bearer TOKEN' on every request"
            " (or set KML_REGISTRY_TOKEN, which keeps it out of `ps`)"
        ),
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level; debug logs one line per request (default: %(default)s)",
    )
    serve.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)  # an inherited listening socket
    serve.set_defaults(func=_registry_serve)

    compile_ = commands.add_parser(
        "compile",
        help="compile every component and pipeline to YAML",
        description=(
            "Write OUT/components/<component>.yaml for every component and OUT/pipelines/<pipeline>.yaml for every"
            " pipeline. Component pods get this package (at this version) by pip from PyPI by default; --package-spec"
            " and --pip-index-url change where from, --base-image uses the runtime image with the package preinstalled."
            " With --check, compile into a temporary directory and fail when OUT differs, a file fails strict"
            " validation or a file exceeds its size budget."
        ),
    )
    compile_.add_argument("--out", default="compiled", help="output directory (default: %(default)s)")
    compile_.add_argument(
        "--base-image",
        default=None,
        metavar="IMAGE",
        help=(
            "use this runtime image (built from runtime-image/Dockerfile, this package preinstalled) instead of"
            " python:3.11; the YAML then installs nothing at start-up. Use another --out than the committed compiled/."
        ),
    )
    compile_.add_argument(
        "--package-spec",
        default=None,
        metavar="SPEC",
        help=(
            "what pods pip-install instead of kfp-model-lifecycle==<this version>, e.g."
            " 'kfp-model-lifecycle @ git+https://github.com/ORG/kfp-model-lifecycle@v0.1.0' or a wheel URL"
        ),
    )
    compile_.add_argument(
        "--pip-index-url",
        default=None,
        metavar="URL",
        help="the package index pods pip-install from (a private mirror or an internal index)",
    )
    compile_.add_argument("--check", action="store_true", help="verify OUT is current and valid; write nothing")
    compile_.set_defaults(func=_compile)
    register_cluster_commands(commands)
    register_models_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kml``."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
