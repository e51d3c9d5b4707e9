"""Getting a registered model's files: local paths are copied, http(s) URIs fetched, s3 URIs read with boto3.

Other storage (``gs://``, ``pvc://``, ``oci://``, ``hf://``...) is what KServe's storage initializer reads in a
cluster; :func:`download_uri` says so instead of guessing. ``boto3`` is optional: without it an ``s3://`` URI
fails with the ``pip install boto3`` to run.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from kfp_model_lifecycle.api.manual import is_local, local_path
from kfp_model_lifecycle.errors import InvalidInputError, NotFoundError

HTTP_TIMEOUT_SECONDS = 60.0
CHUNK_BYTES = 1 << 20
SUPPORTED = "local paths, file://, http(s):// and s3:// (with boto3)"


def _target(dest: Path, name: str) -> Path:
    """Where a download lands: inside ``dest`` when it is an existing directory, else ``dest`` itself."""
    target = dest / name if dest.is_dir() else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _copy_local(uri: str, dest: Path) -> Path:
    source = local_path(uri)
    if not source.exists():
        raise NotFoundError(f"the model's files are not at {source} (URI {uri!r}): were they moved or deleted?")
    target = _target(dest, source.name)
    if target.exists() and target.resolve() == source:
        return target  # already there
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)
    return target


def _write_stream(stream: Any, target: Path) -> None:
    """Write a byte stream to ``target`` through a temporary file in the same directory (no half-written file)."""
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_BYTES)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _fetch_http(uri: str, dest: Path) -> Path:
    name = PurePosixPath(urlsplit(uri).path).name or "model"
    target = _target(dest, name)
    request = urllib.request.Request(uri, headers={"User-Agent": "kfp-model-lifecycle"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
            _write_stream(response, target)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise NotFoundError(f"cannot download {uri}: {getattr(exc, 'reason', None) or exc}") from None
    return target


def _s3_client() -> Any:
    try:
        boto3 = importlib.import_module("boto3")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "downloading s3:// URIs needs boto3, which is not installed: pip install boto3 (credentials and endpoint"
            " as boto3 reads them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL...)",
            name="boto3",
        ) from None
    return boto3.client("s3")


def _fetch_s3(uri: str, dest: Path) -> Path:
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    client = _s3_client()
    paginator = client.get_paginator("list_objects_v2")
    keys = [obj["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=key) for obj in page.get("Contents", [])]
    if key in keys:  # one object
        target = _target(dest, PurePosixPath(key).name)
        client.download_file(bucket, key, str(target))
        return target
    prefix = key.rstrip("/") + "/" if key else ""
    below = [k for k in keys if k.startswith(prefix) and not k.endswith("/")]
    if not below:
        raise NotFoundError(f"no object at {uri} (nor below it): check the bucket and the key")
    target = _target(dest, PurePosixPath(key.rstrip("/")).name or bucket)
    for object_key in below:
        path = target / PurePosixPath(object_key[len(prefix) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, object_key, str(path))
    return target


def download_uri(uri: str, dest: str | os.PathLike[str]) -> Path:
    """Copy a model's files from where the registry says they are to ``dest``.

    Args:
        uri: The model artifact's URI: a local path or ``file://`` URI (a file or a directory), ``http(s)://``
            (one file), or ``s3://bucket/key`` (one object, or every object below a prefix; needs ``boto3``).
        dest: A directory that exists (the files go inside it, under the URI's last name) or the path to write.

    Returns:
        The path written (a file or a directory).

    Raises:
        InvalidInputError: For a URI of another scheme (``gs://``, ``pvc://``, ``oci://``...).
        NotFoundError: When nothing is at the URI.
        ModuleNotFoundError: For ``s3://`` without ``boto3`` (the message says ``pip install boto3``).
    """
    target = Path(dest).expanduser()
    scheme = urlsplit(uri).scheme.lower()
    if is_local(uri):
        return _copy_local(uri, target)
    if scheme in ("http", "https"):
        return _fetch_http(uri, target)
    if scheme == "s3":
        return _fetch_s3(uri, target)
    raise InvalidInputError(
        f"cannot download {uri!r}: {scheme}:// is read by KServe's storage initializer in a cluster; here the"
        f" download supports {SUPPORTED} (use the storage's own tool, e.g. gsutil or kubectl cp)"
    )
