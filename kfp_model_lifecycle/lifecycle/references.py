"""Model references (``name``, ``name:VERSION``, ``name@ALIAS``, ``name@STAGE``, ``name@latest``) and their targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
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
from kfp_model_lifecycle.lifecycle.names import check_alias_name
from kfp_model_lifecycle.lifecycle.properties import plain_properties
from kfp_model_lifecycle.lifecycle.registry import (
    find_model_artifact,
    find_model_by_name,
    find_model_version,
    get_model_version_by_id,
    list_model_versions,
)
from kfp_model_lifecycle.lifecycle.view import repair_lifecycle_view_if_stale


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
    """

    model: dict[str, Any]
    version: dict[str, Any]
    artifact: dict[str, Any] | None
    reference: str
    selector: str


def _selector(reference: str, text: str) -> tuple[str, ReferenceKind, str]:
    """Split ``text`` into model, kind and value (the model may still be empty)."""
    if "@" in text:
        model, _, value = text.rpartition("@")
        value = value.strip()
        if not value:
            raise InvalidInputError(
                f"model reference {reference!r} ends with '@': write name@ALIAS, e.g. 'iris@champion'"
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
                f"model reference {reference!r} ends with ':': write name:VERSION, e.g. 'iris:1.0.3'"
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
        InvalidInputError: For an empty reference without ``default_model``, or an empty version or alias (a
            ``ValueError``).
    """
    model, kind, value = _selector(reference, (reference or "").strip())
    model = model.strip() or (default_model or "").strip()
    if not model:
        raise InvalidInputError(
            f"model reference {reference!r} names no model: write 'name', 'name:VERSION' or 'name@ALIAS'"
            " (e.g. 'iris-classifier@champion')"
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


# Each resolver: (conn, model, name, value, reference) -> (version, selector).
_Resolver = Callable[[RegistryConnection, Wire, str, str, str], tuple[Wire, str]]


def _by_version(conn: RegistryConnection, model: Wire, name: str, value: str, reference: str) -> tuple[Wire, str]:
    return find_model_version(conn, model, value), f"version {value}"


def _by_alias(conn: RegistryConnection, model: Wire, name: str, value: str, reference: str) -> tuple[Wire, str]:
    alias = check_alias_name(value)
    holder = str(plain_properties(model).get(MODEL_ALIAS.format(alias=alias)) or "")
    if not holder:
        existing = list(model_aliases(model))
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


def _production(conn: RegistryConnection, model: Wire, name: str, value: str, reference: str) -> tuple[Wire, str]:
    holder = str(plain_properties(model).get(MODEL_PRODUCTION_VERSION_ID) or "")
    if not holder:
        raise NotFoundError(
            f"registered model {name!r} has no version in production, so {reference!r} points at nothing:"
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


def _newest_in_stage(conn: RegistryConnection, model: Wire, name: str, value: str, reference: str) -> tuple[Wire, str]:
    if value == Stage.PRODUCTION:
        return _production(conn, model, name, value, reference)
    candidates = [v for v in list_model_versions(conn, model) if plain_properties(v).get(VERSION_STAGE) == value]
    if not candidates:
        raise NotFoundError(
            f"registered model {name!r} has no version in stage {value!r}: `kml models show {name}` lists its"
            " versions and stages"
        )
    version = max(candidates, key=lambda v: (str(plain_properties(v).get(VERSION_STAGE_TIME) or ""), int(v["id"])))
    return version, f"stage {value}"


def _latest(conn: RegistryConnection, model: Wire, name: str, value: str, reference: str) -> tuple[Wire, str]:
    versions = list_model_versions(conn, model)
    if not versions:
        raise NotFoundError(f"registered model {name!r} has no versions yet: register one first")
    return versions[-1], "latest"


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
) -> ResolvedVersion:
    """Find the model version a reference points at.

    References: ``name`` (the production version), ``name:VERSION``, ``name@ALIAS``, ``name@production`` (same as
    ``name``), ``name@staging``/``@development``/``@archived`` (the version most recently moved to that stage),
    ``name@latest`` (the newest version). Aliases and the production pointer are read from the model's properties
    after checking they include the whole audit trail (``repair``).

    Args:
        conn: From ``connect_model_registry``.
        reference: The reference.
        default_model: Model name for references without one (``@champion``, ``:1.0.3``, "").
        repair: Repair a stale lifecycle view first (one extra request when it is current). False reads only.
        with_artifact: Also look up the version's model artifact.

    Returns:
        The model, version and (with ``with_artifact``) model artifact, with the canonical reference.

    Raises:
        NotFoundError: Unknown model (similar names listed), version, alias (existing aliases listed), or no
            version in the requested stage (a ``LookupError``).
        InvalidInputError: For a malformed reference (a ``ValueError``).
    """
    ref = parse_model_reference(reference, default_model)
    model = find_model_by_name(conn, ref.model)
    if repair:
        model = repair_lifecycle_view_if_stale(conn, model)
    name = str(model.get("name") or ref.model)
    version, selector = _RESOLVERS[ref.kind](conn, model, name, ref.value, reference)
    if str(version.get("registeredModelId") or model["id"]) != str(model["id"]):
        raise NotFoundError(
            f"{reference!r} resolved to model version id {version.get('id')}, which belongs to another registered"
            f" model (id {version.get('registeredModelId')}): repair the lifecycle view with `kml models repair {name}`"
        )
    artifact = find_model_artifact(conn, version) if with_artifact else None
    return ResolvedVersion(
        model=model,
        version=version,
        artifact=artifact,
        reference=format_model_reference(name, str(version.get("name") or "")),
        selector=selector,
    )
