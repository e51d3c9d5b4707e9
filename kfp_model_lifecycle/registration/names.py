"""Names the registry stores: registered models, versions, artifacts, property keys and externalIds.

The real registry (kubeflow/hub, ``PrefixWhenOwned``) stores the name of an owned entity with its owner's id as a
prefix, ``<owner id>:<name>``, in a ``varchar(255)`` column: a ModelVersion under its RegisteredModel's id, an
artifact created through ``/model_versions/{id}/artifacts`` under the version's id, and an artifact created through
``POST /artifacts`` under a generated UUID (36 characters). Ids are 32-bit, so a prefix takes at most 11
characters (``2147483647:``). RegisteredModel names are not prefixed, but the ModelArtifact is named after its
model and linked under the version's id, so a model name has the same limit as a version name. Property names and
``externalId`` are ``varchar(255)`` too. The checks here fail before anything is written, instead of a late 500
from the server after the model or version already exists.
"""

from __future__ import annotations

import hashlib

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import check_text, shown

MAX_STORED_LENGTH = 255
MAX_OWNER_PREFIX_LENGTH = len("2147483647:")
UUID_PREFIX_LENGTH = len("00000000-0000-0000-0000-000000000000:")
# model and version names, and the names of artifacts linked to a version
MAX_NAME_LENGTH = MAX_STORED_LENGTH - MAX_OWNER_PREFIX_LENGTH
# artifacts created on their own (POST /artifacts)
MAX_UNLINKED_ARTIFACT_NAME_LENGTH = MAX_STORED_LENGTH - UUID_PREFIX_LENGTH
MAX_PROPERTY_KEY_LENGTH = MAX_STORED_LENGTH
MAX_EXTERNAL_ID_LENGTH = MAX_STORED_LENGTH
HEAD_CHARS = 40
"""How much of a too-long name its error message shows (the message gives its length)."""


def check_name_length(name: str, what: str, limit: int, why: str) -> str:
    """Fail when a name is longer than the registry can store.

    Args:
        name: The name.
        what: The input it came from, for the message (e.g. ``"model_name"``).
        limit: The most characters allowed.
        why: Why the limit is what it is, for the message.

    Returns:
        ``name``.

    Raises:
        InvalidInputError: For a longer name; the message shows its start, its length, the limit and the fix.
    """
    if len(name) > limit:
        raise InvalidInputError(
            f"{what} {name[:HEAD_CHARS]!r}… is {len(name)} characters long: at most {limit} are allowed ({why})."
            f" Fix: use a shorter {what}"
        )
    return name


def check_registry_name(value: str, what: str) -> str:
    """Validate a registered-model or version name.

    Args:
        value: The name.
        what: The input it came from, for the message (e.g. ``"model_name"``).

    Returns:
        The name without surrounding white space.

    Raises:
        InvalidInputError: For a name that is not text, an empty one, one longer than 244 characters (the registry
            stores it as ``<owner id>:<name>`` in 255), or one with ``/`` or control characters.
    """
    name = check_text(value, what, example="'iris-classifier'").strip()
    if not name:
        raise InvalidInputError(f"{what} is empty: give a name, e.g. 'iris-classifier'")
    check_name_length(
        name,
        what,
        MAX_NAME_LENGTH,
        "the Model Registry stores versions and model artifacts as '<owner id>:<name>' in 255 characters",
    )
    if "/" in name:
        raise InvalidInputError(
            f"{what} {shown(name)} contains '/': not allowed, because model-registry://<model>/<version> URIs (KServe)"
            f" and the registry UI split on it; use '-' instead, e.g. {shown(name.replace('/', '-'))}"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidInputError(f"{what} {shown(name)} contains control characters: use printable characters only")
    return name


def check_artifact_name(name: str, *, linked: bool) -> str:
    """Validate the name of an artifact this package creates (it always gives one: the server would make a UUID).

    Args:
        name: The artifact's name.
        linked: True for an artifact created through ``/model_versions/{id}/artifacts`` (prefix: the version id),
            False for one created through ``POST /artifacts`` (prefix: a generated UUID).

    Returns:
        ``name``.

    Raises:
        InvalidInputError: For an empty or too long name.
    """
    if not name:
        raise InvalidInputError("an artifact needs a name: the registry would give it a generated UUID")
    limit = MAX_NAME_LENGTH if linked else MAX_UNLINKED_ARTIFACT_NAME_LENGTH
    prefix = "'<version id>:'" if linked else "a generated UUID and ':'"
    return check_name_length(name, "artifact name", limit, f"the registry prefixes it with {prefix} in 255 characters")


def check_property_key(key: str, what: str) -> str:
    """Validate a ``customProperties`` key (a ``varchar(255)`` in the registry).

    Args:
        key: The property name.
        what: What it is, for the message (e.g. ``"hyperparameter"``).

    Returns:
        ``key``.

    Raises:
        InvalidInputError: For a key longer than 255 characters.
    """
    return check_name_length(key, f"{what} name", MAX_PROPERTY_KEY_LENGTH, "registry property names hold 255")


def bounded_external_id(key: str) -> str:
    """An ``externalId`` that fits the registry's 255 characters: ``key`` itself, else its head and a digest.

    Args:
        key: The wanted externalId (deterministic, so the shortened form is too).

    Returns:
        ``key`` when short enough, else ``<first 180 characters>...sha256:<64 hex>``.
    """
    if len(key) <= MAX_EXTERNAL_ID_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[:180]}...sha256:{digest}"
