"""The lifecycle's conventions in the Model Registry: stages, default rules and the property names it owns.

The registry itself only knows ``LIVE``/``ARCHIVED``; everything the lifecycle adds is stored in the registry's own
records under keys that start with ``kml`` (see :func:`is_lifecycle_key`), so any client and the registry UI see
it. This module has no dependencies (the CLI reads it to build its help without importing the client).
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """A version's lifecycle stage, in lifecycle order."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class ApprovalStatus(StrEnum):
    """A version's approval for production."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class EventType(StrEnum):
    """The kinds of audit-trail events."""

    STAGE = "stage"
    ALIAS = "alias"
    APPROVAL = "approval"
    REJECTION = "rejection"
    POLICY = "policy"
    DEPLOYMENT = "deployment"


PREFIX = "kml"
STAGES: tuple[str, ...] = tuple(s.value for s in Stage)
INITIAL_STAGE = Stage.DEVELOPMENT.value
APPROVAL_STATUSES: tuple[str, ...] = tuple(s.value for s in ApprovalStatus)
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
DEFAULT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Stage.DEVELOPMENT: (Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED),
    Stage.STAGING: (Stage.DEVELOPMENT, Stage.PRODUCTION, Stage.ARCHIVED),
    Stage.PRODUCTION: (Stage.STAGING, Stage.ARCHIVED),
    Stage.ARCHIVED: (Stage.STAGING, Stage.PRODUCTION),
}
DEFAULT_DEMOTE_TO = Stage.ARCHIVED.value
# Stages a displaced production version may go to.
DEMOTION_STAGES: tuple[str, ...] = (Stage.DEVELOPMENT, Stage.STAGING, Stage.ARCHIVED)
LATEST = "latest"
# Stage names and "latest" already mean something in references (name@production, name@latest).
RESERVED_ALIASES: tuple[str, ...] = (*STAGES, LATEST)

# ModelVersion customProperties
VERSION_STAGE = "kml_stage"
VERSION_STAGE_TIME = "kml_stage_time"
VERSION_APPROVAL_STATUS = "kml_approval_status"
VERSION_APPROVAL_BY = "kml_approval_by"
VERSION_APPROVAL_COMMENT = "kml_approval_comment"
VERSION_APPROVAL_TIME = "kml_approval_time"
# UI labels (string properties with empty values), formatted with the stage, alias or status
LABEL_STAGE = "kml:stage={stage}"
LABEL_ALIAS = "kml:@{alias}"
LABEL_APPROVAL = "kml:approval={status}"

# RegisteredModel customProperties
MODEL_ALIAS_PREFIX = "kml_alias_"
MODEL_ALIAS = MODEL_ALIAS_PREFIX + "{alias}"
MODEL_PRODUCTION_VERSION_ID = "kml_production_version_id"
MODEL_EVENT_SEQ = "kml_event_seq"
MODEL_REQUIRES_APPROVAL = "kml_requires_approval"
MODEL_ALLOWED_TRANSITIONS = "kml_allowed_transitions"
MODEL_DEMOTE_TO = "kml_demote_to"

# Audit events (doc-artifacts)
EVENT_ARTIFACT_TYPE = "doc-artifact"
EVENT_EXTERNAL_ID = "kml-event:{model_id}:{seq}"
EVENT_NAME = "kml-event-{model_id}-{seq:08d}"
# Every field of an event is stored as the customProperty ``kml_event_<field>``.
EVENT_PROPERTY_PREFIX = "kml_event_"
# Event types that only promote, approve and the policy command write (record_lifecycle_event refuses them).
TRANSITION_EVENT_TYPES: tuple[str, ...] = (EventType.STAGE, EventType.ALIAS, EventType.APPROVAL, EventType.POLICY)


def is_lifecycle_key(key: str) -> bool:
    """Whether a ``customProperties`` key belongs to the lifecycle (``kml_...`` data or a ``kml:...`` label).

    Args:
        key: A custom property name.

    Returns:
        True for keys the lifecycle owns and rewrites; all other keys are preserved on every write.
    """
    return isinstance(key, str) and key.startswith((f"{PREFIX}_", f"{PREFIX}:"))
