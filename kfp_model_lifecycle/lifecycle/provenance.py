"""Who, why and with what evidence: the fields every audit-trail event carries, also as seen from a pipeline run."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.lifecycle.inputs import check_mapping, check_text
from kfp_model_lifecycle.lineage import RunContext, is_missing_value

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def lifecycle_common_fields(
    actor: str = "", reason: str = "", evidence: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The who/why/evidence fields of an event.

    Args:
        actor: Who: e.g. ``kfp-run:<run name>`` or ``user:alice`` ("" -> the local user name).
        reason: Why, in words.
        evidence: Run id, report URI, links... (empty values dropped).

    Returns:
        ``actor``, ``reason`` and ``evidence``.

    Raises:
        InvalidInputError: For an actor or reason that is not text, or evidence that is not a mapping.
    """
    who = check_text(actor, "actor", example="'user:alice'").strip()
    why = check_text(reason, "reason", example="'accuracy +2%'").strip()
    given = check_mapping(evidence, "evidence", example="{'ticket': 'ML-42'}")
    if not who:
        try:
            who = f"user:{getpass.getuser()}"
        except Exception:  # no user name in some containers
            who = "unknown"
    clean = {k: v for k, v in given.items() if v not in _EMPTY}
    return {"actor": who, "reason": why, "evidence": clean}


def lifecycle_run_evidence(
    context: RunContext, *, evidence_uri: str = "", evidence: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evidence recorded with an event from a pipeline run: run id, name, link, task and report URI.

    Args:
        context: From ``collect_run_context``.
        evidence_uri: URI of the comparison report (or any evidence document).
        evidence: More evidence (links, metrics...), merged in.

    Returns:
        The evidence dict (empty values dropped).

    Raises:
        InvalidInputError: For an evidence URI that is not text, or evidence that is not a mapping.
    """
    evidence_uri = check_text(evidence_uri, "evidence_uri", example="'s3://reports/compare.html'")
    more = check_mapping(evidence, "evidence", example="{'ticket': 'ML-42'}")
    data = {
        "run_id": context.run_id or "",
        "run_name": context.run_name or "",
        "run_url": context.run_url or "",
        "pipeline_name": context.pipeline_name or "",
        "task_name": context.task_name or "",
        "namespace": context.namespace or "",
        "report_uri": "" if is_missing_value(evidence_uri) else (evidence_uri or "").strip(),
    }
    data.update(more)
    return {k: v for k, v in data.items() if v not in _EMPTY}


def lifecycle_run_actor(context: RunContext, actor: str = "") -> str:
    """Who acts, seen from a pipeline run: the actor given, else ``kfp-run:<run name or id>``, else the pod.

    Args:
        context: From ``collect_run_context``.
        actor: Explicit actor ("" or a placeholder for none).

    Returns:
        The actor ("" when nothing is known: then the local user name is used).

    Raises:
        InvalidInputError: For an actor that is not text.
    """
    actor = check_text(actor, "actor", example="'user:alice'")
    if actor and not is_missing_value(actor):
        return actor.strip()
    run = context.run_name or context.run_id or ""
    if run:
        return f"kfp-run:{run}"
    pod = (os.environ.get("KFP_POD_NAME") or "").strip()
    return f"kfp-pod:{pod}" if pod else ""
