"""Auditing a registry: read every model (or one), apply the rules, compare serving records with the cluster.

::

    from kfp_model_lifecycle.audit import audit_registry
    from kfp_model_lifecycle.client import connect_model_registry

    with connect_model_registry("http://127.0.0.1:8080") as conn:
        report = audit_registry(conn, staging_days=14)
    for finding in report.findings:
        print(finding.severity, finding.reference, finding.message, finding.fix)

The audit only reads: a lifecycle view that is behind its audit trail is reported, not repaired (readers elsewhere
repair it; ``kml models repair`` does so on purpose).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kfp_model_lifecycle.audit.findings import AuditReport, Finding, check_fail_on, sorted_findings
from kfp_model_lifecycle.audit.rules import AuditSettings, ModelSnapshot, model_findings
from kfp_model_lifecycle.audit.serving import LiveLookup, deployed_records, live_lookup, serving_findings
from kfp_model_lifecycle.client import RegistryConnection, Wire, connect_model_registry
from kfp_model_lifecycle.deployment.kube import KubeClient, load_kubernetes_client
from kfp_model_lifecycle.errors import KubernetesError
from kfp_model_lifecycle.lifecycle import check_flag, check_number, check_text, find_model_by_name
from kfp_model_lifecycle.lifecycle.catalog import list_all_models, list_versions_of
from kfp_model_lifecycle.lifecycle.completeness import complete_version_ids
from kfp_model_lifecycle.lifecycle.events import read_lifecycle_events
from kfp_model_lifecycle.log import logger as log

DEFAULT_STAGING_DAYS = 30
MAX_STAGING_DAYS = 3650
NOT_COMPARED = "serving records were not compared with a cluster (give a kubeconfig to compare them)"


def snapshot_model(conn: RegistryConnection, model: Wire) -> ModelSnapshot:
    """One model as stored, with its versions, audit trail and complete versions (no write).

    Args:
        conn: A registry connection.
        model: The RegisteredModel (wire form).

    Returns:
        The snapshot.
    """
    versions = list_versions_of(conn, model)
    events = read_lifecycle_events(conn, str(model["id"]))
    return ModelSnapshot.of(model, versions, events, complete_version_ids(conn, versions))


def check_staging_days(value: Any) -> int:
    """The staging age threshold: a whole number of days from 1 to 3650.

    Args:
        value: What was passed.

    Returns:
        The number of days.
    """
    return int(check_number(value, "staging_days", minimum=1, maximum=MAX_STAGING_DAYS, whole=True, example="30"))


def audit_registry(
    conn: RegistryConnection,
    name: str = "",
    *,
    staging_days: int = DEFAULT_STAGING_DAYS,
    live: LiveLookup | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """Audit one model or every model of the registry.

    Args:
        conn: A registry connection.
        name: Only this registered model ("" for all).
        staging_days: Flag versions in staging for longer than this.
        live: Reads live InferenceServices (:func:`~kfp_model_lifecycle.audit.serving.live_lookup`); None leaves
            serving records unchecked.
        now: The audit's time (default: now, UTC).

    Returns:
        The report.

    Raises:
        NotFoundError: When ``name`` is not a registered model.
    """
    name = check_text(name, "name", example="'iris'").strip()
    settings = AuditSettings(staging_days=check_staging_days(staging_days), now=now or datetime.now(UTC))
    models = [find_model_by_name(conn, name)] if name else list_all_models(conn)
    findings: list[Finding] = []
    versions = 0
    for model in sorted(models, key=lambda m: str(m.get("name") or "")):
        snap = snapshot_model(conn, model)
        versions += len(snap.versions)
        findings += model_findings(snap, settings)
        if live is not None:
            findings += serving_findings(snap, deployed_records(conn, model), live)
    notes = [] if live is not None else [NOT_COMPARED]
    return AuditReport(
        findings=sorted_findings(findings),
        models=sorted(str(m.get("name") or "") for m in models),
        versions=versions,
        staging_days=settings.staging_days,
        deployments_checked=live is not None,
        registry_url=conn.url,
        time=settings.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes=notes,
    )


@contextlib.contextmanager
def kubernetes_access(
    enabled: bool, kubeconfig_path: str = "", kube_context: str = "", env: Mapping[str, str] | None = None
) -> Iterator[tuple[LiveLookup | None, str]]:
    """A lookup of live InferenceServices, or None and why not (no credentials found).

    Args:
        enabled: Compare serving records with the cluster at all.
        kubeconfig_path: Kubeconfig ("" for ``KUBECONFIG``, then in-cluster, then ``~/.kube/config``).
        kube_context: Its context.
        env: Environment.

    Yields:
        ``(lookup or None, why not)``.
    """
    if not enabled:
        yield None, "serving records were not compared with a cluster (turned off)"
        return
    k8s: KubeClient | None = None
    try:
        k8s = load_kubernetes_client(kubeconfig_path, kube_context, env)
    except KubernetesError as exc:
        log.info("serving records are not compared with the cluster: %s", exc)
        yield None, f"serving records were not compared with a cluster: {exc}"
        return
    try:
        yield live_lookup(k8s), ""
    finally:
        k8s.close()


def run_audit_registry(
    *,
    model_name: str = "",
    staging_max_days: int = DEFAULT_STAGING_DAYS,
    fail_on: str = "error",
    check_deployments: bool = True,
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
    kubeconfig_path: str = "",
    kube_context: str = "",
    now: datetime | None = None,
) -> AuditReport:
    """Audit the registry as the ``audit_registry`` component does (see the component for the inputs).

    Args:
        model_name: Only this model ("" for all).
        staging_max_days: Flag versions in staging for longer than this.
        fail_on: ``warning``, ``error`` or ``never`` (checked here; applied by the caller).
        check_deployments: Compare DEPLOYED serving records with the cluster.
        registry_url: Registry base URL ("" reads ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle for https.
        env: Environment (default ``os.environ``).
        kubeconfig_path: Kubeconfig (Python callers and tests; pods use their service account).
        kube_context: Kubeconfig context.
        now: The audit's time (tests).

    Returns:
        The report.
    """
    check_fail_on(fail_on)
    staging_days = check_staging_days(staging_max_days)
    model_name = check_text(model_name, "model_name", example="'iris'").strip()
    enabled = check_flag(check_deployments, "check_deployments")
    env = dict(os.environ if env is None else env)
    with (
        connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env) as conn,
        kubernetes_access(enabled, kubeconfig_path, kube_context, env) as (live, why_not),
    ):
        report = audit_registry(conn, model_name, staging_days=staging_days, live=live, now=now)
    if why_not:
        report = dataclasses.replace(report, notes=[why_not])
    return report
