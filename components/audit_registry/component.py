"""The ``audit_registry`` component: what in the registry needs attention? ``kml models audit`` as a pipeline step.

A thin declaration: the signature and docstring are what KFP compiles into the YAML; the body imports
``kfp_model_lifecycle`` (installed in the pod at this package's own version) and calls
:func:`kfp_model_lifecycle.audit.task.audit_registry_task`. No ``from __future__ import annotations`` here: KFP
reads the component's annotations at runtime.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs


@dsl.component(**component_kwargs())
def audit_registry(
    counts: Output[Metrics],
    report_markdown: Output[Markdown],
    report_html: Output[HTML],
    model_name: str = "",
    staging_max_days: int = 30,
    fail_on: str = "error",
    check_deployments: bool = True,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
) -> NamedTuple("AuditRegistryOutputs", [("errors", int), ("warnings", int), ("findings", list), ("report_uri", str)]):
    """Audit the registry (read only) and report findings with severity and fix; fail only when fail_on says so.

    Errors: production versions without the approval their model requires, versions without a model artifact,
    aliases on archived versions, unreadable policies, and serving records marked DEPLOYED whose InferenceService
    is gone or serves another version. Warnings: versions missing lineage (no run and no manual source, no dataset
    digest, no code version), versions in staging for longer than ``staging_max_days``, lifecycle properties out of
    sync with the audit trail, serving records that could not be compared with the cluster. Nothing is written.

    Args:
        model_name: Only this registered model; empty: every model.
        staging_max_days: Flag versions in staging for longer than this many days.
        fail_on: ``error`` (fail the task on errors), ``warning`` (on any finding) or ``never``.
        check_deployments: Compare DEPLOYED serving records with the InferenceServices in the cluster (the pod's
            service account needs ``get`` on inferenceservices in their namespaces).
        registry_url: Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod for https.

    Returns:
        counts: Scalars for the KFP UI: errors, warnings, findings, models and versions audited.
        report_markdown: The findings as a Markdown table (severity, code, model version, what, fix).
        report_html: The same report as a self-contained HTML page.
        errors: How many errors were found.
        warnings: How many warnings were found.
        findings: Every finding as JSON (``severity``, ``code``, ``model``, ``version``, ``message``, ``fix``).
        report_uri: URI of the HTML report.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.audit.task import audit_registry_task

    return audit_registry_task(**arguments)
