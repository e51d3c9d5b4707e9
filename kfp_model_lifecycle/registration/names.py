"""Registered-model and version names: what the registry, KServe and the registry UI accept."""

from __future__ import annotations

from kfp_model_lifecycle.errors import InvalidInputError

MAX_NAME_LENGTH = 255


def check_registry_name(value: str, what: str) -> str:
    """Validate a registered-model or version name.

    Args:
        value: The name.
        what: The input it came from, for the message (e.g. ``"model_name"``).

    Returns:
        The name without surrounding white space.

    Raises:
        InvalidInputError: For an empty name, one longer than 255 characters, or one with ``/`` or control
            characters.
    """
    name = (value or "").strip() if isinstance(value, str) else ""
    if not name:
        raise InvalidInputError(f"{what} is empty: give a name, e.g. 'iris-classifier'")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"{what} {name[:40]!r}... is {len(name)} characters long: at most {MAX_NAME_LENGTH} are allowed"
        )
    if "/" in name:
        raise InvalidInputError(
            f"{what} {name!r} contains '/': not allowed, because model-registry://<model>/<version> URIs (KServe) and"
            f" the registry UI split on it; use '-' instead, e.g. {name.replace('/', '-')!r}"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidInputError(f"{what} {name!r} contains control characters: use printable characters only")
    return name
