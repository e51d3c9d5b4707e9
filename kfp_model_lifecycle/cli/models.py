"""The ``kml models`` commands: arguments in, tables (or ``--json``) out, errors in one line.

Command line (``kml models --help``)::

    kml models list
    kml models register iris --uri ./model.joblib --format sklearn --metric accuracy=0.95 --dataset train=train.csv
    kml models search 'accuracy > 0.9 AND stage = "production"'
    kml models show iris@champion
    kml models compare iris:1.0.2 iris@champion --metric accuracy --html leaderboard.html
    kml models history iris
    kml models promote iris:1.0.3 --stage production --alias champion --reason "accuracy +2%"
    kml models approve iris:1.0.3 --comment "reviewed the report"
    kml models rollback iris --reason "latency regression"
    kml models deployments iris
    kml models rollback-deployment iris --reason "errors after the rollout"
    kml models undeploy iris --reason "retired"
    kml models policy iris --require-approval

Every command talks to a Model Registry at ``--registry-url`` (or ``KML_REGISTRY_URL``) with the token from
``KML_REGISTRY_TOKEN`` or ``--token-file``, or opens an embedded registry on a SQLite file with ``--db``
(:func:`open_registry`: a missing file is refused, except by ``register``; a registry that does not listen fails at
once). The work is done by the runtime package: :mod:`kfp_model_lifecycle.lifecycle.queries` (list, search, show,
history), :mod:`kfp_model_lifecycle.lifecycle.actions` (promote, rollback, approve, policy, repair) and
:mod:`kfp_model_lifecycle.api` (register, compare), which Python callers use as ``Lifecycle``::

    from kfp_model_lifecycle import Lifecycle

    with Lifecycle("http://127.0.0.1:8080") as lc:
        for row in lc.models():
            print(row.name, row.production, row.aliases)
        lc.promote("iris:1.0.3", "production", aliases=["champion"], reason="better")
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kfp_model_lifecycle.cli import audit, deployments, lifecycle_commands
from kfp_model_lifecycle.cli.output import exact_value, print_json, render_events, render_table, short_value
from kfp_model_lifecycle.cli.registry_access import TOKEN_ENV, open_registry, registry_env
from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.client.failures import redact_secrets
from kfp_model_lifecycle.lifecycle import INCOMPLETE_NOTE
from kfp_model_lifecycle.lifecycle.actions import approve, promote, repair, rollback, set_policy
from kfp_model_lifecycle.lifecycle.catalog import VersionRow
from kfp_model_lifecycle.lifecycle.queries import (
    ModelOverview,
    ModelSummary,
    VersionDetails,
    list_models,
    model_history,
    model_policy,
    search_models,
    show_model,
)
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult

__all__ = ["open_registry", "run_models_command"]

# commands that may create the --db file (the others refuse a missing one)
CREATES_DATABASE = ("register",)

_MODEL_COLUMNS = [
    ("name", "model"),
    ("versions", "versions"),
    ("production", "production"),
    ("aliases", "aliases"),
    ("requires_approval", "approval required"),
    ("latest", "latest"),
    ("updated", "updated (UTC)"),
]
_VERSION_COLUMNS = [
    ("reference", "version"),
    ("version_id", "id"),
    ("stage", "stage"),
    ("aliases", "aliases"),
    ("approval", "approval"),
    ("state", "state"),
    ("metrics", "metrics"),
]
_EVENT_COLUMNS = [
    ("seq", "#"),
    ("time", "time (UTC)"),
    ("type", "type"),
    ("description", "change"),
    ("actor", "by"),
    ("reason", "reason"),
]


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------


def _rows(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Result rows (dataclasses with ``to_dict``) as the dicts tables and JSON take."""
    return [item.to_dict() for item in items]


def _version_rows(versions: Sequence[VersionRow]) -> list[dict[str, Any]]:
    """Version rows for a table: an incomplete version is marked after its reference."""
    rows = _rows(versions)
    for row in rows:
        if not row.get("complete", True):
            row["reference"] = f"{row['reference']} (incomplete)"
    return rows


def _model_rows(models: Sequence[ModelSummary]) -> list[dict[str, Any]]:
    """Model rows for a table: newer incomplete versions are named after the latest complete one."""
    rows = _rows(models)
    for row in rows:
        if row.get("incomplete"):
            row["latest"] = f"{row['latest'] or '-'} ({', '.join(row['incomplete'])}: incomplete)"
    return rows


def _incomplete_footnote(references: Sequence[str]) -> None:
    if references:
        print(f"\n{', '.join(references)}: {INCOMPLETE_NOTE}.")


def _print_mapping(title: str, data: Mapping[str, Any], *, exact: bool = False) -> None:
    if not data:
        return
    print(f"\n{title}:")
    width = max(len(str(k)) for k in data)
    for key, value in data.items():
        text = json.dumps(value) if isinstance(value, dict) else exact_value(value) if exact else short_value(value)
        print(f"  {str(key).ljust(width)}  {text}")


def _print_model_overview(data: ModelOverview) -> None:
    m, policy = data.model, data.policy
    print(f"Model {m.name} (id {m.id}, {m.state})")
    if m.description:
        print(f"  {m.description}")
    transitions = "custom" if policy.custom_transitions else "default"
    print(f"  owner: {m.owner or '-'}   created: {m.created}   updated: {m.updated}")
    print(f"  production: {data.production or '-'}")
    print(f"  aliases: {', '.join(f'@{a} -> {v}' for a, v in data.aliases.items()) or '-'}")
    print(
        f"  policy: requires approval: {'yes' if policy.requires_approval else 'no'};"
        f" demote to: {policy.demote_to}; transitions: {transitions}"
    )
    print("\nVersions:")
    print(render_table(_version_rows(data.versions), _VERSION_COLUMNS))
    _incomplete_footnote([v.reference for v in data.versions if not v.complete])
    print(f"\nRecent history ({data.events} events; `kml models history {m.name}` shows all):")
    print(render_table(data.recent_events, _EVENT_COLUMNS))


def _print_version_details(data: VersionDetails) -> None:
    v = data.version
    print(f"{data.reference} (version id {v.id}, {v.state}; resolved by {data.resolved_by})")
    if not data.complete:
        note = INCOMPLETE_NOTE.removeprefix("incomplete")
        print(f"  INCOMPLETE{note}; it cannot be promoted, approved or deployed until then")
    if v.description:
        print(f"  {v.description}")
    print(f"  author: {v.author or '-'}   created: {v.created}   updated: {v.updated}")
    print(f"  stage: {data.stage}" + (f" (since {data.stage_time})" if data.stage_time else ""))
    print(f"  aliases: {', '.join('@' + a for a in data.aliases) or '-'}")
    approval = data.approval
    if approval:
        extra = f": {approval.comment}" if approval.comment else ""
        print(f"  approval: {approval.status} by {approval.by} at {approval.time}{extra}")
    else:
        print("  approval: -")
    if data.labels:
        print(f"  labels: {', '.join(data.labels)}")
    _print_mapping("Metrics", data.metrics)
    _print_mapping("Hyperparameters", data.hyperparameters, exact=True)
    _print_mapping("Lineage", data.lineage, exact=True)
    _print_mapping("Model artifact", data.artifact, exact=True)
    _print_mapping("Other properties", data.properties, exact=True)
    print("\nHistory:")
    print(render_table(data.history, _EVENT_COLUMNS))


def _print_change(result: PromotionResult | ApprovalResult) -> None:
    prefix = "(dry run) would change" if result.dry_run else "changed"
    if not result.changed:
        if isinstance(result, ApprovalResult):
            print(f"{result.reference}: approval is already {result.status} (nothing recorded)")
        else:
            print(f"{result.reference}: already so (stage {result.stage}; nothing recorded)")
        return
    print(f"{prefix} {result.reference}:")
    for line in result.summary:
        print(f"  {line}")
    if isinstance(result, PromotionResult) and result.previous_holder:
        print(f"previous holder: {result.previous_holder}")


def _report_change(result: PromotionResult | ApprovalResult, as_json: bool) -> int:
    if as_json:
        print_json(result.to_dict())
    else:
        _print_change(result)
    return 0


def _print_policy(name: str, data: Mapping[str, Any]) -> None:
    policy = data["policy"]
    if "changed" in data:
        state = f"changed (event #{data['event_seq']})" if data["changed"] else "unchanged"
        print(f"{name}: policy {state}")
    print(f"requires approval before production: {'yes' if policy['requires_approval'] else 'no'}")
    print(f"displaced production versions go to: {policy['demote_to']}")
    print(f"allowed transitions ({'custom' if policy['custom_transitions'] else 'default'}):")
    for source, targets in policy["allowed_transitions"].items():
        print(f"  {source} -> {', '.join(targets) or '(none)'}")


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------


def run_models_command(args: argparse.Namespace) -> int:
    """Run a ``kml models`` command: open the registry, run the command, report errors in one line.

    Args:
        args: The parsed arguments (``models_command`` names the command).

    Returns:
        The exit code.
    """
    action = _actions()[args.models_command]
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        for name in ("model-registry", "kfp_model_lifecycle", "kfp_model_lifecycle.local.registry", "uvicorn"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with open_registry(
            args.registry_url,
            token_file=args.token_file,
            verify_tls=not args.insecure,
            ca_bundle_path=args.ca_bundle,
            db=args.db,
            create_db=args.models_command in CREATES_DATABASE,
        ) as conn:
            return int(action(conn, args) or 0)
    except BrokenPipeError:  # `kml models ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (LookupError, ValueError, RuntimeError, OSError) as exc:  # OSError: ConnectionError, files
        message = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
        print(f"error: {redact_secrets(message, _secrets(args))}", file=sys.stderr)
        return 1


def _secrets(args: argparse.Namespace) -> list[str]:
    """The token this command uses (from ``--token-file`` or ``KML_REGISTRY_TOKEN``), to keep it out of errors."""
    try:
        return [registry_env(token_file=getattr(args, "token_file", "") or "").get(TOKEN_ENV, "")]
    except OSError:
        return [os.environ.get(TOKEN_ENV, "")]


def _cmd_list(conn: RegistryConnection, args: argparse.Namespace) -> int:
    models = list_models(conn)
    if args.json:
        print_json(_rows(models))
    else:
        print(render_table(_model_rows(models), _MODEL_COLUMNS))
    return 0


def _cmd_search(conn: RegistryConnection, args: argparse.Namespace) -> int:
    if args.models:
        rows = _rows(search_models(conn, args.query, models_only=True))
        if args.json:
            print_json(rows)
        else:
            print(render_table(rows, [("name", "model"), ("versions", "versions"), ("production", "production")]))
        return 0
    found = search_models(conn, args.query, model=args.model, include_incomplete=True)
    usable = [row for row in found if isinstance(row, VersionRow) and row.complete]
    if args.json:
        print_json(_rows(usable))
    else:
        print(render_table(_rows(usable), _VERSION_COLUMNS))
    skipped = [row.reference for row in found if isinstance(row, VersionRow) and not row.complete]
    if skipped:
        print(f"not shown: {', '.join(skipped)} ({INCOMPLETE_NOTE})", file=sys.stderr)
    return 0


def _cmd_show(conn: RegistryConnection, args: argparse.Namespace) -> int:
    data = show_model(conn, args.reference)
    if args.json:
        print_json(data.to_dict())
    elif isinstance(data, ModelOverview):
        _print_model_overview(data)
    else:
        _print_version_details(data)
    return 0


def _cmd_history(conn: RegistryConnection, args: argparse.Namespace) -> int:
    rows = model_history(conn, args.name, version=args.version, event_type=args.type)
    if args.json:
        print_json(rows)
    else:
        print(render_events(rows))
    return 0


def _cmd_promote(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = promote(
        conn,
        args.reference,
        stage=args.stage,
        aliases=args.alias,
        remove_aliases=args.remove_alias,
        reason=args.reason,
        evidence_uri=args.evidence_uri,
        actor=args.actor,
        dry_run=args.dry_run,
        demote_to=args.demote_to,
        require_approval=args.require_approval,
    )
    return _report_change(result, args.json)


def _cmd_rollback(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = rollback(
        conn,
        args.name,
        reason=args.reason,
        evidence_uri=args.evidence_uri,
        actor=args.actor,
        dry_run=args.dry_run,
        demote_to=args.demote_to,
    )
    return _report_change(result, args.json)


def _cmd_approve(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = approve(
        conn,
        args.reference,
        status=args.status,
        comment=args.comment,
        approver=args.approver,
        evidence_uri=args.evidence_uri,
        dry_run=args.dry_run,
    )
    return _report_change(result, args.json)


def _policy_data(conn: RegistryConnection, args: argparse.Namespace) -> dict[str, Any]:
    """Show the policy, or change it when any policy option is given."""
    transitions = args.transitions
    if transitions is not None and transitions.strip().lower() == "default":
        transitions = ""
    if args.require_approval is None and transitions is None and args.demote_to is None:
        return {"model": args.name, "policy": model_policy(conn, args.name).to_dict()}
    change = set_policy(
        conn,
        args.name,
        require_approval=args.require_approval,
        allowed_transitions=transitions,
        demote_to=args.demote_to,
        actor=args.actor,
        reason=args.reason,
    )
    return {
        "model": args.name,
        "policy": change.policy.to_dict(),
        "changed": change.changed,
        "event_seq": change.event_seq,
    }


def _cmd_policy(conn: RegistryConnection, args: argparse.Namespace) -> int:
    data = _policy_data(conn, args)
    if args.json:
        print_json(data)
    else:
        _print_policy(args.name, data)
    return 0


def _cmd_repair(conn: RegistryConnection, args: argparse.Namespace) -> int:
    result = repair(conn, args.name)
    if args.json:
        print_json(result.to_dict())
    else:
        patched = result.patched_versions
        print(
            f"{args.name}: {result.events} events; "
            + (f"rewrote versions {', '.join(patched)}" if patched else "the view matched the audit trail")
        )
    return 0


def _actions() -> dict[str, Callable[[RegistryConnection, argparse.Namespace], int]]:
    return {
        "list": _cmd_list,
        "search": _cmd_search,
        "show": _cmd_show,
        "history": _cmd_history,
        "promote": _cmd_promote,
        "rollback": _cmd_rollback,
        "approve": _cmd_approve,
        "policy": _cmd_policy,
        "repair": _cmd_repair,
        "register": lifecycle_commands.cmd_register,
        "compare": lifecycle_commands.cmd_compare,
        "deployments": deployments.cmd_deployments,
        "rollback-deployment": deployments.cmd_rollback_deployment,
        "undeploy": deployments.cmd_undeploy,
        "audit": audit.cmd_audit,
    }
