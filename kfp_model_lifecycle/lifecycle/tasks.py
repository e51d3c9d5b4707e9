"""The jobs of the ``promote_model``, ``approve_model`` and ``record_model_event`` components.

Each component declares its inputs, outputs and documentation and calls one function here with all of its
arguments; the component's defaults are the only ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kfp.dsl import Markdown

from kfp_model_lifecycle.lifecycle.recording import run_record_model_event
from kfp_model_lifecycle.lifecycle.run import run_approve_model, run_promote_model
from kfp_model_lifecycle.log import component_log


class PromoteModelOutputs(NamedTuple):
    """``promote_model``'s parameter outputs."""

    new_holder: str
    previous_holder: str
    version_id: str
    version_name: str
    stage: str
    event_seq: int
    changed: bool


class ApproveModelOutputs(NamedTuple):
    """``approve_model``'s parameter outputs."""

    version_id: str
    version_name: str
    status: str
    previous_status: str
    event_seq: int


class RecordModelEventOutputs(NamedTuple):
    """``record_model_event``'s parameter outputs."""

    event_seq: int
    version_name: str


def promote_model_task(*, summary: Markdown, **parameters: Any) -> PromoteModelOutputs:
    """Run ``promote_model``: move the version, write the summary, return what changed.

    Args:
        summary: Output Markdown summary of the transitions.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The outputs; ``event_seq`` is 0 and ``changed`` False in a dry run.
    """
    with component_log("promote_model"):
        result = run_promote_model(summary_path=summary.path, **parameters)
    summary.metadata.update({"model": result.model, "version_id": result.version_id, "stage": result.stage})
    return PromoteModelOutputs(
        new_holder=result.new_holder,
        previous_holder=result.previous_holder,
        version_id=result.version_id,
        version_name=result.version,
        stage=result.stage,
        event_seq=0 if result.dry_run else result.event_seq,
        changed=result.changed and not result.dry_run,
    )


def approve_model_task(*, summary: Markdown, **parameters: Any) -> ApproveModelOutputs:
    """Run ``approve_model``: record the decision, write the summary, return the status.

    Args:
        summary: Output Markdown summary.
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The outputs; in a dry run ``status`` is the unchanged status and ``event_seq`` 0.
    """
    with component_log("approve_model"):
        result = run_approve_model(summary_path=summary.path, **parameters)
    return ApproveModelOutputs(
        version_id=result.version_id,
        version_name=result.version,
        status=result.previous_status if result.dry_run else result.status,
        previous_status=result.previous_status,
        event_seq=0 if result.dry_run else result.event_seq,
    )


def record_model_event_task(*, model_reference: str, version: str, **parameters: Any) -> RecordModelEventOutputs:
    """Run ``record_model_event``: append one event to the model's audit trail.

    Args:
        model_reference: ``name``, ``name:VERSION`` or ``name@ALIAS``.
        version: A version name completing a bare model name ("" for none).
        **parameters: The component's other parameters (see the component), passed on unchanged.

    Returns:
        The event's position in the audit trail and the version it is about.
    """
    reference = model_reference
    if version and ":" not in reference and "@" not in reference:
        reference = f"{reference}:{version}"
    with component_log("record_model_event"):
        recorded = run_record_model_event(model_reference=reference, **parameters)
    return RecordModelEventOutputs(recorded.seq, recorded.version)
