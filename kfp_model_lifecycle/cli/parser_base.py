"""The argument parser every ``kml`` command uses: no abbreviated options, and no secret in an error message.

Abbreviations are off, so ``--token`` is never taken for ``--token-file``. A value given to a secret-bearing option
(``--token``, ``--password``, ``--secret``..., but not ``--token-file``) is replaced by ``***`` in every error
argparse prints -- also when the option is unknown to the command (``kml models list --token s3cret``), where the
error would otherwise echo the unrecognized arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

REDACTED = "***"
SECRET_WORDS = re.compile(r"token|secret|passw(or)?d|api[-_]?key|credential", re.IGNORECASE)
# options that name where a secret is, not the secret itself
NOT_SECRET_SUFFIXES = ("-file", "-path", "-name", "-env")
TOKEN_HINT = (
    "tokens are never accepted on the command line: set KML_REGISTRY_TOKEN or pass --token-file FILE"  # noqa: S105
    " (`kml registry serve` and `kml cluster up` take --token)"
)


def is_secret_option(option: str) -> bool:
    """Whether an option carries a secret value (``--token``), not a reference to one (``--token-file``).

    Args:
        option: e.g. ``--token`` (without ``=value``).

    Returns:
        True for secret-bearing options.
    """
    name = option.strip().lower()
    return name.startswith("-") and bool(SECRET_WORDS.search(name)) and not name.endswith(NOT_SECRET_SUFFIXES)


def secret_values(argv: Sequence[str]) -> list[str]:
    """The values given to secret-bearing options in ``argv`` (``--token X`` and ``--token=X``).

    Args:
        argv: Command-line arguments.

    Returns:
        The secret values, longest first.
    """
    found = []
    for i, arg in enumerate(argv):
        option, sep, value = arg.partition("=")
        if not is_secret_option(option):
            continue
        if sep and value:
            found.append(value)
        elif not sep and i + 1 < len(argv):
            found.append(argv[i + 1])
    return sorted(set(found), key=len, reverse=True)


def redact(message: str, secrets: Sequence[str]) -> str:
    """``message`` with each secret, where it stands as a word, replaced by ``***``.

    Args:
        message: An error message.
        secrets: Values to hide.

    Returns:
        The message.
    """
    for secret in secrets:
        message = re.sub(rf"(?<![^\s'\"=:,\[(]){re.escape(secret)}(?![^\s'\",\])])", REDACTED, message)
    return message


class KmlParser(argparse.ArgumentParser):
    """An argument parser that refuses abbreviated options and never echoes a secret; subparsers are of this class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._secrets: list[str] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse as argparse does, remembering the secret values to hide from errors."""
        self._secrets = secret_values(list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        """Print the usage and the error (secrets redacted, a hint for a token on the command line), exit 2."""
        text = redact(message, self._secrets)
        if text != message and "unrecognized arguments" in text:
            text += f"\n{TOKEN_HINT}"
        super().error(text)
