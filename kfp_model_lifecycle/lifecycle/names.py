"""Checking the names people write: stages, aliases, approval statuses and the stage for demoted versions."""

from __future__ import annotations

import re

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle.conventions import APPROVAL_STATUSES, RESERVED_ALIASES, STAGES, Stage
from kfp_model_lifecycle.lifecycle.inputs import check_text, shown

_ALIAS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_stage_name(stage: str, what: str = "stage") -> str:
    """Validate a stage name.

    Args:
        stage: e.g. ``production`` (case-insensitive, surrounding white space ignored).
        what: The input it came from, for the message.

    Returns:
        The stage in lower case.

    Raises:
        InvalidInputError: For an unknown stage (a ``ValueError``); the message lists the stages.
    """
    name = check_text(stage, what, example="'production'").strip().lower()
    if name not in STAGES:
        raise InvalidInputError(f"{what} {shown(stage)} is not a lifecycle stage: use one of {', '.join(STAGES)}")
    return name


def check_demote_to(stage: str) -> str:
    """Validate the stage a displaced production version goes to.

    Args:
        stage: e.g. ``archived``.

    Returns:
        The stage in lower case.

    Raises:
        InvalidInputError: For an unknown stage or ``production`` (a ``ValueError``).
    """
    name = check_stage_name(stage, "demote_to")
    if name == Stage.PRODUCTION:
        raise InvalidInputError("demote_to cannot be 'production': use staging, development or archived")
    return name


def check_alias_name(alias: str) -> str:
    """Validate an alias name.

    Aliases are like MLflow's: letters, digits, ``_`` and ``-``, at most 64 characters, starting with a letter or
    digit; stage names and ``latest`` are reserved because ``name@production`` and ``name@latest`` already mean
    something in references.

    Args:
        alias: e.g. ``champion`` (a leading ``@`` is accepted and dropped).

    Returns:
        The alias.

    Raises:
        InvalidInputError: For an invalid or reserved name (a ``ValueError``).
    """
    name = check_text(alias, "alias", example="'champion'").strip()
    if name.startswith("@"):
        name = name[1:]
    if not _ALIAS_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"alias {shown(alias)} is not a valid alias name: use 1-64 letters, digits, '_' or '-', starting with a"
            " letter or digit, e.g. 'champion' or 'challenger-2'"
        )
    if name.lower() in RESERVED_ALIASES:
        raise InvalidInputError(
            f"alias {name!r} is reserved: stage names and 'latest' already resolve in references (name@{name});"
            " pick another alias name, e.g. 'champion'"
        )
    return name


def check_approval_status(status: str) -> str:
    """Validate an approval status.

    Args:
        status: ``approved``, ``rejected`` or ``pending`` (case-insensitive).

    Returns:
        The status in lower case.

    Raises:
        InvalidInputError: For another status (a ``ValueError``).
    """
    wanted = check_text(status, "status", example="'approved'").strip().lower()
    if wanted not in APPROVAL_STATUSES:
        raise InvalidInputError(f"approval status {shown(status)} is not one of {', '.join(APPROVAL_STATUSES)}")
    return wanted
