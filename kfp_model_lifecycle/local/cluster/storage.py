"""The local cluster's storage initializer: turn a ``storageUri`` into a local model path.

Supported:

- a local absolute path or ``file://`` URI (a directory or a model file);
- ``model-registry://<model>[/<version>]`` (also ``model-registry://<host:port>/<model>/<version>``, and a
  ``?namespace=`` query, which is ignored): looked up in the Kubeflow Model Registry REST API v1 like KServe's
  model-registry storage initializer does (registered model by name -> the version, or the newest LIVE one ->
  its model artifact's ``uri``), then that URI is resolved again (it must be a local path or ``file://``: the
  example pipeline registers local paths when it runs locally).

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
REGISTRY_API = "/api/model_registry/v1"


class StorageError(RuntimeError):
    """The storageUri cannot be resolved to local model files (the message names the fix)."""


def resolve_storage_uri(
    uri: str, *, registry_url: str | None = None, registry_token: str | None = None, timeout: float = 10.0
) -> Path:
    """Resolve ``uri`` to an existing local directory or file.

    Args:
        uri: The InferenceService's ``spec.predictor.model.storageUri``.
        registry_url: Base URL of the Model Registry (``http://127.0.0.1:8080``), for ``model-registry://``.
        registry_token: Optional bearer token for the registry.
        timeout: Seconds per registry request.

    Returns:
        The local path.

    Raises:
        StorageError: when the URI cannot be resolved, with the reason and what to do.
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == REGISTRY_SCHEME:
        artifact_uri = _from_registry(parsed, registry_url, registry_token, timeout)
        if urllib.parse.urlparse(artifact_uri).scheme == REGISTRY_SCHEME:
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


def _get(base: str, path: str, params: dict[str, str], token: str | None, timeout: float) -> dict[str, Any] | None:
    url = f"{base}{REGISTRY_API}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked scheme
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        detail = exc.read()[:300]
        raise StorageError(f"the Model Registry at {base} answered {exc.code} to GET {path}: {detail!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StorageError(f"the Model Registry at {base} is unreachable ({exc}); is it running?") from None


def _from_registry(
    parsed: urllib.parse.ParseResult, registry_url: str | None, token: str | None, timeout: float
) -> str:
    """The model artifact URI of ``model-registry://[host:port/]<model>[/<version>]``."""
    uri = parsed.geturl()
    parts = [urllib.parse.unquote(p) for p in [parsed.netloc, *parsed.path.split("/")] if p]
    if len(parts) == 3:
        base: str | None = f"http://{parts[0]}"
        model, version = parts[1], parts[2]
    elif len(parts) in (1, 2):
        base = registry_url
        model, version = parts[0], (parts[1] if len(parts) == 2 else None)
    else:
        raise StorageError(f"{uri}: expected model-registry://<model>[/<version>] or model-registry://<host:port>/...")
    if not base:
        raise StorageError(
            f"{uri}: the local cluster has no Model Registry URL; start it with LocalCluster(registry_url=...) "
            "or `kml cluster up --registry-url http://127.0.0.1:PORT`"
        )
    base = base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    registered = _get(base, "/registered_model", {"name": model}, token, timeout)
    if registered is None:
        raise StorageError(f"{uri}: no registered model named {model!r} in the Model Registry at {base}")
    if version is not None:
        found = _get(base, "/model_version", {"name": version, "parentResourceId": registered["id"]}, token, timeout)
        if found is None:
            raise StorageError(f"{uri}: model {model!r} has no version {version!r} in the Model Registry at {base}")
    else:
        listing = _get(
            base,
            f"/registered_models/{registered['id']}/versions",
            {"orderBy": "CREATE_TIME", "sortOrder": "DESC"},
            token,
            timeout,
        )
        live = [v for v in (listing or {}).get("items", []) if v.get("state", "LIVE") != "ARCHIVED"]
        if not live:
            raise StorageError(f"{uri}: model {model!r} has no live version in the Model Registry at {base}")
        found = live[0]
    artifacts = _get(base, f"/model_versions/{found['id']}/artifacts", {}, token, timeout) or {}
    models = [a for a in artifacts.get("items", []) if a.get("artifactType") == "model-artifact" and a.get("uri")]
    if not models:
        raise StorageError(
            f"{uri}: version {found.get('name')!r} of {model!r} has no model artifact with a uri in the Model Registry"
        )
    return str(models[-1]["uri"])
