"""The audit's rules: each looks at one model's snapshot (as stored, and as its audit trail says) and names findings.

The audit trail is the truth for stages, aliases and approvals (its fold); the stored properties are compared with
it, never trusted over it. Archived versions are not held to the lineage rules (they are retired); a version
created in the last :data:`INCOMPLETE_GRACE_SECONDS` without its model artifact may still be registering and is
left alone until the next audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kfp_model_lifecycle.audit.findings import Code, Finding, Severity
from kfp_model_lifecycle.client import Wire
from kfp_model_lifecycle.lifecycle import plain_properties
from kfp_model_lifecycle.lifecycle.conventions import MODEL_EVENT_SEQ, ApprovalStatus, Stage
from kfp_model_lifecycle.lifecycle.policy import LifecyclePolicy, lifecycle_policy
from kfp_model_lifecycle.lifecycle.properties import same_properties
from kfp_model_lifecycle.lifecycle.state import LifecycleState, fold_lifecycle_events, version_lifecycle
from kfp_model_lifecycle.lifecycle.view import model_view_properties, version_view_properties, version_view_state

INCOMPLETE_GRACE_SECONDS = 600
MANUAL_SOURCE = "manual"
RUN_ID = "kfp_run_id"
SOURCE = "model_meta_source"
CODE_VERSION = "code_version"
DATASET_PREFIX = "dataset_"
LINEAGE_FIXES = {
    Code.NO_RUN: (
        "register from a pipeline with register_model_with_lineage (the run is recorded), or by hand with"
        " `kml models register` / Lifecycle.register (source=manual)"
    ),
    Code.NO_DATASET_DIGEST: (
        "pass the training data to register_model (a Dataset input; datasets=... by hand): local files and KFP"
        " Dataset artifacts get a sha256 digest"
    ),
    Code.NO_CODE_VERSION: (
        "pass code_version (the git commit) to register_model, or register by hand from a git checkout (its commit"
        " is recorded)"
    ),
}


@dataclass(frozen=True)
class AuditSettings:
    """How strict the audit is, and its clock.

    Attributes:
        staging_days: Versions in staging longer than this are flagged.
        now: The audit's time (UTC).
    """

    staging_days: int = 30
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class ModelSnapshot:
    """One registered model as the registry stores it, with its audit trail and its fold.

    Attributes:
        model: The RegisteredModel (wire form, stored properties).
        versions: Its ModelVersions (wire form, stored properties, with timestamps), by id.
        events: Its audit trail, in order.
        complete: The ids of the versions that have their model artifact.
        state: The fold of ``events``.
    """

    model: Wire
    versions: list[Wire]
    events: list[dict[str, Any]]
    complete: frozenset[str]
    state: LifecycleState

    @classmethod
    def of(
        cls, model: Wire, versions: Sequence[Wire], events: Sequence[dict[str, Any]], complete: set[str]
    ) -> ModelSnapshot:
        """A snapshot, with the trail folded.

        Args:
            model: The RegisteredModel.
            versions: Its versions.
            events: Its audit trail.
            complete: Ids of complete versions.

        Returns:
            The snapshot.
        """
        ordered = sorted(versions, key=lambda v: int(v.get("id") or 0))
        return cls(dict(model), ordered, list(events), frozenset(complete), fold_lifecycle_events(events))

    @property
    def name(self) -> str:
        """The model's name."""
        return str(self.model.get("name") or "")

    def version_name(self, version_id: str) -> str:
        """A version's name (its id when it is not among the versions)."""
        found = next((v for v in self.versions if str(v.get("id")) == str(version_id)), None)
        return str((found or {}).get("name") or self.state.version_name(str(version_id)))

    def stage(self, version: Mapping[str, Any]) -> str:
        """A version's stage as the audit trail says."""
        return version_lifecycle(self.state, str(version.get("id"))).stage

    def archived(self, version: Mapping[str, Any]) -> bool:
        """Whether a version is retired: stage ``archived`` or registry state ``ARCHIVED``."""
        return self.stage(version) == Stage.ARCHIVED or str(version.get("state") or "") == "ARCHIVED"


def _finding(severity: Severity, code: Code, snap: ModelSnapshot, version: str, message: str, fix: str) -> Finding:
    return Finding(severity, code.value, snap.name, version, message, fix)


def policy_rule(snap: ModelSnapshot) -> tuple[LifecyclePolicy | None, list[Finding]]:
    """The model's policy, or a finding when its policy properties cannot be read.

    Args:
        snap: The model.

    Returns:
        ``(policy or None, findings)``.
    """
    try:
        return lifecycle_policy(snap.model), []
    except ValueError as exc:
        fix = (
            f"set the policy again: `kml models policy {snap.name} --transitions default --demote-to archived` (or"
            " the values you want); until then promotions of this model fail"
        )
        message = f"{snap.name}: its lifecycle policy cannot be read: {exc}"
        return None, [_finding(Severity.ERROR, Code.POLICY_INVALID, snap, "", message, fix)]


def production_rule(snap: ModelSnapshot, policy: LifecyclePolicy | None) -> list[Finding]:
    """The production version lacks the approval its model requires.

    Args:
        snap: The model.
        policy: Its policy (None: unreadable, nothing checked).

    Returns:
        At most one finding (error).
    """
    production = snap.state.production
    if not production or policy is None or not policy.requires_approval:
        return []
    approval = version_lifecycle(snap.state, production).approval
    if approval is not None and approval.status == ApprovalStatus.APPROVED:
        return []
    name = snap.version_name(production)
    status = f"its approval is {approval.status!r} (by {approval.by})" if approval else "it has no approval"
    reference = f"{snap.name}:{name}"
    return [
        _finding(
            Severity.ERROR,
            Code.PRODUCTION_UNAPPROVED,
            snap,
            name,
            f"{reference} is in production, the model requires an approval, and {status}",
            f"review it and `kml models approve {reference} --comment '...'`, or take it out of production"
            f" (`kml models rollback {snap.name}`)",
        )
    ]


def _created(version: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(version.get("createTimeSinceEpoch") or "") / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _lineage_gaps(props: Mapping[str, Any]) -> list[tuple[Code, str]]:
    """(code, what is missing) for one version's properties; the fixes are in :data:`LINEAGE_FIXES`."""
    gaps = []
    if not props.get(RUN_ID) and props.get(SOURCE) != MANUAL_SOURCE:
        gaps.append((Code.NO_RUN, "no pipeline run (kfp_run_id) and not registered by hand (model_meta_source=manual)"))
    uris = sorted(k for k in props if k.startswith(DATASET_PREFIX) and k.endswith("_uri"))
    undigested = [str(props.get(k)) for k in uris if not props.get(k.removesuffix("_uri") + "_sha256")]
    if not uris:
        gaps.append((Code.NO_DATASET_DIGEST, "no dataset recorded"))
    elif undigested:
        gaps.append((Code.NO_DATASET_DIGEST, f"datasets without a sha256 digest: {', '.join(undigested)}"))
    if not props.get(CODE_VERSION):
        gaps.append((Code.NO_CODE_VERSION, "no code version"))
    return gaps


def lineage_rule(snap: ModelSnapshot, settings: AuditSettings) -> list[Finding]:
    """Versions missing lineage: run or manual source, dataset digest, code version, model artifact.

    Args:
        snap: The model.
        settings: The audit's clock.

    Returns:
        Warnings for missing lineage; an error for a version without its model artifact.
    """
    findings = []
    for version in snap.versions:
        if snap.archived(version):
            continue
        name, vid = str(version.get("name") or ""), str(version.get("id"))
        created = _created(version)
        fresh = created is not None and (settings.now - created).total_seconds() < INCOMPLETE_GRACE_SECONDS
        if vid not in snap.complete and not fresh:
            findings.append(
                _finding(
                    Severity.ERROR,
                    Code.NO_MODEL_ARTIFACT,
                    snap,
                    name,
                    f"{snap.name}:{name} has no model artifact: its registration did not finish, so it cannot be"
                    " deployed, downloaded, promoted or approved",
                    "re-run (or retry) the task that registered it: the registration completes it; a manual"
                    " registration registers again",
                )
            )
        for code, what in _lineage_gaps(plain_properties(version)):
            message = f"{snap.name}:{name}: {what}"
            findings.append(_finding(Severity.WARNING, code, snap, name, message, LINEAGE_FIXES[code]))
    return findings


def _since(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def staging_rule(snap: ModelSnapshot, settings: AuditSettings) -> list[Finding]:
    """Versions in staging for longer than ``staging_days`` (since the audit-trail event that put them there).

    Args:
        snap: The model.
        settings: The threshold and the clock.

    Returns:
        Warnings.
    """
    findings = []
    for version in snap.versions:
        item = snap.state.versions.get(str(version.get("id")))
        since = _since(item.stage_time) if item and item.stage == Stage.STAGING else None
        if since is None:
            continue
        days = (settings.now - since).total_seconds() / 86400
        if days > settings.staging_days:
            name = str(version.get("name") or "")
            reference = f"{snap.name}:{name}"
            findings.append(
                _finding(
                    Severity.WARNING,
                    Code.STALE_STAGING,
                    snap,
                    name,
                    f"{reference} has been in staging for {days:.0f} days (since {item.stage_time}; limit"
                    f" {settings.staging_days})",
                    f"decide: promote it (`kml models promote {reference} --stage production`) or retire it"
                    f" (`--stage archived`)",
                )
            )
    return findings


def alias_rule(snap: ModelSnapshot) -> list[Finding]:
    """Aliases that point at archived versions.

    Args:
        snap: The model.

    Returns:
        Errors, one per alias.
    """
    by_id = {str(v.get("id")): v for v in snap.versions}
    findings = []
    for alias, vid in sorted(snap.state.aliases.items()):
        version = by_id.get(vid) or {"id": vid}
        if not snap.archived(version):
            continue
        name = snap.version_name(vid)
        findings.append(
            _finding(
                Severity.ERROR,
                Code.ALIAS_ON_ARCHIVED,
                snap,
                name,
                f"{snap.name}@{alias} points at {snap.name}:{name}, which is archived: whatever resolves"
                f" {snap.name}@{alias} (deployments, comparisons) gets a retired version",
                f"point it at a live version (`kml models promote {snap.name}:<version> --alias {alias}`) or remove"
                f" it (`kml models promote {snap.name}:{name} --remove-alias {alias}`)",
            )
        )
    return findings


def _model_in_sync(snap: ModelSnapshot) -> bool:
    expected = model_view_properties(snap.model, snap.state)
    stored = dict(snap.model.get("customProperties") or {})
    if snap.state.last_seq == 0 and MODEL_EVENT_SEQ not in stored:
        expected.pop(MODEL_EVENT_SEQ, None)  # a model no lifecycle event touched has no view yet
    return same_properties(expected, stored)


def view_rule(snap: ModelSnapshot) -> list[Finding]:
    """Stored stages, aliases, approvals and labels that differ from what the audit trail says.

    Args:
        snap: The model.

    Returns:
        At most one warning naming the versions (and the model) out of sync.
    """
    drifted = [
        str(v.get("name") or v.get("id"))
        for v in snap.versions
        if not same_properties(version_view_properties(v, snap.state), v.get("customProperties"))
        or version_view_state(v, snap.state) != str(v.get("state") or "LIVE")
    ]
    if not _model_in_sync(snap):
        drifted.insert(0, "the model's aliases/production pointer")
    if not drifted:
        return []
    return [
        _finding(
            Severity.WARNING,
            Code.VIEW_OUT_OF_SYNC,
            snap,
            "",
            f"{snap.name}: the lifecycle properties of {', '.join(drifted)} differ from the audit trail"
            f" (#{snap.state.last_seq}):"
            " searches and the registry UI show a stale or edited stage, alias or approval",
            f"`kml models repair {snap.name}` rewrites them from the audit trail (any promotion also does)",
        )
    ]


def model_findings(snap: ModelSnapshot, settings: AuditSettings) -> list[Finding]:
    """Every registry rule for one model.

    Args:
        snap: The model.
        settings: Thresholds and clock.

    Returns:
        Its findings (unsorted).
    """
    policy, findings = policy_rule(snap)
    findings += production_rule(snap, policy)
    findings += lineage_rule(snap, settings)
    findings += staging_rule(snap, settings)
    findings += alias_rule(snap)
    findings += view_rule(snap)
    return findings
