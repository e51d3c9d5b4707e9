"""Where a model came from besides the run: code version, training image, dataset digests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kfp_model_lifecycle.lineage.context import is_missing_value

CODE_VERSION_METADATA_KEYS = ("code_version", "git_commit", "git_sha", "commit")
CODE_VERSION_ENV_VARS = (
    "KML_CODE_VERSION",
    "GIT_COMMIT",
    "GIT_SHA",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "BITBUCKET_COMMIT",
    "CIRCLE_SHA1",
    "TRAVIS_COMMIT",
    "BUILDKITE_COMMIT",
    "DRONE_COMMIT_SHA",
    "SEMAPHORE_GIT_SHA",
    "BUILD_SOURCEVERSION",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "BUILD_VCS_NUMBER",
    "OPENSHIFT_BUILD_COMMIT",
    "SOURCE_COMMIT",
    "VCS_REF",
)
TRAINING_IMAGE_METADATA_KEYS = ("training_image", "image")
TRAINING_IMAGE_ENV = "KML_TRAINING_IMAGE"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetInput:
    """A dataset input of a component, as KFP hands it to the pod.

    Attributes:
        role: Which input it came from, e.g. ``train`` ("" is recorded as ``data``).
        name: The KFP artifact name.
        uri: The artifact URI (object-store URI in a cluster).
        path: The local path the launcher made it available at ("" when not available).
    """

    role: str
    name: str = ""
    uri: str = ""
    path: str = ""


@dataclass(frozen=True)
class DatasetRecord:
    """What is recorded of a dataset: its role, where it is, and the digest of its content.

    Attributes:
        role: e.g. ``train``.
        name: The KFP artifact name (the role when the artifact has none).
        uri: The artifact URI ("" when unknown).
        sha256: Hex digest of the content ("" when it could not be read).
        problem: Why there is no digest ("" when there is one).
    """

    role: str
    name: str
    uri: str
    sha256: str = ""
    problem: str = ""


def find_code_version(
    explicit: str = "", model_metadata: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The code version (git commit) the model was trained from.

    Args:
        explicit: The ``code_version`` input.
        model_metadata: The model artifact's metadata.
        env: Environment to read (default ``os.environ``).

    Returns:
        ``(value, where it came from)``; ``("", "")`` when unknown.
    """
    env = os.environ if env is None else env
    if not is_missing_value(explicit):
        return str(explicit).strip(), "the code_version input"
    for key in CODE_VERSION_METADATA_KEYS:
        value = (model_metadata or {}).get(key)
        if not is_missing_value(value):
            return str(value).strip(), f"model.metadata[{key!r}]"
    for name in CODE_VERSION_ENV_VARS:
        value = env.get(name)
        if not is_missing_value(value):
            return str(value).strip(), f"the environment variable {name}"
    return "", ""


def find_training_image(
    explicit: str = "", model_metadata: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The container image the model was trained in, when known.

    Args:
        explicit: The ``training_image`` input.
        model_metadata: The model artifact's metadata (a training component can record its image there).
        env: Environment to read (default ``os.environ``).

    Returns:
        ``(value, where it came from)``; ``("", "")`` when unknown.
    """
    env = os.environ if env is None else env
    if not is_missing_value(explicit):
        return str(explicit).strip(), "the training_image input"
    for key in TRAINING_IMAGE_METADATA_KEYS:
        value = (model_metadata or {}).get(key)
        if not is_missing_value(value):
            return str(value).strip(), f"model.metadata[{key!r}]"
    value = env.get(TRAINING_IMAGE_ENV)
    if not is_missing_value(value):
        return str(value).strip(), f"the environment variable {TRAINING_IMAGE_ENV}"
    return "", ""


def sha256_of_path(path: str) -> str:
    """SHA-256 of a file's content, or of a directory tree.

    For a directory the digest covers, for every regular file in sorted relative-path order, the relative path
    (``/``-separated), a NUL byte, the file size, a NUL byte and the content; so renames, moves and edits all
    change it.

    Args:
        path: A file or directory.

    Returns:
        The hex digest.

    Raises:
        OSError: When the path or a file in it cannot be read.
    """
    digest = hashlib.sha256()

    def add_file(file_path: str) -> None:
        with open(file_path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)

    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in names:
                full = os.path.join(root, name)
                if os.path.isfile(full):
                    files.append((os.path.relpath(full, path).replace(os.sep, "/"), full))
        for rel, full in sorted(files):
            digest.update(rel.encode("utf-8") + b"\0" + str(os.path.getsize(full)).encode() + b"\0")
            add_file(full)
        return digest.hexdigest()
    add_file(path)
    return digest.hexdigest()


def describe_dataset_input(dataset: DatasetInput) -> DatasetRecord:
    """URI and content digest of one dataset input.

    Args:
        dataset: The dataset input as the component received it.

    Returns:
        The record; its ``sha256`` is "" (and ``problem`` says why) when the content could not be read.
    """
    role = dataset.role or "data"
    record = DatasetRecord(role=role, name=dataset.name or role, uri=dataset.uri or "")
    if not dataset.path:
        return replace(record, problem="no local path")
    try:
        return replace(record, sha256=sha256_of_path(dataset.path))
    except OSError as exc:
        return replace(record, problem=f"content not readable at {dataset.path} ({exc.strerror or exc})")
