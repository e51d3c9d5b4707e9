"""``kml ui``: serve the read-only web UI for a Model Registry until interrupted.

Everything that can fail before serving fails first, in one line with exit code 1: no registry given, a ``--db``
file that does not exist or is not a registry, a token file that cannot be read, a port that is taken. A registry
that does not answer yet is only a warning: the pages say so until it does (a port-forward may come up later).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from kfp_model_lifecycle.cli.registry_access import TOKEN_ENV, URL_ENV, check_database, registry_env
from kfp_model_lifecycle.errors import LifecycleError

if TYPE_CHECKING:
    from kfp_model_lifecycle.api import Lifecycle

KFP_UI_URL_ENV = "KML_KFP_UI_URL"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _registry_url(args: argparse.Namespace, stack: contextlib.ExitStack, env: dict[str, str]) -> str:
    """The registry to read: ``--registry-url``/``KML_REGISTRY_URL``, or an embedded one started on ``--db``."""
    if args.db:
        check_database(args.db)
        from kfp_model_lifecycle.local.registry import EmbeddedRegistry

        env.pop(TOKEN_ENV, None)  # the embedded registry started here requires none
        return stack.enter_context(EmbeddedRegistry(args.db)).url
    url = (args.registry_url or env.get(URL_ENV, "")).strip()
    if not url:
        raise ValueError(
            "no Model Registry given: pass --registry-url URL (e.g. http://127.0.0.1:8080 for `kml registry serve`,"
            " or a port-forwarded cluster registry), set KML_REGISTRY_URL, or use --db FILE for a registry file"
        )
    return url


def _check_registry(url: str, factory: Callable[[], Lifecycle]) -> None:
    """Warn (do not fail) when the registry does not answer now."""
    try:
        with factory() as lc:
            lc.models()
    except Exception as exc:  # the pages show the error; starting anyway lets a port-forward come up later
        first = str(exc).splitlines()[0].split(". ")[0] if str(exc) else type(exc).__name__
        print(
            f"warning: the Model Registry at {url} does not answer yet ({first[:300]}); the pages say so until it does",
            file=sys.stderr,
        )


def run_ui_command(args: argparse.Namespace) -> int:
    """Serve the UI until interrupted.

    Args:
        args: The parsed ``kml ui`` options.

    Returns:
        0 after a clean stop; 1 when it cannot start.
    """
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(levelname)s %(name)s: %(message)s")
    if args.log_level in ("warning", "error"):  # the client's retry notes are for pipeline logs, not this console
        for name in ("model-registry", "kfp_model_lifecycle"):
            logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("kfp_model_lifecycle.ui").setLevel(getattr(logging, args.log_level.upper()))
    try:
        from kfp_model_lifecycle.local.registry.server import bind_socket
        from kfp_model_lifecycle.ui.app import UiSettings, create_app
        from kfp_model_lifecycle.ui.server import lifecycle_factory, uvicorn_server
    except ModuleNotFoundError as exc:
        print(f'error: {exc.name} is not installed: pip install "kfp-model-lifecycle[local]"', file=sys.stderr)
        return 1
    with contextlib.ExitStack() as stack:
        try:
            env = registry_env(token_file=args.token_file)
            url = _registry_url(args, stack, env)
            factory = lifecycle_factory(url, env=env, verify_tls=not args.insecure, ca_bundle_path=args.ca_bundle)
            sock = bind_socket(args.host, args.port)
        except (LifecycleError, ValueError, OSError) as exc:
            print(f"error: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}", file=sys.stderr)
            return 1
        stack.callback(sock.close)
        _check_registry(url, factory)
        kfp_ui_url = (args.kfp_ui_url or os.environ.get(KFP_UI_URL_ENV, "")).strip()
        app = create_app(UiSettings(url, kfp_ui_url, args.host), factory)
        server = uvicorn_server(app, args.log_level)
        port = sock.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"kml ui on http://{host}:{port}/ - reading the Model Registry at {url} (Ctrl-C stops)", file=sys.stderr)
        if args.host not in LOOPBACK:
            print(
                f"warning: listening on {args.host}: anyone who can reach it can read the registry through this UI"
                " (it has no login)",
                file=sys.stderr,
            )
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stops cleanly, then re-raises it
            server.run(sockets=[sock])
    return 0
