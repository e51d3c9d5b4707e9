"""The ``kml`` command's arguments: every subcommand, its options and its help, and nothing else.

Building the parser imports only the standard library and the lifecycle's conventions, so ``kml --help`` and every
``--help`` answer at once; each subcommand names its handler as ``module:function`` and :func:`.main.main` imports
that module only when the command runs. Abbreviated options are refused (``--token`` is not ``--token-file``) and
errors never echo a secret (:mod:`.parser_base`).
"""

from __future__ import annotations

import argparse
from typing import Any

from kfp_model_lifecycle import __version__
from kfp_model_lifecycle.cli.check_parsers import add_audit_command, add_doctor_command
from kfp_model_lifecycle.cli.lifecycle_parsers import add_compare_command, add_register_command
from kfp_model_lifecycle.cli.parser_base import KmlParser
from kfp_model_lifecycle.lifecycle.conventions import APPROVAL_STATUSES, DEMOTION_STAGES, EVENT_TYPES, STAGES
from kfp_model_lifecycle.local.cluster.store import DEFAULT_NAMESPACE

REGISTRY_TOKEN_ENV = "KML_REGISTRY_TOKEN"  # noqa: S105 - the variable's name
MODELS = "kfp_model_lifecycle.cli.models:run_models_command"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kml`` and its subcommands.

    Returns:
        The parser; each command sets ``handler`` (``module:function``).
    """
    parser = KmlParser(
        prog="kml",
        description=(
            "kfp-model-lifecycle: the model lifecycle on a Kubeflow Model Registry (kml models ...), and developer"
            " tooling (an embedded registry, a local cluster stand-in, kml compile)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_registry_commands(commands)
    add_compile_command(commands)
    add_cluster_commands(commands)
    add_models_commands(commands)
    add_ui_command(commands)
    add_doctor_command(commands)
    return parser


def add_ui_command(commands: Any) -> None:
    """Add ``kml ui``: a read-only web UI for a Model Registry.

    Args:
        commands: The ``add_subparsers()`` object of ``kml``.
    """
    ui = commands.add_parser(
        "ui",
        help="a read-only web UI: models, versions, lineage graph, audit trail, comparisons",
        description=(
            "Serve a read-only web UI for a Model Registry on its own port: every model with its production version"
            " and aliases; a model's versions, metric trend, audit trail and deployments; a version's lineage (run,"
            " datasets, code, image, hyperparameters, metrics) as a graph, with its comparison reports; versions"
            " compared side by side. Pages are rendered on the server (no JavaScript, nothing from the internet)."
            " For a cluster's registry, port-forward it first, e.g. `kubectl port-forward -n kubeflow"
            " svc/model-registry-service 8081:8080`, then `kml ui --registry-url http://127.0.0.1:8081`."
        ),
    )
    group = ui.add_argument_group("registry")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--registry-url",
        default="",
        metavar="URL",
        help="Model Registry base URL with scheme and port (default: $KML_REGISTRY_URL), e.g. http://127.0.0.1:8080",
    )
    where.add_argument(
        "--db",
        default="",
        metavar="FILE",
        help="serve an embedded registry on this SQLite file (it must exist; `make demo` leaves .kml/demo/registry.db)",
    )
    group.add_argument(
        "--token-file",
        default="",
        metavar="FILE",
        help=f"file holding the registry's bearer token (default: ${REGISTRY_TOKEN_ENV}; never on the command line)",
    )
    group.add_argument("--ca-bundle", default="", metavar="PEM", help="CA bundle to verify the registry (https)")
    group.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate (testing only)")
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    ui.add_argument("--port", type=int, default=8090, help="port to listen on (default: %(default)s; 0: a free one)")
    ui.add_argument(
        "--kfp-ui-url",
        default="",
        metavar="URL",
        help="the KFP UI's base URL, to link runs that recorded no run URL (default: $KML_KFP_UI_URL)",
    )
    ui.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"], help="(default: %(default)s)"
    )
    ui.set_defaults(handler="kfp_model_lifecycle.cli.ui:run_ui_command")


def add_registry_commands(commands: Any) -> None:
    """Add ``kml registry serve`` (its options are in :mod:`kfp_model_lifecycle.local.registry.arguments`).

    Args:
        commands: The ``add_subparsers()`` object of ``kml``.
    """
    # Standard library only, like this module: the registry package imports its server lazily.
    from kfp_model_lifecycle.local.registry.arguments import add_serve_arguments

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
    add_serve_arguments(serve)
    serve.set_defaults(handler="kfp_model_lifecycle.local.registry.command:serve_command")


def add_compile_command(commands: Any) -> None:
    """Add ``kml compile``.

    Args:
        commands: The ``add_subparsers()`` object of ``kml``.
    """
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
    compile_.set_defaults(handler="kfp_model_lifecycle.cli.tooling:compile_command")


def add_cluster_commands(commands: Any) -> None:
    """Add ``kml cluster up`` to the ``kml`` subcommands.

    Args:
        commands: The ``add_subparsers()`` object of the ``kml`` parser.
    """
    cluster = commands.add_parser(
        "cluster",
        help="a local stand-in for Kubernetes with KServe (developer tooling)",
        description=(
            "A local stand-in for a Kubernetes cluster with KServe: a fake API server for InferenceServices and a "
            "controller serving each one with KServe's model server on loopback (needs the dev extra: kserve)."
        ),
    )
    cluster_commands = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    up = cluster_commands.add_parser(
        "up",
        help="run the local cluster in the foreground until Ctrl-C",
        description=(
            "Serve the Kubernetes API for inferenceservices.serving.kserve.io/v1beta1 on 127.0.0.1 and reconcile "
            "InferenceServices into KServe model servers (sklearn; V1 and V2 protocols; canary splits). Writes a "
            "kubeconfig for the official kubernetes client and kubectl, prints `export KUBECONFIG=...`, and stops "
            "every model server on Ctrl-C. State is in memory: a new `up` starts empty."
        ),
    )
    _add_cluster_up_arguments(up)


def _add_cluster_up_arguments(up: argparse.ArgumentParser) -> None:
    up.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument(
        "--kubeconfig", default=None, metavar="PATH", help="where to write the kubeconfig (default: WORKDIR/kubeconfig)"
    )
    up.add_argument(
        "--registry-url",
        default=None,
        metavar="URL",
        help="Model Registry base URL (e.g. http://127.0.0.1:8080) for model-registry:// storage URIs",
    )
    up.add_argument(
        "--workdir", default=None, help="directory for the kubeconfig and model server logs (default: a temporary one)"
    )
    up.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help="default namespace of the kubeconfig (default: %(default)s)"
    )
    up.add_argument(
        "--forbid",
        action="append",
        metavar="VERB[:RESOURCE]",
        help=(
            "answer VERB on RESOURCE (default inferenceservices) with 403 Forbidden, e.g. --forbid patch; "
            "repeatable (writes of inferenceservices/status are always forbidden)"
        ),
    )
    up.add_argument(
        "--token",
        default=None,
        help=(
            "require 'Authorization: Bearer TOKEN' (written into the kubeconfig); or set KML_CLUSTER_TOKEN, which "
            "keeps it out of `ps`"
        ),
    )
    up.add_argument(
        "--progress-deadline",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help=(
            "RawDeployment (Standard): how long a new predictor ReplicaSet may take to become available before the"
            " Deployment reports ProgressDeadlineExceeded, as KServe's default (default: %(default)s)"
        ),
    )
    up.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="(default: %(default)s)"
    )
    up.set_defaults(handler="kfp_model_lifecycle.cli.tooling:cluster_up")


def add_models_commands(commands: Any) -> argparse.ArgumentParser:
    """Add ``kml models ...`` to the ``kml`` command's subparsers.

    Args:
        commands: The ``add_subparsers()`` object of ``kml``.

    Returns:
        The ``models`` parser.
    """
    common = connection_options()
    models = commands.add_parser(
        "models",
        help="list, search, show, promote, approve and roll back models in a Model Registry",
        description=(
            "The model lifecycle on a Kubeflow Model Registry: stages (development -> staging -> production ->"
            " archived), aliases (NAME@champion), approvals and the audit trail, all stored in the registry. Model"
            " references: NAME (its production version), NAME:VERSION, NAME@ALIAS, NAME@staging (newest in"
            " staging), NAME@latest."
        ),
    )
    sub = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    _add_query_commands(sub, common)
    add_register_command(sub, common)
    add_compare_command(sub, common)
    add_audit_command(sub, common)
    _add_transition_commands(sub, common)
    _add_policy_commands(sub, common)
    add_deployment_commands(sub, common)
    return models


def _add_query_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("list", parents=[common], help="list all models", description="List all registered models.")
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "search",
        parents=[common],
        help="find versions by criteria",
        description=(
            "Find model versions with the registry's filterQuery, e.g. 'accuracy > 0.9 AND stage = \"production\"'."
            ' Helpers: stage = "..." (or IN; versions that never moved are "development"), approval = "approved",'
            ' alias = "champion" (or IN). Other names are'
            " version fields (name, author, state...) or properties (metrics like accuracy, kfp_run_id...)."
        ),
    )
    p.add_argument("query", nargs="?", default="", help="the query (default: everything)")
    p.add_argument("--model", default="", metavar="NAME", help="only versions of this model")
    p.add_argument("--models", action="store_true", help="search registered models instead (no helpers)")
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="model or version details",
        description=(
            "NAME: the model with its versions, aliases, policy and recent history. NAME:VERSION, NAME@ALIAS,"
            " NAME@production...: one version with metadata, metrics, lineage, stage, aliases, approval, history."
        ),
    )
    p.add_argument("reference", metavar="NAME[:VERSION|@ALIAS]")
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "history",
        parents=[common],
        help="the audit trail of a model",
        description="Print every recorded transition of a model in order: who, when, from/to, why, evidence.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", default="", help="only events about this version name")
    p.add_argument("--type", default="", choices=["", *EVENT_TYPES], help="event type")
    p.set_defaults(handler=MODELS)


def _add_transition_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "promote",
        parents=[common],
        help="move a version to a stage and/or set aliases",
        description=(
            "Move a version to a stage and/or point aliases at it. Promoting to production demotes the previous"
            " production version. Fails when the transition is not allowed or an approval is missing."
        ),
    )
    p.add_argument("reference", metavar="NAME:VERSION|NAME@ALIAS")
    p.add_argument("--stage", default="", choices=["", *STAGES], help="target stage")
    p.add_argument("--alias", action="append", default=[], metavar="ALIAS", help="set this alias (repeatable)")
    p.add_argument("--remove-alias", action="append", default=[], metavar="ALIAS", help="remove this alias")
    p.add_argument("--demote-to", default="", choices=["", *DEMOTION_STAGES])
    p.add_argument("--require-approval", action="store_true", help="require approval for this promotion")
    _action_options(p)
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "rollback",
        parents=[common],
        help="re-promote the previous production version",
        description=(
            "Re-promote the previous production version from the audit trail, demoting the current one. Repeated"
            " rollbacks walk further back (versions rolled back from are skipped)."
        ),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--demote-to", default="", choices=["", *DEMOTION_STAGES])
    _action_options(p)
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "approve",
        parents=[common],
        help="approve (or reject) a version for production",
        description="Record an approval decision for a version; needed for production when the model requires it.",
    )
    p.add_argument("reference", metavar="NAME:VERSION|NAME@ALIAS")
    p.add_argument("--status", default="approved", choices=APPROVAL_STATUSES)
    p.add_argument("--comment", default="", help="why (required for --status rejected)")
    p.add_argument("--approver", default="", help="who decides (default: user:<login name>)")
    p.add_argument("--evidence-uri", default="", metavar="URI", help="review, ticket or report URI")
    p.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    p.set_defaults(handler=MODELS)


def _add_policy_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "policy",
        parents=[common],
        help="show or set a model's lifecycle policy",
        description="Show the policy, or set approval requirement, allowed transitions and the demotion stage.",
    )
    p.add_argument("name", metavar="NAME")
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--require-approval", dest="require_approval", action="store_true", default=None)
    flag.add_argument("--no-require-approval", dest="require_approval", action="store_false")
    p.add_argument(
        "--transitions",
        default=None,
        metavar="JSON|default",
        help='allowed transitions, e.g. \'{"development": ["staging"], "staging": ["production"]}\'',
    )
    p.add_argument("--demote-to", default=None, choices=["", *DEMOTION_STAGES])
    p.add_argument("--actor", default="", help="who (default: user:<login name>)")
    p.add_argument("--reason", default="", help="why")
    p.set_defaults(handler=MODELS)

    p = sub.add_parser(
        "repair",
        parents=[common],
        help="rewrite the lifecycle properties from the audit trail",
        description="Rewrite stages, aliases, approvals and labels of a model's versions from its audit trail.",
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=MODELS)


def add_deployment_commands(models_subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``deployments``, ``rollback-deployment`` and ``undeploy`` to the ``kml models`` command group.

    Args:
        models_subparsers: The ``add_subparsers()`` object of the ``kml models`` parser.
        common: The registry connection options every ``kml models`` command takes.
    """
    p = models_subparsers.add_parser(
        "deployments",
        parents=[common],
        help="where and when each version was deployed",
        description=(
            "Show where a model is deployed now (namespace/InferenceService, version, URL) and every rollout"
            " recorded by deploy_model and rollback_deployment (time, version, outcome, canary, who), oldest first."
            " Read from the Model Registry's serving records."
        ),
    )
    p.add_argument("name", metavar="NAME", help="the registered model")
    p.set_defaults(handler=MODELS)

    p = models_subparsers.add_parser(
        "rollback-deployment",
        parents=[common],
        help="redeploy the previously deployed version",
        description=(
            "Redeploy the version an InferenceService served before its current one (the newest earlier successful"
            " rollout; versions already rolled back from are skipped), with the same safety as deploy_model: wait"
            " until Ready, restore the current spec if it fails. Recorded in the registry and the audit trail."
        ),
    )
    p.add_argument("name", metavar="NAME", help="the registered model")
    _cluster_options(p)
    p.add_argument("--timeout", type=float, default=600, metavar="SECONDS", help="rollout bound (default: 600)")
    p.add_argument("--dry-run", action="store_true", help="show the version and manifest; change nothing")
    p.set_defaults(handler=MODELS)

    p = models_subparsers.add_parser(
        "undeploy",
        parents=[common],
        help="delete a model's InferenceService (registry record UNDEPLOYED)",
        description=(
            "Delete the InferenceService, wait until it is gone, and record it: the registry's InferenceService"
            " record becomes UNDEPLOYED, a rollout entry and an audit-trail entry are added."
        ),
    )
    p.add_argument("name", metavar="NAME", help="the registered model")
    _cluster_options(p)
    p.add_argument("--timeout", type=float, default=120, metavar="SECONDS", help="bound for the deletion")
    p.set_defaults(handler=MODELS)


def connection_options() -> argparse.ArgumentParser:
    """The options every ``kml models`` command takes: where the registry is and how to talk to it.

    Returns:
        A parent parser (no help of its own).
    """
    common = KmlParser(add_help=False)
    group = common.add_argument_group("registry connection")
    group.add_argument(
        "--registry-url",
        default="",
        metavar="URL",
        help="Model Registry base URL with scheme and port (default: $KML_REGISTRY_URL), e.g. http://127.0.0.1:8080",
    )
    group.add_argument(
        "--db",
        default="",
        metavar="FILE",
        help=(
            "use an embedded registry on this SQLite file instead of a URL (started for the command); the file must"
            " exist, except for `register`, which creates it"
        ),
    )
    group.add_argument(
        "--token-file",
        default="",
        metavar="FILE",
        help=(
            f"file holding the bearer token (default: ${REGISTRY_TOKEN_ENV}; tokens are never accepted on the"
            " command line)"
        ),
    )
    group.add_argument("--ca-bundle", default="", metavar="PEM", help="CA bundle to verify the registry (https)")
    group.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate (testing only)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    common.add_argument("-v", "--verbose", action="store_true", help="log each registry interaction step")
    return common


def _action_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    p.add_argument("--evidence-uri", default="", metavar="URI", help="comparison report or other evidence URI")
    p.add_argument("--actor", default="", help="who (default: user:<login name>)")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")


def _cluster_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("cluster")
    group.add_argument(
        "--inference-service",
        default="",
        metavar="NAME",
        help="the InferenceService (default: derived from the model name, as deploy_model does)",
    )
    group.add_argument(
        "--namespace", default="", metavar="NS", help="its namespace (default: the kubeconfig context's namespace)"
    )
    group.add_argument(
        "--kubeconfig",
        default="",
        metavar="FILE",
        help="kubeconfig (default: $KUBECONFIG, else ~/.kube/config; `kml cluster up` writes one for the local"
        " stand-in)",
    )
    group.add_argument("--context", default="", metavar="NAME", help="kubeconfig context (default: the current one)")
    p.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    p.add_argument("--actor", default="", help="who (default: user:<login name>)")
