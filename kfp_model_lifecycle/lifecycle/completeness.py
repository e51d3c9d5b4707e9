"""Whether a model version is complete: its registration got as far as linking its model artifact.

``register_model`` writes the version (with all its properties) first and links the model artifact LAST, as the
version's only linked artifact. A task that died in between leaves a version without a model artifact: nothing to
deploy, nothing to download. Such a version is *incomplete*: ``name@latest`` and the default lists and searches
skip it, ``show`` marks it, and promotion, approval and deployment refuse it; re-running (or retrying) the task
that registered it completes it (the registration's idempotency key finds the version and links the artifact).

The check is cheap: model artifacts this package links carry the reference property ``kml_model_version_id``, so
one filtered list answers for up to :data:`IDS_PER_QUERY` versions; versions not found that way (an incomplete
one, or one registered by an earlier release or another client) are checked one by one by listing their artifacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mr_openapi.models.artifact_type_query_param import ArtifactTypeQueryParam

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import NotFoundError, RegistryRequestError
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.registry import MODEL_ARTIFACT_TYPE, find_model_artifact

MODEL_ARTIFACT_VERSION_ID = "kml_model_version_id"
"""The model artifact's reference property naming the version it is linked to (as dataset artifacts have it)."""
IDS_PER_QUERY = 50
INCOMPLETE_NOTE = (
    "incomplete: its registration did not finish (the version has no model artifact); re-run the task that"
    " registered it to complete it"
)


def incomplete_version_error(reference: str, action: str) -> NotFoundError:
    """The error for an operation on an incomplete version.

    Args:
        reference: ``name:version``.
        action: What was refused, e.g. ``"promoted"``.

    Returns:
        A ``NotFoundError`` (a ``LookupError``: its model artifact does not exist) naming the fix.
    """
    return NotFoundError(
        f"{reference} cannot be {action}: it is {INCOMPLETE_NOTE} (a retried or re-run pipeline task completes it;"
        " a manual registration registers again). `kml models show` marks such versions"
    )


def is_complete(conn: RegistryConnection, version: Mapping[str, Any]) -> bool:
    """Whether one version has its model artifact (one request).

    Args:
        conn: A registry connection.
        version: The ModelVersion in wire form.

    Returns:
        True when a ``model-artifact`` is linked to it.
    """
    return find_model_artifact(conn, version) is not None


def _quoted(version_id: str) -> str:
    return '"' + version_id.replace('"', "") + '"'


def _referenced(conn: RegistryConnection, ids: list[str]) -> set[str]:
    """The ids among ``ids`` whose model artifact carries the reference property (one list per chunk)."""
    found: set[str] = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        query = f"{MODEL_ARTIFACT_VERSION_ID} IN ({', '.join(_quoted(i) for i in chunk)})"
        items = conn.list_all(
            f"list the model artifacts of {len(chunk)} model version(s)",
            lambda api, token, q=query: api.get_artifacts(
                filter_query=q,
                artifact_type=ArtifactTypeQueryParam(MODEL_ARTIFACT_TYPE),
                page_size="500",
                next_page_token=token,
            ),
        )
        found |= {
            str(plain_properties(a).get(MODEL_ARTIFACT_VERSION_ID) or "")
            for a in items
            if a.get("artifactType") == MODEL_ARTIFACT_TYPE
        }
    return found


def complete_version_ids(conn: RegistryConnection, versions: Iterable[Mapping[str, Any]]) -> set[str]:
    """The ids of the versions that have their model artifact.

    Args:
        conn: A registry connection.
        versions: ModelVersions in wire form.

    Returns:
        Their ids that are complete.
    """
    ids = list(dict.fromkeys(str(v["id"]) for v in versions))
    if not ids:
        return set()
    try:
        found = _referenced(conn, ids) & set(ids)
    except RegistryRequestError:  # a server that cannot filter artifacts so: ask version by version
        found = set()
    return found | {vid for vid in ids if vid not in found and is_complete(conn, {"id": vid})}


def newest_complete(conn: RegistryConnection, versions: Iterable[Wire]) -> tuple[Wire | None, list[Wire]]:
    """The newest complete version (by id), and the newer incomplete ones passed over.

    Args:
        conn: A registry connection.
        versions: ModelVersions in wire form (any order).

    Returns:
        ``(version or None, incomplete versions newer than it, newest first)``; usually one request.
    """
    skipped: list[Wire] = []
    for version in sorted(versions, key=lambda v: int(v.get("id") or 0), reverse=True):
        if is_complete(conn, version):
            return version, skipped
        skipped.append(version)
    return None, skipped
