"""The ``promote_model`` component and ``promote_model_with_context``, its entry point for pipeline authors.

A thin declaration: the signature and docstring are what KFP compiles into the YAML (inputs, outputs and their
descriptions); the body imports ``kfp_model_lifecycle`` (installed in the pod at this package's own version, see
``components/_common/runtime.py``) and calls :func:`kfp_model_lifecycle.lifecycle.tasks.promote_model_task`. No
``from __future__ import annotations`` here: KFP reads the component's annotations at runtime, and it understands
``Optional[...]`` but not ``X | None``.
"""

from typing import Any, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Markdown, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs, wire_run_context


@dsl.component(**component_kwargs())
def promote_model(
    model_reference: str,
    summary: Output[Markdown],
    stage: str = "",
    aliases: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    remove_aliases: Optional[list] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    reason: str = "",
    evidence_uri: str = "",
    evidence: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
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
) -> NamedTuple(
    "PromoteModelOutputs",
    [
        ("new_holder", str),
        ("previous_holder", str),
        ("version_id", str),
        ("version_name", str),
        ("stage", str),
        ("event_seq", int),
        ("changed", bool),
    ],
):
    """Move a model version to a lifecycle stage and/or point aliases at it, with reason and evidence.

    Stages are ``development`` -> ``staging`` -> ``production`` -> ``archived``; at most one version per model is
    in ``production`` (promoting one demotes the previous holder, to ``archived`` unless configured). Aliases
    (``champion``, ``challenger``...) are unique per model. Every transition is appended to the model's audit
    trail in the registry (who, when, from/to, why, evidence) and fails clearly when the transition is not
    allowed or an approval is missing. Safe under concurrent promotions and task retries.

    Args:
        model_reference: The version: ``name:VERSION``, ``name@ALIAS``, ``name@staging`` (newest in staging),
            ``name@latest`` or ``name`` (the production version); for ``rollback``, the model name.
        stage: Target stage: ``development``, ``staging``, ``production`` or ``archived`` ("" to leave it).
        aliases: Aliases to point at the version, e.g. ``["champion"]`` (moved from their previous holder).
        remove_aliases: Aliases to remove from the model.
        reason: Why, recorded in the audit trail, e.g. ``accuracy +2.1% over production``.
        evidence_uri: URI of the evidence, e.g. the comparison report; recorded with each event.
        evidence: More evidence (links, metric values), recorded as JSON.
        actor: Who promotes; default ``kfp-run:<run name>``.
        dry_run: Check and report what would change; write nothing.
        demote_to: Stage for the displaced production version; default the model's ``kml_demote_to`` or
            ``archived``.
        require_approval: Require an approved version for production even if the model does not.
        rollback: Re-promote the previous production version from the audit trail (``model_reference`` is the
            model name; ``stage`` is ignored).
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        namespace: Namespace of the run; default env ``POD_NAMESPACE`` or the service-account namespace.
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port, e.g.
            ``https://model-registry-service.kubeflow.svc.cluster.local:8443``; default env ``KML_REGISTRY_URL``.
            The token comes from env ``KML_REGISTRY_TOKEN`` (a Secret), else the service-account token (https).
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https (e.g. a mounted ConfigMap).

    Returns:
        summary: Markdown report: the change, the previous holder, the audit-trail entries and the evidence.
        new_holder: ``name:version`` of the version promoted (the new holder of the stage/aliases).
        previous_holder: ``name:version`` of the version that held production (or the first alias) before; ""
            when none.
        version_id: Id of the promoted model version.
        version_name: Name of the promoted model version.
        stage: The version's stage afterwards.
        event_seq: Number of the last audit-trail entry written (0 when nothing changed or in a dry run).
        changed: Whether anything changed (False when it was already so, and in a dry run).
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.lifecycle.tasks import promote_model_task

    return promote_model_task(**arguments)


def promote_model_with_context(
    model_reference: Any,
    *,
    stage: Any = "",
    aliases: Any = None,
    remove_aliases: Any = None,
    reason: Any = "",
    evidence_uri: Any = "",
    evidence: Any = None,
    actor: Any = "",
    dry_run: Any = False,
    demote_to: Any = "",
    require_approval: Any = False,
    rollback: Any = False,
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add a ``promote_model`` task to the pipeline being defined, with the run context wired automatically.

    Call it inside a ``@dsl.pipeline`` function. It passes the run placeholders
    (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``, ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``,
    ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``; the KFP backend substitutes them only in task arguments) and the
    pipeline's name, so every audit-trail entry names the run; exposes the pod's namespace as ``POD_NAMESPACE``
    and, when ``token_secret_name`` is given, the registry token from that Secret as ``KML_REGISTRY_TOKEN``. The
    Kubernetes settings apply on a cluster; local runs ignore them. Every argument may be a constant or a pipeline
    parameter/task output.

    Example::

        @dsl.pipeline(name="train-compare-promote")
        def pipeline(registry_url: str = "http://model-registry-service.kubeflow.svc.cluster.local:8080"):
            reg = register_model_with_lineage(...)
            cmp = compare_models(...)
            with dsl.If(cmp.outputs["promote"] == True):  # noqa: E712
                promote_model_with_context(
                    f"iris:{reg.outputs['version_name']}", stage="production", aliases=["champion"],
                    reason="better than production", evidence_uri=cmp.outputs["report_uri"],
                    registry_url=registry_url, token_secret_name="model-registry-token",
                )

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS``... (the model name for a rollback).
        stage: Target stage ("" to leave it).
        aliases: Aliases to set.
        remove_aliases: Aliases to remove.
        reason: Why.
        evidence_uri: URI of the comparison report (or other evidence).
        evidence: More evidence (dict).
        actor: Who (default ``kfp-run:<run name>``).
        dry_run: Report only.
        demote_to: Stage for the displaced production version.
        require_approval: Require approval for this promotion.
        rollback: Re-promote the previous production version.
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token (None: service-account token over https).
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``summary``, ``new_holder``, ``previous_holder``, ``version_id``,
        ``version_name``, ``stage``, ``event_seq`` and ``changed``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
    """
    return wire_run_context(
        promote_model,
        "promote_model_with_context",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model_reference=model_reference,
        stage=stage,
        aliases=aliases,
        remove_aliases=remove_aliases,
        reason=reason,
        evidence_uri=evidence_uri,
        evidence=evidence,
        actor=actor,
        dry_run=dry_run,
        demote_to=demote_to,
        require_approval=require_approval,
        rollback=rollback,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )
