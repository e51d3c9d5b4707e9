"""Stages, aliases, approvals and the audit trail on the Kubeflow Model Registry.

The registry itself only knows ``LIVE``/``ARCHIVED``; everything the lifecycle adds is stored in the registry's
own records under keys starting with ``kml`` (see :mod:`.conventions`), so any client and the registry UI see it.
The audit trail (one doc-artifact per event, appended with a compare-and-set on its unique externalId) is the
source of truth; the properties and labels on versions and models are a view of it that every writer and reader
repairs when it is stale.

Modules, by concern: :mod:`.conventions` (stages, key names), :mod:`.properties` (the ``MetadataValue`` codec),
:mod:`.names` (checking names), :mod:`.registry` (reading models and versions), :mod:`.references` (``name@alias``
and friends), :mod:`.policy`, :mod:`.events` and :mod:`.describe` (the audit trail), :mod:`.state` (its fold),
:mod:`.view` (the materialized view), :mod:`.planning` (deciding transitions), :mod:`.commit` (appending them),
:mod:`.promotion`, :mod:`.approval` and :mod:`.audit` (the operations) with :mod:`.results`, :mod:`.provenance`
(who and why), :mod:`.reports`, :mod:`.run`, :mod:`.recording` and :mod:`.tasks` (the component jobs),
:mod:`.queries`, :mod:`.summaries`, :mod:`.catalog`, :mod:`.search` and :mod:`.actions` (the Python API behind
``kml models``), :mod:`.freshness` (reading through a view a crashed writer left behind), :mod:`.completeness`
(versions whose registration did not finish) and :mod:`.inputs` (checking what callers pass, for every area).
:mod:`.core` only re-exports a few names for callers of the former single module.

What other parts of the package use is imported from here (not from the modules inside), so the modules can be
arranged freely. The names load on first use, so importing :mod:`kfp_model_lifecycle.lifecycle.conventions`
alone (as the CLI does for its help) does not load the registry client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kfp_model_lifecycle.lifecycle.approval import approve_model_version
    from kfp_model_lifecycle.lifecycle.audit import lifecycle_history, record_lifecycle_event
    from kfp_model_lifecycle.lifecycle.commit import CommitOutcome, commit_lifecycle_event
    from kfp_model_lifecycle.lifecycle.completeness import INCOMPLETE_NOTE, MODEL_ARTIFACT_VERSION_ID
    from kfp_model_lifecycle.lifecycle.inputs import (
        check_finite_metrics,
        check_flag,
        check_mapping,
        check_number,
        check_optional_flag,
        check_required_text,
        check_text,
        check_text_list,
        described,
        shown,
    )
    from kfp_model_lifecycle.lifecycle.policy import set_lifecycle_policy
    from kfp_model_lifecycle.lifecycle.promotion import promote_model_version
    from kfp_model_lifecycle.lifecycle.properties import lifecycle_property, plain_properties, utc_timestamp
    from kfp_model_lifecycle.lifecycle.provenance import (
        lifecycle_common_fields,
        lifecycle_run_actor,
        lifecycle_run_evidence,
    )
    from kfp_model_lifecycle.lifecycle.references import ResolvedVersion, resolve_model_reference
    from kfp_model_lifecycle.lifecycle.registry import (
        find_model_artifact,
        find_model_by_name,
        find_model_version,
        get_model_version_by_id,
    )
    from kfp_model_lifecycle.lifecycle.reports import write_text_atomically
    from kfp_model_lifecycle.lifecycle.view import sync_lifecycle_view

# name -> module that defines it
_EXPORTS = {
    # the cross-area API
    "CommitOutcome": "commit",
    "ResolvedVersion": "references",
    "commit_lifecycle_event": "commit",
    "find_model_artifact": "registry",
    "find_model_by_name": "registry",
    "find_model_version": "registry",
    "get_model_version_by_id": "registry",
    "lifecycle_common_fields": "provenance",
    "lifecycle_property": "properties",
    "lifecycle_run_actor": "provenance",
    "lifecycle_run_evidence": "provenance",
    "plain_properties": "properties",
    "resolve_model_reference": "references",
    "sync_lifecycle_view": "view",
    "utc_timestamp": "properties",
    "write_text_atomically": "reports",
    # checking inputs and what every area says about incomplete versions
    "INCOMPLETE_NOTE": "completeness",
    "MODEL_ARTIFACT_VERSION_ID": "completeness",
    "check_finite_metrics": "inputs",
    "check_flag": "inputs",
    "check_mapping": "inputs",
    "check_number": "inputs",
    "check_optional_flag": "inputs",
    "check_required_text": "inputs",
    "check_text": "inputs",
    "check_text_list": "inputs",
    "described": "inputs",
    "shown": "inputs",
    # the lifecycle's operations, for Python callers
    "approve_model_version": "approval",
    "lifecycle_history": "audit",
    "promote_model_version": "promotion",
    "record_lifecycle_event": "audit",
    "set_lifecycle_policy": "policy",
}

__all__ = [
    "INCOMPLETE_NOTE",
    "MODEL_ARTIFACT_VERSION_ID",
    "CommitOutcome",
    "ResolvedVersion",
    "approve_model_version",
    "check_finite_metrics",
    "check_flag",
    "check_mapping",
    "check_number",
    "check_optional_flag",
    "check_required_text",
    "check_text",
    "check_text_list",
    "commit_lifecycle_event",
    "described",
    "find_model_artifact",
    "find_model_by_name",
    "find_model_version",
    "get_model_version_by_id",
    "lifecycle_common_fields",
    "lifecycle_history",
    "lifecycle_property",
    "lifecycle_run_actor",
    "lifecycle_run_evidence",
    "plain_properties",
    "promote_model_version",
    "record_lifecycle_event",
    "resolve_model_reference",
    "set_lifecycle_policy",
    "shown",
    "sync_lifecycle_view",
    "utc_timestamp",
    "write_text_atomically",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
