"""Writing a registration to the Model Registry idempotently: model, version, artifacts.

Idempotency: the ModelVersion's ``externalId`` is ``kfp:<run id>:<task name>:<model name>:<12 hex of
sha256(model uri)>`` when the run id is known (the URI part tells apart the iterations of a ``ParallelFor``;
a key longer than the registry's 255 characters is shortened to its head and a sha256 digest).
ExternalIds are unique in the registry, so a retried or re-run task finds the version it created before and
completes it (missing artifacts are added), and a concurrent duplicate gets 409 and reads it back. Without a
run id the key is ``kfp:attempt:<random>:<model name>``: it only protects the retried writes of one attempt
(an answer lost on the network). Version names are unique per model: an automatic SemVer bump that loses a
race gets 409 and tries the next number.

Cost: a registration makes the same few requests whatever the number of versions the model has. The next SemVer
comes from the newest versions only (:func:`walk_newest_versions`): each version records the model's highest
SemVer when it was registered (``semver_high_water``), so the walk stops at the newest version that has one.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mr_openapi import models

from kfp_model_lifecycle.client import RegistryConnection, Wire
from kfp_model_lifecycle.errors import ConcurrencyError, InvalidInputError, RegistryError
from kfp_model_lifecycle.lineage.context import RunContext
from kfp_model_lifecycle.log import logger
from kfp_model_lifecycle.registration.artifacts import (
    LIVE,
    ensure_dataset_artifacts,
    ensure_model_artifact,
    model_artifact_for_version,
)
from kfp_model_lifecycle.registration.names import bounded_external_id
from kfp_model_lifecycle.registration.properties import Properties, to_metadata_value
from kfp_model_lifecycle.registration.versions import (
    HIGH_WATER_PROPERTY,
    NewestFirstWalk,
    SemVer,
    SemVerBump,
    bump_semver,
    max_semver,
    parse_semver,
    parse_version_request,
)

MAX_VERSION_ATTEMPTS = 25
URI_HASH_LENGTH = 12
# Versions read to find the next SemVer: the newest page, then (while no high-water mark was seen) larger pages.
FIRST_PAGE_SIZE = "20"
WALK_PAGE_SIZE = "500"
MAX_WALK_PAGES = 10_000


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version as registered (or found registered by an earlier attempt), with its artifacts.

    Attributes:
        model_id: Id of the RegisteredModel.
        model_name: Name of the RegisteredModel.
        version_id: Id of the ModelVersion.
        version_name: Name of the ModelVersion, e.g. ``1.0.3``.
        model_artifact_id: Id of the ModelArtifact ("" when the registry did not say).
        dataset_artifact_ids: Ids of the dataset artifacts, in the order of the datasets.
        reused: True when the version existed already (this task registered it before).
    """

    model_id: str
    model_name: str
    version_id: str
    version_name: str
    model_artifact_id: str
    dataset_artifact_ids: tuple[str, ...]
    reused: bool


@dataclass(frozen=True)
class VersionDraft:
    """A model version to register: everything that is written, computed before the registry is contacted.

    Attributes:
        model_name: The registered model's name (created if missing).
        version: ``major``/``minor``/``patch`` or an explicit version name.
        external_id: Idempotency key ("" for none: then a re-run creates another version).
        properties: The version's ``customProperties``, from ``build_version_properties``.
        model_artifact: From ``build_model_artifact``.
        dataset_artifacts: From ``build_dataset_artifacts``.
        description: Version description.
        author: Version author.
        owner: Owner of the registered model (when it is created); defaults to ``author``.
    """

    model_name: str
    version: str
    external_id: str
    properties: Properties
    model_artifact: Wire
    dataset_artifacts: tuple[Wire, ...] = ()
    description: str = ""
    author: str = ""
    owner: str = ""


def registration_key(context: RunContext, model_name: str, model_uri: str) -> str:
    """The idempotency key (ModelVersion ``externalId``) of this registration, or "" without a run id.

    Args:
        context: From ``collect_run_context``.
        model_name: The registered model's name.
        model_uri: The model artifact's URI.

    Returns:
        ``kfp:<run id>:<task name>:<model name>:<first 12 hex of sha256(model uri)>`` (shortened with a digest
        beyond 255 characters), or "".
    """
    if not context.run_id:
        return ""
    uri_hash = hashlib.sha256((model_uri or "").encode("utf-8")).hexdigest()[:URI_HASH_LENGTH]
    return bounded_external_id(f"kfp:{context.run_id}:{context.task_name}:{model_name}:{uri_hash}")


def attempt_key(model_name: str) -> str:
    """A one-off idempotency key for a registration without a run id.

    Nothing identifies such a task across retries; this key still makes the retried writes of this attempt (an
    answer lost on the network) find what they created.

    Args:
        model_name: The registered model's name.

    Returns:
        ``kfp:attempt:<random hex>:<model name>``.
    """
    return bounded_external_id(f"kfp:attempt:{uuid.uuid4().hex}:{model_name}")


def get_or_create_registered_model(
    conn: RegistryConnection, model_name: str, *, owner: str = "", description: str = ""
) -> Wire:
    """The RegisteredModel named ``model_name``, created when missing (safe against concurrent creation).

    Args:
        conn: From ``connect_model_registry``.
        model_name: The model's name.
        owner: Owner recorded when the model is created.
        description: Description recorded when the model is created.

    Returns:
        The RegisteredModel (wire form).

    Raises:
        RegistryError: When the model can neither be created nor found.
    """
    found = _find_registered_model(conn, model_name)
    if found:
        if found.get("state") == "ARCHIVED":
            logger.warning("registered model %r is ARCHIVED: the new version is added anyway", model_name)
        return found
    body = {k: v for k, v in {"name": model_name, "owner": owner, "description": description}.items() if v}
    created = conn.call(
        f"create registered model {model_name!r}",
        lambda api: api.create_registered_model(models.RegisteredModelCreate.from_dict(body)),
        tolerate=(409,),
    )
    if created:
        logger.info("created registered model %r (id %s)", model_name, created.get("id"))
        return created
    found = _find_registered_model(conn, model_name)  # created concurrently by another task
    if not found:
        raise RegistryError(
            f"Model Registry at {conn.url}: creating registered model {model_name!r} conflicted (409) but it"
            " cannot be found by name: check the registry's health and re-run",
            status=409,
        )
    return found


def _find_registered_model(conn: RegistryConnection, model_name: str) -> Wire | None:
    return conn.call(
        f"find registered model {model_name!r}",
        lambda api: api.find_registered_model(name=model_name),
        tolerate=(404,),
    )


def create_model_version(
    conn: RegistryConnection,
    model: Mapping[str, object],
    version: str,
    body: Mapping[str, object],
    *,
    external_id: str = "",
    max_attempts: int = MAX_VERSION_ATTEMPTS,
) -> tuple[Wire, bool]:
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
        InvalidInputError: When an explicit version name is already taken by another registration.
        ConcurrencyError: When no free version name was found within ``max_attempts``.
    """
    model_id = str(model["id"])
    model_name = str(model.get("name") or model_id)
    request = parse_version_request(version)
    floor: SemVer | None = None
    for attempt in range(1, max_attempts + 1):
        walk = walk_newest_versions(conn, model_id, model_name)
        name = request.name or bump_semver(max_semver(walk.highest, floor), request.bump or SemVerBump.PATCH)
        marked = _with_high_water_mark(body, walk.mark_for(name, floor))
        created = _post_version(conn, model_id, model_name, name, marked, external_id)
        if created:
            return created, False
        # 409: the name or the externalId is taken; a taken externalId is this registration's own earlier attempt
        mine = _find_by_external_id(conn, external_id)
        if mine:
            return mine, True
        if request.name:
            raise _name_taken(conn, model_id, model_name, name)
        floor = parse_semver(name)
        time.sleep(random.uniform(0, 0.02 * attempt))
    raise ConcurrencyError(
        f"no free version name for model {model_name!r} after {max_attempts} attempts: many registrations are"
        " running at once; re-run the task (it resumes safely)"
    )


def walk_newest_versions(conn: RegistryConnection, model_id: str, model_name: str) -> NewestFirstWalk:
    """The model's highest SemVer, read from its newest versions back to the first page with a high-water mark.

    The cost does not grow with the number of versions: one request of :data:`FIRST_PAGE_SIZE` versions when the
    newest versions were registered by this package (see :class:`NewestFirstWalk`); a model whose versions all
    come from other clients is read to the end in pages of :data:`WALK_PAGE_SIZE`.

    Args:
        conn: From ``connect_model_registry``.
        model_id: The RegisteredModel id.
        model_name: Its name, for messages.

    Returns:
        The walk (``highest`` is None for a model without SemVer versions).
    """
    walk = NewestFirstWalk()
    token: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_WALK_PAGES):
        size = WALK_PAGE_SIZE if token else FIRST_PAGE_SIZE
        page = conn.call(
            f"list the newest versions of model {model_name!r}",
            lambda api, t=token, n=size: api.get_registered_model_versions_without_preload_content(
                model_id, page_size=n, order_by="ID", sort_order="DESC", next_page_token=t
            ),
        )
        for item in (page or {}).get("items") or []:
            walk.add(str(item.get("name") or ""), _string_property(item, HIGH_WATER_PROPERTY))
        token = (page or {}).get("nextPageToken") or None
        if walk.marked or not token or token in seen:
            break
        seen.add(token)
    return walk


def _string_property(entity: Mapping[str, Any], key: str) -> str:
    value = (entity.get("customProperties") or {}).get(key) or {}
    return str(value.get("string_value") or "") if isinstance(value, Mapping) else ""


def _with_high_water_mark(body: Mapping[str, object], mark: str) -> dict[str, object]:
    """The create body with the version's high-water mark among its properties (none without a SemVer)."""
    if not mark:
        return dict(body)
    properties = dict(body.get("customProperties") or {})
    properties[HIGH_WATER_PROPERTY] = to_metadata_value(mark)
    return {**body, "customProperties": properties}


def _post_version(
    conn: RegistryConnection, model_id: str, model_name: str, name: str, body: Mapping[str, object], external_id: str
) -> Wire | None:
    """Create the version named ``name``; None when the name or the externalId is taken (409)."""
    request = {**body, "name": name, "registeredModelId": model_id}
    if external_id:
        request["externalId"] = external_id
    return conn.call(
        f"create version {name!r} of model {model_name!r}",
        lambda api: api.create_model_version_without_preload_content(models.ModelVersionCreate.from_dict(request)),
        tolerate=(409,),
    )


def _find_by_external_id(conn: RegistryConnection, external_id: str) -> Wire | None:
    if not external_id:
        return None
    return conn.call(
        f"find model version by externalId {external_id!r}",
        lambda api: api.find_model_version(external_id=external_id),
        tolerate=(404,),
    )


def _name_taken(conn: RegistryConnection, model_id: str, model_name: str, name: str) -> InvalidInputError:
    """The error for an explicit version name another registration has taken, naming that registration."""
    other = (
        conn.call(
            f"find version {name!r} of model {model_name!r}",
            lambda api: api.find_model_version(name=name, parent_resource_id=model_id),
            tolerate=(404,),
        )
        or {}
    )
    origin = other.get("externalId") or "another registration"
    return InvalidInputError(
        f"version {name!r} of model {model_name!r} already exists (version id {other.get('id', '?')},"
        f" created by {origin}): pass another version name, or version='patch' (or 'minor'/'major') to"
        " take the next free SemVer"
    )


def register_model_version(conn: RegistryConnection, draft: VersionDraft) -> RegisteredVersion:
    """Register (or complete the earlier registration of) one model version with its artifacts.

    Order of writes: RegisteredModel (if missing) -> ModelVersion with all its properties -> dataset artifacts
    (not linked to the version, see ``registration.artifacts``) -> the ModelArtifact, the version's only linked
    artifact and its last write. A failure in between leaves a version without (some) artifacts; re-running with
    the same ``external_id`` finds that version and adds what is missing.

    Args:
        conn: From ``connect_model_registry``.
        draft: What to register.

    Returns:
        The registered version.

    Raises:
        RegistryError: When ``draft.external_id`` belongs to a version of another registered model.
    """
    model = get_or_create_registered_model(conn, draft.model_name, owner=draft.owner or draft.author)
    fields = {"description": draft.description, "author": draft.author, "state": LIVE}
    body = {k: v for k, v in {**fields, "customProperties": draft.properties}.items() if v}
    mv, reused = create_model_version(conn, model, draft.version, body, external_id=draft.external_id)
    if reused:
        logger.info(
            "this task registered version %r (id %s) before (externalId %s): completing and returning it",
            mv.get("name"),
            mv.get("id"),
            draft.external_id,
        )
        if str(mv.get("registeredModelId")) != str(model["id"]):
            raise RegistryError(
                f"externalId {draft.external_id!r} belongs to a version of another registered model"
                f" (id {mv.get('registeredModelId')}): the registry is inconsistent; use another model_name"
            )
    datasets = ensure_dataset_artifacts(conn, model, mv, draft.dataset_artifacts)
    if reused:
        model_artifact = ensure_model_artifact(conn, str(mv["id"]), draft.model_artifact)
    else:
        model_artifact = _link_model_artifact(conn, str(mv["id"]), draft.model_artifact)
    return RegisteredVersion(
        model_id=str(model["id"]),
        model_name=draft.model_name,
        version_id=str(mv["id"]),
        version_name=str(mv["name"]),
        model_artifact_id=str(model_artifact.get("id") or ""),
        dataset_artifact_ids=tuple(str(d.get("id") or "") for d in datasets),
        reused=reused,
    )


def _link_model_artifact(conn: RegistryConnection, version_id: str, body: Wire) -> Wire:
    """Link the ModelArtifact to a version this registration has just created (so it has no artifact yet).

    Skips the listing :func:`ensure_model_artifact` starts with; a 409 (the link was made by a write whose answer
    was lost, or by a concurrent duplicate of this task) falls back to it, which finds the artifact by name.
    """
    linked = model_artifact_for_version(body, version_id)  # readers tell complete versions by its reference
    created = conn.call(
        f"add {body['artifactType']} {body['name']!r} to model version {version_id}",
        lambda api: api.upsert_model_version_artifact(version_id, models.Artifact.from_dict(linked)),
        tolerate=(409,),
    )
    return created or ensure_model_artifact(conn, version_id, body)
