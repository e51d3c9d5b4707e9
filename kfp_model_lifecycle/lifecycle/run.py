"""The jobs of the ``promote_model`` and ``approve_model`` components on plain values.

Each job collects the run context (who acts: the KFP run), connects to the registry, does its work, logs what
changed and writes the Markdown report. The keyword parameters are the components' inputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.approval import approve_model_version
from kfp_model_lifecycle.lifecycle.inputs import check_flag, check_mapping, check_text, described
from kfp_model_lifecycle.lifecycle.names import check_approval_status
from kfp_model_lifecycle.lifecycle.promotion import check_promotion_request, promote_model_version
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_run_actor, lifecycle_run_evidence
from kfp_model_lifecycle.lifecycle.reports import lifecycle_summary_markdown, write_text_atomically
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult
from kfp_model_lifecycle.lineage import RunContext, collect_run_context
from kfp_model_lifecycle.log import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class PromotionRun(PromotionResult):
    """What the ``promote_model`` job did: the promotion, and the registry it talked to.

    Attributes:
        registry_url: The registry's base URL.
    """

    registry_url: str = ""


@dataclass(frozen=True)
class ApprovalRun(ApprovalResult):
    """What the ``approve_model`` job did: the approval, and the registry it talked to.

    Attributes:
        registry_url: The registry's base URL.
    """

    registry_url: str = ""


JobRun = TypeVar("JobRun", PromotionRun, ApprovalRun)


@dataclass(frozen=True)
class JobSettings:
    """Where a lifecycle job runs: the KFP run's placeholders and the registry connection settings.

    Attributes:
        run_id: KFP run id (placeholder value).
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
    """

    run_id: str = ""
    run_name: str = ""
    pipeline_name: str = ""
    task_name: str = ""
    namespace: str = ""
    kfp_ui_url: str = ""
    registry_url: str = ""
    verify_tls: bool = True
    ca_bundle_path: str = ""

    def __post_init__(self) -> None:
        for name in ("run_id", "run_name", "pipeline_name", "task_name", "namespace", "kfp_ui_url"):
            check_text(getattr(self, name), name)
        check_text(self.registry_url, "registry_url", example="'http://model-registry-service.kubeflow:8080'")
        check_text(self.ca_bundle_path, "ca_bundle_path", example="'/etc/ssl/registry-ca.pem'")
        check_flag(self.verify_tls, "verify_tls")

    def start(self, env: Mapping[str, str] | None, context: RunContext | None) -> tuple[RunContext, RegistryConnection]:
        """The run context (collected unless given) and an open registry connection.

        Args:
            env: Environment (None: ``os.environ``).
            context: A precomputed ``collect_run_context`` result (tests), or None.

        Returns:
            The run context and the connection (close it when done).

        Raises:
            InvalidInputError: When ``env`` is not a mapping or ``context`` not a ``RunContext``.
        """
        if context is not None and not isinstance(context, RunContext):
            raise InvalidInputError(f"context must be a RunContext (or None), got {described(context)}")
        env = os.environ if env is None else check_mapping(env, "env", example="dict(os.environ)")
        if context is None:
            context = collect_run_context(
                self.run_id, self.run_name, self.pipeline_name, self.task_name, self.namespace, self.kfp_ui_url, env=env
            )
        conn = connect_model_registry(
            self.registry_url, verify_tls=self.verify_tls, ca_bundle_path=self.ca_bundle_path, env=env
        )
        return context, conn


def _check_job_texts(evidence: object, **values: object) -> None:
    """Check a job's text and evidence inputs before it connects (the operations check them again, with the rest)."""
    check_mapping(evidence, "evidence", example="{'ticket': 'ML-42'}")
    for name, value in values.items():
        check_text(value, name)


def _log_plan(summary: list[str], dry_run: bool, nothing: str) -> None:
    """Log a dry run's plan, or that nothing changed (written events were logged as they were appended)."""
    if dry_run or not summary:
        for line in summary or [nothing]:
            log.info("%s", line)


def _with_url(run_type: type[JobRun], result: PromotionResult | ApprovalResult, registry_url: str) -> JobRun:
    """The job's result: the operation's result plus the registry it talked to."""
    return run_type(**{f.name: getattr(result, f.name) for f in fields(result)}, registry_url=registry_url)


def run_promote_model(
    *,
    model_reference: str,
    stage: str = "",
    aliases: Iterable[str] | None = None,
    remove_aliases: Iterable[str] | None = None,
    reason: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
    require_approval: bool = False,
    rollback: bool = False,
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    summary_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> PromotionRun:
    """The whole ``promote_model`` job on plain values: collect the run context, connect, promote, report.

    Args:
        model_reference: See ``promote_model_version`` (the model name for a rollback).
        stage: Target stage ("" to leave it).
        aliases: Aliases to set.
        remove_aliases: Aliases to remove.
        reason: Why.
        evidence_uri: Comparison report URI (recorded as the events' ``uri`` and ``report_uri``).
        evidence: More evidence.
        actor: Who (default ``kfp-run:<run name>``).
        dry_run: Plan only.
        demote_to: Stage for the displaced production version.
        require_approval: Require approval for this promotion to production.
        rollback: Re-promote the previous production version.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        summary_path: Where to write the Markdown report ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests).

    Returns:
        The ``promote_model_version`` result plus ``registry_url``.
    """
    job = JobSettings(
        run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, registry_url, verify_tls, ca_bundle_path
    )
    check_promotion_request(stage, aliases, remove_aliases, demote_to=demote_to, require_approval=require_approval,
                            rollback=rollback, dry_run=dry_run)  # fmt: skip
    _check_job_texts(evidence, model_reference=model_reference, reason=reason, evidence_uri=evidence_uri, actor=actor,
                     summary_path=summary_path)  # fmt: skip
    context, conn = job.start(env, context)
    try:
        result = promote_model_version(
            conn,
            model_reference,
            stage=stage,
            aliases=aliases,
            remove_aliases=remove_aliases,
            reason=reason,
            evidence=lifecycle_run_evidence(context, evidence_uri=evidence_uri, evidence=evidence),
            actor=lifecycle_run_actor(context, actor),
            dry_run=dry_run,
            demote_to=demote_to,
            require_approval=require_approval,
            rollback=rollback,
        )
    finally:
        conn.close()
    _log_plan(result.summary, result.dry_run, f"nothing to change: {result.reference} is already so")
    if summary_path:
        title = ("Rollback of " if rollback else "Promotion of ") + result.reference
        write_text_atomically(summary_path, lifecycle_summary_markdown(result, title))
    return _with_url(PromotionRun, result, conn.url)


def run_approve_model(
    *,
    model_reference: str,
    status: str = "approved",
    approver: str = "",
    comment: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    summary_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> ApprovalRun:
    """The whole ``approve_model`` job on plain values: collect the run context, connect, approve, report.

    Args:
        model_reference: The version (see ``resolve_model_reference``).
        status: ``approved``, ``rejected`` or ``pending``.
        approver: Who decides (default ``kfp-run:<run name>``).
        comment: Why (required for ``rejected``).
        evidence_uri: Review or report URI.
        evidence: More evidence.
        dry_run: Check only.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        summary_path: Where to write the Markdown report ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests).

    Returns:
        The ``approve_model_version`` result plus ``registry_url``.
    """
    job = JobSettings(
        run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, registry_url, verify_tls, ca_bundle_path
    )
    check_approval_status(status)
    check_flag(dry_run, "dry_run")
    _check_job_texts(
        evidence, model_reference=model_reference, comment=comment, evidence_uri=evidence_uri, approver=approver,
        summary_path=summary_path,
    )  # fmt: skip
    context, conn = job.start(env, context)
    try:
        result = approve_model_version(
            conn,
            model_reference,
            status=status,
            approver=lifecycle_run_actor(context, approver),
            comment=comment,
            evidence=lifecycle_run_evidence(context, evidence_uri=evidence_uri, evidence=evidence),
            dry_run=dry_run,
        )
    finally:
        conn.close()
    _log_plan(result.summary, result.dry_run, f"approval of {result.reference} is already {result.status}")
    if summary_path:
        write_text_atomically(summary_path, lifecycle_summary_markdown(result, f"Approval of {result.reference}"))
    return _with_url(ApprovalRun, result, conn.url)
