"""The decision: gates and the significance test combined into promote-or-keep, with one sentence saying why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from kfp_model_lifecycle.comparison.gates import CheckStatus, GateResult
from kfp_model_lifecycle.comparison.significance import Significance, SignificanceStatus
from kfp_model_lifecycle.comparison.versions import VersionSummary


class Side(StrEnum):
    """A side of the comparison: the winner, or a version's role in the trend."""

    CANDIDATE = "candidate"
    BASELINE = "baseline"
    NONE = ""
    """Neither (no winner: the candidate fails its thresholds and there is no baseline)."""


@dataclass(frozen=True)
class Verdict:
    """The decision and why.

    Attributes:
        decision: True to promote the candidate.
        winner: ``model:version`` of the winner, "" when nobody qualifies.
        winner_role: Which side won.
        reason: One sentence with the deciding numbers.
        reasons: Every failure that kept the candidate out.
    """

    decision: bool
    winner: str
    winner_role: Side
    reason: str
    reasons: tuple[str, ...] = ()


def decide(
    candidate: VersionSummary,
    baseline: VersionSummary | None,
    gate_results: Sequence[GateResult],
    significance: Significance,
    *,
    require_significance: bool = False,
    baseline_note: str = "",
) -> Verdict:
    """Combine gates and the significance test into one decision.

    True (promote the candidate) when every gate passes and, with a baseline, the significance test did not
    say "not significant" (and ran at all when ``require_significance``). Without a baseline only the
    thresholds apply, and the reason starts with "no baseline".

    Args:
        candidate: The candidate.
        baseline: The baseline, or None.
        gate_results: From :func:`~kfp_model_lifecycle.comparison.gates.evaluate_gates`.
        significance: From :func:`~kfp_model_lifecycle.comparison.significance.assess_significance`.
        require_significance: Keep the baseline when the test could not run.
        baseline_note: Why there is no baseline (for the reason text).

    Returns:
        The verdict.
    """
    failures = [failure for gate in gate_results for failure in gate.failures]
    if baseline is None:
        return _without_baseline(candidate, failures, baseline_note or "no baseline version")
    if baseline.version_id and baseline.version_id == candidate.version_id:
        return Verdict(
            False,
            baseline.reference,
            Side.BASELINE,
            f"the candidate {candidate.reference} already is the baseline: nothing to promote",
            ("the candidate is the baseline",),
        )
    if significance.status == SignificanceStatus.NOT_SIGNIFICANT:
        failures.append(f"significance: {significance.reason}")
    elif significance.status != SignificanceStatus.SIGNIFICANT and require_significance:
        failures.append(f"significance required but not tested: {significance.reason}")
    if failures:
        reason = f"keep {baseline.reference}: " + "; ".join(failures)
        return Verdict(False, baseline.reference, Side.BASELINE, reason, tuple(failures))
    tail = ""
    if significance.status == SignificanceStatus.SIGNIFICANT:
        tail = f", and {significance.reason}"
    elif significance.reason:
        tail = f" (significance not tested: {significance.reason})"
    reason = f"{candidate.reference} beats {baseline.reference}: all {gates_text(gate_results)} pass{tail}"
    return Verdict(True, candidate.reference, Side.CANDIDATE, reason)


def gates_text(gate_results: Sequence[GateResult]) -> str:
    """How many gates and checks were evaluated, as the gates table counts them (one row per check).

    Args:
        gate_results: The evaluated gates.

    Returns:
        e.g. ``2 gates (3 checks)``, ``1 gate (1 check)``, or ``2 gates (3 checks, 1 skipped)``.
    """
    checks = [check for gate in gate_results for check in gate.checks]
    skipped = sum(1 for check in checks if check.status == CheckStatus.SKIPPED)
    text = f"{_count(len(gate_results), 'gate')} ({_count(len(checks), 'check')}"
    return text + (f", {skipped} skipped)" if skipped else ")")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _without_baseline(candidate: VersionSummary, failures: list[str], why: str) -> Verdict:
    """Thresholds only: promote when no gate failed."""
    if failures:
        reason = f"no baseline ({why}), and the candidate fails: " + "; ".join(failures)
        return Verdict(False, "", Side.NONE, reason, tuple(failures))
    return Verdict(
        True, candidate.reference, Side.CANDIDATE, f"no baseline ({why}): the candidate passes every threshold"
    )
