"""Which model versions a leaderboard compares: explicit references or ids, or a ``filterQuery`` / the newest N.

Explicit versions are resolved through the lifecycle's references (``model:version``, ``model@alias``,
``model`` = its production version); a query is filtered, ordered and paged by the registry (the versions of one
model, or of every model when no model is named). Versions of different models may be mixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.comparison.ranking import list_model_versions_page
from kfp_model_lifecycle.comparison.versions import (
    VersionRecord,
    get_registered_model,
    get_version_with_timestamps,
)
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle import check_text, described, find_model_by_name, resolve_model_reference, shown

MAX_VERSIONS = 500
"""At most this many versions in one leaderboard."""

DEFAULT_FILTER = 'state = "LIVE"'
"""The query when a model (or ``latest``) is given without a ``filter_query``: LIVE versions."""

PAGE_SIZE = 100
"""Versions per registry request."""


@dataclass(frozen=True)
class VersionSelection:
    """Which versions to compare, checked (build it with :meth:`from_inputs`).

    Attributes:
        references: ``model:version``, ``model@alias`` or ``model`` references, in order.
        version_ids: ModelVersion ids (e.g. register_model's ``version_id`` outputs), after the references.
        filter_query: A registry ``filterQuery`` on the versions ("" for :data:`DEFAULT_FILTER`).
        latest: Only the newest N matching versions (0: all, up to :data:`MAX_VERSIONS`).
        model_name: The model whose versions are queried ("" for every model's); also the model of references
            that name none (``:1.0.3``, ``@champion``).
    """

    references: tuple[str, ...] = ()
    version_ids: tuple[str, ...] = ()
    filter_query: str = ""
    latest: int = 0
    model_name: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.latest <= MAX_VERSIONS:
            raise InvalidInputError(f"latest={self.latest!r}: expected 0 (every match) to {MAX_VERSIONS}")
        if self.explicit and (self.filter_query or self.latest):
            raise InvalidInputError(
                "give either references/version_ids or a filter_query/latest, not both: references name the"
                " versions to compare, a filter_query or latest finds them"
            )
        if not self.explicit and not (self.model_name or self.filter_query or self.latest):
            raise InvalidInputError(
                "nothing to compare: pass references (e.g. ['iris:1.0.0', 'iris@champion']), version_ids, or a"
                " model_name with a filter_query (e.g. 'accuracy > 0.9') and/or latest (e.g. 5)"
            )

    @classmethod
    def from_inputs(
        cls,
        *,
        references: Any = None,
        version_ids: Any = None,
        filter_query: str = "",
        latest: Any = 0,
        model_name: str = "",
    ) -> VersionSelection:
        """Check and normalise the inputs.

        Args:
            references: A list of references, or one string (a JSON list, or references separated by commas).
            version_ids: A list of ModelVersion ids (numbers are accepted: ``Collected`` ints arrive as floats).
            filter_query: A registry ``filterQuery``.
            latest: The newest N versions (an integral number).
            model_name: The model to query, and of references that name none.

        Returns:
            The selection.

        Raises:
            InvalidInputError: For inputs that contradict each other or are malformed.
        """
        return cls(
            references=tuple(_texts("references", references)),
            version_ids=tuple(_id_text(item) for item in _texts("version_ids", version_ids)),
            filter_query=check_text(filter_query, "filter_query", example="'accuracy > 0.9'").strip(),
            latest=_count("latest", latest),
            model_name=check_text(model_name, "model_name", example="'iris'").strip(),
        )

    @property
    def explicit(self) -> bool:
        """Whether the versions are named (references or ids) rather than queried."""
        return bool(self.references or self.version_ids)

    @property
    def query(self) -> str:
        """The ``filterQuery`` sent to the registry."""
        return self.filter_query or DEFAULT_FILTER

    def describe(self) -> str:
        """The selection in words, for the reports.

        Returns:
            e.g. ``the 5 newest versions of 'iris' matching state = "LIVE"`` or ``the versions named: iris:1.0.0,
            iris@champion, version ids 7, 9``.
        """
        if self.explicit:
            ids = f"version id{'s' if len(self.version_ids) > 1 else ''} {', '.join(self.version_ids)}"
            return "the versions named: " + ", ".join([*self.references, *([ids] if self.version_ids else [])])
        newest = f"the {self.latest} newest versions" if self.latest else "the versions"
        owner = f" of {self.model_name!r}" if self.model_name else " of every model"
        return f"{newest}{owner} matching {self.query}"


@dataclass(frozen=True)
class SelectedVersions:
    """The versions a selection found (with their models), and what is worth a note.

    Attributes:
        records: One per distinct version, in the order found.
        notes: e.g. a version named twice.
    """

    records: tuple[VersionRecord, ...]
    notes: tuple[str, ...] = ()


def _texts(name: str, value: Any) -> list[str]:
    """A list input as stripped, non-empty strings (a string is a JSON list or comma-separated)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidInputError(f"{name} is not a valid JSON list ({exc})") from None
        else:
            value = text.split(",")
    if isinstance(value, Mapping | bytes | bytearray):
        raise InvalidInputError(f"{name} must be a list, got {described(value)}")
    if isinstance(value, (int, float)) or not isinstance(value, Iterable):
        value = [value]
    items = list(value)
    for i, item in enumerate(items):
        if item is not None and (isinstance(item, bool) or not isinstance(item, str | int | float)):
            raise InvalidInputError(f"{name}[{i}] must be text or a number, got {described(item)}")
    return [text for text in (_plain(item).strip() for item in items) if text]


def _plain(item: Any) -> str:
    """An item as text; an integral float (``12.0``) as an integer."""
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return "" if item is None else str(item)


def _id_text(text: str) -> str:
    if not text.isdigit():
        raise InvalidInputError(
            f"version_ids: {shown(text)} is not a model version id (a number, e.g. register_model's version_id output);"
            " use references for 'model:version'"
        )
    return text


def _count(name: str, value: Any) -> int:
    """A non-negative integral number (KFP passes int defaults as floats)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name}={value!r}: expected a whole number, not a flag")
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}={shown(value)}: expected a whole number") from None
    if not number.is_integer():
        raise InvalidInputError(f"{name}={shown(value)}: expected a whole number")
    return int(number)


def select_versions(conn: RegistryConnection, selection: VersionSelection) -> SelectedVersions:
    """The versions to compare, each with its registered model (no model artifacts are read).

    Args:
        conn: From ``connect_model_registry``.
        selection: What to compare.

    Returns:
        The versions, distinct, in the order named or found.

    Raises:
        NotFoundError: When a reference, id or model does not exist, or no version matched the query.
        InvalidInputError: When a query matches more than :data:`MAX_VERSIONS` versions.
    """
    notes: list[str] = []
    versions = _named_versions(conn, selection, notes) if selection.explicit else _queried_versions(conn, selection)
    if not versions:
        raise NotFoundError(
            f"no model version matched {selection.describe()} in the Model Registry at {conn.url}: check the"
            " model name and the filterQuery (e.g. 'state = \"LIVE\" AND accuracy > 0.9'; `kml models list`"
            " shows the registered models)"
        )
    models: dict[str, dict[str, Any]] = {}
    records = []
    for version in versions:
        model_id = str(version.get("registeredModelId") or "")
        if model_id not in models:
            models[model_id] = get_registered_model(conn, model_id)
        records.append(VersionRecord(models[model_id], version, None))
    return SelectedVersions(tuple(records), tuple(notes))


def _named_versions(conn: RegistryConnection, selection: VersionSelection, notes: list[str]) -> list[dict[str, Any]]:
    """The versions named by reference or id, once each (a repeat is noted and skipped)."""
    named: list[tuple[str, str]] = []
    for reference in selection.references:
        found = resolve_model_reference(
            conn, reference, default_model=selection.model_name, repair=False, with_artifact=False
        )
        named.append((reference, str(found.version["id"])))
    named += [("", vid) for vid in selection.version_ids]
    versions: dict[str, dict[str, Any]] = {}
    for reference, vid in named:
        if vid in versions:
            notes.append(
                f"{reference} is version id {vid}, named before: compared once"
                if reference
                else f"version id {vid} is named twice: compared once"
            )
            continue
        version = get_version_with_timestamps(conn, vid)
        if not version:
            raise NotFoundError(
                f"no model version with id {vid!r} in the Model Registry at {conn.url}: pass register_model's"
                " version_id output, or a reference 'model:version'"
            )
        versions[vid] = version
    return list(versions.values())


def _queried_versions(conn: RegistryConnection, selection: VersionSelection) -> list[dict[str, Any]]:
    """The versions matching the query: the newest ``latest`` ones, or all of them (at most MAX_VERSIONS)."""
    model_id = str(find_model_by_name(conn, selection.model_name)["id"]) if selection.model_name else ""
    wanted = selection.latest or MAX_VERSIONS + 1
    found: list[dict[str, Any]] = []
    token = None
    while len(found) < wanted:
        page = list_model_versions_page(
            conn,
            model_id,
            filter_query=selection.query,
            page_size=min(PAGE_SIZE, wanted - len(found)),
            order_by="CREATE_TIME" if selection.latest else "ID",
            descending=bool(selection.latest),
            token=token,
        )
        found += page.get("items") or []
        token = page.get("nextPageToken") or None
        if not token or not page.get("items"):
            break
    if len(found) > MAX_VERSIONS:
        raise InvalidInputError(
            f"{selection.describe()} matches more than {MAX_VERSIONS} versions: narrow the filter_query, or"
            " compare only the newest with latest (e.g. 20)"
        )
    return found[:wanted]
