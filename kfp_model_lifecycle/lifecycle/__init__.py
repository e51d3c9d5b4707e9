"""Stages, aliases, approvals and the audit trail on the Kubeflow Model Registry.

What other parts of the package use is imported from here (not from the modules inside), so the modules can be
arranged freely: reading models and versions, resolving references, the property codec, and appending events to
a model's audit trail.
"""

from kfp_model_lifecycle.lifecycle.core import (
    CommitOutcome,
    ResolvedVersion,
    commit_lifecycle_event,
    find_model_artifact,
    find_model_by_name,
    find_model_version,
    get_model_version_by_id,
    lifecycle_common_fields,
    lifecycle_property,
    lifecycle_run_actor,
    lifecycle_run_evidence,
    plain_properties,
    resolve_model_reference,
    sync_lifecycle_view,
    utc_timestamp,
    write_text_atomically,
)

__all__ = [
    "CommitOutcome",
    "ResolvedVersion",
    "commit_lifecycle_event",
    "find_model_artifact",
    "find_model_by_name",
    "find_model_version",
    "get_model_version_by_id",
    "lifecycle_common_fields",
    "lifecycle_property",
    "lifecycle_run_actor",
    "lifecycle_run_evidence",
    "plain_properties",
    "resolve_model_reference",
    "sync_lifecycle_view",
    "utc_timestamp",
    "write_text_atomically",
]
