"""Version names: the ``version`` input (an automatic SemVer bump or an explicit name) and SemVer arithmetic."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.registration.names import check_registry_name

FIRST_VERSION = "1.0.0"
SEMVER_PATTERN = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")

SemVer = tuple[int, int, int]


class SemVerBump(StrEnum):
    """Which part of the highest registered SemVer version an automatic version name increments."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


@dataclass(frozen=True)
class VersionRequest:
    """What the ``version`` input asks for: exactly one of an automatic bump or an explicit name.

    Attributes:
        bump: The part to increment for an automatic version name, or None.
        name: The explicit version name, or "".
    """

    bump: SemVerBump | None = None
    name: str = ""


def parse_version_request(version: str) -> VersionRequest:
    """Interpret the ``version`` input: an automatic SemVer bump or an explicit version name.

    Args:
        version: ``"major"``, ``"minor"``, ``"patch"`` (case-insensitive; "" means ``patch``) or a version name.

    Returns:
        The request.

    Raises:
        InvalidInputError: For an invalid explicit name.
    """
    text = (version or "").strip()
    if text.lower() in ("", *SemVerBump):
        return VersionRequest(bump=SemVerBump(text.lower() or SemVerBump.PATCH))
    return VersionRequest(name=check_registry_name(text, "version"))


def parse_semver(name: str) -> SemVer | None:
    """``(major, minor, patch)`` of a plain SemVer name like ``1.4.2``, else None (pre-releases do not count).

    Args:
        name: A version name.

    Returns:
        The numbers or None.
    """
    match = SEMVER_PATTERN.fullmatch((name or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def next_semver(names: Iterable[str], bump: str, floor: SemVer | None = None) -> str:
    """The next version name after the highest SemVer among ``names`` (and ``floor``).

    Args:
        names: Existing version names; names that are not ``MAJOR.MINOR.PATCH`` are ignored.
        bump: ``major``, ``minor`` or ``patch`` (a :class:`SemVerBump`).
        floor: A version known to be taken even if not listed yet (after a name clash).

    Returns:
        ``1.0.0`` when there is no SemVer version yet, else the bumped version.

    Raises:
        InvalidInputError: For an unknown ``bump``.
    """
    if bump not in tuple(SemVerBump):
        raise InvalidInputError(f"version bump {bump!r} is not one of 'major', 'minor', 'patch'")
    versions = [v for v in (parse_semver(n) for n in names) if v is not None]
    if floor is not None:
        versions.append(floor)
    if not versions:
        return FIRST_VERSION
    major, minor, patch = max(versions)
    if bump == SemVerBump.MAJOR:
        return f"{major + 1}.0.0"
    if bump == SemVerBump.MINOR:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"
