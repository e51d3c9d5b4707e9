"""What a registration made outside a pipeline records about itself: ``source=manual``, git commit, user, host.

A model trained in a notebook or a script has no KFP run, so its lineage is what the machine can tell: the commit
checked out in the current directory (``git rev-parse HEAD``; nothing when git or the repository is absent), the
user and the host name. They are recorded with the model's other metadata (``model_meta_source=manual``,
``model_meta_user``, ``model_meta_host``; the commit as ``code_version``), next to the datasets with their sha256
digests when they are local files.
"""

from __future__ import annotations

import getpass
import math
import os
import socket
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import check_text, described, shown
from kfp_model_lifecycle.lineage.sources import DatasetInput

SOURCE_MANUAL = "manual"
"""The ``source`` recorded for versions registered from Python or ``kml models register``."""
GIT_TIMEOUT_SECONDS = 5.0
# URI schemes a model or dataset may be stored under besides local paths (KServe's storage initializer and more)
LOCAL_SCHEMES = ("", "file")
TRUE_WORDS, FALSE_WORDS = ("true", "yes"), ("false", "no")


@dataclass(frozen=True)
class ManualLineage:
    """Where a model registered by hand comes from, as far as this machine can tell.

    Attributes:
        code_version: The git commit of the working directory ("" when unknown).
        user: The login name ("" when unknown).
        host: The host name ("" when unknown).
    """

    code_version: str = ""
    user: str = ""
    host: str = ""

    def metadata(self) -> dict[str, str]:
        """The model metadata that records it (``source`` and the user and host that are known).

        Returns:
            ``{"source": "manual", "user": ..., "host": ...}``.
        """
        found = {"source": SOURCE_MANUAL, "user": self.user, "host": self.host}
        return {key: value for key, value in found.items() if value}


def git_commit(directory: str | os.PathLike[str] | None = None) -> str:
    """The commit checked out in ``directory`` (default: the current one), "" when git or a repository is absent.

    Args:
        directory: A directory inside a git working tree.

    Returns:
        The full commit hash, or "".
    """
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            cwd=directory or None,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) >= 7 else ""


def current_user() -> str:
    """The login name, "" when the system has none (some containers)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError or KeyError without a passwd entry
        return ""


def manual_lineage(directory: str | os.PathLike[str] | None = None) -> ManualLineage:
    """The lineage of a model registered from this machine: git commit, user and host.

    Args:
        directory: The working tree to read the commit from (default: the current directory).

    Returns:
        What was found.
    """
    return ManualLineage(code_version=git_commit(directory), user=current_user(), host=socket.gethostname())


def is_local(uri: str) -> bool:
    """Whether a URI is a local path (no scheme, or ``file://``).

    Args:
        uri: A path or URI.

    Returns:
        True for local paths.
    """
    scheme = urlsplit(uri).scheme.lower()
    return scheme in LOCAL_SCHEMES or (len(scheme) == 1 and os.name == "nt")  # C:\\ on Windows


def local_path(uri: str) -> Path:
    """The local path a local URI names (``file:///tmp/m`` -> ``/tmp/m``).

    Args:
        uri: A path or ``file://`` URI.

    Returns:
        The absolute path.
    """
    parts = urlsplit(uri)
    return Path(parts.path if parts.scheme.lower() == "file" else uri).expanduser().resolve()


def model_location(uri: str) -> str:
    """The model URI to record: remote URIs as given, local paths absolute (they must exist).

    Args:
        uri: ``s3://...``, ``https://...``, ``pvc://...``, a local path or ``file://`` URI.

    Returns:
        The URI.

    Raises:
        InvalidInputError: For a URI that is not text, an empty one, or a local path that does not exist.
    """
    text = check_text(uri, "uri", example="'s3://bucket/model.joblib'").strip()
    if not text:
        raise InvalidInputError("the model URI is empty: pass where the model is, e.g. s3://bucket/model or ./model")
    if not is_local(text):
        return text
    path = local_path(text)
    if not path.exists():
        raise InvalidInputError(
            f"model URI {shown(uri)} is not an existing local path (resolved to {shown(str(path))}): pass the trained"
            " model's file or directory, or a URI with a scheme (s3://, gs://, https://, pvc://, oci://...)"
        )
    return str(path)


def dataset_inputs(datasets: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[DatasetInput]:
    """Datasets by role as the registration's inputs: local files get read for their sha256 digest.

    Args:
        datasets: Role -> URI, e.g. ``{"train": "data/train.csv", "eval": "s3://bucket/eval.csv"}``.

    Returns:
        One input per dataset, local paths absolute (and read), other URIs as given (recorded without digest).

    Raises:
        InvalidInputError: For datasets that are not role -> URI text, a dataset without a role or a URI, or a role
            given twice.
    """
    inputs, roles = [], set()
    for role, uri in _dataset_pairs(datasets):
        role, uri = role.strip(), uri.strip()
        if not role or not uri:
            raise InvalidInputError(
                f"dataset {shown(role or '?')}={shown(uri or '?')}: give a role and a URI, e.g. train=data.csv"
            )
        if role in roles:
            raise InvalidInputError(f"dataset role {shown(role)} is given twice: one URI per role")
        roles.add(role)
        if is_local(uri):
            path = local_path(uri)
            inputs.append(DatasetInput(role=role, name=role, uri=str(path), path=str(path)))
        else:
            inputs.append(DatasetInput(role=role, name=role, uri=uri))
    return inputs


def _dataset_pairs(datasets: Any) -> list[tuple[str, str]]:
    """``(role, uri)`` text pairs from a mapping or a list of pairs."""
    example = "{'train': 'data/train.csv'}"
    if datasets is None:
        return []
    if isinstance(datasets, str | bytes) or not isinstance(datasets, Mapping | Iterable):
        raise InvalidInputError(
            f"datasets must map a role to a URI, got {described(datasets)}: e.g. datasets={example}"
        )
    items = list(datasets.items()) if isinstance(datasets, Mapping) else list(datasets)
    pairs = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(part, str) for part in item)):
            raise InvalidInputError(
                f"datasets: {shown(item)} is not a role and a URI (text): pass a mapping such as datasets={example}"
            )
        pairs.append((item[0], item[1]))
    return pairs


def typed_value(text: str) -> Any:
    """A command-line value as a typed property: an int, a float, a bool (true/false) or the text.

    Args:
        text: e.g. ``150``, ``0.25``, ``true``, ``gini``.

    Returns:
        The value.
    """
    value = text.strip()
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    if value.lower() in TRUE_WORDS + FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    return text


def parse_assignments(items: Iterable[str], option: str, *, numbers: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` strings (repeated command-line options) as a dict of typed values.

    Args:
        items: e.g. ``["accuracy=0.93", "f1=0.9"]``.
        option: The option's name, for messages (``--metric``).
        numbers: Every value must be a number (metrics).

    Returns:
        Key -> value (an int, float, bool or text).

    Raises:
        InvalidInputError: For an item without ``=`` or a key, a key given twice, or a non-number where one is needed.
    """
    found: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(f"{option} {shown(item)}: write KEY=VALUE, e.g. {option} accuracy=0.93")
        if key in found:
            raise InvalidInputError(f"{option} {shown(key)} is given twice")
        value = typed_value(text)
        if numbers and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidInputError(f"{option} {shown(item)}: the value must be a number, e.g. {key}=0.93")
        if numbers and not math.isfinite(value):
            raise InvalidInputError(
                f"{option} {shown(item)}: the value must be a finite number (the Model Registry stores no NaN or"
                f" infinity), e.g. {key}=0.93"
            )
        found[key] = float(value) if numbers else value
    return found
