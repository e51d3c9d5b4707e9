"""The Model Registry's InferenceService controller, as the local cluster runs it beside KServe's.

Upstream (kubeflow/model-registry ``pkg/inferenceservice-controller``) it watches every InferenceService that
carries the label ``modelregistry.kubeflow.org/registered-model-id`` or ``.../inference-service-id`` and:

- adds the finalizer ``modelregistry.kubeflow.org/finalizer`` (an ``Update`` of the whole object, so a stale
  copy meets 409 and is retried);
- gets or creates the ServingEnvironment named after the namespace;
- with an ``inference-service-id`` label, reads that registry record and PATCHes its ``url`` custom property
  (read, merge, write the whole ``customProperties`` map) when it differs from ``status.url``; otherwise finds or
  creates a record named ``<isvc name>/<uid>`` (``DEPLOYED``, the version of the ``model-version-id`` label) and
  writes its id back into the ``inference-service-id`` label;
- on deletion sets the record's ``desiredState`` to ``UNDEPLOYED`` and removes its finalizer.

Whoever patches or replaces such an InferenceService must keep that label and finalizer. It runs only when the
local cluster knows a registry URL; the bearer token, if any, is the controller's own.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kfp_model_lifecycle.local.cluster.store import ApiError, Store
from kfp_model_lifecycle.local.cluster.workqueue import Key, WorkQueue

logger = logging.getLogger("kfp_model_lifecycle.local.cluster.registry_controller")

LABEL_INFERENCE_SERVICE_ID = "modelregistry.kubeflow.org/inference-service-id"
LABEL_REGISTERED_MODEL_ID = "modelregistry.kubeflow.org/registered-model-id"
LABEL_MODEL_VERSION_ID = "modelregistry.kubeflow.org/model-version-id"
REGISTRY_FINALIZER = "modelregistry.kubeflow.org/finalizer"
API_PATH = "/api/model_registry/v1"
RETRY_SECONDS = 2.0


class RegistryUnavailable(RuntimeError):
    """A registry call failed (the controller retries the InferenceService later)."""


class _Registry:
    """The few REST calls the controller makes (JSON over urllib)."""

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        self.base = url.rstrip("/") + API_PATH
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, **params: str) -> dict[str, Any] | None:
        """One request; None for 404."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) registry URL
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise RegistryUnavailable(f"{method} {path}: HTTP {exc.code} {exc.read()[:200]!r}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryUnavailable(f"{method} {path}: {exc}") from None


class RegistryController:
    """Runs the registry's InferenceService controller over a :class:`Store` (see the module docstring).

    Args:
        store: The local cluster's objects.
        registry_url: The Model Registry base URL.
        token: The bearer token this controller sends (None: none).
    """

    def __init__(self, store: Store, registry_url: str, token: str | None = None) -> None:
        self.store = store
        self.registry = _Registry(registry_url, token)
        self._queue = WorkQueue("kml-registry")
        self._thread: threading.Thread | None = None
        store.add_listener(lambda event, obj: self._queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"])))

    def start(self) -> RegistryController:
        """Start the worker and look at what the store holds."""
        self._queue = WorkQueue("kml-registry")
        self._thread = threading.Thread(target=self._work, name="kml-registry-controller", daemon=True)
        self._thread.start()
        for obj in self.store.list()[0]:
            self._queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker."""
        self._queue.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _work(self) -> None:
        while True:
            key = self._queue.get()
            if key is None:
                return
            try:
                self.reconcile(key)
            except (RegistryUnavailable, ApiError) as exc:
                logger.info("registry controller: %s/%s: %s; retrying", *key, exc)
                self._queue.add_after(key, RETRY_SECONDS)
            except Exception:
                logger.exception("registry controller: %s/%s failed; retrying", *key)
                self._queue.add_after(key, RETRY_SECONDS)
            finally:
                self._queue.done(key)

    def reconcile(self, key: Key) -> None:
        """One pass over one InferenceService, as the upstream ``Reconcile``."""
        namespace, name = key
        obj = self.store.find(namespace, name)
        if obj is None:
            return
        labels = obj["metadata"].get("labels") or {}
        if LABEL_INFERENCE_SERVICE_ID not in labels and LABEL_REGISTERED_MODEL_ID not in labels:
            return
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        if not deleting and REGISTRY_FINALIZER not in (obj["metadata"].get("finalizers") or []):
            obj = self._update(obj, finalizers=[*(obj["metadata"].get("finalizers") or []), REGISTRY_FINALIZER])
        environment = self._environment(namespace)
        record = self._record(obj, environment)
        if deleting:
            if record.get("desiredState") != "UNDEPLOYED":
                self.registry.call("PATCH", f"/inference_services/{record['id']}", {"desiredState": "UNDEPLOYED"})
            remaining = [f for f in obj["metadata"].get("finalizers") or [] if f != REGISTRY_FINALIZER]
            self._update(obj, finalizers=remaining)
            return
        if labels.get(LABEL_INFERENCE_SERVICE_ID) != record["id"]:
            self._update(obj, labels={**labels, LABEL_INFERENCE_SERVICE_ID: str(record["id"])})

    def _update(self, obj: dict[str, Any], **metadata: Any) -> dict[str, Any]:
        """A PUT of the whole object with the read ``resourceVersion`` (409 when someone wrote meanwhile)."""
        changed = json.loads(json.dumps(obj))
        changed["metadata"].update(metadata)
        changed.pop("status", None)
        meta = changed["metadata"]
        return self.store.replace(meta["namespace"], meta["name"], changed)

    def _environment(self, namespace: str) -> dict[str, Any]:
        found = self.registry.call("GET", "/serving_environment", name=namespace)
        if found is not None:
            return found
        created = self.registry.call("POST", "/serving_environments", {"name": namespace})
        if created is None:
            raise RegistryUnavailable(f"could not create the serving environment {namespace!r}")
        return created

    def _record(self, obj: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
        """The registry record of the InferenceService: by the id label, else ``<name>/<uid>`` (created if missing)."""
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        url = str((obj.get("status") or {}).get("url") or "")
        record_id = labels.get(LABEL_INFERENCE_SERVICE_ID)
        if record_id:
            record = self.registry.call("GET", f"/inference_services/{record_id}")
            if record is None:
                raise RegistryUnavailable(f"unable to find InferenceService with id {record_id} in model registry")
            current = str(((record.get("customProperties") or {}).get("url") or {}).get("string_value") or "")
            if current != url and (current or url):
                props = dict(record.get("customProperties") or {})
                props["url"] = {"string_value": url, "metadataType": "MetadataStringValue"}
                self.registry.call("PATCH", f"/inference_services/{record_id}", {"customProperties": props})
            return record
        record_name = f"{meta['name']}/{meta['uid']}"
        found = self.registry.call(
            "GET", "/inference_service", name=record_name, parentResourceId=str(environment["id"])
        )
        return found or self._create_record(obj, environment, record_name, url)

    def _create_record(self, obj: dict[str, Any], environment: dict[str, Any], name: str, url: str) -> dict[str, Any]:
        labels = obj["metadata"].get("labels") or {}
        body: dict[str, Any] = {
            "name": name,
            "registeredModelId": str(labels[LABEL_REGISTERED_MODEL_ID]),
            "servingEnvironmentId": str(environment["id"]),
            "desiredState": "DEPLOYED",
        }
        if labels.get(LABEL_MODEL_VERSION_ID):
            body["modelVersionId"] = str(labels[LABEL_MODEL_VERSION_ID])
        runtime = (((obj.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("runtime")
        if runtime:
            body["runtime"] = runtime
        if url:
            body["customProperties"] = {"url": {"string_value": url, "metadataType": "MetadataStringValue"}}
        created = self.registry.call("POST", "/inference_services", body)
        if created is None:
            raise RegistryUnavailable(f"could not create the registry record {name!r}")
        return created
