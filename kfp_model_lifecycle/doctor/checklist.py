"""The result of ``kml doctor``: one :class:`Check` per question, a :class:`Checklist` of them, and its renderings.

A check either passed (``ok``), failed, or was skipped because a check it depends on failed (the registry's auth
cannot be judged when nothing answers). A failed *required* check fails the whole checklist (``kml doctor`` exits
1, the ``verify_installation`` component fails its task); a failed optional one is a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.errors import LifecycleError

MAX_DETAIL_CHARS = 600


class Mark(StrEnum):
    """How a check ended, as one word (the JSON ``status``)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


UNICODE_MARKS = {Mark.PASSED: "✓", Mark.FAILED: "✗", Mark.WARNING: "!", Mark.SKIPPED: "-"}
ASCII_MARKS = {Mark.PASSED: "[ok]", Mark.FAILED: "[FAIL]", Mark.WARNING: "[warn]", Mark.SKIPPED: "[skip]"}


class InstallationCheckError(LifecycleError, RuntimeError):
    """A required installation check failed (``verify_installation``); the message holds the whole checklist."""


@dataclass(frozen=True)
class Check:
    """One question about the installation and its answer.

    Attributes:
        name: What is checked, e.g. ``registry answers the v1 API``.
        required: Whether the installation is unusable without it (else a failure is a warning).
        ok: Whether it passed.
        detail: What was found (never a token).
        fix: What to do when it did not pass ("" when it passed).
        skipped: Not checked, because a check it needs failed or it was turned off (``detail`` says which).
    """

    name: str
    required: bool
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False

    @property
    def mark(self) -> Mark:
        """passed, failed (a required check), warning (an optional one) or skipped."""
        if self.ok:
            return Mark.PASSED
        if self.skipped:
            return Mark.SKIPPED
        return Mark.FAILED if self.required else Mark.WARNING

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data.

        Returns:
            Every field and ``status`` (``passed``, ``failed``, ``warning`` or ``skipped``).
        """
        return {**asdict(self), "status": self.mark.value}


def passed(name: str, detail: str, *, required: bool = True) -> Check:
    """A check that passed.

    Args:
        name: What was checked.
        detail: What was found.
        required: Whether it is required.

    Returns:
        The check.
    """
    return Check(name, required, True, _cut(detail))


def failed(name: str, detail: str, fix: str, *, required: bool = True) -> Check:
    """A check that failed.

    Args:
        name: What was checked.
        detail: What was found.
        fix: What to do.
        required: Whether it is required (an optional one is a warning).

    Returns:
        The check.
    """
    return Check(name, required, False, _cut(detail), fix)


def skipped(name: str, why: str, fix: str = "", *, required: bool = True) -> Check:
    """A check that was not run.

    Args:
        name: What would have been checked.
        why: Why not, e.g. ``the registry did not answer``.
        fix: What to do to run it ("" when it was turned off on purpose).
        required: Whether it is required when it runs.

    Returns:
        The check.
    """
    return Check(name, required, False, _cut(why), fix, skipped=True)


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


@dataclass(frozen=True)
class Checklist:
    """Every check ``kml doctor`` (or ``verify_installation``) ran, in order.

    Attributes:
        checks: The checks.
        registry_url: The registry checked ("" when none was given).
        namespace: The Kubernetes namespace checked ("" when Kubernetes was not checked).
        kubernetes_source: Where the Kubernetes credentials came from ("" when not checked).
    """

    checks: list[Check] = field(default_factory=list)
    registry_url: str = ""
    namespace: str = ""
    kubernetes_source: str = ""

    @property
    def ok(self) -> bool:
        """Whether every required check passed (skipped required checks count as not passed)."""
        return all(c.ok for c in self.checks if c.required)

    @property
    def failures(self) -> list[Check]:
        """The required checks that did not pass."""
        return [c for c in self.checks if c.required and not c.ok]

    @property
    def warnings(self) -> list[Check]:
        """The optional checks that failed."""
        return [c for c in self.checks if c.mark is Mark.WARNING]

    def counts(self) -> dict[str, int]:
        """How many checks ended each way.

        Returns:
            ``passed``, ``failed``, ``warning`` and ``skipped`` counts.
        """
        counts = dict.fromkeys((m.value for m in Mark), 0)
        for check in self.checks:
            counts[check.mark.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The checklist as JSON-ready data (``kml doctor --json``).

        Returns:
            ``ok``, ``counts``, ``registry_url``, ``namespace``, ``kubernetes_source`` and ``checks``.
        """
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "registry_url": self.registry_url,
            "namespace": self.namespace,
            "kubernetes_source": self.kubernetes_source,
            "checks": [c.to_dict() for c in self.checks],
        }

    def text_lines(self, *, unicode: bool = True) -> list[str]:
        """One line per check with its mark, the fix indented under each that did not pass, and a summary.

        Args:
            unicode: ✓ and ✗ (else ``[ok]``/``[FAIL]`` for terminals that are not UTF-8).

        Returns:
            The lines.
        """
        marks = UNICODE_MARKS if unicode else ASCII_MARKS
        lines = []
        for check in self.checks:
            lines.append(f"{marks[check.mark]} {check.name}: {check.detail}")
            if check.fix and check.mark in (Mark.FAILED, Mark.WARNING):
                lines.append(f"    fix: {check.fix}")
        lines.append(self.summary())
        return lines

    def summary(self) -> str:
        """One sentence: how many checks passed, failed, warned and were skipped.

        Returns:
            e.g. ``7 passed, 1 failed (required), 0 warnings, 2 skipped: NOT ready``.
        """
        c = self.counts()
        verdict = "ready" if self.ok else "NOT ready"
        return (
            f"{c['passed']} passed, {c['failed']} failed (required), {c['warning']} warning(s),"
            f" {c['skipped']} skipped: {verdict}"
        )

    def markdown(self) -> str:
        """The checklist as a GitHub-flavoured Markdown table, for the KFP UI.

        Returns:
            The Markdown.
        """
        lines = ["# Installation check", "", f"**{self.summary()}**", ""]
        where = [("Registry", self.registry_url), ("Namespace", self.namespace), ("Kubernetes", self.kubernetes_source)]
        lines += [f"- {label}: `{value}`" for label, value in where if value]
        lines += ["", "| | Check | Found | Fix |", "| --- | --- | --- | --- |"]
        for check in self.checks:
            fix = check.fix if check.mark in (Mark.FAILED, Mark.WARNING) else ""
            cells = [UNICODE_MARKS[check.mark], check.name, check.detail, fix]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"

    def require_ok(self) -> None:
        """Raise when a required check did not pass.

        Raises:
            InstallationCheckError: With every check (and the fix of each failure) in the message.
        """
        if self.ok:
            return
        names = ", ".join(c.name for c in self.failures)
        body = "\n".join(self.text_lines(unicode=False))
        raise InstallationCheckError(f"the installation check failed ({names}):\n{body}")


def _md_cell(value: str) -> str:
    return (str(value) or " ").replace("|", "\\|").replace("\n", " ")


def checklist(checks: Sequence[Check], **where: str) -> Checklist:
    """A :class:`Checklist` of ``checks``.

    Args:
        checks: The checks, in order.
        **where: ``registry_url``, ``namespace``, ``kubernetes_source``.

    Returns:
        The checklist.
    """
    return Checklist(list(checks), **where)
