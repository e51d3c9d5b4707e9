"""The object store of the local cluster: InferenceServices with Kubernetes write semantics, in memory.

Everything the API server answers comes from here, and everything the controller writes goes through here:

- ``metadata.uid``, ``creationTimestamp``, ``resourceVersion`` (a string; one counter for the whole store,
  bumped on every write that changes the object; a no-op write bumps nothing) and ``generation`` (bumped only
  when something outside ``metadata`` and ``status`` changes, i.e. the spec).
- Clients cannot write ``status`` through the main resource; the controller writes it with
  :meth:`Store.write_status` (and clients through the ``/status`` subresource, when allowed).
- Optimistic concurrency: a write carrying ``metadata.resourceVersion`` fails with 409 Conflict when it is stale.
- Deletion honours finalizers: the object gets ``deletionTimestamp`` and disappears when its last finalizer is
  removed (the controller adds ``inferenceservice.finalizers``, as KServe does).
- A bounded event history (ADDED / MODIFIED / DELETED, each with the object's resourceVersion) for watches.

The state lives in memory only: the model servers behind it do not survive a restart either, so a restarted
cluster starts empty (re-apply your manifests).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"
PLURAL = "inferenceservices"
FINALIZER = "inferenceservice.finalizers"
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
MAX_NAME_LENGTH = 63
HISTORY_SIZE = 2000
DEFAULT_NAMESPACE = "kubeflow-user"
DEFAULT_USER = "system:serviceaccount:kubeflow-user:default-editor"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
DEPLOYMENTS = "deployments"
APPS_GROUP = "apps"
SECRETS = "secrets"
CRDS = "customresourcedefinitions"
EXTENSIONS_GROUP = "apiextensions.k8s.io"
# A pipeline's service account may read but not write the status subresource (kubeflow-edit grants `get`), and
# may not read CustomResourceDefinitions (cluster-scoped; a namespace's Role cannot grant them).
DEFAULT_FORBIDDEN: frozenset[tuple[str, str]] = frozenset(
    {("update", f"{PLURAL}/status"), ("patch", f"{PLURAL}/status"), ("get", CRDS), ("list", CRDS)}
)
RESOURCES = (PLURAL, f"{PLURAL}/status", DEPLOYMENTS, SECRETS, CRDS)
RESOURCE_GROUPS = {
    PLURAL: GROUP,
    f"{PLURAL}/status": GROUP,
    DEPLOYMENTS: APPS_GROUP,
    SECRETS: "",
    CRDS: EXTENSIONS_GROUP,
}
"""Resources the stand-in authorizes (``--forbid VERB:RESOURCE``) and their API groups."""
# Metadata only the server sets: kept from the stored object on every update.
SERVER_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")

Listener = Callable[[str, dict[str, Any]], None]


def now_rfc3339() -> str:
    """The current UTC time as Kubernetes writes timestamps (``2026-01-31T12:00:00Z``)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_object(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``v1 Status`` object as the Kubernetes API server returns it for errors (and successful deletes)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    if code < 400:
        body.pop("message")
        body.pop("reason")
    return body


class ApiError(Exception):
    """A failed API call, rendered as a Kubernetes ``Status`` object with the HTTP status ``code``.

    Args:
        code: HTTP status code.
        reason: The Status reason (``NotFound``, ``AlreadyExists``, ``Conflict``, ``Invalid``, ...).
        message: The human-readable message, in the API server's wording.
        name: The object name, for ``details``.
        kind: ``details.kind`` (the resource, e.g. ``inferenceservices``).
    """

    def __init__(self, code: int, reason: str, message: str, *, name: str | None = None, kind: str = PLURAL) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: dict[str, Any] = {"group": GROUP, "kind": kind}
        if name is not None:
            self.details["name"] = name

    def status(self) -> dict[str, Any]:
        """The ``Status`` body."""
        return status_object(self.code, self.reason, self.message, self.details)


def not_found(name: str) -> ApiError:
    """404 as the API server words it."""
    return ApiError(404, "NotFound", f'{PLURAL}.{GROUP} "{name}" not found', name=name)


def conflict(name: str) -> ApiError:
    """409 for a stale ``resourceVersion`` (optimistic concurrency)."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {PLURAL}.{GROUP} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        name=name,
    )


def invalid(name: str, field: str, value: Any, detail: str) -> ApiError:
    """422 Invalid, as field validation failures are reported."""
    return ApiError(
        422, "Invalid", f'{KIND}.{GROUP} "{name}" is invalid: {field}: Invalid value: {json.dumps(value)}: {detail}'
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """What ``generation`` tracks: everything but ``metadata`` and ``status``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _with_status_of(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A write of the status subresource: the current object with the status of ``new`` (none if it has none)."""
    obj = copy.deepcopy(current)
    if "status" in new:
        obj["status"] = new["status"]
    else:
        obj.pop("status", None)
    return obj


def _check_no_new_finalizers(name: str, current: dict[str, Any], meta: dict[str, Any]) -> None:
    """A deleted object (``deletionTimestamp`` set) may lose finalizers but gain none (422 Invalid)."""
    if current["metadata"].get("deletionTimestamp") and set(meta.get("finalizers") or []) - set(
        current["metadata"].get("finalizers") or []
    ):
        raise ApiError(
            422,
            "Invalid",
            f'{KIND}.{GROUP} "{name}" is invalid: metadata.finalizers: Forbidden: '
            "no new finalizers can be added if the object is being deleted",
        )


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


class Store:
    """Thread-safe in-memory InferenceServices with Kubernetes semantics (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._rv = 0
        self._history: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=HISTORY_SIZE)
        self._listeners: list[Listener] = []
        self._changed = threading.Condition(self._lock)

    # -- observers ---------------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event_type, object)`` after every change (outside the store's lock)."""
        self._listeners.append(listener)

    @property
    def resource_version(self) -> str:
        """The store's current resourceVersion (that of its newest write)."""
        with self._lock:
            return str(self._rv)

    def events_since(self, resource_version: int) -> list[tuple[int, str, dict[str, Any]]] | None:
        """Events newer than ``resource_version``; None when history no longer reaches back that far (410 Gone)."""
        with self._lock:
            if self._history and resource_version < self._history[0][0] - 1 and resource_version < self._rv:
                return None
            return [(rv, kind, copy.deepcopy(obj)) for rv, kind, obj in self._history if rv > resource_version]

    def wait_for_change(self, resource_version: int, timeout: float) -> None:
        """Block until the store is newer than ``resource_version`` or ``timeout`` seconds pass."""
        with self._changed:
            self._changed.wait_for(lambda: self._rv > resource_version, timeout)

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """A copy of one object; raises 404 :class:`ApiError` when absent."""
        with self._lock:
            obj = self._objects.get((namespace, name))
            if obj is None:
                raise not_found(name)
            return copy.deepcopy(obj)

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of one object, or None."""
        with self._lock:
            obj = self._objects.get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, namespace: str | None = None) -> tuple[list[dict[str, Any]], str]:
        """Copies of the objects of ``namespace`` (all namespaces when None), sorted, and the list resourceVersion."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects.items())
                if namespace is None or ns == namespace
            ]
            return items, str(self._rv)

    # -- writes ------------------------------------------------------------------------------------------------

    def create(self, namespace: str, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create an object (201 semantics): server-set metadata, no status; 409 when the name is taken."""
        obj = copy.deepcopy(obj)
        self._check_type(obj)
        meta = _meta(obj)
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = str(meta["generateName"]) + uuid.uuid4().hex[:5]
        if not name:
            raise invalid("", "metadata.name", "", "name or generateName is required")
        self._check_name(name)
        for field in SERVER_METADATA:
            meta.pop(field, None)
        obj.pop("status", None)
        meta.update(name=name, namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        meta["generation"] = 1
        with self._lock:
            if (namespace, name) in self._objects:
                raise ApiError(409, "AlreadyExists", f'{PLURAL}.{GROUP} "{name}" already exists', name=name)
            if dry_run:
                return obj
            self._commit(namespace, name, obj, "ADDED")
        self._notify("ADDED", obj)
        return copy.deepcopy(obj)

    def replace(
        self, namespace: str, name: str, obj: dict[str, Any], *, subresource: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Replace (PUT) an object; ``subresource="status"`` replaces only its status."""
        obj = copy.deepcopy(obj)
        self._check_type(obj)
        meta = _meta(obj)
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        with self._lock:
            current = self._objects.get((namespace, name))
            if current is None:
                raise not_found(name)
            result, event = self._update(namespace, name, current, obj, subresource=subresource, dry_run=dry_run)
        if event:
            self._notify(event, copy.deepcopy(result))
        return result

    def patch(
        self,
        namespace: str,
        name: str,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Patch an object: ``apply(copy of the current object)`` returns the patched object."""
        with self._lock:
            current = self._objects.get((namespace, name))
            if current is None:
                raise not_found(name)
            patched = apply(copy.deepcopy(current))
            if not isinstance(patched, dict):
                raise bad_request("the patch must leave an object")
            self._check_type(patched)
            meta = _meta(patched)
            if meta.get("name") != name:
                raise bad_request(f"metadata.name cannot be changed by a patch (the object is {name!r})")
            if meta.get("namespace") != namespace:
                raise bad_request("metadata.namespace cannot be changed by a patch")
            result, event = self._update(namespace, name, current, patched, subresource=subresource, dry_run=dry_run)
        if event:
            self._notify(event, copy.deepcopy(result))
        return result

    def delete(self, namespace: str, name: str, *, dry_run: bool = False) -> tuple[dict[str, Any], bool]:
        """Delete an object: returns (the object, True) when it is gone, or (it with deletionTimestamp, False)."""
        with self._lock:
            current = self._objects.get((namespace, name))
            if current is None:
                raise not_found(name)
            obj = copy.deepcopy(current)
            if dry_run:
                return obj, not obj["metadata"].get("finalizers")
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    obj["metadata"]["generation"] += 1
                    self._commit(namespace, name, obj, "MODIFIED")
                    event = "MODIFIED"
                else:
                    return obj, False
            else:
                self._remove(namespace, name, obj)
                event = "DELETED"
        self._notify(event, obj)
        return copy.deepcopy(obj), event == "DELETED"

    def write_status(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> dict[str, Any] | None:
        """The controller's status write; skipped (None) when the object is gone or was re-created (other uid)."""
        with self._lock:
            current = self._objects.get((namespace, name))
            if current is None or current["metadata"].get("uid") != uid:
                return None
            if current.get("status") == status:
                return copy.deepcopy(current)
            obj = copy.deepcopy(current)
            obj["status"] = copy.deepcopy(status)
            self._commit(namespace, name, obj, "MODIFIED")
        self._notify("MODIFIED", obj)
        return copy.deepcopy(obj)

    def set_finalizer(self, namespace: str, name: str, uid: str, present: bool) -> None:
        """Add or remove :data:`FINALIZER` (the controller's); removing the last one of a deleted object drops it."""
        with self._lock:
            current = self._objects.get((namespace, name))
            if current is None or current["metadata"].get("uid") != uid:
                return
            finalizers = list(current["metadata"].get("finalizers") or [])
            if present == (FINALIZER in finalizers):
                return
            obj = copy.deepcopy(current)
            if present:
                finalizers.append(FINALIZER)
            else:
                finalizers.remove(FINALIZER)
            if finalizers:
                obj["metadata"]["finalizers"] = finalizers
            else:
                obj["metadata"].pop("finalizers", None)
            if not finalizers and obj["metadata"].get("deletionTimestamp"):
                self._remove(namespace, name, obj)
                event = "DELETED"
            else:
                self._commit(namespace, name, obj, "MODIFIED")
                event = "MODIFIED"
        self._notify(event, obj)

    # -- internals ---------------------------------------------------------------------------------------------

    def _update(
        self,
        namespace: str,
        name: str,
        current: dict[str, Any],
        new: dict[str, Any],
        *,
        subresource: str | None,
        dry_run: bool,
    ) -> tuple[dict[str, Any], str | None]:
        """Apply an update under the lock; returns (the result, the event to notify or None)."""
        wanted_rv = _meta(new).get("resourceVersion")
        if wanted_rv not in (None, "") and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise conflict(name)
        if subresource == "status":
            obj = _with_status_of(current, new)
        else:
            obj = self._spec_update(namespace, name, current, new)
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if obj == current:
            return copy.deepcopy(current), None  # a no-op write changes nothing, not even the resourceVersion
        if dry_run:
            return copy.deepcopy(obj), None
        if current["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            self._remove(namespace, name, obj)
            event = "DELETED"
        else:
            self._commit(namespace, name, obj, "MODIFIED")
            event = "MODIFIED"
        return copy.deepcopy(obj), event

    def _spec_update(self, namespace: str, name: str, current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """``new`` with the server's metadata and the current status kept, ``generation`` bumped on a spec change."""
        meta = new["metadata"]
        for field in SERVER_METADATA:
            if field in current["metadata"]:
                meta[field] = current["metadata"][field]
            else:
                meta.pop(field, None)
        meta["name"] = name
        meta["namespace"] = namespace
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        else:
            new.pop("status", None)
        _check_no_new_finalizers(name, current, meta)
        self._check_name(name)
        if _spec_part(new) != _spec_part(current):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return new

    def _commit(self, namespace: str, name: str, obj: dict[str, Any], event: str) -> None:
        self._rv += 1
        obj.setdefault("apiVersion", API_VERSION)
        obj.setdefault("kind", KIND)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[(namespace, name)] = obj
        self._history.append((self._rv, event, copy.deepcopy(obj)))
        self._changed.notify_all()

    def _remove(self, namespace: str, name: str, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects.pop((namespace, name), None)
        self._history.append((self._rv, "DELETED", copy.deepcopy(obj)))
        self._changed.notify_all()

    def _notify(self, event: str, obj: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            listener(event, obj)

    @staticmethod
    def _check_type(obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise bad_request("the request body must be a JSON object")
        api_version = obj.get("apiVersion")
        if api_version not in (None, API_VERSION):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({API_VERSION})"
            )
        kind = obj.get("kind")
        if kind not in (None, KIND):
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({KIND})")
        obj["apiVersion"] = API_VERSION
        obj["kind"] = KIND

    @staticmethod
    def _check_name(name: Any) -> None:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            raise invalid(
                str(name),
                "metadata.name",
                name,
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, end with an alphanumeric character and be at most 63 characters "
                "(e.g. 'my-name', or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            )
