"""The ``approve_model`` component and ``approve_model_with_context``, its entry point for pipeline authors.

A thin declaration: the signature and docstring are what KFP compiles into the YAML (inputs, outputs and their
descriptions); the body imports ``kfp_model_lifecycle`` (installed in the pod at this package's own version, see
``components/_common/runtime.py``) and calls :func:`kfp_model_lifecycle.lifecycle.tasks.approve_model_task`. No
``from __future__ import annotations`` here: KFP reads the component's annotations at runtime, and it understands
``Optional[...]`` but not ``X | None``.
"""

from typing import Any, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Markdown, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs, wire_run_context


@dsl.component(**component_kwargs())
def approve_model(
    model_reference: str,
    summary: Output[Markdown],
    status: str = "approved",
    approver: str = "",
    comment: str = "",
    evidence_uri: str = "",
    evidence: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
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
) -> NamedTuple(
    "ApproveModelOutputs",
    [("version_id", str), ("version_name", str), ("status", str), ("previous_status", str), ("event_seq", int)],
):
    """Record an approval decision for a model version (approved, rejected or pending), with approver and comment.

    A model whose ``kml_requires_approval`` property is true (set with ``kml models policy NAME
    --require-approval``) can only be promoted to ``production`` once its version is ``approved``; promote_model
    fails clearly otherwise. The decision is appended to the model's audit trail and shown on the version in the
    registry UI (``kml_approval_*`` properties and a ``kml:approval=<status>`` label).

    Args:
        model_reference: The version: ``name:VERSION``, ``name@ALIAS``, ``name@staging``...
        status: ``approved``, ``rejected`` or ``pending`` (a request for review).
        approver: Who decides; default ``kfp-run:<run name>``.
        comment: Why; required for ``rejected``.
        evidence_uri: URI of the review, ticket or report; recorded with the event.
        evidence: More evidence (links...), recorded as JSON.
        dry_run: Check only; write nothing.
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        namespace: Namespace of the run; default env ``POD_NAMESPACE`` or the service-account namespace.
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port; default env ``KML_REGISTRY_URL``. The token
            comes from env ``KML_REGISTRY_TOKEN`` (a Secret), else the service-account token (https).
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https (e.g. a mounted ConfigMap).

    Returns:
        summary: Markdown report of the decision and its audit-trail entry.
        version_id: Id of the model version.
        version_name: Name of the model version.
        status: The approval status now.
        previous_status: The status before (``none`` when never set).
        event_seq: Number of the audit-trail entry written (0 when unchanged or in a dry run).
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.lifecycle.tasks import approve_model_task

    return approve_model_task(**arguments)


def approve_model_with_context(
    model_reference: Any,
    *,
    status: Any = "approved",
    approver: Any = "",
    comment: Any = "",
    evidence_uri: Any = "",
    evidence: Any = None,
    dry_run: Any = False,
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add an ``approve_model`` task to the pipeline being defined, with the run context wired automatically.

    Same wiring as ``promote_model_with_context``: run placeholders, pipeline name, ``POD_NAMESPACE`` and the
    registry token from ``token_secret_name`` as ``KML_REGISTRY_TOKEN``.

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS``...
        status: ``approved``, ``rejected`` or ``pending``.
        approver: Who decides (default ``kfp-run:<run name>``).
        comment: Why (required for ``rejected``).
        evidence_uri: URI of the review or report.
        evidence: More evidence (dict).
        dry_run: Check only.
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token (None: service-account token over https).
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``summary``, ``version_id``, ``version_name``, ``status``, ``previous_status``
        and ``event_seq``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
    """
    return wire_run_context(
        approve_model,
        "approve_model_with_context",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model_reference=model_reference,
        status=status,
        approver=approver,
        comment=comment,
        evidence_uri=evidence_uri,
        evidence=evidence,
        dry_run=dry_run,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )
