"""JSON merge patches (RFC 7386) that bring a live InferenceService to a wanted manifest.

The spec belongs to this package entirely (fields it no longer wants become explicit nulls); labels and
annotations are shared with KServe, the registry's controller and people, so only the keys a previous deployment
wrote (recorded in the ``managed-metadata`` annotation) are ever removed, and never the registry controller's
``inference-service-id`` label. Finalizers are not touched (merge patches of labels and annotations leave them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.deployment.conventions import (
    ANNOTATION_MANAGED,
    ANNOTATION_ROLLOUT,
    LABEL_INFERENCE_SERVICE_ID,
    LINEAGE_ANNOTATIONS,
)

LINEAGE_ONLY_ANNOTATIONS = frozenset({*(key for key, _ in LINEAGE_ANNOTATIONS), ANNOTATION_MANAGED, ANNOTATION_ROLLOUT})
"""Annotations that change with every run or rollout without changing what is served."""
KEPT_LABELS = frozenset({LABEL_INFERENCE_SERVICE_ID})
"""Labels a patch never removes: the Model Registry's controller owns its record id label (and, on its own,
re-creates a duplicate record when the label is gone)."""


def compute_merge_patch(current: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``desired``.

    Objects are compared key by key: keys missing from ``desired`` become explicit ``None`` (null deletes them),
    equal values are left out; anything else (lists, scalars) is replaced whole.

    Args:
        current: The live document.
        desired: The wanted document.

    Returns:
        The patch; ``{}`` when nothing differs (for objects).
    """
    if not isinstance(desired, Mapping) or not isinstance(current, Mapping):
        return desired
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            if isinstance(value, Mapping) and isinstance(current[key], Mapping):
                sub = compute_merge_patch(current[key], value)
                if sub != {}:
                    patch[key] = sub
            else:
                patch[key] = value
    for key in current:
        if key not in desired:
            patch[key] = None
    return patch


def managed_metadata_keys(obj: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The label and annotation keys a previous deploy_model wrote on an object (from its annotation).

    Args:
        obj: A live InferenceService (or None).

    Returns:
        ``{"labels": [...], "annotations": [...]}`` (empty lists when unknown).
    """
    raw = ((obj or {}).get("metadata") or {}).get("annotations", {}) or {}
    text = raw.get(ANNOTATION_MANAGED) or ""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, Mapping):
        data = {}
    return {
        "labels": [str(k) for k in data.get("labels") or []],
        "annotations": [str(k) for k in data.get("annotations") or []],
    }


def inference_service_patch(
    live: Mapping[str, Any], desired: Mapping[str, Any], *, previously_managed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The merge patch that applies ``desired`` to a live InferenceService.

    The spec is ours entirely (fields not in ``desired`` are nulled). Labels and annotations are shared with
    others (KServe, the registry's controller, people): ``desired``'s are set, and of the keys a previous deploy
    wrote (``previously_managed``, default read from ``live``), those no longer wanted are nulled; keys written
    by anyone else are kept.

    Args:
        live: The live object.
        desired: The wanted manifest (metadata labels/annotations and spec).
        previously_managed: Keys to remove when not in ``desired`` (see :func:`managed_metadata_keys`).

    Returns:
        The patch (``{}`` when nothing changes).
    """
    managed = previously_managed if previously_managed is not None else managed_metadata_keys(live)
    patch: dict[str, Any] = {}
    meta_patch: dict[str, Any] = {}
    live_meta = live.get("metadata") or {}
    desired_meta = desired.get("metadata") or {}
    for what in ("labels", "annotations"):
        current = dict(live_meta.get(what) or {})
        wanted = dict(desired_meta.get(what) or {})
        changes: dict[str, Any] = {k: v for k, v in wanted.items() if current.get(k) != v}
        for key in managed.get(what) or []:
            if key in current and key not in wanted and not (what == "labels" and key in KEPT_LABELS):
                changes[key] = None
        if changes:
            meta_patch[what] = changes
    if meta_patch:
        patch["metadata"] = meta_patch
    spec_patch = compute_merge_patch(live.get("spec") or {}, desired.get("spec") or {})
    if spec_patch != {}:
        patch["spec"] = spec_patch
    return patch


def is_lineage_only(patch: Mapping[str, Any]) -> bool:
    """Whether a patch changes nothing but run-lineage annotations (run id/name/link, managed keys, rollout key).

    Such a patch is not worth sending: the spec and the labels are already as wanted, and KServe would roll out a
    new revision of the same model for a changed annotation.

    Args:
        patch: From :func:`inference_service_patch`.

    Returns:
        True when only those annotations differ.
    """
    if set(patch) - {"metadata"}:
        return False
    metadata = patch.get("metadata") or {}
    if set(metadata) - {"annotations"}:
        return False
    return all(key in LINEAGE_ONLY_ANNOTATIONS for key in metadata.get("annotations") or {})
