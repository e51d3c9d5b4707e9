"""Reading the registry for people: models and versions with their create/update times, and their table rows.

The rows are what ``kml models list/search/show/history`` print (``to_dict()`` is their ``--json`` form).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire, to_wire
from kfp_model_lifecycle.lifecycle.conventions import (
    INITIAL_STAGE,
    PREFIX,
    VERSION_APPROVAL_STATUS,
    VERSION_STAGE,
)
from kfp_model_lifecycle.lifecycle.describe import describe_change
from kfp_model_lifecycle.lifecycle.inputs import shown
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.references import format_model_reference, model_aliases

# Version properties that are lineage rather than metrics (register_model's conventions).
LINEAGE_KEYS = ("code_version", "training_image")
LINEAGE_PREFIXES = ("kfp_", "dataset_", "model_meta_")
HYPERPARAMETER_PREFIX = "hp_"
# Type-specific event fields shown in history rows when set.
_EVENT_EXTRAS = ("alias", "demoted_version", "demoted_to", "rollback", "refusal", "requested", "conflicts")


def _wire(obj: Any) -> Wire:
    """An entity of the generated client in wire form, with the timestamps its ``to_json`` leaves out."""
    data = to_wire(obj)
    for attr, key in (
        ("create_time_since_epoch", "createTimeSinceEpoch"),
        ("last_update_time_since_epoch", "lastUpdateTimeSinceEpoch"),
    ):
        value = getattr(obj, attr, None)
        if value is not None:
            data[key] = str(value)
    return data


async def _timed(call: Awaitable[Any]) -> Wire:
    """Await a get or list call of the generated client; return wire form including timestamps."""
    result = await call
    items = getattr(result, "items", None)
    if isinstance(items, list):
        return {"items": [_wire(i) for i in items], "nextPageToken": getattr(result, "next_page_token", "") or ""}
    return _wire(result)


def _matching(filter_query: str | None) -> str:
    return f" matching {shown(filter_query)}" if filter_query else ""


def list_all_versions(conn: RegistryConnection, filter_query: str | None = None) -> list[Wire]:
    """Every model version in the registry (that matches ``filter_query``), with timestamps.

    Args:
        conn: A registry connection.
        filter_query: A registry ``filterQuery``, or None for all.

    Returns:
        ModelVersions in wire form, by id.
    """
    return conn.list_all(
        "list model versions" + _matching(filter_query),
        lambda api, token: _timed(
            api.get_model_versions(filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token)
        ),
    )


def list_all_models(conn: RegistryConnection, filter_query: str | None = None) -> list[Wire]:
    """Every registered model (that matches ``filter_query``), with timestamps.

    Args:
        conn: A registry connection.
        filter_query: A registry ``filterQuery``, or None for all.

    Returns:
        RegisteredModels in wire form, by id.
    """
    return conn.list_all(
        "list registered models" + _matching(filter_query),
        lambda api, token: _timed(
            api.get_registered_models(filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token)
        ),
    )


def list_versions_of(conn: RegistryConnection, model: Mapping[str, Any], filter_query: str | None = None) -> list[Wire]:
    """The versions of one model (that match ``filter_query``), with timestamps.

    Args:
        conn: A registry connection.
        model: The RegisteredModel in wire form.
        filter_query: A registry ``filterQuery``, or None for all.

    Returns:
        ModelVersions in wire form, by id.
    """
    model_id = str(model["id"])
    return conn.list_all(
        f"list versions of {model.get('name')!r}" + _matching(filter_query),
        lambda api, token: _timed(
            api.get_registered_model_versions(
                model_id, filter_query=filter_query, page_size="500", order_by="ID", next_page_token=token
            )
        ),
    )


def get_timed_model(conn: RegistryConnection, model_id: str) -> Wire:
    """A registered model with its timestamps ({} when it cannot be read).

    Args:
        conn: A registry connection.
        model_id: Its id.

    Returns:
        The RegisteredModel in wire form.
    """
    return conn.call(f"get registered model {model_id}", lambda api: _timed(api.get_registered_model(model_id))) or {}


def get_timed_version(conn: RegistryConnection, version_id: str) -> Wire:
    """A model version with its timestamps ({} when it cannot be read).

    Args:
        conn: A registry connection.
        version_id: Its id.

    Returns:
        The ModelVersion in wire form.
    """
    return conn.call(f"get model version {version_id}", lambda api: _timed(api.get_model_version(version_id))) or {}


def format_ms(value: Any) -> str:
    """Epoch milliseconds (as the registry gives them) as ``YYYY-MM-DD HH:MM:SS`` in UTC.

    Args:
        value: Milliseconds since the epoch, as int or text.

    Returns:
        The time, or "" when ``value`` is not a time.
    """
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return ""


def version_metrics(props: Mapping[str, Any]) -> dict[str, float]:
    """The metrics among a version's properties: float values that are not lifecycle, hyperparameter or lineage.

    Args:
        props: Plain properties (see ``plain_properties``).

    Returns:
        Metric name -> value, sorted by name.
    """
    skipped = (f"{PREFIX}_", f"{PREFIX}:", HYPERPARAMETER_PREFIX, *LINEAGE_PREFIXES)
    return {
        k: v
        for k, v in sorted(props.items())
        if isinstance(v, float) and not k.startswith(skipped) and k not in LINEAGE_KEYS
    }


@dataclass(frozen=True)
class VersionRow:
    """A model version at a glance.

    Attributes:
        model: The registered model's name.
        model_id: Its id.
        version: The version's name.
        version_id: Its id.
        reference: ``name:version``.
        stage: Its stage (``development`` when it never moved).
        aliases: Its aliases, sorted.
        approval: Its approval status ("" when none).
        state: ``LIVE`` or ``ARCHIVED``.
        author: Its author.
        created: When it was created (UTC).
        metrics: Its metrics.
        complete: Whether it has its model artifact (False: its registration did not finish; not usable).
    """

    model: str
    model_id: str
    version: str
    version_id: str
    reference: str
    stage: str
    aliases: list[str]
    approval: str
    state: str
    author: str
    created: str
    metrics: dict[str, float]
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)


def aliases_by_version(models: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Which aliases point at each version, from the models' views.

    Args:
        models: RegisteredModels in wire form.

    Returns:
        Version id -> its aliases.
    """
    found: dict[str, list[str]] = {}
    for model in models:
        for alias, vid in model_aliases(model).items():
            found.setdefault(vid, []).append(alias)
    return found


def version_row(
    model: Mapping[str, Any], version: Mapping[str, Any], aliases: Mapping[str, list[str]], *, complete: bool = True
) -> VersionRow:
    """The row of one version.

    Args:
        model: Its RegisteredModel in wire form.
        version: The ModelVersion in wire form (with timestamps).
        aliases: From :func:`aliases_by_version`.
        complete: Whether it has its model artifact.

    Returns:
        The row.
    """
    props = plain_properties(version)
    vid = str(version.get("id"))
    model_name, version_name = str(model.get("name") or ""), str(version.get("name") or "")
    return VersionRow(
        model=model_name,
        model_id=str(model.get("id") or ""),
        version=version_name,
        version_id=vid,
        reference=format_model_reference(model_name, version_name),
        stage=props.get(VERSION_STAGE) or INITIAL_STAGE,
        aliases=sorted(aliases.get(vid, [])),
        approval=props.get(VERSION_APPROVAL_STATUS) or "",
        state=str(version.get("state") or ""),
        author=str(version.get("author") or ""),
        created=format_ms(version.get("createTimeSinceEpoch")),
        metrics=version_metrics(props),
        complete=complete,
    )


def event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """An audit-trail event as a history row (the event's common fields, its description and the set extras).

    Events keep their open set of type-specific fields, so rows are dicts like the events themselves.

    Args:
        event: A decoded event.

    Returns:
        ``seq``, ``time``, ``type``, ``version``, ``version_id``, ``from``, ``to``, ``actor``, ``reason``,
        ``evidence``, ``description`` and the type-specific fields that are set.
    """
    row = {
        "seq": int(event.get("seq") or 0),
        "time": event.get("time") or "",
        "type": event.get("type") or "",
        "version": event.get("version") or "",
        "version_id": event.get("version_id") or "",
        "from": event.get("from") or "",
        "to": event.get("to") or "",
        "actor": event.get("actor") or "",
        "reason": event.get("reason") or "",
        "evidence": dict(event.get("evidence") or {}),
        "description": describe_change(event),
    }
    for key in _EVENT_EXTRAS:
        if event.get(key):
            row[key] = event[key]
    return row


@dataclass(frozen=True)
class HistoryEvent:
    """One audit-trail entry, typed (``kml models history`` prints these; ``to_dict()`` is its ``--json`` row).

    Attributes:
        seq: Its number in the model's trail (1, 2, ...).
        time: When (UTC, ISO 8601).
        type: ``stage``, ``alias``, ``approval``, ``rejection``, ``policy`` or ``deployment``.
        version: The version's name ("" for model-level events).
        version_id: Its id.
        from_value: What it was before (a stage, an approval status...); the row's ``from``.
        to_value: What it became; the row's ``to``.
        actor: Who.
        reason: Why, in full.
        evidence: Run, report URI and other evidence.
        description: The change in words.
        details: The type-specific fields that are set (``alias``, ``demoted_version``, ``rollback``...).
    """

    seq: int
    time: str
    type: str
    version: str
    version_id: str
    from_value: str
    to_value: str
    actor: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HistoryEvent:
        """The event of a history row.

        Args:
            row: From :func:`event_row`.

        Returns:
            The typed event.
        """
        return cls(
            seq=int(row.get("seq") or 0),
            time=str(row.get("time") or ""),
            type=str(row.get("type") or ""),
            version=str(row.get("version") or ""),
            version_id=str(row.get("version_id") or ""),
            from_value=str(row.get("from") or ""),
            to_value=str(row.get("to") or ""),
            actor=str(row.get("actor") or ""),
            reason=str(row.get("reason") or ""),
            evidence=dict(row.get("evidence") or {}),
            description=str(row.get("description") or ""),
            details={key: row[key] for key in _EVENT_EXTRAS if key in row},
        )

    @property
    def evidence_uri(self) -> str:
        """The report URI among the evidence ("" when none)."""
        return str(self.evidence.get("report_uri") or "")

    def to_dict(self) -> dict[str, Any]:
        """The event as its history row (the ``kml models history --json`` form).

        Returns:
            ``seq``, ``time``, ``type``, ``version``, ``version_id``, ``from``, ``to``, ``actor``, ``reason``,
            ``evidence``, ``description`` and the set type-specific fields.
        """
        row = {
            "seq": self.seq,
            "time": self.time,
            "type": self.type,
            "version": self.version,
            "version_id": self.version_id,
            "from": self.from_value,
            "to": self.to_value,
            "actor": self.actor,
            "reason": self.reason,
            "evidence": dict(self.evidence),
            "description": self.description,
        }
        return row | dict(self.details)
