"""What a comparison found: the record the reports render and the component's outputs come from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kfp_model_lifecycle.comparison.decision import Side
from kfp_model_lifecycle.comparison.gates import Gate, GateResult
from kfp_model_lifecycle.comparison.ranking import Ranking, TrendPoint
from kfp_model_lifecycle.comparison.settings import BaselineMode, CompareSettings
from kfp_model_lifecycle.comparison.significance import Significance
from kfp_model_lifecycle.comparison.versions import VersionSummary


@dataclass(frozen=True)
class MetricRow:
    """One metric side by side.

    Attributes:
        metric: The metric's name.
        candidate: The candidate's value, or None.
        baseline: The baseline's value, or None.
        delta: ``candidate - baseline`` when both are known.
        relative: ``delta / |baseline|`` when both are known and the baseline is not 0.
        gated: Whether a gate checks this metric.
    """

    metric: str
    candidate: float | None
    baseline: float | None
    delta: float | None
    relative: float | None
    gated: bool


def metric_rows(gates: Sequence[Gate], candidate: VersionSummary, baseline: VersionSummary | None) -> list[MetricRow]:
    """The metrics table: gated metrics first (in gate order), then the other metrics both sides have, by name.

    Without a baseline the other rows are every metric of the candidate.

    Args:
        gates: The gates.
        candidate: The candidate.
        baseline: The baseline, or None.

    Returns:
        The rows.
    """
    gated = [g.metric for g in gates]
    others = set(candidate.metrics) & set(baseline.metrics if baseline else candidate.metrics)
    rows = []
    for name in gated + sorted(others - set(gated)):
        c_value = candidate.metrics.get(name)
        b_value = baseline.metrics.get(name) if baseline else None
        delta = c_value - b_value if c_value is not None and b_value is not None else None
        relative = delta / abs(b_value) if delta is not None and b_value else None
        rows.append(MetricRow(name, c_value, b_value, delta, relative, name in gated))
    return rows


@dataclass(frozen=True)
class ComparisonResult:
    """The whole comparison: decision, both versions, gates, significance, trend.

    Attributes:
        decision: True to promote the candidate.
        winner: ``model:version`` of the winner ("" when nobody qualifies).
        winner_role: Which side won.
        reason: One sentence with the deciding numbers.
        reasons: Every failure that kept the candidate out.
        candidate: The candidate version.
        baseline: The baseline version, or None.
        baseline_note: Why there is no baseline ("" when there is one).
        ranking: How the baseline was ranked (``baseline='best'`` only).
        gates: Every gate's result.
        metrics: The metrics side by side.
        significance: The significance assessment.
        trend: The primary metric across versions, oldest first.
        settings: The settings the comparison ran with.
        predictions_recorded: ``created``/``updated``/``unchanged`` when the candidate's predictions were linked to
            its version, else "".
        notes: Warnings worth reading in the report.
        registry_url: The registry compared in.
    """

    decision: bool
    winner: str
    winner_role: Side
    reason: str
    reasons: tuple[str, ...]
    candidate: VersionSummary
    baseline: VersionSummary | None
    baseline_note: str
    ranking: Ranking | None
    gates: tuple[GateResult, ...]
    metrics: tuple[MetricRow, ...]
    significance: Significance
    trend: tuple[TrendPoint, ...]
    settings: CompareSettings
    predictions_recorded: str
    notes: tuple[str, ...]
    registry_url: str

    @property
    def primary_metric(self) -> str:
        """The first gate's metric."""
        return self.settings.primary_gate.metric

    @property
    def higher_is_better(self) -> bool:
        """The first gate's direction."""
        return self.settings.primary_gate.higher_is_better

    @property
    def baseline_mode(self) -> BaselineMode:
        """How the baseline was chosen."""
        return self.settings.baseline_mode

    @property
    def gates_passed(self) -> int:
        """How many gates passed."""
        return sum(1 for gate in self.gates if gate.passed)

    @property
    def scalars(self) -> dict[str, float]:
        """The scalars for the KFP UI's Metrics artifact.

        ``decision`` (1/0), ``gates_passed``, ``gates_total``, ``candidate_<m>``/``baseline_<m>``/``delta_<m>`` per
        gated metric (when known), ``mcnemar_p_value``, ``bootstrap_ci_low``/``_high`` and ``versions_ranked``
        when there are.
        """
        scalars = {
            "decision": 1.0 if self.decision else 0.0,
            "gates_passed": float(self.gates_passed),
            "gates_total": float(len(self.gates)),
        }
        for row in self.metrics:
            if not row.gated:
                continue
            for key, value in (("candidate", row.candidate), ("baseline", row.baseline), ("delta", row.delta)):
                if value is not None:
                    scalars[f"{key}_{row.metric}"] = float(value)
        sig = self.significance
        if sig.mcnemar is not None:
            scalars["mcnemar_p_value"] = float(sig.mcnemar.p_value)
        if sig.bootstrap is not None and sig.bootstrap.ci_low is not None and sig.bootstrap.ci_high is not None:
            scalars["bootstrap_ci_low"] = float(sig.bootstrap.ci_low)
            scalars["bootstrap_ci_high"] = float(sig.bootstrap.ci_high)
        if self.ranking is not None:
            scalars["versions_ranked"] = float(self.ranking.scanned)
        return scalars
