"""What an audit found: :class:`Finding` (severity, code, where, what, fix) and the :class:`AuditReport`.

Severities: ``error`` for what breaks a rule or a deployment (production without the required approval, a version
without its model artifact, an alias on an archived version, a serving record that does not match the cluster);
``warning`` for what weakens traceability or hygiene (missing lineage, staging versions left behind, a lifecycle
view out of sync with its audit trail). ``fail_on`` decides which of them fail a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.errors import InvalidInputError, LifecycleError
from kfp_model_lifecycle.lifecycle import shown


class Severity(StrEnum):
    """How serious a finding is."""

    WARNING = "warning"
    ERROR = "error"


class FailOn(StrEnum):
    """Which findings fail an audit (``--fail-on``, the component's ``fail_on``)."""

    WARNING = "warning"
    ERROR = "error"
    NEVER = "never"


SEVERITY_RANK = {Severity.WARNING: 1, Severity.ERROR: 2}
FAIL_RANK = {FailOn.WARNING: 1, FailOn.ERROR: 2, FailOn.NEVER: 3}


class Code(StrEnum):
    """The kinds of findings."""

    PRODUCTION_UNAPPROVED = "production-unapproved"
    NO_MODEL_ARTIFACT = "no-model-artifact"
    NO_RUN = "no-run"
    NO_DATASET_DIGEST = "no-dataset-digest"
    NO_CODE_VERSION = "no-code-version"
    STALE_STAGING = "stale-staging"
    ALIAS_ON_ARCHIVED = "alias-on-archived"
    VIEW_OUT_OF_SYNC = "view-out-of-sync"
    POLICY_INVALID = "policy-invalid"
    SERVICE_MISSING = "deployed-service-missing"
    SERVES_OTHER_VERSION = "deployed-other-version"
    DEPLOYMENTS_UNCHECKED = "deployments-unchecked"


class AuditFailedError(LifecycleError, RuntimeError):
    """An audit found something at least as severe as ``fail_on``; the message lists the findings."""


def check_fail_on(value: Any) -> FailOn:
    """The ``fail_on`` setting.

    Args:
        value: ``warning``, ``error`` or ``never``.

    Returns:
        The setting.

    Raises:
        InvalidInputError: For anything else.
    """
    text = value.strip().lower() if isinstance(value, str) else value
    try:
        return FailOn(text)
    except ValueError:
        raise InvalidInputError(
            f"fail_on {shown(value)}: use 'warning' (fail on any finding), 'error' (only errors) or 'never'"
        ) from None


@dataclass(frozen=True)
class Finding:
    """One thing that needs attention.

    Attributes:
        severity: ``error`` or ``warning``.
        code: What kind of finding (:class:`Code`).
        model: The registered model.
        version: The version's name ("" for model-level findings).
        message: What is wrong, with the evidence.
        fix: What to do.
    """

    severity: Severity
    code: str
    model: str
    version: str
    message: str
    fix: str

    @property
    def reference(self) -> str:
        """``model:version``, or the model alone."""
        return f"{self.model}:{self.version}" if self.version else self.model

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data.

        Returns:
            Every field (``severity`` as text) and ``reference``.
        """
        return {**asdict(self), "severity": self.severity.value, "reference": self.reference}


@dataclass(frozen=True)
class AuditReport:
    """Everything an audit found, and what it looked at.

    Attributes:
        findings: The findings, errors first, then by model and version.
        models: The models audited, by name.
        versions: How many versions were audited.
        staging_days: The staging age threshold used.
        deployments_checked: Whether serving records were compared with the cluster.
        registry_url: The registry audited.
        time: When (UTC, ISO 8601).
        notes: What was not checked, and why.
    """

    findings: list[Finding] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    versions: int = 0
    staging_days: int = 30
    deployments_checked: bool = False
    registry_url: str = ""
    time: str = ""
    notes: list[str] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        """How many findings have ``severity``.

        Args:
            severity: The severity.

        Returns:
            The count.
        """
        return sum(1 for f in self.findings if f.severity == severity)

    def counts(self) -> dict[str, int]:
        """Findings by severity, and in total.

        Returns:
            ``errors``, ``warnings``, ``findings``, ``models`` and ``versions`` (audited).
        """
        return {
            "errors": self.count(Severity.ERROR),
            "warnings": self.count(Severity.WARNING),
            "findings": len(self.findings),
            "models": len(self.models),
            "versions": self.versions,
        }

    def fails(self, fail_on: FailOn | str) -> bool:
        """Whether a finding is at least as severe as ``fail_on``.

        Args:
            fail_on: ``warning``, ``error`` or ``never``.

        Returns:
            True when the audit should fail.
        """
        threshold = FAIL_RANK[check_fail_on(fail_on)]
        return any(SEVERITY_RANK[f.severity] >= threshold for f in self.findings)

    def summary(self) -> str:
        """One sentence: what was audited and what was found.

        Returns:
            e.g. ``3 models, 12 versions: 1 error, 2 warnings``.
        """
        c = self.counts()
        found = f"{c['errors']} error(s), {c['warnings']} warning(s)" if self.findings else "no findings"
        return f"{c['models']} model(s), {c['versions']} version(s): {found}"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``kml models audit --json``).

        Returns:
            ``counts``, ``findings`` and what was audited.
        """
        return {
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "models": list(self.models),
            "staging_days": self.staging_days,
            "deployments_checked": self.deployments_checked,
            "registry_url": self.registry_url,
            "time": self.time,
            "notes": list(self.notes),
        }

    def require_pass(self, fail_on: FailOn | str) -> None:
        """Raise when the audit fails by ``fail_on``.

        Args:
            fail_on: ``warning``, ``error`` or ``never``.

        Raises:
            AuditFailedError: Listing the findings at or above the threshold.
        """
        if not self.fails(fail_on):
            return
        threshold = FAIL_RANK[check_fail_on(fail_on)]
        listed = [f for f in self.findings if SEVERITY_RANK[f.severity] >= threshold]
        lines = [f"{f.severity.value} {f.code} {f.reference}: {f.message} Fix: {f.fix}" for f in listed]
        raise AuditFailedError(
            f"the registry audit found {len(listed)} finding(s) at or above {fail_on!s}: " + "\n".join(lines)
        )


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by model, version and code.

    Args:
        findings: Findings in any order.

    Returns:
        The sorted list.
    """
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.model, f.version, f.code))
