"""The options of ``kml registry serve`` (standard library only: ``kml --help`` must stay quick)."""

from __future__ import annotations

import argparse

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The default request body limit (1 MiB); :mod:`.middleware` holds the same value."""


def port(text: str) -> int:
    """A TCP port number, 0-65535 (0 picks a free port)."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: ports are 0-65535 (0 picks a free one)")
    return int(text)


def positive_int(text: str) -> int:
    """A positive integer."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def seconds(text: str) -> float:
    """A number of seconds from 0 to 60."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 60")
    return value


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """Add the options of ``kml registry serve`` to its parser."""
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s, loopback only)")
    serve.add_argument("--port", type=port, default=8080, help="TCP port (default: %(default)s)")
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
        "--istio-guard",
        action="store_true",
        help=(
            "imitate Kubeflow's Istio policy: --port answers every request 403 'RBAC: access denied' (a pipeline"
            " pod without sidecar calling the Service), --gateway-port serves the API to requests with"
            " 'Authorization: Bearer TOKEN' (the ingress gateway; the token is checked when --token is set)"
        ),
    )
    serve.add_argument(
        "--gateway-port", type=port, default=None, help="gateway port with --istio-guard (default: --port + 1)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="larger request bodies answer 413 (default: %(default)s, 1 MiB)",
    )
    serve.add_argument(
        "--patch-window",
        type=seconds,
        default=0.0,
        help=(
            "seconds between an update's read of the stored custom properties and its write: a key it adds that"
            " another request stored meanwhile answers 409, as on the real server (default: 0, no window)"
        ),
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level; debug logs one line per request (default: %(default)s)",
    )
    serve.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)  # an inherited listening socket
    serve.add_argument("--gateway-fd", type=int, default=None, help=argparse.SUPPRESS)  # the same, for the gateway
