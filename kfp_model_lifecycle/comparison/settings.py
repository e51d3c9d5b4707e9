"""The comparison's settings: gates, how to choose the baseline, the significance test; checked before connecting."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.comparison.gates import Gate, parse_gates
from kfp_model_lifecycle.comparison.significance import SignificanceTest
from kfp_model_lifecycle.errors import InvalidInputError
from kfp_model_lifecycle.lifecycle import check_flag, check_mapping, check_number, check_text, shown


class BaselineMode(StrEnum):
    """How the baseline version is chosen."""

    PRODUCTION = "production"
    """The version in production."""
    BEST = "best"
    """The best other LIVE version on the primary metric."""
    NONE = "none"
    """No baseline: thresholds only."""
    REFERENCE = "reference"
    """A reference ``model:version`` or ``model@alias``."""


def baseline_mode(baseline: str) -> BaselineMode:
    """How the ``baseline`` input chooses the baseline.

    Args:
        baseline: ``production`` (or ""), ``best``, ``none`` (any case), or a reference.

    Returns:
        The mode.
    """
    text = (baseline or "").strip().lower()
    if text in ("", BaselineMode.PRODUCTION):
        return BaselineMode.PRODUCTION
    if text in (BaselineMode.BEST, BaselineMode.NONE):
        return BaselineMode(text)
    return BaselineMode.REFERENCE


@dataclass(frozen=True)
class CompareSettings:
    """Everything that steers a comparison, validated (build it with :meth:`from_inputs`).

    Attributes:
        gates: The gates; the first one's metric is the primary metric.
        baseline: The ``baseline`` input as given (stripped; ``production`` when empty).
        significance_test: Which test to run.
        significance_level: Alpha of the two-sided test, strictly between 0 and 0.5.
        bootstrap_resamples: Resamples of the paired bootstrap, 100 to 100000.
        seed: Seed of the bootstrap.
        require_significance: Keep the baseline when no test could run.
        record_predictions: Link the candidate's predictions to its version.
        trend_versions: Versions in the trend chart, 0 to 500.
        page_size: Versions per registry request when ranking, 1 to 1000.
    """

    gates: tuple[Gate, ...]
    baseline: str = "production"
    significance_test: SignificanceTest = SignificanceTest.AUTO
    significance_level: float = 0.05
    bootstrap_resamples: int = 1000
    seed: int = 0
    require_significance: bool = False
    record_predictions: bool = True
    trend_versions: int = 30
    page_size: int = 100

    def __post_init__(self) -> None:
        if not self.gates:
            raise InvalidInputError("gates must be a non-empty list of gates")
        if not 0 < self.significance_level < 0.5:
            raise InvalidInputError(
                f"significance_level={self.significance_level!r}: expected a level between 0 and 0.5, e.g. 0.05"
            )
        if not 100 <= self.bootstrap_resamples <= 100000:
            raise InvalidInputError(
                f"bootstrap_resamples={self.bootstrap_resamples!r}: expected 100 to 100000 (1000 is usual)"
            )
        if not 1 <= self.page_size <= 1000:
            raise InvalidInputError(f"page_size={self.page_size!r}: expected 1 to 1000")
        if not 0 <= self.trend_versions <= 500:
            raise InvalidInputError(f"trend_versions={self.trend_versions!r}: expected 0 (no chart) to 500")

    @classmethod
    def from_inputs(
        cls,
        *,
        gates: Any,
        baseline: str = "production",
        significance_test: str = "auto",
        significance_level: float = 0.05,
        bootstrap_resamples: int = 1000,
        seed: int = 0,
        require_significance: bool = False,
        record_predictions: bool = True,
        trend_versions: int = 30,
        page_size: int = 100,
    ) -> CompareSettings:
        """Check the component's inputs and build the settings.

        Args:
            gates: See :func:`~kfp_model_lifecycle.comparison.gates.parse_gates`.
            baseline: ``production`` (or ""), ``best``, ``none``, or a reference.
            significance_test: ``auto``, ``mcnemar``, ``bootstrap`` or ``none``.
            significance_level: Alpha, strictly between 0 and 0.5.
            bootstrap_resamples: 100 to 100000.
            seed: Seed of the bootstrap.
            require_significance: Keep the baseline when no test could run.
            record_predictions: Link the candidate's predictions to its version.
            trend_versions: 0 to 500.
            page_size: 1 to 1000.

        Returns:
            The settings.

        Raises:
            InvalidInputError: Naming the input, what it got and the accepted values (also for values of the wrong
                type: text where a number is expected, a number where a flag is).
        """
        parsed = tuple(parse_gates(gates))
        test_name = check_text(significance_test, "significance_test", example="'auto'").strip().lower()
        try:
            test = SignificanceTest(test_name)
        except ValueError:
            raise InvalidInputError(
                f"significance_test={shown(significance_test)}: use 'auto' (McNemar for accuracy, bootstrap"
                " otherwise), 'mcnemar', 'bootstrap' or 'none'"
            ) from None
        return cls(
            gates=parsed,
            baseline=check_text(baseline, "baseline", example="'production'").strip() or "production",
            significance_test=test,
            significance_level=check_number(significance_level, "significance_level", example="0.05"),
            bootstrap_resamples=int(check_number(bootstrap_resamples, "bootstrap_resamples", whole=True)),
            seed=int(check_number(seed, "seed", whole=True, example="0")),
            require_significance=check_flag(require_significance, "require_significance"),
            record_predictions=check_flag(record_predictions, "record_predictions"),
            trend_versions=int(check_number(trend_versions, "trend_versions", whole=True, example="30")),
            page_size=int(check_number(page_size, "page_size", whole=True, example="100")),
        )

    @property
    def primary_gate(self) -> Gate:
        """The first gate: its metric ranks the versions, is tested for significance and is charted."""
        return self.gates[0]

    @property
    def baseline_mode(self) -> BaselineMode:
        """How the baseline is chosen."""
        return baseline_mode(self.baseline)


def check_candidate_inputs(
    *,
    candidate: Any = "",
    candidate_version_id: Any = "",
    model_name: Any = "",
    candidate_metrics: Any = None,
    paths: dict[str, Any] | None = None,
    registry_url: Any = "",
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    env: Any = None,
) -> None:
    """Check ``run_compare_models``' inputs besides the settings, before it connects.

    Args:
        candidate: The candidate's reference (text).
        candidate_version_id: Its ModelVersion id (text or a whole number: KFP hands ints over as floats).
        model_name: The default model (text).
        candidate_metrics: Metric name -> value (a mapping, or None).
        paths: The predictions' paths, URIs and names by input name (text).
        registry_url: The registry URL (text).
        verify_tls: A flag.
        ca_bundle_path: A path (text).
        env: A mapping, or None.

    Raises:
        InvalidInputError: Naming the first input of the wrong type.
    """
    check_text(candidate, "candidate", example="'iris:1.2.0'")
    if not isinstance(candidate_version_id, str):
        check_number(candidate_version_id, "candidate_version_id", minimum=1, whole=True, example="'12'")
    check_text(model_name, "model_name", example="'iris'")
    check_mapping(candidate_metrics, "candidate_metrics", example="{'accuracy': 0.93}")
    for name, value in (paths or {}).items():
        check_text(value, name)
    check_text(registry_url, "registry_url", example="'http://model-registry-service.kubeflow:8080'")
    check_flag(verify_tls, "verify_tls")
    check_text(ca_bundle_path, "ca_bundle_path")
    check_mapping(env, "env", example="dict(os.environ)")
