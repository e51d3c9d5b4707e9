"""The ``record_model_event`` component and ``record_model_event_with_context``, its pipeline entry point.

A thin declaration: the signature and docstring are what KFP compiles into the YAML (inputs, outputs and their
descriptions); the body imports ``kfp_model_lifecycle`` (installed in the pod at this package's own version, see
``components/_common/runtime.py``) and calls :func:`kfp_model_lifecycle.lifecycle.tasks.record_model_event_task`. No
``from __future__ import annotations`` here: KFP reads the component's annotations at runtime, and it understands
``Optional[...]`` but not ``X | None``.
"""

from typing import Any, NamedTuple, Optional

from kfp import dsl

from kfp_model_lifecycle.components._common.runtime import component_kwargs, wire_run_context


@dsl.component(**component_kwargs())
def record_model_event(
    model_reference: str,
    version: str = "",
    event_type: str = "rejection",
    reason: str = "",
    evidence_uri: str = "",
    evidence: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
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
) -> NamedTuple("RecordModelEventOutputs", [("event_seq", int), ("version_name", str)]):
    """Append an event (e.g. a rejected challenger) about a model version to the model's audit trail.

    The event gets the next number in the trail (with the same compare-and-set as promotions, so concurrent
    writers never collide), is linked to the version in the registry and shows in ``kml models history``. It
    changes no stage, alias or approval.

    Args:
        model_reference: The version: ``name:VERSION``, ``name@ALIAS``... or just the model name with ``version``.
        version: Version name, when ``model_reference`` is a bare model name (e.g. ``register_model``'s
            ``version_name`` output).
        event_type: A lower-case word: ``rejection`` (default), ``note``, ...; not stage/alias/approval/policy.
        reason: Why, e.g. the comparison's reason.
        evidence_uri: URI of the evidence, e.g. the comparison report; recorded with the event.
        evidence: More evidence (links, numbers), recorded as JSON.
        actor: Who; default ``kfp-run:<run name>``.
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        namespace: Namespace of the run; default env ``POD_NAMESPACE`` or the service-account namespace.
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port; default env ``KML_REGISTRY_URL``. The token
            comes from env ``KML_REGISTRY_TOKEN`` (a Secret), else the service-account token (https).
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https.

    Returns:
        event_seq: Number of the audit-trail entry written.
        version_name: Name of the model version the event is about.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.lifecycle.tasks import record_model_event_task

    return record_model_event_task(**arguments)


def record_model_event_with_context(
    model_reference: Any,
    *,
    version: Any = "",
    event_type: Any = "rejection",
    reason: Any = "",
    evidence_uri: Any = "",
    actor: Any = "",
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add a ``record_model_event`` task to the pipeline being defined, with the run context wired automatically.

    Same wiring as ``promote_model_with_context``: run placeholders, pipeline name, ``POD_NAMESPACE`` and the
    registry token from ``token_secret_name`` as ``KML_REGISTRY_TOKEN``.

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS``... or the model name with ``version``.
        version: Version name for a bare model name (e.g. a ``register_model`` task's ``version_name`` output).
        event_type: ``rejection`` (default) or another lower-case word.
        reason: Why.
        evidence_uri: URI of the evidence (e.g. the comparison report).
        actor: Who (default ``kfp-run:<run name>``).
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token (None: service-account token over https).
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``event_seq`` and ``version_name``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
    """
    return wire_run_context(
        record_model_event,
        "record_model_event_with_context",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model_reference=model_reference,
        version=version,
        event_type=event_type,
        reason=reason,
        evidence_uri=evidence_uri,
        actor=actor,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )
