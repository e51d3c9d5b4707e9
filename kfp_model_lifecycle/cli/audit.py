"""``kml models audit``: what in the registry needs attention, with severity and fix; the exit code from --fail-on.

Command line (the options are declared in :mod:`kfp_model_lifecycle.cli.check_parsers`)::

    kml models audit                       # every model; exit 1 on errors
    kml models audit iris --fail-on warning --html audit.html
    kml models audit --kubeconfig ~/.kube/config --json

The audit is the package's own (:mod:`kfp_model_lifecycle.audit`, which the ``audit_registry`` component runs
too), imported when the command runs so that ``kml`` starts fast. It only reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kfp_model_lifecycle.cli.output import print_json
from kfp_model_lifecycle.client import RegistryConnection

__all__ = ["cmd_audit"]


def cmd_audit(conn: RegistryConnection, args: argparse.Namespace) -> int:
    """Run ``kml models audit`` on an open registry connection.

    Args:
        conn: The registry.
        args: The parsed arguments.

    Returns:
        1 when a finding is at least as severe as ``--fail-on``, else 0.
    """
    from kfp_model_lifecycle.audit import audit_registry, render_html, render_markdown, render_text
    from kfp_model_lifecycle.audit.run import kubernetes_access

    kubeconfig = args.kubeconfig.strip()
    with kubernetes_access(bool(kubeconfig), kubeconfig, args.context) as (live, why_not):
        if kubeconfig and live is None:
            raise ValueError(f"--kubeconfig {kubeconfig!r} cannot be used: {why_not}")
        report = audit_registry(conn, args.name, staging_days=args.staging_days, live=live)
    for path, render in ((args.html, render_html), (args.markdown, render_markdown)):
        if path:
            Path(path).write_text(render(report), encoding="utf-8")
    if args.json:
        print_json({**report.to_dict(), "fail_on": args.fail_on, "failed": report.fails(args.fail_on)})
    else:
        print("\n".join(render_text(report)))
    return 1 if report.fails(args.fail_on) else 0
