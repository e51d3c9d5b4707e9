"""Version names: the ``version`` input (an automatic SemVer bump or an explicit name) and SemVer arithmetic."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.registration.names import check_registry_name

FIRST_VERSION = "1.0.0"
# On every version this package registers: the highest SemVer name the model had then, this version's included.
HIGH_WATER_PROPERTY = "semver_high_water"
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
    versions = [v for v in (parse_semver(n) for n in names) if v is not None]
    return bump_semver(max_semver(*versions, floor), bump)


def max_semver(*versions: SemVer | None) -> SemVer | None:
    """The highest of ``versions`` (None entries are ignored), or None when there is none."""
    known = [v for v in versions if v is not None]
    return max(known) if known else None


def format_semver(version: SemVer) -> str:
    """``(1, 4, 2)`` -> ``"1.4.2"``."""
    return ".".join(str(part) for part in version)


def bump_semver(highest: SemVer | None, bump: str) -> str:
    """The version name after ``highest``.

    Args:
        highest: The highest SemVer version taken, or None when there is none.
        bump: ``major``, ``minor`` or ``patch`` (a :class:`SemVerBump`).

    Returns:
        ``1.0.0`` without ``highest``, else the bumped version.

    Raises:
        InvalidInputError: For an unknown ``bump``.
    """
    if bump not in tuple(SemVerBump):
        raise InvalidInputError(f"version bump {bump!r} is not one of 'major', 'minor', 'patch'")
    if highest is None:
        return FIRST_VERSION
    major, minor, patch = highest
    if bump == SemVerBump.MAJOR:
        return f"{major + 1}.0.0"
    if bump == SemVerBump.MINOR:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass
class NewestFirstWalk:
    """The highest SemVer of a model, found from its newest versions (by id) and their high-water marks.

    Every version this package registers records, in :data:`HIGH_WATER_PROPERTY`, the highest SemVer name the
    model had when it was registered (its own name included). So the highest SemVer of the whole model is the
    highest among the names and marks of the versions registered after the newest marked one, and that marked
    one's mark: a walk over the versions newest first (by id) can stop at the end of the first page that holds a
    marked version. Versions registered by other clients (or by releases before the marks) have no mark and are
    walked over: a model without any marked version is read to the end, once. The first page is always read
    whole, so a version whose write committed after a newer one (concurrent writers on MySQL/PostgreSQL) is
    still seen while it is among the newest page.

    Attributes:
        highest: The highest SemVer found so far.
        marked: Whether a version with a high-water mark was seen.
        walked: Versions seen.
    """

    highest: SemVer | None = None
    marked: bool = False
    walked: int = 0

    def add(self, name: str, mark: str = "") -> None:
        """Account for one version: its name and its high-water mark ("" when it has none).

        Args:
            name: The version's name (names that are not ``MAJOR.MINOR.PATCH`` are ignored).
            mark: The version's :data:`HIGH_WATER_PROPERTY` value.
        """
        self.walked += 1
        recorded = parse_semver(mark)
        self.marked = self.marked or recorded is not None
        self.highest = max_semver(self.highest, parse_semver(name), recorded)

    def mark_for(self, name: str, floor: SemVer | None = None) -> str:
        """The high-water mark to record on a new version named ``name``.

        Args:
            name: The new version's name.
            floor: A version known to be taken (after a name clash).

        Returns:
            The highest of the walk, ``floor`` and ``name`` as ``MAJOR.MINOR.PATCH``, or "" when none is SemVer.
        """
        highest = max_semver(self.highest, floor, parse_semver(name))
        return format_semver(highest) if highest is not None else ""
