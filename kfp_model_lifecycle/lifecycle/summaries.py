"""What ``kml models list/show`` and ``Lifecycle.models/model/get`` return: models and versions at a glance or in full.

Each is a dataclass whose ``to_dict()`` is the ``--json`` form; :mod:`.queries` builds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kfp_model_lifecycle.lifecycle.catalog import VersionRow
from kfp_model_lifecycle.lifecycle.policy import LifecyclePolicy


@dataclass(frozen=True)
class ModelSummary:
    """A registered model's lifecycle at a glance.

    Attributes:
        name: The model's name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        owner: Its owner.
        versions: How many versions it has.
        production: The production version's name ("" when none).
        aliases: Alias -> version name.
        requires_approval: Whether production needs an approval.
        latest: The newest complete version's name ("" when none).
        updated: When it was last updated (UTC).
        incomplete: Versions newer than ``latest`` whose registration did not finish (no model artifact), newest
            first.
    """

    name: str
    id: str
    state: str
    owner: str
    versions: int
    production: str
    aliases: dict[str, str]
    requires_approval: bool
    latest: str
    updated: str
    incomplete: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """A registered model's own fields.

    Attributes:
        name: Its name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        owner: Its owner.
        description: Its description.
        created: When it was created (UTC).
        updated: When it was last updated (UTC).
    """

    name: str
    id: str
    state: str
    owner: str
    description: str
    created: str
    updated: str


@dataclass(frozen=True)
class VersionInfo:
    """A model version's own fields.

    Attributes:
        name: Its name.
        id: Its id.
        state: ``LIVE`` or ``ARCHIVED``.
        author: Its author.
        description: Its description.
        created: When it was created (UTC).
        updated: When it was last updated (UTC).
    """

    name: str
    id: str
    state: str
    author: str
    description: str
    created: str
    updated: str


@dataclass(frozen=True)
class ShownApproval:
    """A version's approval as its view shows it.

    Attributes:
        status: ``approved``, ``rejected`` or ``pending``.
        by: Who decided.
        comment: Why.
        time: When (UTC, ISO 8601).
    """

    status: str
    by: str
    comment: str
    time: str


@dataclass(frozen=True)
class ModelOverview:
    """``kml models show NAME``: a registered model, its policy, versions and recent history.

    Attributes:
        model: The model's own fields.
        policy: Its lifecycle policy.
        production: The production version's name ("" when none).
        aliases: Alias -> version name.
        versions: One row per version.
        events: How many events its audit trail has.
        recent_events: The last ten, as history rows.
        kind: ``model``.
    """

    model: ModelInfo
    policy: LifecyclePolicy
    production: str
    aliases: dict[str, str]
    versions: list[VersionRow]
    events: int
    recent_events: list[dict[str, Any]]
    kind: str = field(default="model", init=False)

    def to_dict(self) -> dict[str, Any]:
        """The overview as JSON-ready data.

        Returns:
            Every field, nested ones as dicts.
        """
        return asdict(self)


@dataclass(frozen=True)
class VersionDetails:
    """``kml models show NAME:VERSION`` (or any version reference): one version in full.

    Attributes:
        reference: ``name:version``.
        resolved_by: How the reference was resolved, e.g. ``alias champion``.
        model: The registered model's name.
        model_id: Its id.
        version: The version's own fields.
        stage: Its stage.
        stage_time: When it got there.
        aliases: Its aliases, sorted.
        approval: Its approval, or None.
        metrics: Its metrics.
        hyperparameters: Its hyperparameters (``hp_*`` properties, without the prefix).
        lineage: Run, datasets, code and artifact source properties.
        artifact: Its model artifact's uri, format and storage fields.
        labels: Its labels (properties with empty values that are not the lifecycle's).
        properties: Its other properties.
        history: The events about it, as history rows.
        kind: ``version``.
        complete: Whether it has its model artifact (False: its registration did not finish; it cannot be
            promoted, approved or deployed until the task that registered it runs again).
    """

    reference: str
    resolved_by: str
    model: str
    model_id: str
    version: VersionInfo
    stage: str
    stage_time: str
    aliases: list[str]
    approval: ShownApproval | None
    metrics: dict[str, float]
    hyperparameters: dict[str, Any]
    lineage: dict[str, Any]
    artifact: dict[str, Any]
    labels: list[str]
    properties: dict[str, Any]
    history: list[dict[str, Any]]
    kind: str = field(default="version", init=False)
    complete: bool = True

    @property
    def name(self) -> str:
        """The registered model's name."""
        return self.model

    @property
    def version_name(self) -> str:
        """The version's name, e.g. ``1.0.3``."""
        return self.version.name

    @property
    def id(self) -> str:
        """The version's id."""
        return self.version.id

    @property
    def model_uri(self) -> str:
        """The model artifact's URI ("" when the version has no model artifact)."""
        return str(self.artifact.get("uri") or "")

    def to_dict(self) -> dict[str, Any]:
        """The details as JSON-ready data.

        Returns:
            Every field, nested ones as dicts.
        """
        return asdict(self)
