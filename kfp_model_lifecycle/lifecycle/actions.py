"""Changing the lifecycle by hand: promote, roll back, approve, set the policy, repair the view.

The Python API behind ``kml models promote/rollback/approve/policy/repair``: the lifecycle's operations with an
evidence URI instead of an evidence dict, and the local user as the default actor::

    from kfp_model_lifecycle.client import connect_model_registry
    from kfp_model_lifecycle.lifecycle.actions import promote

    with connect_model_registry("http://127.0.0.1:8080") as conn:
        promote(conn, "iris:1.0.3", stage="production", aliases=["champion"], reason="better")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.lifecycle.approval import approve_model_version
from kfp_model_lifecycle.lifecycle.inputs import check_mapping, check_text
from kfp_model_lifecycle.lifecycle.policy import PolicyChange, set_lifecycle_policy
from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
from kfp_model_lifecycle.lifecycle.registry import find_model_by_name
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult
from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair` did.

    Attributes:
        model: The registered model's name.
        events: How many events its audit trail has.
        patched_versions: The ids of the versions whose view was rewritten.
    """

    model: str
    events: int
    patched_versions: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)


def _evidence(evidence_uri: str = "", evidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = check_mapping(evidence, "evidence", example="{'ticket': 'ML-42'}")
    uri = check_text(evidence_uri, "evidence_uri", example="'s3://reports/compare.html'").strip()
    if uri:
        data["report_uri"] = uri
    return data


def promote(
    conn: RegistryConnection,
    reference: str,
    *,
    stage: str = "",
    aliases: Iterable[str] = (),
    remove_aliases: Iterable[str] = (),
    reason: str = "",
    evidence_uri: str = "",
    evidence: Mapping[str, Any] | None = None,
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
    require_approval: bool = False,
) -> PromotionResult:
    """Move a version to a stage and/or set aliases (see ``promote_model_version``).

    Args:
        conn: A registry connection.
        reference: ``NAME:VERSION``, ``NAME@ALIAS``...
        stage: Target stage ("" to leave it).
        aliases: Aliases to point at the version.
        remove_aliases: Aliases to remove from the model.
        reason: Why.
        evidence_uri: Comparison report or other evidence URI.
        evidence: More evidence.
        actor: Who (default ``user:<login name>``).
        dry_run: Plan only.
        demote_to: Stage for the displaced production version.
        require_approval: Require approval for this promotion.

    Returns:
        The promotion result (``new_holder``, ``previous_holder``, ``stage``, ``events``...).
    """
    return promote_model_version(
        conn,
        reference,
        stage=stage,
        aliases=aliases,
        remove_aliases=remove_aliases,
        reason=reason,
        evidence=_evidence(evidence_uri, evidence),
        actor=actor,
        dry_run=dry_run,
        demote_to=demote_to,
        require_approval=require_approval,
    )


def rollback(
    conn: RegistryConnection,
    model_name: str,
    *,
    reason: str = "",
    evidence_uri: str = "",
    actor: str = "",
    dry_run: bool = False,
    demote_to: str = "",
) -> PromotionResult:
    """Re-promote the previous production version of a model from its audit trail, in one step.

    Args:
        conn: A registry connection.
        model_name: The registered model.
        reason: Why.
        evidence_uri: Incident or report URI.
        actor: Who.
        dry_run: Plan only.
        demote_to: Stage for the version rolled back from (default the model's, else ``archived``).

    Returns:
        The promotion result; ``previous_holder`` is the version rolled back from.
    """
    return promote_model_version(
        conn,
        model_name,
        rollback=True,
        reason=reason,
        evidence=_evidence(evidence_uri),
        actor=actor,
        dry_run=dry_run,
        demote_to=demote_to,
    )


def approve(
    conn: RegistryConnection,
    reference: str,
    *,
    status: str = "approved",
    comment: str = "",
    approver: str = "",
    evidence_uri: str = "",
    dry_run: bool = False,
) -> ApprovalResult:
    """Record an approval decision for a version (see ``approve_model_version``).

    Args:
        conn: A registry connection.
        reference: The version.
        status: ``approved``, ``rejected`` or ``pending``.
        comment: Why (required for ``rejected``).
        approver: Who (default ``user:<login name>``).
        evidence_uri: Review or report URI.
        dry_run: Check only.

    Returns:
        The approval result (``status``, ``previous_status``, ``event_seq``...).
    """
    return approve_model_version(
        conn,
        reference,
        status=status,
        approver=approver,
        comment=comment,
        evidence=_evidence(evidence_uri),
        dry_run=dry_run,
    )


def set_policy(
    conn: RegistryConnection,
    model_name: str,
    *,
    require_approval: bool | None = None,
    allowed_transitions: Any = None,
    demote_to: str | None = None,
    actor: str = "",
    reason: str = "",
) -> PolicyChange:
    """Set a model's lifecycle policy (see ``set_lifecycle_policy``).

    Args:
        conn: A registry connection.
        model_name: The registered model.
        require_approval: Whether production needs an approved version (None: unchanged).
        allowed_transitions: JSON/dict of stage -> stages, "" for the default (None: unchanged).
        demote_to: Stage for displaced production versions, "" for ``archived`` (None: unchanged).
        actor: Who.
        reason: Why.

    Returns:
        The policy before and after, whether it changed and the event recorded.
    """
    return set_lifecycle_policy(
        conn,
        model_name,
        require_approval=require_approval,
        allowed_transitions=allowed_transitions,
        demote_to=demote_to,
        actor=actor,
        reason=reason,
    )


def repair(conn: RegistryConnection, model_name: str) -> RepairResult:
    """Rewrite a model's lifecycle properties and labels from its audit trail.

    Args:
        conn: A registry connection.
        model_name: The registered model.

    Returns:
        The model, how many events its trail has, and the versions rewritten.
    """
    model = find_model_by_name(conn, model_name)
    synced = sync_lifecycle_view(conn, model)
    return RepairResult(model=model_name, events=len(synced["events"]), patched_versions=synced["patched"])
