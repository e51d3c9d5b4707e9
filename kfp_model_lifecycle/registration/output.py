"""The ``registered_model`` output: metadata following the KFP <-> Model Registry convention, and a pointer file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.lifecycle import write_text_atomically
from kfp_model_lifecycle.registration.artifacts import ModelFormat
from kfp_model_lifecycle.registration.writes import RegisteredVersion

STORAGE_URI_SCHEME = "model-registry://"


def registered_model_output(
    registered: RegisteredVersion, registry_url: str, model_uri: str, model_format: ModelFormat | None = None
) -> dict[str, Any]:
    """Metadata for the output Model artifact, following the KFP <-> Model Registry convention.

    Args:
        registered: From ``register_model_version``.
        registry_url: The registry base URL.
        model_uri: The registered model's storage URI.
        model_format: The model's serving format, when known.

    Returns:
        ``registered_models`` (a one-item list of ``{modelName, versionName, versionID, modelID,
        modelRegistryURL}``) plus flat ``model_name``, ``model_id``, ``version_name``, ``version_id``,
        ``registry_url``, ``model_uri``, ``storage_uri`` (``model-registry://<model>/<version>`` for KServe) and,
        when known, ``model_format_name`` and ``model_format_version``.
    """
    entry = {
        "modelName": registered.model_name,
        "versionName": registered.version_name,
        "versionID": registered.version_id,
        "modelID": registered.model_id,
        "modelRegistryURL": registry_url,
    }
    model_format = model_format or ModelFormat()
    known_format = {"model_format_name": model_format.name, "model_format_version": model_format.version}
    return {
        "registered_models": [entry],
        "model_name": registered.model_name,
        "model_id": registered.model_id,
        "version_name": registered.version_name,
        "version_id": registered.version_id,
        "registry_url": registry_url,
        "model_uri": model_uri,
        "storage_uri": f"{STORAGE_URI_SCHEME}{registered.model_name}/{registered.version_name}",
        **{key: value for key, value in known_format.items() if value},
    }


def output_pointer(output_metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The content of the output artifact's file: the ``registered_models`` entry with the model's URIs.

    Args:
        output_metadata: From :func:`registered_model_output`.

    Returns:
        ``{modelName, versionName, versionID, modelID, modelRegistryURL, modelUri, storageUri}``.
    """
    pointer = dict(output_metadata["registered_models"][0])
    pointer.update({"modelUri": output_metadata["model_uri"], "storageUri": output_metadata["storage_uri"]})
    return pointer


def write_json_atomically(path: str, data: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename, so readers never see half a file.

    Args:
        path: Destination file (parent directories are created).
        data: JSON-serialisable mapping.

    Raises:
        TypeError: When ``data`` is not JSON-serialisable (nothing is written then).
    """
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
