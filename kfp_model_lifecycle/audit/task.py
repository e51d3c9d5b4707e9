"""The ``audit_registry`` component's job: audit, write the reports and the counts, fail only when ``fail_on`` says.

The component (``components/audit_registry/component.py``) declares the inputs, outputs and documentation and calls
:func:`audit_registry_task` with all of its arguments; the component's defaults are the only ones. Inside a pod the
serving records are compared with the cluster through the pod's service account (``get`` on inferenceservices).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import HTML, Markdown, Metrics

from kfp_model_lifecycle.audit.findings import Severity
from kfp_model_lifecycle.audit.report import render_html, render_markdown
from kfp_model_lifecycle.audit.run import run_audit_registry
from kfp_model_lifecycle.lifecycle import write_text_atomically
from kfp_model_lifecycle.log import component_log

__all__ = ["AuditRegistryOutputs", "audit_registry_task", "run_audit_registry"]


class AuditRegistryOutputs(NamedTuple):
    """The component's parameter outputs (see the component)."""

    errors: int
    warnings: int
    findings: list
    report_uri: str


def audit_registry_task(
    *, counts: Metrics, report_markdown: Markdown, report_html: HTML, fail_on: str, **parameters: Any
) -> AuditRegistryOutputs:
    """Run ``audit_registry``: audit, write both reports and the counts, then fail when ``fail_on`` says so.

    Args:
        counts: Output Metrics: findings by severity.
        report_markdown: Output Markdown report.
        report_html: Output HTML report.
        fail_on: ``warning``, ``error`` or ``never``.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The counts, every finding (JSON) and the HTML report's URI.

    Raises:
        AuditFailedError: When a finding is at least as severe as ``fail_on`` (after the reports are written; the
            message lists the findings).
    """
    with component_log("audit_registry"):
        report = run_audit_registry(fail_on=fail_on, **parameters)
        write_text_atomically(report_markdown.path, render_markdown(report))
        write_text_atomically(report_html.path, render_html(report))
        for name, value in report.counts().items():
            counts.log_metric(name, value)
        summary = {**report.counts(), "time": report.time, "deployments_checked": report.deployments_checked}
        report_markdown.metadata.update({**summary, "html_report_uri": report_html.uri})
        report_html.metadata.update({**summary, "markdown_report_uri": report_markdown.uri})
        print(render_markdown(report))
        report.require_pass(fail_on)
    return AuditRegistryOutputs(
        report.count(Severity.ERROR),
        report.count(Severity.WARNING),
        [f.to_dict() for f in report.findings],
        str(report_html.uri),
    )
