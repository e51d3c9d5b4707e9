"""The arguments of ``kml doctor`` and ``kml models audit`` (standard library only, like :mod:`.parsers`)."""

from __future__ import annotations

import argparse
from typing import Any

REGISTRY_TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
KUBERNETES_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
FAIL_ON = ("warning", "error", "never")
DEFAULT_STAGING_DAYS = 30


def add_doctor_command(commands: Any) -> None:
    """Add ``kml doctor``: is the installation usable? One line per check, the fix under each cross.

    Args:
        commands: The ``add_subparsers()`` object of ``kml``.
    """
    doctor = commands.add_parser(
        "doctor",
        help="check the installation: registry (v1 API, auth, writes), KServe, RBAC, the token Secret",
        description=(
            "Check that the lifecycle can work here, each check with a tick or a cross and the fix: the registry"
            " answers the REST API v1 (not v1alpha3, not another server), accepts the credentials (Istio's 403"
            " explained), lets writes through (a dry probe that writes nothing); KServe's InferenceService CRD is"
            " installed; this identity may get/create/patch/delete InferenceServices in the namespace"
            " (SelfSubjectAccessReview); the token Secret named by --token-secret exists with its key. Exit 0 only"
            " when every required check passes."
        ),
    )
    group = doctor.add_argument_group("registry")
    group.add_argument(
        "--registry-url",
        default="",
        metavar="URL",
        help="Model Registry base URL with scheme and port (default: $KML_REGISTRY_URL)",
    )
    group.add_argument(
        "--token-file",
        default="",
        metavar="FILE",
        help=f"file holding the registry's bearer token (default: ${REGISTRY_TOKEN_ENV}; never on the command line)",
    )
    group.add_argument("--ca-bundle", default="", metavar="PEM", help="CA bundle to verify the registry (https)")
    group.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate (testing only)")
    group.add_argument(
        "--no-write-probe", action="store_true", help="skip the write check (for identities that only read)"
    )
    cluster = doctor.add_argument_group("cluster")
    cluster.add_argument(
        "--kubeconfig", default="", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)"
    )
    cluster.add_argument("--context", default="", metavar="NAME", help="kubeconfig context (default: the current one)")
    cluster.add_argument(
        "--namespace", default="", metavar="NS", help="namespace deployments go to (default: the context's)"
    )
    cluster.add_argument(
        "--token-secret",
        default="",
        metavar="NAME",
        help="the Secret pipelines take the registry token from (token_secret_name): check it exists with its key",
    )
    cluster.add_argument("--token-secret-key", default="token", metavar="KEY", help="its key (default: %(default)s)")
    cluster.add_argument(
        "--verb",
        action="append",
        default=None,
        choices=KUBERNETES_VERBS,
        help="a verb required on InferenceServices (repeatable; default: get, create, patch, delete)",
    )
    cluster.add_argument(
        "--no-kubernetes", action="store_true", help="check only the registry (no cluster, no KServe, no RBAC)"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON for scripts")
    doctor.set_defaults(handler="kfp_model_lifecycle.cli.doctor:run_doctor_command")


def add_audit_command(models_subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``kml models audit``: findings with severity and fix, for one model or all.

    Args:
        models_subparsers: The ``add_subparsers()`` object of the ``kml models`` parser.
        common: The registry connection options every ``kml models`` command takes.
    """
    p = models_subparsers.add_parser(
        "audit",
        parents=[common],
        help="find what needs attention: unapproved production, missing lineage, stale staging, drift",
        description=(
            "Audit the registry (read only: nothing is written or repaired) and report findings with severity and"
            " fix: production versions without a required approval; versions missing lineage (no run or manual"
            " source, no dataset digest, no code version, no model artifact); versions in staging for longer than"
            " --staging-days; aliases on archived versions; lifecycle properties out of sync with the audit trail;"
            " with --kubeconfig, serving records marked DEPLOYED whose InferenceService is gone or serves another"
            " version. Exit 1 when a finding is at least as severe as --fail-on."
        ),
    )
    p.add_argument("name", nargs="?", default="", metavar="NAME", help="only this model (default: every model)")
    p.add_argument("--html", default="", metavar="FILE", help="also write the report as a self-contained HTML page")
    p.add_argument("--markdown", default="", metavar="FILE", help="also write the report as Markdown")
    p.add_argument(
        "--fail-on",
        default="error",
        choices=FAIL_ON,
        help="exit 1 when a finding is this severe or worse (default: %(default)s; never: always exit 0)",
    )
    p.add_argument(
        "--staging-days",
        type=int,
        default=DEFAULT_STAGING_DAYS,
        metavar="N",
        help="flag versions in staging for more than N days (default: %(default)s)",
    )
    group = p.add_argument_group("cluster (serving records)")
    group.add_argument(
        "--kubeconfig",
        default="",
        metavar="FILE",
        help="compare the registry's DEPLOYED serving records with the InferenceServices in this cluster",
    )
    group.add_argument("--context", default="", metavar="NAME", help="kubeconfig context (default: the current one)")
    p.set_defaults(handler="kfp_model_lifecycle.cli.models:run_models_command")
