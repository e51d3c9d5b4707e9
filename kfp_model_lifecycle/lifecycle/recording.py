"""The job of the ``record_model_event`` component: append a non-transition event to a model's audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.lifecycle.audit import record_lifecycle_event
from kfp_model_lifecycle.lifecycle.inputs import check_mapping, check_text
from kfp_model_lifecycle.lifecycle.provenance import lifecycle_run_actor, lifecycle_run_evidence
from kfp_model_lifecycle.lifecycle.run import JobSettings
from kfp_model_lifecycle.lineage import RunContext


@dataclass(frozen=True)
class RecordedEvent:
    """What the ``record_model_event`` job appended.

    Attributes:
        seq: The event's position in the audit trail.
        version: The name of the version it is about.
        event: The stored event (``seq``, ``type``, ``version``, ``reason``, ``actor``, ``evidence``...).
        registry_url: The registry's base URL.
    """

    seq: int
    version: str
    event: dict[str, Any]
    registry_url: str


def run_record_model_event(
    *,
    model_reference: str,
    event_type: str = "rejection",
    reason: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> RecordedEvent:
    """The whole ``record_model_event`` job on plain values: collect the run context, connect, append the event.

    Args:
        model_reference: The version the event is about (``name:VERSION``, ``name@ALIAS``...).
        event_type: A lower-case word, e.g. ``rejection`` (a challenger that lost) or ``note``; stage, alias,
            approval and policy changes go through promote/approve instead.
        reason: Why, e.g. the comparison's reason.
        evidence_uri: URI of the evidence, e.g. the comparison report.
        evidence: More evidence, recorded as JSON.
        actor: Who (default ``kfp-run:<run name>``).
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        namespace: Namespace.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests).

    Returns:
        The stored event, its ``seq`` and version name.

    Raises:
        InvalidInputError: For an event type that promote/approve record (a ``ValueError``).
    """
    job = JobSettings(
        run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, registry_url, verify_tls, ca_bundle_path
    )
    for name, value in (("model_reference", model_reference), ("event_type", event_type), ("reason", reason),
                        ("evidence_uri", evidence_uri), ("actor", actor)):  # fmt: skip
        check_text(value, name)
    check_mapping(evidence, "evidence", example="{'report': 's3://reports/compare.html'}")
    context, conn = job.start(env, context)
    try:
        event = record_lifecycle_event(
            conn,
            model_reference,
            event_type,
            actor=lifecycle_run_actor(context, actor),
            reason=reason,
            evidence=lifecycle_run_evidence(context, evidence_uri=evidence_uri, evidence=evidence),
        )
    finally:
        conn.close()
    return RecordedEvent(int(event["seq"]), str(event.get("version") or ""), event, conn.url)
