"""The arguments of ``kml models register`` and ``kml models compare`` (argparse only, like :mod:`.parsers`)."""

from __future__ import annotations

import argparse
from typing import Any

MODELS = "kfp_model_lifecycle.cli.models:run_models_command"


def add_register_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``kml models register`` to the ``kml models`` command group.

    Args:
        sub: The ``add_subparsers()`` object of ``kml models``.
        common: The registry connection options every ``kml models`` command takes.
    """
    p = sub.add_parser(
        "register",
        parents=[common],
        help="register a model version trained outside a pipeline",
        description=(
            "Register a model version with the register_model component's code: the next SemVer (safe under"
            " concurrent registrations) or an explicit one, typed metrics and parameters, datasets with their sha256"
            " digest when they are local files, and the lineage this machine can tell: source=manual, the git commit"
            " of the current directory, the user and the host."
        ),
    )
    p.add_argument("name", metavar="NAME", help="the registered model (created when missing)")
    p.add_argument("--uri", required=True, metavar="URI", help="the model: s3://..., https://..., or a local path")
    p.add_argument("--format", dest="model_format", default="", metavar="F", help="serving format, e.g. sklearn")
    p.add_argument("--format-version", default="", metavar="V", help="format version, e.g. 1 (with --format)")
    p.add_argument(
        "--version",
        dest="version_request",
        default="patch",
        metavar="patch|minor|major|X.Y.Z",
        help="bump the newest SemVer version, or name the version (default: %(default)s)",
    )
    p.add_argument("--metric", action="append", default=[], metavar="K=V", help="a metric, e.g. accuracy=0.95")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="a hyperparameter, e.g. max_depth=5")
    p.add_argument("--dataset", action="append", default=[], metavar="ROLE=URI", help="a dataset, e.g. train=train.csv")
    p.add_argument("--label", action="append", default=[], metavar="L", help="a label (repeatable)")
    p.add_argument("--description", default="", metavar="D", help="the version's description")
    p.add_argument("--author", default="", metavar="A", help="the version's author (default: the login name)")
    p.add_argument("--code-version", default="", metavar="C", help="code version (default: git rev-parse HEAD)")
    p.set_defaults(handler=MODELS)


def add_compare_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``kml models compare`` to the ``kml models`` command group.

    Args:
        sub: The ``add_subparsers()`` object of ``kml models``.
        common: The registry connection options every ``kml models`` command takes.
    """
    p = sub.add_parser(
        "compare",
        parents=[common],
        help="rank two or more versions on their metrics",
        description=(
            "Rank versions on metrics (the compare_versions component's code): a table with the best value of each"
            " metric marked, and with --html a page with a chart per metric. Metrics named loss, error, rmse, mae or"
            " latency rank lower first; say so for others with NAME:min (or NAME:max). Default: the metrics every"
            " version records."
        ),
    )
    p.add_argument("references", nargs="+", metavar="REF", help="NAME:VERSION, NAME@ALIAS or NAME (two or more)")
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="M[:min|:max]",
        help="rank on this metric (repeatable, in order of importance)",
    )
    p.add_argument("--html", default="", metavar="FILE", help="also write the leaderboard as an HTML page")
    p.set_defaults(handler=MODELS)
