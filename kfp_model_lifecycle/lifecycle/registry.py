"""Reading registered models, their versions and model artifacts, with helpful errors for names that do not exist.

Entities are returned in wire form (the registry's JSON as dicts): they are the registry's data, not ours.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError
from kfp_model_lifecycle.lifecycle.inputs import check_required_text, shown

MODEL_ARTIFACT_TYPE = "model-artifact"
MAX_NAME_CHARS = 255
"""No name the registry stores is longer (its name columns hold 255 characters)."""


def check_model_name(model_name: object, what: str = "model name") -> str:
    """A registered model's name as a caller wrote it: non-empty text the registry could hold.

    Args:
        model_name: What was passed.
        what: The parameter, for the message.

    Returns:
        The name without surrounding white space.

    Raises:
        InvalidInputError: For anything but non-blank text of at most 255 characters.
    """
    name = check_required_text(model_name, what, example="'iris'")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(
            f"{what} {shown(name)} is too long: the Model Registry stores names of at most {MAX_NAME_CHARS}"
            " characters, so no such model exists"
        )
    return name


def _model_name_hint(model_name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(model_name, names, n=5, cutoff=0.6)
    lowered = [n for n in names if n.lower() == model_name.lower() and n not in close]
    hint = close + lowered
    if hint:
        return f"did you mean {', '.join(repr(n) for n in hint)}?"
    if names:
        return "`kml models list` shows the registered models"
    return "the registry has no models yet: register one first (register_model component)"


def find_model_by_name(conn: RegistryConnection, model_name: str) -> Wire:
    """The RegisteredModel named ``model_name``.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The model's name.

    Returns:
        The RegisteredModel in wire form.

    Raises:
        NotFoundError: When there is no such model (a ``LookupError``); the message lists similar names.
        InvalidInputError: For a name that is not text, is empty or is longer than the registry stores.
    """
    model_name = check_model_name(model_name)
    found = conn.call(
        f"find registered model {model_name!r}",
        lambda api: api.find_registered_model(name=model_name),
        tolerate=(404,),
    )
    if found:
        return found
    names = [
        str(m.get("name") or "")
        for m in conn.list_all(
            "list registered models",
            lambda api, token: api.get_registered_models(page_size="500", next_page_token=token),
        )
    ]
    raise NotFoundError(
        f"no registered model named {shown(model_name)} in the Model Registry at {conn.url}:"
        f" {_model_name_hint(model_name, names)}"
    )


def get_registered_model(conn: RegistryConnection, model: Mapping[str, Any]) -> Wire:
    """The current state of a registered model (re-read before a whole-map PATCH).

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form, as read before.

    Returns:
        The RegisteredModel as the registry has it now (``model`` itself when it cannot be read).
    """
    model_id = str(model["id"])
    found = conn.call(f"get registered model {model_id}", lambda api: api.get_registered_model(model_id))
    return found or dict(model)


def list_model_versions(conn: RegistryConnection, model: Mapping[str, Any]) -> list[Wire]:
    """All versions of a registered model, oldest first.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.

    Returns:
        ModelVersions in wire form, by id.
    """
    model_id = str(model["id"])
    items = conn.list_all(
        f"list versions of model {model.get('name')!r}",
        lambda api, token: api.get_registered_model_versions(
            model_id, page_size="500", order_by="ID", next_page_token=token
        ),
    )
    return sorted(items, key=lambda v: int(v.get("id") or 0))


def find_model_version(conn: RegistryConnection, model: Mapping[str, Any], version_name: str) -> Wire:
    """The version named ``version_name`` of ``model``.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel in wire form.
        version_name: The version's name.

    Returns:
        The ModelVersion in wire form.

    Raises:
        NotFoundError: When there is no such version (a ``LookupError``); the message lists similar and recent
            version names.
    """
    model_id = str(model["id"])
    found = conn.call(
        f"find version {shown(version_name)} of model {model.get('name')!r}",
        lambda api: api.find_model_version(name=version_name, parent_resource_id=model_id),
        tolerate=(404,),
    )
    if found:
        return found
    names = [str(v.get("name") or "") for v in list_model_versions(conn, model)]
    close = difflib.get_close_matches(version_name, names, n=5, cutoff=0.5)
    if close:
        hint = f"did you mean {', '.join(repr(n) for n in close)}?"
    elif names:
        hint = f"its newest versions are {', '.join(repr(n) for n in names[-5:])}"
    else:
        hint = "it has no versions yet"
    raise NotFoundError(f"registered model {model.get('name')!r} has no version named {shown(version_name)}: {hint}")


def get_model_version_by_id(conn: RegistryConnection, version_id: str) -> Wire | None:
    """The ModelVersion with this id, or None.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The version id.

    Returns:
        The ModelVersion in wire form, or None when it does not exist.
    """
    if not version_id:
        return None
    return conn.call(
        f"get model version {version_id}",
        lambda api: api.get_model_version(str(version_id)),
        tolerate=(404,),
    )


def find_model_artifact(conn: RegistryConnection, version: Mapping[str, Any]) -> Wire | None:
    """The version's model artifact (the first ``model-artifact`` linked to it), or None.

    Args:
        conn: From ``connect_model_registry``.
        version: The ModelVersion in wire form.

    Returns:
        The ModelArtifact in wire form, or None.
    """
    version_id = str(version["id"])
    items = conn.list_all(
        f"list artifacts of model version {version_id}",
        lambda api, token: api.get_model_version_artifacts(version_id, page_size="500", next_page_token=token),
    )
    found = [a for a in items if a.get("artifactType") == MODEL_ARTIFACT_TYPE]
    return sorted(found, key=lambda a: int(a.get("id") or 0))[0] if found else None
