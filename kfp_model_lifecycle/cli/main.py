"""The ``kml`` command: the model lifecycle from a shell, plus developer tooling.

``kml models ...`` works with any Model Registry; ``kml registry serve``, ``kml cluster up`` and ``kml compile`` are
developer tooling. Every subcommand has ``--help``. Parsing needs only :mod:`.parsers` (light); the module that
handles a command is imported when the command runs, so ``kml --help`` is quick.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from kfp_model_lifecycle.cli.parsers import build_parser


def resolve_handler(spec: str) -> Callable[..., int]:
    """The function a ``module:function`` handler name refers to.

    Args:
        spec: e.g. ``kfp_model_lifecycle.cli.models:run_models_command``.

    Returns:
        The function.
    """
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kml``.

    Args:
        argv: The arguments (default: the process's).

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    return int(resolve_handler(args.handler)(args))


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
