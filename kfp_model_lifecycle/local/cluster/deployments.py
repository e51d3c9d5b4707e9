"""The predictor Deployment of a RawDeployment (Standard) InferenceService, as Kubernetes reports its rollout.

KServe's raw mode runs the predictor as an ``apps/v1`` Deployment ``<name>-predictor`` whose pod template carries
the InferenceService's labels and annotations. A template change bumps the Deployment's ``generation`` and starts
a new ReplicaSet; the old pods keep serving until the new ones are available. The status says how far the rollout
is, as the Deployment controller writes it: ``observedGeneration``, ``replicas`` (old and new pods),
``updatedReplicas`` (pods of the newest template), ``readyReplicas``/``availableReplicas``, and the conditions
``Available`` and ``Progressing`` (``NewReplicaSetAvailable`` when done, ``ReplicaSetUpdated`` while rolling out,
``False``/``ProgressDeadlineExceeded`` once the new pods have not become available within
``spec.progressDeadlineSeconds``). New pods that crash never become available: the rollout stalls with the old
pods serving until the deadline, which is the one signal that something is wrong (KServe keeps ``PredictorReady``
``True`` meanwhile).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.local.cluster.store import now_rfc3339

APPS_API_VERSION = "apps/v1"
DEPLOYMENT_KIND = "Deployment"
PREDICTOR_SUFFIX = "-predictor"


class Rollout:
    """Where the newest ReplicaSet stands (see :meth:`PredictorDeployment.observe`)."""

    PROGRESSING = "progressing"
    COMPLETE = "complete"
    STALLED = "stalled"
    """The new pods are not available (they crash or cannot load); the deadline has not passed yet."""
    DEADLINE_EXCEEDED = "deadline-exceeded"


@dataclass
class PredictorDeployment:
    """The predictor Deployment of one RawDeployment InferenceService.

    Attributes:
        name: ``<isvc>-predictor``.
        namespace: Its namespace.
        owner: The InferenceService's name (its owner reference).
        owner_uid: The InferenceService's uid.
        progress_deadline: ``spec.progressDeadlineSeconds``.
        replicas: ``spec.replicas``.
        template: The pod template (the revision template), as JSON.
        labels: The InferenceService's labels (copied onto the Deployment and its pods, as KServe does).
        annotations: The InferenceService's annotations (likewise).
        generation: ``metadata.generation``: bumped by every template or replica change.
        resource_version: Bumped by every change of the object.
        uid: ``metadata.uid``.
        created: ``metadata.creationTimestamp``.
        new_revision: The revision of the newest ReplicaSet.
        serving_revision: The revision whose pods are available ("" when none).
        state: Where the newest ReplicaSet stands.
        progress_started: ``time.monotonic()`` of the last progress (for the deadline).
        conditions: The conditions by type, each keeping its ``lastTransitionTime`` until its status changes.
    """

    name: str
    namespace: str
    owner: str
    owner_uid: str
    progress_deadline: float
    replicas: int = 1
    template: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    generation: int = 0
    resource_version: int = 0
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: str = field(default_factory=now_rfc3339)
    new_revision: str = ""
    serving_revision: str = ""
    state: str = Rollout.PROGRESSING
    progress_started: float = field(default_factory=time.monotonic)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, template: str, revision: str, metadata: dict[str, Any], replicas: int) -> bool:
        """Apply a new pod template (a new ReplicaSet, ``revision``) or replica count; returns whether it changed.

        Args:
            template: The revision template.
            revision: The revision the new ReplicaSet runs.
            metadata: The InferenceService's metadata (labels and annotations are copied).
            replicas: ``spec.replicas``.

        Returns:
            True when the Deployment's spec changed (its generation moved).
        """
        self.labels = dict(metadata.get("labels") or {})
        self.annotations = dict(metadata.get("annotations") or {})
        if template == self.template and replicas == self.replicas:
            return False
        if template != self.template:
            self.new_revision = revision
            self.state = Rollout.PROGRESSING
            self.progress_started = time.monotonic()
        self.template, self.replicas = template, replicas
        self.generation += 1
        self.resource_version += 1
        return True

    def observe(self, *, new_ready: bool, new_failed: bool, old_available: bool) -> None:
        """Bring the rollout state up to date with the pods: available, crashing, or past the deadline.

        Args:
            new_ready: The newest ReplicaSet's pods are available.
            new_failed: They crashed or could not load.
            old_available: Pods of an older ReplicaSet still serve.
        """
        before = (self.state, self.serving_revision)
        if new_ready:
            self.state, self.serving_revision = Rollout.COMPLETE, self.new_revision
        elif new_failed or self.state in (Rollout.STALLED, Rollout.DEADLINE_EXCEEDED):
            overdue = time.monotonic() - self.progress_started >= self.progress_deadline
            self.state = Rollout.DEADLINE_EXCEEDED if overdue else Rollout.STALLED
        if not new_ready and not old_available:
            self.serving_revision = ""
        if (self.state, self.serving_revision) != before:
            self.resource_version += 1

    def seconds_to_deadline(self) -> float:
        """Seconds until the progress deadline passes (0 when it has)."""
        return max(0.0, self.progress_deadline - (time.monotonic() - self.progress_started))

    @property
    def replica_set(self) -> str:
        """The newest ReplicaSet's name (``<deployment>-<template hash>``)."""
        return f"{self.name}-{hashlib.sha256(self.template.encode()).hexdigest()[:10]}"

    @property
    def available(self) -> bool:
        """Pods of some ReplicaSet are available."""
        return bool(self.serving_revision)

    def _condition(self, kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        previous = self.conditions.get(kind)
        now = now_rfc3339()
        changed = previous is None or previous["status"] != status
        same_reason = previous is not None and previous.get("reason") == reason
        condition = {
            "type": kind,
            "status": status,
            "lastUpdateTime": previous["lastUpdateTime"] if same_reason and not changed else now,  # type: ignore[index]
            "lastTransitionTime": now if changed else previous["lastTransitionTime"],  # type: ignore[index]
            "reason": reason,
            "message": message,
        }
        self.conditions[kind] = condition
        return condition

    def _progressing(self) -> dict[str, Any]:
        replica_set = self.replica_set
        if self.state == Rollout.COMPLETE:
            return self._condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{replica_set}" has successfully progressed.',
            )
        if self.state == Rollout.DEADLINE_EXCEEDED:
            return self._condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{replica_set}" has timed out progressing.',
            )
        return self._condition(
            "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{replica_set}" is progressing.'
        )

    def _available(self) -> dict[str, Any]:
        if self.available:
            return self._condition(
                "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
            )
        return self._condition(
            "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
        )

    def status(self) -> dict[str, Any]:
        """``status`` as the Deployment controller writes it."""
        complete = self.state == Rollout.COMPLETE
        old = 0 if complete or not self.available else self.replicas
        updated_available = self.replicas if complete else 0
        available = updated_available + old
        status: dict[str, Any] = {
            "observedGeneration": self.generation,
            "replicas": self.replicas + old,
            "updatedReplicas": self.replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [self._available(), self._progressing()],
        }
        if self.replicas + old - available:
            status["unavailableReplicas"] = self.replicas + old - available
        return {k: v for k, v in status.items() if v != 0 or k in ("observedGeneration", "replicas", "updatedReplicas")}

    def to_object(self) -> dict[str, Any]:
        """The Deployment as ``GET /apis/apps/v1/namespaces/{ns}/deployments/{name}`` answers it."""
        selector = {"app": f"isvc.{self.name}"}
        pod_labels = {**self.labels, **selector}
        return {
            "apiVersion": APPS_API_VERSION,
            "kind": DEPLOYMENT_KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": str(self.resource_version),
                "generation": self.generation,
                "creationTimestamp": self.created,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
                "ownerReferences": [
                    {
                        "apiVersion": "serving.kserve.io/v1beta1",
                        "kind": "InferenceService",
                        "name": self.owner,
                        "uid": self.owner_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    },
                ],
            },
            "spec": {
                "replicas": self.replicas,
                "progressDeadlineSeconds": max(1, round(self.progress_deadline)),
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": dict(self.annotations)},
                    "spec": {"containers": [{"name": "kserve-container", "image": "kml-local/sklearn-model-server"}]},
                },
            },
            "status": self.status(),
        }


def predictor_deployment_name(isvc_name: str) -> str:
    """``<isvc>-predictor``, the name KServe gives the predictor's Deployment."""
    return f"{isvc_name}{PREDICTOR_SUFFIX}"
