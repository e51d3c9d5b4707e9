"""``kml registry serve``: bind, open the database, say where it serves (once), then serve until interrupted.

Everything that can fail before serving fails first, with one clear line and exit code 1: a port that is taken,
a ``--db`` that is a directory or not a SQLite database. Only then is the address printed. This module imports
only the standard library at the top, so ``kml`` stays quick and says what to install when the ``local`` extra
is missing.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from types import ModuleType

TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
LOCAL_EXTRA_HINT = 'install the local tooling: pip install "kfp-model-lifecycle[local]"'
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _server_module() -> ModuleType:
    try:
        return importlib.import_module("kfp_model_lifecycle.local.registry.server")
    except ModuleNotFoundError as exc:
        raise SystemExit(f"error: {exc.name} is not installed: {LOCAL_EXTRA_HINT}") from None


def _banner(args: argparse.Namespace, port: int, gateway_port: int | None, token: str | None) -> str:
    lines = [
        f"Model Registry (REST API v1) on http://{args.host}:{port}/api/model_registry/v1 - database {args.db}"
        + (" - bearer token required" if token and gateway_port is None else "")
    ]
    if gateway_port is not None:
        lines[0] += " - Istio guard: every request here answers 403 'RBAC: access denied'"
        lines.append(
            f"Istio ingress gateway stand-in on http://{args.host}:{gateway_port}/api/model_registry/v1"
            " - requests need 'Authorization: Bearer <token>'" + (" (the configured token)" if token else "")
        )
    return "\n".join(lines)


def _next_port(port: int) -> int:
    """The default gateway port: the one after ``port`` (a free one when ``port`` is 0 or the last)."""
    return port + 1 if 0 < port < 65535 else 0


def serve_command(args: argparse.Namespace) -> int:
    """Run the embedded Model Registry until interrupted.

    Args:
        args: The parsed ``kml registry serve`` options.

    Returns:
        0 after a clean stop; 1 when the ports cannot be bound or the database cannot be used.
    """
    server = _server_module()
    token = args.token or os.environ.get(TOKEN_ENV) or None
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(message)s")
    if args.host not in LOOPBACK and not token:
        print(
            f"warning: serving on {args.host} without --token: anyone who can reach this address can change the"
            " registry",
            file=sys.stderr,
        )
    options = server.ServeOptions(token, args.istio_guard, args.max_body_bytes, args.patch_window)
    gateway_port = None
    if args.istio_guard:
        gateway_port = args.gateway_port if args.gateway_port is not None else _next_port(args.port)
    try:
        listeners = server.listen(args.host, args.port, gateway_port=gateway_port, fds=(args.fd, args.gateway_fd))
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        app = server.create_app(args.db, options=options, gateway_port=listeners.port("gateway"))
    except server.RegistryDatabaseError as exc:
        listeners.close()
        print(f"error: --db: {exc}", file=sys.stderr)
        return 1
    print(_banner(args, listeners.port() or 0, listeners.port("gateway"), token), file=sys.stderr, flush=True)
    try:
        server.run(app, listeners, args.log_level)
    finally:
        listeners.close()
    return 0
