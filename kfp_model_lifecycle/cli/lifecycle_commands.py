"""``kml models register`` and ``kml models compare``: the Python API's register and compare on the command line.

Both run the package's own code (:func:`kfp_model_lifecycle.api.register_local_model`, the register_model
component's job; ``compare_versions``, the compare_versions component's) and print a summary, or ``--json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kfp_model_lifecycle.api import metrics_in_common, register_local_model
from kfp_model_lifecycle.api.manual import parse_assignments
from kfp_model_lifecycle.cli.output import exact_value, print_json, render_table
from kfp_model_lifecycle.cli.registry_access import registry_env
from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.comparison.leaderboard import Leaderboard, compare_versions
from kfp_model_lifecycle.comparison.report import render_leaderboard_html
from kfp_model_lifecycle.comparison.report.leaderboard_text import detail_lines, headings, row_cells, title
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import plain_properties
from kfp_model_lifecycle.registration import RegistrationResult

BEST_MARK = "*"
DIRECTIONS = ("min", "max", "lower", "higher")


def _datasets(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        role, sep, uri = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--dataset {item!r}: write ROLE=URI, e.g. --dataset train=data/train.csv")
        pairs.append((role, uri))
    return pairs


def registration_summary(result: RegistrationResult) -> dict[str, Any]:
    """What ``kml models register --json`` prints.

    Args:
        result: The registration.

    Returns:
        ``reference``, model and version names and ids, ``reused``, ``registry_url``, the recorded ``properties``
        (plain values) and ``missing`` lineage with how to provide it.
    """
    return {
        "reference": f"{result.model_name}:{result.version_name}",
        "model_name": result.model_name,
        "model_id": result.model_id,
        "version_name": result.version_name,
        "version_id": result.version_id,
        "reused": result.reused,
        "registry_url": result.registry_url,
        "properties": plain_properties({"customProperties": result.properties}),
        "missing": dict(result.missing),
    }


def cmd_register(conn: RegistryConnection, args: argparse.Namespace) -> int:
    """``kml models register NAME --uri URI ...``."""
    if args.format_version and not args.model_format:
        raise InvalidInputError("--format-version needs --format (e.g. --format sklearn --format-version 1)")
    result = register_local_model(
        args.name,
        args.uri,
        version=args.version_request,
        model_format=args.model_format,
        model_format_version=args.format_version,
        metrics=parse_assignments(args.metric, "--metric", numbers=True),
        hyperparameters=parse_assignments(args.param, "--param"),
        datasets=_datasets(args.dataset),
        labels=args.label,
        description=args.description,
        author=args.author,
        code_version=args.code_version,
        registry_url=conn.url,
        verify_tls=not args.insecure,
        ca_bundle_path=args.ca_bundle,
        env=registry_env(token_file=args.token_file),
    )
    summary = registration_summary(result)
    if args.json:
        print_json(summary)
        return 0
    verb = "found the earlier registration" if result.reused else "registered"
    print(f"{verb} {summary['reference']} (version id {result.version_id}) in {result.registry_url}")
    for key, value in summary["properties"].items():
        print(f"  {key} = {exact_value(value)}" if value != "" else f"  label {key}")
    if summary["missing"]:
        print(f"  not recorded: {', '.join(summary['missing'])} (the warnings above say how to record them)")
    return 0


def _metrics(items: list[str]) -> list[Any]:
    """``--metric`` values: ``name``, ``-name``, or ``name:min``/``name:max``."""
    parsed: list[Any] = []
    for item in items:
        name, sep, direction = item.rpartition(":")
        parsed.append((name, direction) if sep and direction.lower() in DIRECTIONS else item)
    return parsed


def leaderboard_table(board: Leaderboard) -> str:
    """The leaderboard as a plain-text table, the best value of each metric marked with ``*``.

    Args:
        board: From ``compare_versions``.

    Returns:
        The table.
    """
    columns = headings(board)
    keys = [(str(i), heading) for i, heading in enumerate(columns)]
    rows = []
    for row in board.rows:
        cells = row_cells(board, row)
        rows.append({str(i): cell.text + (BEST_MARK if cell.best else "") for i, cell in enumerate(cells)})
    return render_table(rows, keys, max_width=None)


def cmd_compare(conn: RegistryConnection, args: argparse.Namespace) -> int:
    """``kml models compare REF REF [REF...] [--metric M]... [--html FILE]``."""
    if len(args.references) < 2:
        raise InvalidInputError("kml models compare needs two or more versions, e.g. iris:1.0.0 iris@champion")
    metrics = _metrics(args.metric) or metrics_in_common(conn, args.references)
    board = compare_versions(conn, references=args.references, metrics=metrics)
    if args.html:
        Path(args.html).write_text(render_leaderboard_html(board), encoding="utf-8")
    if args.json:
        print_json(board.to_dict() | ({"html": str(Path(args.html).resolve())} if args.html else {}))
        return 0
    print(f"{title(board)}\n")
    print(leaderboard_table(board))
    print(f"\n{BEST_MARK} the best value of the metric.  {board.reason}.")
    for line in [*detail_lines(board)[:2], *board.notes]:
        print(f"  {line}")
    if not args.metric:
        print("  Metrics: every metric all versions record (choose with --metric NAME[:min|:max]).")
    if args.html:
        print(f"\nHTML report: {Path(args.html).resolve()}")
    return 0
