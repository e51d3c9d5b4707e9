"""What the ``register_model`` pod does, as plain functions: build the records, register them idempotently.

These functions are embedded into the component (``REGISTRATION_FUNCTIONS``, together with the helpers of
``components/_common``) and called directly by tests. :func:`run_register_model` is the whole job; the
``@dsl.component`` only unpacks its artifacts and calls it.

Idempotency: the ModelVersion's ``externalId`` is ``kfp:<run id>:<task name>:<model name>:<12 hex of
sha256(model uri)>`` when the run id is known (the URI part tells apart the iterations of a ``ParallelFor``).
ExternalIds are unique in the registry, so a retried or re-run task finds the version it created before and
completes it (missing artifacts are added), and a concurrent duplicate gets 409 and reads it back. Without a
run id the key is ``kfp:attempt:<random>:<model name>``: it only protects the retried writes of one attempt
(an answer lost on the network). Version names are unique per model: an automatic SemVer bump that loses a
race gets 409 and tries the next number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, connect_model_registry
from kfp_model_lifecycle.lineage.context import (
    RunContext,
    collect_run_context,
    is_missing_value,
)
from kfp_model_lifecycle.lineage.sources import describe_dataset_input, find_code_version, find_training_image


def check_registry_name(value: str, what: str) -> str:
    """Validate a registered-model or version name.

    Args:
        value: The name.
        what: The input it came from, for the message (e.g. ``"model_name"``).

    Returns:
        The name without surrounding white space.

    Raises:
        ValueError: For an empty name, one longer than 255 characters, or one with ``/`` or control characters.
    """
    name = (value or "").strip() if isinstance(value, str) else ""
    if not name:
        raise ValueError(f"{what} is empty: give a name, e.g. 'iris-classifier'")
    if len(name) > 255:
        raise ValueError(f"{what} {name[:40]!r}... is {len(name)} characters long: at most 255 are allowed")
    if "/" in name:
        raise ValueError(
            f"{what} {name!r} contains '/': not allowed, because model-registry://<model>/<version> URIs (KServe) and"
            f" the registry UI split on it; use '-' instead, e.g. {name.replace('/', '-')!r}"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError(f"{what} {name!r} contains control characters: use printable characters only")
    return name


def parse_version_request(version: str) -> tuple[str, str]:
    """Interpret the ``version`` input: an automatic SemVer bump or an explicit version name.

    Args:
        version: ``"major"``, ``"minor"``, ``"patch"`` (case-insensitive; "" means ``patch``) or a version name.

    Returns:
        ``("bump", "major"|"minor"|"patch")`` or ``("name", <version name>)``.

    Raises:
        ValueError: For an invalid explicit name.
    """
    text = (version or "").strip()
    if text.lower() in ("", "major", "minor", "patch"):
        return "bump", text.lower() or "patch"
    return "name", check_registry_name(text, "version")


def parse_semver(name: str) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of a plain SemVer name like ``1.4.2``, else None (pre-releases do not count).

    Args:
        name: A version name.

    Returns:
        The numbers or None.
    """
    match = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", (name or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def next_semver(names: Iterable[str], bump: str, floor: tuple[int, int, int] | None = None) -> str:
    """The next version name after the highest SemVer among ``names`` (and ``floor``).

    Args:
        names: Existing version names; names that are not ``MAJOR.MINOR.PATCH`` are ignored.
        bump: ``major``, ``minor`` or ``patch``.
        floor: A version known to be taken even if not listed yet (after a name clash).

    Returns:
        ``1.0.0`` when there is no SemVer version yet, else the bumped version.

    Raises:
        ValueError: For an unknown ``bump``.
    """
    if bump not in ("major", "minor", "patch"):
        raise ValueError(f"version bump {bump!r} is not one of 'major', 'minor', 'patch'")
    versions = [v for v in (parse_semver(n) for n in names) if v is not None]
    if floor is not None:
        versions.append(floor)
    if not versions:
        return "1.0.0"
    major, minor, patch = max(versions)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def to_metadata_value(value: Any) -> dict[str, Any] | None:
    """A Python value as a registry ``customProperties`` value (``MetadataValue`` wire form).

    Args:
        value: bool, int, float, str; dicts, lists and other objects become JSON (or ``str``) strings.

    Returns:
        e.g. ``{"int_value": "10", "metadataType": "MetadataIntValue"}``; None for None.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return {"bool_value": value, "metadataType": "MetadataBoolValue"}
    if isinstance(value, int):
        return {"int_value": str(value), "metadataType": "MetadataIntValue"}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"double_value": value, "metadataType": "MetadataDoubleValue"}
        return {"string_value": str(value), "metadataType": "MetadataStringValue"}
    if isinstance(value, str):
        return {"string_value": value, "metadataType": "MetadataStringValue"}
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, default=str)
        return {"string_value": text, "metadataType": "MetadataStringValue"}
    return {"string_value": str(value), "metadataType": "MetadataStringValue"}


def build_version_properties(
    context: RunContext,
    *,
    model_uri: str,
    datasets: list[dict[str, Any]] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    model_metadata: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    code_version: str = "",
    training_image: str = "",
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The ModelVersion's ``customProperties``: lineage, datasets, hyperparameters, metrics and labels.

    Keys: ``kfp_run_id``, ``kfp_run_name``, ``kfp_pipeline_name``, ``kfp_namespace``, ``kfp_task_name``,
    ``kfp_run_url``, ``kfp_model_uri``, ``code_version``, ``training_image`` (strings; absent when unknown);
    ``dataset_<i>_uri``, ``dataset_<i>_sha256``, ``dataset_<i>_role``; ``hp_<name>`` typed (int, double, bool,
    string; dicts and lists as JSON strings; numeric strings as numbers) from ``model_metadata["hyperparameters"]``
    overridden by ``hyperparameters``; the other ``model_metadata`` keys as ``model_meta_<key>``;
    metrics under their own names as doubles (so ``accuracy > 0.9`` works in a filterQuery); labels as string
    properties with value "" (shown as labels by the registry UI). On a name clash the later group wins, in
    the order labels, hyperparameters, metrics, datasets, lineage.

    Args:
        context: From ``collect_run_context``.
        model_uri: The model artifact's URI.
        datasets: From ``describe_dataset_input``, in order.
        hyperparameters: The ``hyperparameters`` input.
        model_metadata: The model artifact's metadata (its ``hyperparameters`` dict, if any, as ``hp_*``; the rest
            as ``model_meta_*``).
        metrics: The Metrics artifact's metadata (name -> number).
        labels: Label strings.
        code_version: Git commit or other code version ("" when unknown).
        training_image: Training image ("" when unknown).

    Returns:
        ``(properties, notes)``: the wire-form map and notes on values that were skipped or overridden.
    """
    notes: list[str] = []
    props: dict[str, dict[str, Any]] = {}

    def put(key: str, value: Any, group: str) -> None:
        meta = to_metadata_value(value)
        if not key or meta is None:
            return
        if key in props:
            notes.append(f"{group} {key!r} replaces an earlier property of the same name")
        props[key] = meta

    for label in labels or []:
        if isinstance(label, str) and label.strip():
            put(label.strip(), "", "label")

    def parameter_value(value: Any) -> Any:
        # Pipeline parameters inside a dict reach the pod as strings ("150", "0.25"): record them as numbers.
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value.strip()):
            return float(value)
        return value

    skipped_meta = ("registered_models", "display_name", "hyperparameters")
    meta = dict(model_metadata or {})
    nested = meta.get("hyperparameters")
    merged = dict(nested) if isinstance(nested, Mapping) else {}
    merged.update(hyperparameters or {})
    for name, value in merged.items():
        if value is None:
            notes.append(f"hyperparameter {name!r} is None: not recorded")
            continue
        put(f"hp_{name}", parameter_value(value), "hyperparameter")
    for name, value in meta.items():
        if name not in skipped_meta and value is not None:
            put(f"model_meta_{name}", value, "model metadata")
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            notes.append(f"metric {name!r} = {value!r} is not a number: not recorded")
            continue
        put(str(name), float(value), "metric")
    for i, dataset in enumerate(datasets or []):
        put(f"dataset_{i}_uri", dataset.get("uri") or "", "dataset")
        put(f"dataset_{i}_role", dataset.get("role") or "", "dataset")
        if dataset.get("sha256"):
            put(f"dataset_{i}_sha256", dataset["sha256"], "dataset")
    lineage = {
        "kfp_run_id": context.run_id,
        "kfp_run_name": context.run_name,
        "kfp_pipeline_name": context.pipeline_name,
        "kfp_namespace": context.namespace,
        "kfp_task_name": context.task_name,
        "kfp_run_url": context.run_url,
        "kfp_model_uri": model_uri,
        "code_version": code_version,
        "training_image": training_image,
    }
    for key, value in lineage.items():
        if value:
            put(key, str(value), "lineage")
    return props, notes


def build_model_artifact(
    model_name: str,
    model_uri: str,
    context: RunContext,
    *,
    model_format_name: str = "",
    model_format_version: str = "",
    storage_key: str = "",
    storage_path: str = "",
    service_account_name: str = "",
) -> dict[str, Any]:
    """The ModelArtifact (wire form) with the KFP lineage in its ``modelSource*`` fields.

    Named after the model, as the official client does (so ``ModelRegistry.get_model_artifact(name, version)``
    finds it). ``modelSourceKind="kfp"``, ``modelSourceClass="pipelinerun"``, ``modelSourceGroup=<namespace>``,
    ``modelSourceId=<run id>``, ``modelSourceName=<run name>``; unknown values are left out.

    Args:
        model_name: The registered model's name.
        model_uri: The model artifact's URI.
        context: From ``collect_run_context``.
        model_format_name: e.g. ``sklearn``.
        model_format_version: e.g. ``1``.
        storage_key: Name of the storage connection (secret) KServe uses to read ``uri``.
        storage_path: Path inside the storage.
        service_account_name: Service account with access to the storage.

    Returns:
        The request body for ``POST /model_versions/{id}/artifacts``.
    """
    body = {
        "artifactType": "model-artifact",
        "name": model_name,
        "uri": model_uri,
        "state": "LIVE",
        "modelFormatName": model_format_name,
        "modelFormatVersion": model_format_version,
        "storageKey": storage_key,
        "storagePath": storage_path,
        "serviceAccountName": service_account_name,
        "modelSourceKind": "kfp",
        "modelSourceClass": "pipelinerun",
        "modelSourceGroup": context.namespace or "",
        "modelSourceId": context.run_id or "",
        "modelSourceName": context.run_name or "",
    }
    return {k: v for k, v in body.items() if v}


def build_dataset_artifacts(datasets: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """``dataset-artifact`` records (wire form) for the datasets, linked to the version later.

    Args:
        datasets: From ``describe_dataset_input``.

    Returns:
        One body per dataset with a URI: name ``<role>-dataset``, ``uri``, ``digest`` (``sha256:<hex>`` when
        the content was readable) and the role and KFP artifact name as custom properties.
    """
    bodies = []
    for dataset in datasets or []:
        if not dataset.get("uri"):
            continue
        body: dict[str, Any] = {
            "artifactType": "dataset-artifact",
            "name": f"{dataset.get('role') or 'data'}-dataset",
            "uri": dataset["uri"],
            "state": "LIVE",
            "customProperties": {
                "role": to_metadata_value(dataset.get("role") or ""),
                "kfp_artifact_name": to_metadata_value(dataset.get("name") or ""),
            },
        }
        if dataset.get("sha256"):
            body["digest"] = f"sha256:{dataset['sha256']}"
        bodies.append(body)
    return bodies


def registration_key(context: RunContext, model_name: str, model_uri: str) -> str:
    """The idempotency key (ModelVersion ``externalId``) of this registration, or "" without a run id.

    Args:
        context: From ``collect_run_context``.
        model_name: The registered model's name.
        model_uri: The model artifact's URI.

    Returns:
        ``kfp:<run id>:<task name>:<model name>:<first 12 hex of sha256(model uri)>``, or "".
    """
    if not context.run_id:
        return ""
    uri_hash = hashlib.sha256((model_uri or "").encode("utf-8")).hexdigest()[:12]
    return f"kfp:{context.run_id}:{context.task_name}:{model_name}:{uri_hash}"


def get_or_create_registered_model(
    conn: RegistryConnection, model_name: str, *, owner: str = "", description: str = ""
) -> dict[str, Any]:
    """The RegisteredModel named ``model_name``, created when missing (safe against concurrent creation).

    Args:
        conn: From ``connect_model_registry``.
        model_name: The model's name.
        owner: Owner recorded when the model is created.
        description: Description recorded when the model is created.

    Returns:
        The RegisteredModel (wire form).

    Raises:
        RuntimeError: When the model can neither be created nor found.
    """
    log = logging.getLogger("kfp_model_lifecycle")

    def find() -> dict[str, Any] | None:
        return conn.call(
            f"find registered model {model_name!r}",
            lambda api: api.find_registered_model(name=model_name),
            tolerate=(404,),
        )

    found = find()
    if found:
        if found.get("state") == "ARCHIVED":
            log.warning("registered model %r is ARCHIVED: the new version is added anyway", model_name)
        return found
    body = {k: v for k, v in {"name": model_name, "owner": owner, "description": description}.items() if v}
    created = conn.call(
        f"create registered model {model_name!r}",
        lambda api: api.create_registered_model(models.RegisteredModelCreate.from_dict(body)),
        tolerate=(409,),
    )
    if created:
        log.info("created registered model %r (id %s)", model_name, created.get("id"))
        return created
    found = find()  # created concurrently by another task
    if not found:
        raise RuntimeError(
            f"Model Registry at {conn.url}: creating registered model {model_name!r} conflicted (409) but it"
            " cannot be found by name: check the registry's health and re-run"
        )
    return found


def create_model_version(
    conn: RegistryConnection,
    model: Mapping[str, Any],
    version: str,
    body: Mapping[str, Any],
    *,
    external_id: str = "",
    max_attempts: int = 25,
) -> tuple[dict[str, Any], bool]:
    """Create the ModelVersion, or return the one this registration created before.

    Args:
        conn: From ``connect_model_registry``.
        model: The RegisteredModel (wire form).
        version: ``major``/``minor``/``patch`` (next SemVer after the highest registered; first ``1.0.0``) or an
            explicit version name.
        body: The rest of the ModelVersion create body (description, author, customProperties...).
        external_id: The idempotency key ("" for none).
        max_attempts: Bound on name clashes with concurrent registrations (automatic bumps).

    Returns:
        ``(version, reused)``: reused is True when the version already existed with ``external_id``.

    Raises:
        ValueError: When an explicit version name is already taken by another registration.
        RuntimeError: When no free version name was found within ``max_attempts``.
    """
    model_id = str(model["id"])
    model_name = model.get("name") or model_id
    kind, value = parse_version_request(version)

    def find_mine() -> dict[str, Any] | None:
        if not external_id:
            return None
        return conn.call(
            f"find model version by externalId {external_id!r}",
            lambda api: api.find_model_version(external_id=external_id),
            tolerate=(404,),
        )

    floor = None
    for attempt in range(1, max_attempts + 1):
        if kind == "bump":
            names = [
                str(item.get("name") or "")
                for item in conn.list_all(
                    f"list versions of model {model_name!r}",
                    lambda api, token: api.get_registered_model_versions(
                        model_id, page_size="100", order_by="ID", next_page_token=token
                    ),
                )
            ]
            name = next_semver(names, value, floor)
        else:
            name = value
        request = {**body, "name": name, "registeredModelId": model_id}
        if external_id:
            request["externalId"] = external_id
        created = conn.call(
            f"create version {name!r} of model {model_name!r}",
            lambda api, r=request: api.create_model_version(models.ModelVersionCreate.from_dict(r)),
            tolerate=(409,),
        )
        if created:
            return created, False
        mine = find_mine()  # a conflict on externalId: this registration's own earlier (or concurrent) attempt
        if mine:
            return mine, True
        if kind == "name":
            other = conn.call(
                f"find version {name!r} of model {model_name!r}",
                lambda api, n=name: api.find_model_version(name=n, parent_resource_id=model_id),
                tolerate=(404,),
            )
            origin = (other or {}).get("externalId") or "another registration"
            raise ValueError(
                f"version {name!r} of model {model_name!r} already exists (version id {(other or {}).get('id', '?')},"
                f" created by {origin}): pass another version name, or version='patch' (or 'minor'/'major') to"
                " take the next free SemVer"
            )
        floor = parse_semver(name)
        time.sleep(random.uniform(0, 0.02 * attempt))  # spread out concurrent registrations
    raise RuntimeError(
        f"no free version name for model {model_name!r} after {max_attempts} attempts: many registrations are"
        " running at once; re-run the task (it resumes safely)"
    )


def ensure_version_artifacts(
    conn: RegistryConnection, version_id: str, artifacts: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Create and link the artifacts the version lacks (matched by name); existing ones are kept as they are.

    Args:
        conn: From ``connect_model_registry``.
        version_id: The ModelVersion id.
        artifacts: Artifact bodies (wire form, with ``artifactType`` and ``name``).

    Returns:
        Artifact name -> the artifact as stored.

    Raises:
        RuntimeError: When an artifact can neither be created nor found.
    """
    log = logging.getLogger("kfp_model_lifecycle")

    def current() -> dict[str, dict[str, Any]]:
        items = conn.list_all(
            f"list artifacts of model version {version_id}",
            lambda api, token: api.get_model_version_artifacts(version_id, page_size="100", next_page_token=token),
        )
        return {str(item.get("name")): item for item in items}

    existing = current()
    for body in artifacts:
        name = str(body["name"])
        if name in existing:
            stored = existing[name]
            if body.get("uri") and stored.get("uri") != body.get("uri"):
                log.warning(
                    "artifact %r of version %s already points at %s (kept; this run has %s)",
                    name,
                    version_id,
                    stored.get("uri"),
                    body.get("uri"),
                )
            continue
        created = conn.call(
            f"add {body['artifactType']} {name!r} to model version {version_id}",
            lambda api, b=body: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(b)),
            tolerate=(409,),
        )
        if not created:
            existing = current()  # added concurrently, or by an earlier attempt whose answer was lost
            if name not in existing:
                raise RuntimeError(
                    f"Model Registry at {conn.url}: adding artifact {name!r} to model version {version_id}"
                    " conflicted (409) but the version has no artifact of that name: re-run the task"
                )
            created = existing[name]
        existing[name] = created
    return existing


def register_model_version(
    conn: RegistryConnection,
    *,
    model_name: str,
    version: str,
    external_id: str,
    model_artifact: dict[str, Any],
    dataset_artifacts: list[dict[str, Any]],
    properties: dict[str, Any],
    description: str = "",
    author: str = "",
    owner: str = "",
) -> dict[str, Any]:
    """Register (or complete the earlier registration of) one model version with its artifacts.

    Order of writes: RegisteredModel (if missing) -> ModelVersion with all its properties -> ModelArtifact ->
    dataset artifacts. A failure in between leaves a version without (some) artifacts; re-running with the same
    ``external_id`` finds that version and adds what is missing.

    Args:
        conn: From ``connect_model_registry``.
        model_name: The registered model's name.
        version: ``major``/``minor``/``patch`` or an explicit version name.
        external_id: Idempotency key ("" for none: then a re-run creates another version).
        model_artifact: From :func:`build_model_artifact`.
        dataset_artifacts: From :func:`build_dataset_artifacts`.
        properties: From :func:`build_version_properties`.
        description: Version description.
        author: Version author.
        owner: Owner of the registered model (when it is created); defaults to ``author``.

    Returns:
        ``model_id``, ``model_name``, ``version_id``, ``version_name``, ``model_artifact_id``,
        ``dataset_artifact_ids`` and ``reused`` (True when the version existed already).
    """
    log = logging.getLogger("kfp_model_lifecycle")
    model = get_or_create_registered_model(conn, model_name, owner=owner or author)
    body = {
        k: v
        for k, v in {
            "description": description,
            "author": author,
            "state": "LIVE",
            "customProperties": properties,
        }.items()
        if v
    }
    mv, reused = create_model_version(conn, model, version, body, external_id=external_id)
    if reused:
        log.info(
            "this task registered version %r (id %s) before (externalId %s): completing and returning it",
            mv.get("name"),
            mv.get("id"),
            external_id,
        )
        if str(mv.get("registeredModelId")) != str(model["id"]):
            raise RuntimeError(
                f"externalId {external_id!r} belongs to a version of another registered model"
                f" (id {mv.get('registeredModelId')}): the registry is inconsistent; use another model_name"
            )
    stored = ensure_version_artifacts(conn, str(mv["id"]), [model_artifact, *dataset_artifacts])
    model_art = stored.get(model_artifact["name"]) or {}
    return {
        "model_id": str(model["id"]),
        "model_name": model_name,
        "version_id": str(mv["id"]),
        "version_name": str(mv["name"]),
        "model_artifact_id": str(model_art.get("id") or ""),
        "dataset_artifact_ids": [str((stored.get(d["name"]) or {}).get("id") or "") for d in dataset_artifacts],
        "reused": reused,
    }


def registered_model_output(result: Mapping[str, Any], registry_url: str, model_uri: str) -> dict[str, Any]:
    """Metadata for the output Model artifact, following the KFP <-> Model Registry convention.

    Args:
        result: From :func:`register_model_version`.
        registry_url: The registry base URL.
        model_uri: The registered model's storage URI.

    Returns:
        ``registered_models`` (a one-item list of ``{modelName, versionName, versionID, modelID,
        modelRegistryURL}``) plus flat ``model_name``, ``model_id``, ``version_name``, ``version_id``,
        ``registry_url``, ``model_uri`` and ``storage_uri`` (``model-registry://<model>/<version>`` for KServe).
    """
    entry = {
        "modelName": result["model_name"],
        "versionName": result["version_name"],
        "versionID": result["version_id"],
        "modelID": result["model_id"],
        "modelRegistryURL": registry_url,
    }
    return {
        "registered_models": [entry],
        "model_name": result["model_name"],
        "model_id": result["model_id"],
        "version_name": result["version_name"],
        "version_id": result["version_id"],
        "registry_url": registry_url,
        "model_uri": model_uri,
        "storage_uri": f"model-registry://{result['model_name']}/{result['version_name']}",
    }


def write_json_atomically(path: str, data: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename, so readers never see half a file.

    Args:
        path: Destination file (parent directories are created).
        data: JSON-serialisable mapping.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_register_model(
    *,
    model_uri: str,
    model_name: str,
    model_path: str = "",
    model_metadata: Mapping[str, Any] | None = None,
    version: str = "patch",
    model_format_name: str = "",
    model_format_version: str = "",
    metrics: Mapping[str, Any] | None = None,
    datasets: list[dict[str, Any]] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    description: str = "",
    author: str = "",
    owner: str = "",
    storage_key: str = "",
    storage_path: str = "",
    service_account_name: str = "",
    code_version: str = "",
    training_image: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    output_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """The whole ``register_model`` job on plain values: collect lineage, connect, register, write the output.

    Args:
        model_uri: The trained model artifact's URI (recorded as the ModelArtifact ``uri``).
        model_name: Registered model name (created if missing).
        model_path: The model's local path in the pod (unused for registration; logged when the URI is empty).
        model_metadata: The model artifact's metadata (format defaults, hyperparameters, code version, image).
        version: ``patch`` (default), ``minor``, ``major`` or an explicit version name.
        model_format_name: Model format; default ``model_metadata`` ``model_format_name``/``framework``/``format``.
        model_format_version: Format version; default ``model_metadata`` ``model_format_version``/
            ``framework_version``/``format_version``.
        metrics: The Metrics artifact's metadata.
        datasets: ``[{"role", "name", "uri", "path", "metadata"}]`` of the dataset inputs.
        hyperparameters: Extra hyperparameters.
        labels: Labels for the version.
        description: Version description.
        author: Version author.
        owner: Registered model owner (when created); defaults to ``author``.
        storage_key: ModelArtifact ``storageKey``.
        storage_path: ModelArtifact ``storagePath``.
        service_account_name: ModelArtifact ``serviceAccountName``.
        code_version: Git commit; default from metadata or CI env vars.
        training_image: Training image; default from metadata or ``KML_TRAINING_IMAGE``.
        run_id: KFP run id (placeholder value).
        run_name: KFP run name (placeholder value).
        pipeline_name: Pipeline name.
        task_name: KFP task name (placeholder value).
        namespace: Namespace (else ``POD_NAMESPACE`` or the service-account file).
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify TLS certificates.
        ca_bundle_path: CA bundle for https.
        output_path: Where to write the output pointer file ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed ``collect_run_context`` result (tests); default: collected here.

    Returns:
        The :func:`register_model_version` result plus ``registry_url``, ``external_id``, ``context``,
        ``properties`` and ``output_metadata`` (for the output artifact).
    """
    log = logging.getLogger("kfp_model_lifecycle")
    env = os.environ if env is None else env
    model_name = check_registry_name(model_name, "model_name")
    parse_version_request(version)
    if is_missing_value(model_uri):
        raise ValueError(
            f"the model artifact has no URI (path {model_path!r}): pass the output Model of a training task as"
            " the model input"
        )
    metadata = dict(model_metadata or {})
    if context is None:
        context = collect_run_context(run_id, run_name, pipeline_name, task_name, namespace, kfp_ui_url, env=env)
    missing = dict(context.missing)

    format_name = model_format_name.strip() if not is_missing_value(model_format_name) else ""
    for key in ("model_format_name", "framework", "format"):
        if not format_name and not is_missing_value(metadata.get(key)):
            format_name = str(metadata[key]).strip()
    format_version = model_format_version.strip() if not is_missing_value(model_format_version) else ""
    for key in ("model_format_version", "framework_version", "format_version"):
        if not format_version and not is_missing_value(metadata.get(key)):
            format_version = str(metadata[key]).strip()
    if not format_name:
        missing["model_format_name"] = (
            "set model_format_name, or model.metadata['framework'] in the training component (KServe needs it)"
        )
    code, code_source = find_code_version(code_version, metadata, env)
    if not code:
        missing["code_version"] = (
            "pass code_version, set model.metadata['code_version'], or a CI variable such as GIT_COMMIT"
        )
    image, image_source = find_training_image(training_image, metadata, env)
    if not image:
        missing["training_image"] = "pass training_image or set model.metadata['training_image'] when training"

    described = []
    for item in datasets or []:
        info = describe_dataset_input(
            str(item.get("role") or "data"),
            str(item.get("name") or ""),
            str(item.get("uri") or ""),
            str(item.get("path") or ""),
            item.get("metadata"),
        )
        if info["problem"]:
            log.warning("dataset %s (%s): no sha256 digest: %s", info["role"], info["uri"], info["problem"])
        described.append(info)

    properties, notes = build_version_properties(
        context,
        model_uri=model_uri,
        datasets=described,
        hyperparameters=hyperparameters,
        model_metadata=metadata,
        metrics=metrics,
        labels=labels,
        code_version=code,
        training_image=image,
    )
    for note in notes:
        log.warning("%s", note)
    model_artifact = build_model_artifact(
        model_name,
        model_uri,
        context,
        model_format_name=format_name,
        model_format_version=format_version,
        storage_key=storage_key,
        storage_path=storage_path,
        service_account_name=service_account_name,
    )
    external_id = registration_key(context, model_name, model_uri)

    for field, source in sorted(context.sources.items()):
        log.info("lineage: %s = %r (from %s)", field, context.value(field), source)
    if code:
        log.info("lineage: code_version = %r (from %s)", code, code_source)
    if image:
        log.info("lineage: training_image = %r (from %s)", image, image_source)
    for field, hint in missing.items():
        log.warning("lineage: could not find %s -- not recorded; to record it: %s", field, hint)
    for note in context.notes:
        log.info("lineage: %s", note)
    if not external_id:
        # Without a run id nothing identifies this task across retries; a one-off key still makes the retries of
        # this attempt's own writes (an answer lost on the network) find what they created.
        external_id = f"kfp:attempt:{uuid.uuid4().hex}:{model_name}"
        log.warning(
            "no run id, so this registration has no idempotency key: a retried task may register another version"
        )

    conn = connect_model_registry(registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env)
    try:
        result = register_model_version(
            conn,
            model_name=model_name,
            version=version,
            external_id=external_id,
            model_artifact=model_artifact,
            dataset_artifacts=build_dataset_artifacts(described),
            properties=properties,
            description=description,
            author=author,
            owner=owner,
        )
    finally:
        conn.close()
    output_metadata = registered_model_output(result, conn.url, model_uri)
    if format_name:
        output_metadata["model_format_name"] = format_name
    if format_version:
        output_metadata["model_format_version"] = format_version
    if output_path:
        pointer = dict(output_metadata["registered_models"][0])
        pointer.update({"modelUri": model_uri, "storageUri": output_metadata["storage_uri"]})
        write_json_atomically(output_path, pointer)
    log.info(
        "%s model %r version %r (model id %s, version id %s) in %s",
        "returned the earlier registration of" if result["reused"] else "registered",
        model_name,
        result["version_name"],
        result["model_id"],
        result["version_id"],
        conn.url,
    )
    result.update(
        {
            "registry_url": conn.url,
            "external_id": external_id,
            "context": context,
            "missing": missing,
            "properties": properties,
            "output_metadata": output_metadata,
        }
    )
    return result
