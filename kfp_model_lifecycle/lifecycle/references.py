"""Model references (``name``, ``name:VERSION``, ``name@ALIAS``, ``name@STAGE``, ``name@latest``) and their targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle.completeness import incomplete_version_error, newest_complete
from kfp_model_lifecycle.lifecycle.conventions import (
    LATEST,
    MODEL_ALIAS,
    MODEL_ALIAS_PREFIX,
    MODEL_PRODUCTION_VERSION_ID,
    STAGES,
    VERSION_STAGE,
    VERSION_STAGE_TIME,
    Stage,
)
from kfp_model_lifecycle.lifecycle.freshness import CurrentView, current_version, current_view
from kfp_model_lifecycle.lifecycle.inputs import check_text, shown
from kfp_model_lifecycle.lifecycle.names import check_alias_name
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.registry import (
    find_model_artifact,
    find_model_by_name,
    find_model_version,
    get_model_version_by_id,
    list_model_versions,
)
from kfp_model_lifecycle.lifecycle.state import LifecycleState

MAX_NAME_CHARS = 255
"""No model or version name the registry stores is longer (its name columns hold 255 characters)."""
REFERENCE_EXAMPLE = "'iris:1.0.3' or 'iris@champion'"


class ReferenceKind(StrEnum):
    """How a reference selects a version."""

    DEFAULT = "default"  # no selector: the production version
    VERSION = "version"
    ALIAS = "alias"
    STAGE = "stage"
    LATEST = "latest"


@dataclass(frozen=True)
class ModelReference:
    """A parsed model reference.

    Attributes:
        model: The registered model's name.
        kind: How the version is selected.
        value: The version name, alias or stage ("" for ``default``, ``latest`` for ``latest``).
    """

    model: str
    kind: ReferenceKind
    value: str


@dataclass
class ResolvedVersion:
    """The model version a reference points at (entities in wire form, as the registry returns them).

    Attributes:
        model: The RegisteredModel.
        version: The ModelVersion.
        artifact: Its ModelArtifact, or None (not looked up, or none linked).
        reference: The canonical ``name:version``.
        selector: How it was found, e.g. ``alias champion`` or ``stage production``.
        complete: Whether the version has its model artifact (None when not looked up).
        state: The audit trail's state when the stored view was behind and was read through (None otherwise).
    """

    model: dict[str, Any]
    version: dict[str, Any]
    artifact: dict[str, Any] | None
    reference: str
    selector: str
    complete: bool | None = None
    state: LifecycleState | None = None


def _selector(reference: str, text: str) -> tuple[str, ReferenceKind, str]:
    """Split ``text`` into model, kind and value (the model may still be empty)."""
    if "@" in text:
        model, _, value = text.rpartition("@")
        value = value.strip()
        if not value:
            raise InvalidInputError(
                f"model reference {shown(reference)} ends with '@': write name@ALIAS, e.g. 'iris@champion'"
            )
        if value.lower() in STAGES:
            return model, ReferenceKind.STAGE, value.lower()
        if value.lower() == LATEST:
            return model, ReferenceKind.LATEST, LATEST
        return model, ReferenceKind.ALIAS, value
    if ":" in text:
        model, _, value = text.partition(":")
        value = value.strip()
        if not value:
            raise InvalidInputError(
                f"model reference {shown(reference)} ends with ':': write name:VERSION, e.g. 'iris:1.0.3'"
            )
        return model, ReferenceKind.VERSION, value
    return text, ReferenceKind.DEFAULT, ""


def parse_model_reference(reference: str, default_model: str = "") -> ModelReference:
    """Split a model reference into model name and selector.

    Forms: ``name`` (the production version), ``name:VERSION`` (a version name), ``name@ALIAS`` (an alias),
    ``name@production``/``@staging``/``@development``/``@archived`` (the newest version in that stage),
    ``name@latest`` (the newest version). With ``default_model``, the name may be left out: ``:1.0.3``,
    ``@champion``, ``""``. Model names containing ``:`` or ``@`` cannot be written as references: pass the model
    name and version separately.

    Args:
        reference: The reference.
        default_model: Model name used when the reference has none.

    Returns:
        The model name, the kind of selector and its value.

    Raises:
        InvalidInputError: For a reference that is not text, an empty reference without ``default_model``, an empty
            version or alias, or a name longer than the registry stores (a ``ValueError``).
    """
    text = check_text(reference, "model reference", example=REFERENCE_EXAMPLE)
    model, kind, value = _selector(text, text.strip())
    model = model.strip() or check_text(default_model, "default model name", example="'iris'").strip()
    if not model:
        raise InvalidInputError(
            f"model reference {shown(text)} names no model: write 'name', 'name:VERSION' or 'name@ALIAS'"
            " (e.g. 'iris-classifier@champion')"
        )
    for part, what in ((model, "model name"), (value, "version or alias")):
        if len(part) > MAX_NAME_CHARS:
            raise InvalidInputError(
                f"the {what} in model reference {shown(text)} is {len(part)} characters long: the Model Registry"
                f" stores at most {MAX_NAME_CHARS}, so no such model exists; check the reference"
            )
    return ModelReference(model=model, kind=kind, value=value)


def format_model_reference(model_name: str, version_name: str) -> str:
    """The canonical reference ``name:version`` of a model version.

    Args:
        model_name: Registered model name.
        version_name: Version name.

    Returns:
        ``name:version`` ("" when either is empty).
    """
    if not model_name or not version_name:
        return ""
    return f"{model_name}:{version_name}"


def model_aliases(model: Mapping[str, Any]) -> dict[str, str]:
    """The aliases of a model as its view records them.

    Args:
        model: The RegisteredModel in wire form.

    Returns:
        Alias -> version id, sorted by alias.
    """
    props = plain_properties(model)
    return {k[len(MODEL_ALIAS_PREFIX) :]: str(v) for k, v in sorted(props.items()) if k.startswith(MODEL_ALIAS_PREFIX)}


# Each resolver: (conn, view of the model, name, value, reference) -> (version, selector).
_Resolver = Callable[[RegistryConnection, CurrentView, str, str, str], tuple[Wire, str]]


def _by_version(conn: RegistryConnection, view: CurrentView, name: str, value: str, reference: str) -> tuple[Wire, str]:
    return find_model_version(conn, view.model, value), f"version {value}"


def _by_alias(conn: RegistryConnection, view: CurrentView, name: str, value: str, reference: str) -> tuple[Wire, str]:
    alias = check_alias_name(value)
    holder = str(plain_properties(view.model).get(MODEL_ALIAS.format(alias=alias)) or "")
    if not holder:
        existing = list(model_aliases(view.model))
        hint = f"its aliases are {', '.join('@' + a for a in existing)}" if existing else "it has no aliases yet"
        raise NotFoundError(
            f"registered model {name!r} has no alias {alias!r}: {hint}; set one with promote_model (aliases=...)"
            f" or `kml models promote {name}:VERSION --alias {alias}`"
        )
    version = get_model_version_by_id(conn, holder)
    if version is None:
        raise NotFoundError(
            f"alias {name}@{alias} points at model version id {holder}, which does not exist: set the alias"
            f" again (`kml models promote {name}:VERSION --alias {alias}`)"
        )
    return version, f"alias {alias}"


def _production(conn: RegistryConnection, view: CurrentView, name: str, value: str, reference: str) -> tuple[Wire, str]:
    holder = str(plain_properties(view.model).get(MODEL_PRODUCTION_VERSION_ID) or "")
    if not holder:
        raise NotFoundError(
            f"registered model {name!r} has no version in production, so {shown(reference)} points at nothing:"
            f" reference a version ({name}:VERSION) or an alias ({name}@ALIAS), or promote a version first"
            f" (`kml models promote {name}:VERSION --stage production`)"
        )
    version = get_model_version_by_id(conn, holder)
    if version is None:
        raise NotFoundError(
            f"the production pointer of {name!r} names model version id {holder}, which does not exist:"
            f" promote a version to production again"
        )
    return version, "stage production"


def _newest_in_stage(
    conn: RegistryConnection, view: CurrentView, name: str, value: str, reference: str
) -> tuple[Wire, str]:
    if value == Stage.PRODUCTION:
        return _production(conn, view, name, value, reference)
    listed = [current_version(v, view) for v in list_model_versions(conn, view.model)]
    candidates = [v for v in listed if plain_properties(v).get(VERSION_STAGE) == value]
    if not candidates:
        raise NotFoundError(
            f"registered model {name!r} has no version in stage {value!r}: `kml models show {name}` lists its"
            " versions and stages"
        )
    version = max(candidates, key=lambda v: (str(plain_properties(v).get(VERSION_STAGE_TIME) or ""), int(v["id"])))
    return version, f"stage {value}"


def _latest(conn: RegistryConnection, view: CurrentView, name: str, value: str, reference: str) -> tuple[Wire, str]:
    versions = list_model_versions(conn, view.model)
    if not versions:
        raise NotFoundError(f"registered model {name!r} has no versions yet: register one first")
    newest, skipped = newest_complete(conn, versions)
    if newest is None:
        raise NotFoundError(
            f"registered model {name!r} has no complete version: the registrations of"
            f" {', '.join(str(v.get('name')) for v in skipped[:5])} did not finish (no model artifact); re-run the"
            " task that registered one to complete it"
        )
    return newest, "latest" + (
        f" (skipped incomplete {', '.join(str(v.get('name')) for v in skipped)})" if skipped else ""
    )


_RESOLVERS: dict[ReferenceKind, _Resolver] = {
    ReferenceKind.DEFAULT: _production,
    ReferenceKind.VERSION: _by_version,
    ReferenceKind.ALIAS: _by_alias,
    ReferenceKind.STAGE: _newest_in_stage,
    ReferenceKind.LATEST: _latest,
}


def resolve_model_reference(
    conn: RegistryConnection,
    reference: str,
    *,
    default_model: str = "",
    repair: bool = True,
    with_artifact: bool = True,
    allow_incomplete: bool = False,
    purpose: str = "used",
) -> ResolvedVersion:
    """Find the model version a reference points at.

    References: ``name`` (the production version), ``name:VERSION``, ``name@ALIAS``, ``name@production`` (same as
    ``name``), ``name@staging``/``@development``/``@archived`` (the version most recently moved to that stage),
    ``name@latest`` (the newest COMPLETE version: versions whose registration did not finish are passed over).
    Aliases, stages and the production pointer are what the whole audit trail says: a view left behind by a
    writer that died is repaired first (``repair``), or read through.

    Args:
        conn: From ``connect_model_registry``.
        reference: The reference.
        default_model: Model name for references without one (``@champion``, ``:1.0.3``, "").
        repair: Store a view that is behind its audit trail (one extra request when it is current); False reads
            through it without writing.
        with_artifact: Also look up the version's model artifact, and refuse a version without one (incomplete:
            its registration did not finish) unless ``allow_incomplete``.
        allow_incomplete: Return an incomplete version (``complete`` False) instead of refusing it.
        purpose: What the version is resolved for, in the refusal (e.g. ``deployed``).

    Returns:
        The model, version and (with ``with_artifact``) model artifact, with the canonical reference.

    Raises:
        NotFoundError: Unknown model (similar names listed), version, alias (existing aliases listed), no version in
            the requested stage, or (with ``with_artifact``) an incomplete version (a ``LookupError``).
        InvalidInputError: For a malformed reference (a ``ValueError``).
    """
    ref = parse_model_reference(reference, default_model)
    view = current_view(conn, find_model_by_name(conn, ref.model), repair=repair)
    model = view.model
    name = str(model.get("name") or ref.model)
    version, selector = _RESOLVERS[ref.kind](conn, view, name, ref.value, reference)
    if str(version.get("registeredModelId") or model["id"]) != str(model["id"]):
        raise NotFoundError(
            f"{shown(reference)} resolved to model version id {version.get('id')}, which belongs to another registered"
            f" model (id {version.get('registeredModelId')}): repair the lifecycle view with `kml models repair {name}`"
        )
    canonical = format_model_reference(name, str(version.get("name") or ""))
    artifact = find_model_artifact(conn, version) if with_artifact else None
    if with_artifact and artifact is None and not allow_incomplete:
        raise incomplete_version_error(canonical, purpose)
    return ResolvedVersion(
        model=model,
        version=current_version(version, view),
        artifact=artifact,
        reference=canonical,
        selector=selector,
        complete=(artifact is not None) if with_artifact else None,
        state=view.state,
    )
