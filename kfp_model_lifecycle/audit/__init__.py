"""Regular audits of a Model Registry: the checks behind ``kml models audit`` and the ``audit_registry`` component.

==============  =================================================================================================
``findings``    :class:`Finding` (severity, code, model, version, message, fix), :class:`AuditReport`, ``fail_on``
``rules``       the registry rules over one model's snapshot (approval, lineage, staging age, aliases, view drift)
``serving``     DEPLOYED serving records against the live InferenceServices
``run``         :func:`audit_registry` (a connection) and :func:`run_audit_registry` (the component's inputs)
``report``      Markdown, HTML and text
``task``        the component's job
==============  =================================================================================================
"""

from kfp_model_lifecycle.audit.findings import AuditFailedError, AuditReport, Finding, Severity
from kfp_model_lifecycle.audit.report import render_html, render_markdown, render_text
from kfp_model_lifecycle.audit.run import audit_registry, run_audit_registry

__all__ = [
    "AuditFailedError",
    "AuditReport",
    "Finding",
    "Severity",
    "audit_registry",
    "render_html",
    "render_markdown",
    "render_text",
    "run_audit_registry",
]
