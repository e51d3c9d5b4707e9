"""The local cluster's storage initializer: turn a ``storageUri`` into a local model path.

Supported:

- a local absolute path or ``file://`` URI (a directory or a model file);
- ``model-registry://...``, resolved exactly as the Model Registry's storage initializer does
  (kubeflow/model-registry ``cmd/csi``, ``modelregistry_provider.go``): the query is stripped, the rest split on
  ``/`` into at most three parts; ``<model>``, ``<model>/<version>``, ``<host:port>/<model>/<version>`` and, when
  the first part is the registry's own address, ``<host:port>/<model>``. Names are taken literally (no
  URL-decoding: ``Breast%20Cancer`` is not ``Breast Cancer``); without a version the newest version **by id** is
  taken, ARCHIVED ones included; the version's newest artifact must be a model-artifact (a doc-artifact or
  metric linked after it makes the initializer fail with "no model artifact found"); no token is sent. The
  artifact's URI is then resolved again (it must be a local path or ``file://`` here). A ``?namespace=`` query
  would pick another registry service on a cluster; the stand-in has one registry and uses it.

Other schemes (``s3://``, ``gs://``, ``pvc://``, ``hf://``, ``oci://``, ``https://``) are not downloaded: the
stand-in has no network; copy the model to a local directory and use its path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REGISTRY_SCHEME = "model-registry"
REGISTRY_PREFIX = "model-registry://"
REGISTRY_API = "/api/model_registry/v1"
MODEL_ARTIFACT = "model-artifact"


class StorageError(RuntimeError):
    """The storageUri cannot be resolved to local model files (the message names the fix)."""


def resolve_storage_uri(uri: str, *, registry_url: str | None = None, timeout: float = 10.0) -> Path:
    """Resolve ``uri`` to an existing local directory or file.

    Args:
        uri: The InferenceService's ``spec.predictor.model.storageUri``.
        registry_url: Base URL of the Model Registry (``http://127.0.0.1:8080``), for ``model-registry://``.
        timeout: Seconds per registry request.

    Returns:
        The local path.

    Raises:
        StorageError: when the URI cannot be resolved, with the reason and what to do.
    """
    if uri.startswith(REGISTRY_PREFIX):
        artifact_uri = artifact_uri_from_registry(uri, registry_url=registry_url, timeout=timeout)
        if artifact_uri.startswith(REGISTRY_PREFIX):
            raise StorageError(f"{uri} points to the model artifact URI {artifact_uri}, another model-registry:// URI")
        try:
            return _local(artifact_uri)
        except StorageError as exc:
            raise StorageError(f"{uri} -> model artifact uri {artifact_uri}: {exc}") from None
    return _local(uri)


def _local(uri: str) -> Path:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"{uri}: file:// URIs must name a local absolute path (file:///path/to/model)")
        path = Path(urllib.parse.unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] == ":\\"):
        path = Path(uri)
    else:
        raise StorageError(
            f"{uri}: the local cluster stand-in has no network and resolves only local paths, file:// and "
            f"model-registry:// URIs; copy the model to a local directory and use its absolute path"
        )
    if not path.is_absolute():
        raise StorageError(f"{uri}: use an absolute path (the model server does not run in your directory)")
    if not path.exists():
        raise StorageError(f"{path} does not exist")
    return path


def _get(base: str, path: str, params: dict[str, str], timeout: float) -> dict[str, Any] | None:
    """One GET without credentials, as the storage initializer sends it; None for 404."""
    url = f"{base}{REGISTRY_API}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked scheme
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        detail = exc.read()[:300]
        raise StorageError(f"the Model Registry at {base} answered {exc.code} to GET {path}: {detail!r}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StorageError(f"the Model Registry at {base} is unreachable ({exc}); is it running?") from None


def parse_registry_uri(uri: str, registry_url: str | None) -> tuple[str | None, str, str | None]:
    """Split a ``model-registry://`` URI as the upstream initializer does.

    Args:
        uri: The URI.
        registry_url: The registry the stand-in knows (its ``host:port`` is "the configured host").

    Returns:
        ``(base URL or None for the configured registry, model name, version name or None for the newest)``.

    Raises:
        StorageError: For an empty model name.
    """
    own_host = urllib.parse.urlsplit(registry_url or "").netloc
    path = uri[len(REGISTRY_PREFIX) :].split("?", 1)[0]
    tokens = path.split("/", 2)
    base: str | None = None
    if len(tokens) == 3:  # the initializer uses the first part as the registry host
        base, tokens = f"http://{tokens[0]}", tokens[1:]
    elif len(tokens) == 2 and own_host and tokens[0] == own_host:
        tokens = tokens[1:]
    model = tokens[0]
    version = tokens[1] if len(tokens) == 2 else None
    if not model:
        raise StorageError(f"{uri}: invalid model registry URI, use model-registry://<model>[/<version>]")
    return base, model, version


def artifact_uri_from_registry(uri: str, *, registry_url: str | None, timeout: float = 10.0) -> str:
    """The model artifact URI a ``model-registry://`` URI stands for (see the module docstring).

    Args:
        uri: The ``model-registry://`` URI.
        registry_url: The registry the stand-in knows.
        timeout: Seconds per request.

    Returns:
        The URI of the version's newest artifact, which must be a model-artifact.

    Raises:
        StorageError: Naming what is missing.
    """
    host_base, model, version = parse_registry_uri(uri, registry_url)
    base = (host_base or registry_url or "").rstrip("/")
    if not base:
        raise StorageError(
            f"{uri}: the local cluster has no Model Registry URL; start it with LocalCluster(registry_url=...) "
            "or `kml cluster up --registry-url http://127.0.0.1:PORT`"
        )
    registered = _get(base, "/registered_model", {"name": model}, timeout)
    if registered is None:
        raise StorageError(f"{uri}: no registered model named {model!r} in the Model Registry at {base}")
    found = _version(base, uri, registered, model, version, timeout)
    listing = _get(
        base,
        f"/model_versions/{found['id']}/artifacts",
        {"orderBy": "CREATE_TIME", "sortOrder": "DESC"},
        timeout,
    )
    items = sorted(
        (listing or {}).get("items") or [],
        key=lambda a: (int(a.get("createTimeSinceEpoch") or 0), int(a.get("id") or 0)),
        reverse=True,
    )
    if not items:
        raise StorageError(f"{uri}: no artifacts associated to model version {found['id']}")
    newest = items[0]
    if newest.get("artifactType") != MODEL_ARTIFACT:
        raise StorageError(
            f"{uri}: no model artifact found for model version {found['id']}: its newest artifact is a"
            f" {newest.get('artifactType')} ({newest.get('name')!r}), and the registry's storage initializer reads"
            " only the newest one"
        )
    if not newest.get("uri"):
        raise StorageError(f"{uri}: model artifact {newest.get('id')} has an empty URI")
    return str(newest["uri"])


def _version(
    base: str, uri: str, registered: dict[str, Any], model: str, version: str | None, timeout: float
) -> dict[str, Any]:
    """The named version, or the newest by id (ARCHIVED ones included)."""
    if version is not None:
        found = _get(base, "/model_version", {"name": version, "parentResourceId": registered["id"]}, timeout)
        if found is None:
            raise StorageError(f"{uri}: model {model!r} has no version {version!r} in the Model Registry at {base}")
        return found
    listing = _get(base, f"/registered_models/{registered['id']}/versions", {"sortOrder": "DESC"}, timeout)
    versions = sorted((listing or {}).get("items") or [], key=lambda v: int(v.get("id") or 0), reverse=True)
    if not versions:
        raise StorageError(f"{uri}: no versions associated to registered model {model!r}")
    return versions[0]
