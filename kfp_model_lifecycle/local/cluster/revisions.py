"""Revisions and traffic of one InferenceService: the bookkeeping behind the controller's status.

A change of the revision template makes a new revision ``<name>-predictor-0000N``. The template is what KServe
copies into the Knative revision or the Deployment's pod template: the predictor without
``canaryTrafficPercent``, and the InferenceService's labels and annotations (minus the ones KServe does not
propagate), so a label change rolls out a new revision too, as on a cluster.

:func:`plan_traffic` decides who serves, shaped as KServe copies it from the Knative Service: in Serverless mode
``[{latestRevision: true, percent: 100}]``, or with ``canaryTrafficPercent`` P and a rolled-out revision
``[{latestRevision: true, percent: P}, {revisionName: <rolled out>, percent: 100-P, tag: prev}]`` (the ``latest``
tag only with tag routing on); ``latestRevision`` means the latest *ready* revision, so a revision that failed to
load leaves the previous one serving. In RawDeployment mode the newest ready revision takes everything (old pods
serve until new ones are available). Revisions that lose their traffic keep serving in-flight requests for a grace
period (:func:`start_retiring`) before their servers stop.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.local.cluster.deployments import PredictorDeployment
from kfp_model_lifecycle.local.cluster.model_process import ModelServerProcess
from kfp_model_lifecycle.local.cluster.router import Backend, Router
from kfp_model_lifecycle.local.cluster.spec import SERVERLESS, SpecProblem

LATEST_TAG = "latest"
PREVIOUS_TAG = "prev"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
# What KServe does not copy into the revision template (constants.ServiceAnnotationDisallowedList and friends).
UNPROPAGATED_ANNOTATIONS = frozenset(
    {
        "autoscaling.knative.dev/min-scale",
        "autoscaling.knative.dev/max-scale",
        "internal.serving.kserve.io/storage-initializer-sourceuri",
        "kubectl.kubernetes.io/last-applied-configuration",
        "modelFormat",
    }
)
UNPROPAGATED_LABELS = frozenset({"networking.knative.dev/visibility"})


@dataclass
class Revision:
    """One revision of an InferenceService's predictor (a Knative revision / a Deployment's ReplicaSet).

    Attributes:
        name: ``<isvc>-predictor-0000N``.
        template: The revision template (a change makes a new revision).
        server: The running model server, if any.
        ready: The model loaded and the server answers.
        failure: Why it failed to load, if it did.
        reason: The failure's ``lastFailureInfo.reason``.
        failed_at: When it failed (RFC 3339).
        exit_code: The failed server's exit code, if it exited.
        retire_at: ``time.monotonic()`` after which the server is stopped (it has no traffic any more).
    """

    name: str
    template: str
    server: ModelServerProcess | None = None
    ready: bool = False
    failure: str | None = None
    reason: str = "ModelLoadFailed"
    failed_at: str | None = None
    exit_code: int | None = None
    retire_at: float | None = None


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of ``status.components.predictor.traffic`` (and of the router's split).

    Attributes:
        revision: The revision name.
        percent: Its share of the requests.
        tag: ``latest`` (only with tag routing), ``prev`` for the previous rolled-out revision, or "".
        latest: Knative's ``latestRevision`` (the entry that follows the latest ready revision).
    """

    revision: str
    percent: int
    tag: str = ""
    latest: bool = True


@dataclass
class ServiceState:
    """What the controller knows about one InferenceService (beyond its stored object).

    Attributes:
        uid: The object's ``metadata.uid`` (a re-created object gets a new state).
        router: The InferenceService's traffic splitter (its URL is the status URL).
        revisions: Every revision by name.
        count: Revisions created so far (the number of the latest).
        latest_created: ``latestCreatedRevision``.
        latest_ready: ``latestReadyRevision``.
        rolled_out: ``latestRolledoutRevision``.
        previous_rolled_out: ``previousRolledoutRevision``.
        synced: What the controller last reconciled (spec, labels, annotations), to skip its own status writes.
        mode: The deployment mode, fixed by the first reconcile (KServe reads it from the status afterwards).
        ksvc: Serverless: the Knative Service's spec (template and traffic) last applied.
        ksvc_generation: Serverless: the Knative Service's generation (``status.observedGeneration`` copies it).
        deployment: RawDeployment: the predictor Deployment.
        traffic: Who serves, and how much.
        invalid: Why the current spec cannot be served, if it cannot.
        conditions: The last written condition of each type (for ``lastTransitionTime``).
        status: The status last written (an InvalidSpec keeps what KServe does not rewrite).
    """

    uid: str
    router: Router
    revisions: dict[str, Revision] = field(default_factory=dict)
    count: int = 0
    latest_created: str | None = None
    latest_ready: str | None = None
    rolled_out: str | None = None
    previous_rolled_out: str | None = None
    synced: str | None = None
    mode: str | None = None
    ksvc: str | None = None
    ksvc_generation: int = 0
    deployment: PredictorDeployment | None = None
    traffic: list[TrafficTarget] = field(default_factory=list)
    invalid: SpecProblem | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def latest(self) -> Revision | None:
        """The latest created revision, if any."""
        return self.revisions.get(self.latest_created or "")

    def new_revision(self, name: str, template: str) -> Revision:
        """Create the next revision of InferenceService ``name`` and make it the latest created one."""
        self.count += 1
        revision = Revision(name=f"{name}-predictor-{self.count:05d}", template=template)
        self.revisions[revision.name] = revision
        self.latest_created = revision.name
        return revision

    def apply_ksvc(self, template: str, canary: int | None) -> None:
        """Serverless: note the Knative Service's new spec; its generation moves when template or traffic change."""
        spec = json.dumps([template, canary])
        if spec != self.ksvc:
            self.ksvc = spec
            self.ksvc_generation += 1


def revision_template(predictor: dict[str, Any], metadata: dict[str, Any]) -> str:
    """What makes a new revision: the predictor without the canary percent, and the propagated labels/annotations.

    Args:
        predictor: ``spec.predictor`` (without ``canaryTrafficPercent``).
        metadata: The InferenceService's ``metadata``.

    Returns:
        The template as canonical JSON.
    """
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in UNPROPAGATED_ANNOTATIONS}
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in UNPROPAGATED_LABELS}
    return json.dumps({"predictor": predictor, "labels": labels, "annotations": annotations}, sort_keys=True)


def resumed_count(obj: dict[str, Any]) -> int:
    """The revision number the stored status left off at (after a restart numbering continues there), else 0."""
    last = ((obj.get("status") or {}).get("components") or {}).get("predictor", {}).get("latestCreatedRevision")
    if isinstance(last, str) and last.rpartition("-")[2].isdigit():
        return int(last.rpartition("-")[2])
    return 0


def _roll_out(state: ServiceState, revision: str) -> None:
    if state.rolled_out != revision:
        state.previous_rolled_out = state.rolled_out
        state.rolled_out = revision


def plan_traffic(
    state: ServiceState, mode: str, canary: int | None, *, tag_routing: bool = False
) -> list[TrafficTarget]:
    """Decide who serves (and record a completed roll-out in ``state``).

    Args:
        state: The InferenceService's revisions.
        mode: :data:`~kfp_model_lifecycle.local.cluster.spec.SERVERLESS` or ``RAW``.
        canary: ``canaryTrafficPercent``, if set (ignored in RawDeployment mode, as by KServe).
        tag_routing: Tag the latest entry ``latest`` (``serving.kserve.io/enable-tag-routing``).

    Returns:
        The traffic targets; empty when no revision can serve.
    """
    ready = state.latest_ready
    if ready is None or not state.revisions[ready].ready:
        return []
    latest_tag = LATEST_TAG if tag_routing else ""
    if mode == SERVERLESS and canary is not None and canary < 100 and state.rolled_out is not None:
        previous = state.revisions.get(state.rolled_out)
        if previous is not None and previous.ready:
            return [
                TrafficTarget(ready, int(canary), latest_tag, latest=True),
                TrafficTarget(previous.name, 100 - int(canary), PREVIOUS_TAG, latest=False),
            ]
    _roll_out(state, ready)
    return [TrafficTarget(ready, 100, latest_tag, latest=True)]


def backends(state: ServiceState) -> list[Backend]:
    """The router's backends for ``state.traffic`` (revisions with a running server; one entry per revision)."""
    shares: dict[str, int] = {}
    for target in state.traffic:
        shares[target.revision] = shares.get(target.revision, 0) + target.percent
    found = []
    for revision, percent in shares.items():
        server = state.revisions[revision].server
        if server is not None:
            found.append(Backend(revision, server.host, server.port, percent))
    return found


def start_retiring(state: ServiceState, grace: float) -> bool:
    """Give revisions that lost their traffic ``grace`` seconds before their servers stop.

    A revision still loading (the latest created one) is not retired.

    Returns:
        Whether a revision started its grace period now (the controller then looks again after it).
    """
    serving = {target.revision for target in state.traffic if target.percent > 0}
    started = False
    for revision in state.revisions.values():
        keep = revision.name in serving or (revision.name == state.latest_created and not revision.failure)
        if revision.server is not None and not keep and revision.retire_at is None:
            revision.retire_at = time.monotonic() + grace
            started = True
        elif keep:
            revision.retire_at = None
    return started


def due_for_retirement(state: ServiceState, now: float) -> list[Revision]:
    """Revisions whose grace period after losing their traffic is over (their servers still run)."""
    return [
        revision
        for revision in state.revisions.values()
        if revision.server is not None and revision.retire_at is not None and revision.retire_at <= now
    ]
