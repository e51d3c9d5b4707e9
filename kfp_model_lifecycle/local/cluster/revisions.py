"""Revisions and traffic of one InferenceService: the bookkeeping behind the controller's status.

A change of the predictor (anything but ``canaryTrafficPercent``) makes a new revision
``<name>-predictor-0000N``. :func:`plan_traffic` decides which revisions serve, as KServe does: in Serverless
mode ``canaryTrafficPercent`` P sends P% to the latest revision and the rest to the previous rolled-out one; in
RawDeployment mode the latest ready revision takes everything; a revision that failed to load leaves the
previous one serving. Revisions that lose their traffic keep serving in-flight requests for a grace period
(:func:`start_retiring`) before their servers stop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.local.cluster.model_process import ModelServerProcess
from kfp_model_lifecycle.local.cluster.router import Backend, Router
from kfp_model_lifecycle.local.cluster.spec import SERVERLESS, SpecProblem

LATEST_TAG = "latest"
PREVIOUS_TAG = "prev"


@dataclass
class Revision:
    """One revision of an InferenceService's predictor (a Knative revision / a Deployment's ReplicaSet).

    Attributes:
        name: ``<isvc>-predictor-0000N``.
        template: The predictor spec without ``canaryTrafficPercent`` (a change makes a new revision).
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
    """One entry of ``status.components.predictor.traffic``.

    Attributes:
        revision: The revision name.
        percent: Its share of the requests.
        tag: ``latest`` for the latest revision, ``prev`` for the previous rolled-out one.
    """

    revision: str
    percent: int
    tag: str


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
        observed_generation: The last generation reconciled.
        traffic: Who serves, and how much.
        invalid: Why the current spec cannot be served, if it cannot.
        conditions: The last written condition of each type (for ``lastTransitionTime``).
    """

    uid: str
    router: Router
    revisions: dict[str, Revision] = field(default_factory=dict)
    count: int = 0
    latest_created: str | None = None
    latest_ready: str | None = None
    rolled_out: str | None = None
    previous_rolled_out: str | None = None
    observed_generation: int | None = None
    traffic: list[TrafficTarget] = field(default_factory=list)
    invalid: SpecProblem | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def resumed_count(obj: dict[str, Any]) -> int:
    """The revision number the stored status left off at (after a restart numbering continues there), else 0."""
    last = ((obj.get("status") or {}).get("components") or {}).get("predictor", {}).get("latestCreatedRevision")
    if isinstance(last, str) and last.rpartition("-")[2].isdigit():
        return int(last.rpartition("-")[2])
    return 0


def _roll_out(state: ServiceState, latest: Revision) -> None:
    if state.rolled_out != latest.name:
        state.previous_rolled_out = state.rolled_out
        state.rolled_out = latest.name


def plan_traffic(state: ServiceState, mode: str, canary: int | None) -> list[TrafficTarget]:
    """Decide who serves (and record a completed roll-out in ``state``).

    Args:
        state: The InferenceService's revisions.
        mode: :data:`~kfp_model_lifecycle.local.cluster.spec.SERVERLESS` or ``RAW``.
        canary: ``canaryTrafficPercent``, if set.

    Returns:
        The traffic targets; empty when no revision can serve.
    """
    latest = state.latest
    if latest is not None and latest.ready:
        split = _canary_split(state, latest, mode, canary)
        if split:
            return split
        _roll_out(state, latest)
        return [TrafficTarget(latest.name, 100, LATEST_TAG)]
    if state.rolled_out is not None and state.revisions[state.rolled_out].ready:
        return [TrafficTarget(state.rolled_out, 100, PREVIOUS_TAG)]  # the new revision failed: the old one serves
    return []


def _canary_split(state: ServiceState, latest: Revision, mode: str, canary: int | None) -> list[TrafficTarget]:
    """The Serverless canary split between the latest and the previous rolled-out revision, or [] for none."""
    if mode != SERVERLESS or canary is None or canary >= 100:
        return []
    previous = state.revisions.get(state.rolled_out or "")
    if previous is None or previous is latest or not previous.ready:
        return []
    return [
        TrafficTarget(latest.name, int(canary), LATEST_TAG),
        TrafficTarget(previous.name, 100 - int(canary), PREVIOUS_TAG),
    ]


def backends(state: ServiceState) -> list[Backend]:
    """The router's backends for ``state.traffic`` (revisions with a running server)."""
    found = []
    for target in state.traffic:
        server = state.revisions[target.revision].server
        if server is not None:
            found.append(Backend(target.revision, server.host, server.port, target.percent))
    return found


def start_retiring(state: ServiceState, grace: float) -> bool:
    """Give revisions that lost their traffic ``grace`` seconds before their servers stop.

    Returns:
        Whether a revision started its grace period now (the controller then looks again after it).
    """
    serving = {target.revision for target in state.traffic}
    started = False
    for revision in state.revisions.values():
        if revision.server is not None and revision.name not in serving and revision.retire_at is None:
            revision.retire_at = time.monotonic() + grace
            started = True
        elif revision.name in serving:
            revision.retire_at = None
    return started


def due_for_retirement(state: ServiceState, now: float) -> list[Revision]:
    """Revisions whose grace period after losing their traffic is over (their servers still run)."""
    return [
        revision
        for revision in state.revisions.values()
        if revision.server is not None and revision.retire_at is not None and revision.retire_at <= now
    ]
