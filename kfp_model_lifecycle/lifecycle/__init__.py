"""Stages, aliases, approvals and the audit trail on the Kubeflow Model Registry.

What other parts of the package use is imported from here (not from the modules inside), so the modules can be
arranged freely: reading models and versions, resolving references, the property codec, and appending events to
a model's audit trail. The names load on first use, so importing :mod:`kfp_model_lifecycle.lifecycle.conventions`
alone (as the CLI does for its help) does not load the registry client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# name -> module that defines it
_EXPORTS = {
    "CommitOutcome": "core",
    "ResolvedVersion": "core",
    "commit_lifecycle_event": "core",
    "find_model_artifact": "core",
    "find_model_by_name": "core",
    "find_model_version": "core",
    "get_model_version_by_id": "core",
    "lifecycle_common_fields": "core",
    "lifecycle_property": "core",
    "lifecycle_run_actor": "core",
    "lifecycle_run_evidence": "core",
    "plain_properties": "core",
    "resolve_model_reference": "core",
    "sync_lifecycle_view": "core",
    "utc_timestamp": "core",
    "write_text_atomically": "core",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
