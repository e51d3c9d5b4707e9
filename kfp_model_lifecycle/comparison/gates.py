"""Metric gates with MLflow's ``MetricThreshold`` semantics: parsing the ``gates`` input and evaluating it.

Gates follow MLflow's ``MetricThreshold`` (``mlflow.models.MetricThreshold``) semantics:

* ``threshold``: the candidate's value must be ``>= threshold`` (higher is better) or ``<= threshold``
  (lower is better). Checked with or without a baseline.
* ``min_absolute_change`` (a positive number): candidate ``>= baseline + change`` (higher is better) or
  ``<= baseline - change`` (lower is better).
* ``min_relative_change`` (a number from 0 to 1): ``(candidate - baseline) / |baseline| >= change`` (higher
  is better) or ``(baseline - candidate) / |baseline| >= change``; ``0.0`` means "not worse than the
  baseline". When the baseline value is 0 the check falls back, as in MLflow, to "strictly better by at least
  1e-10".
* Equality passes every check (``>=``/``<=``). Values are compared in decimal arithmetic on the numbers as
  written (their shortest ``repr``), so ``0.905`` passes ``0.9 + 0.005`` exactly; binary floating point
  would put ``0.9 + 0.005`` a hair above ``0.905``.
* Deviations from MLflow, on purpose: relative change divides by ``|baseline|`` (MLflow divides by the signed
  baseline, which inverts the check for negative metrics such as a negated loss); a metric missing on either
  side fails its gate with a reason naming the side (MLflow ignores a missing baseline value when
  ``min_relative_change`` is ``0.0``); with no baseline at all the comparison checks are skipped and only
  ``threshold`` applies (the behaviour MLflow documents for ``baseline_result=None``).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kfp_model_lifecycle.comparison.formatting import format_number
from kfp_model_lifecycle.errors import InvalidInputError

GATE_KEYS = (
    "metric",
    "higher_is_better",
    "greater_is_better",
    "threshold",
    "min_absolute_change",
    "min_relative_change",
)
"""Keys a gate may have (``greater_is_better`` is MLflow's spelling of ``higher_is_better``)."""

GATE_EXAMPLE = '[{"metric": "accuracy", "higher_is_better": true, "threshold": 0.9, "min_absolute_change": 0.005}]'
ZERO_BASELINE_EPSILON = Decimal("1e-10")
"""With a baseline of 0, ``min_relative_change`` asks for at least this much improvement (as MLflow does)."""


class CheckName(StrEnum):
    """The checks of a gate, in the order they are evaluated."""

    PRESENT = "present"
    THRESHOLD = "threshold"
    MIN_ABSOLUTE_CHANGE = "min_absolute_change"
    MIN_RELATIVE_CHANGE = "min_relative_change"


class CheckStatus(StrEnum):
    """The outcome of one check."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Gate:
    """One metric gate, validated (see the module docstring for the semantics).

    Attributes:
        metric: The metric's name.
        higher_is_better: The metric's direction.
        threshold: The floor (higher is better) or ceiling, or None.
        min_absolute_change: The minimum improvement over the baseline (> 0), or None.
        min_relative_change: The minimum improvement as a fraction of ``|baseline|`` (0..1), or None.
    """

    metric: str
    higher_is_better: bool
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None

    @property
    def comparisons(self) -> tuple[CheckName, ...]:
        """The checks against the baseline this gate sets."""
        settings = {
            CheckName.MIN_ABSOLUTE_CHANGE: self.min_absolute_change,
            CheckName.MIN_RELATIVE_CHANGE: self.min_relative_change,
        }
        return tuple(name for name, value in settings.items() if value is not None)


@dataclass(frozen=True)
class GateCheck:
    """One evaluated check of a gate.

    Attributes:
        check: Which check.
        status: Pass, fail or skipped.
        required: What was required, e.g. ``>= 0.905 (baseline 0.9 + 0.005)``.
        actual: What the candidate has.
        detail: A sentence with the numbers.
    """

    check: CheckName
    status: CheckStatus
    required: str
    actual: str
    detail: str


@dataclass(frozen=True)
class GateResult:
    """One evaluated gate.

    Attributes:
        metric: The gate's metric.
        higher_is_better: Its direction.
        candidate: The candidate's value (None when missing).
        baseline: The baseline's value (None when missing or without a baseline).
        checks: Every configured check, in order.
    """

    metric: str
    higher_is_better: bool
    candidate: float | None
    baseline: float | None
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        """Whether no check failed."""
        return all(check.status != CheckStatus.FAIL for check in self.checks)

    @property
    def failures(self) -> list[str]:
        """Every failed check as ``gate <metric> <check>: <detail>``."""
        return [
            f"gate {self.metric} {check.check}: {check.detail}"
            for check in self.checks
            if check.status == CheckStatus.FAIL
        ]


# -- parsing ------------------------------------------------------------------------------------------------------


def parse_gates(gates: Any) -> list[Gate]:
    """Validate and normalise the ``gates`` input.

    Accepted forms: a list of dicts (``[{"metric": "accuracy", "higher_is_better": true, "threshold": 0.9}]``),
    a dict keyed by metric name (``{"accuracy": {"higher_is_better": true, ...}}``, MLflow's
    ``validation_thresholds`` shape), or either of those as a JSON string. Keys per gate: ``metric``,
    ``higher_is_better`` (or MLflow's ``greater_is_better``; one is required), ``threshold``,
    ``min_absolute_change`` (> 0), ``min_relative_change`` (0..1); at least one of the last three.

    Args:
        gates: The component's ``gates`` input.

    Returns:
        One :class:`Gate` per gate, in the given order.

    Raises:
        InvalidInputError: Naming the gate and the bad key or value, and how to fix it.
    """
    seen: dict[str, int] = {}
    return [_parse_gate(i, item, seen) for i, item in enumerate(_gate_items(gates))]


def _gate_items(gates: Any) -> list[Any]:
    """The gates as a non-empty list of (not yet checked) items, from any accepted form."""
    if isinstance(gates, str):
        text = gates.strip()
        if not text:
            raise InvalidInputError(f"gates is empty: give at least one gate, e.g. {GATE_EXAMPLE}")
        try:
            gates = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"gates is not valid JSON ({exc}): write it like {GATE_EXAMPLE}") from None
    if isinstance(gates, Mapping):
        gates = [_metric_entry(name, spec) for name, spec in gates.items()]
    if not isinstance(gates, (list, tuple)) or not gates:
        raise InvalidInputError(f"gates must be a non-empty list of gates, got {gates!r}: e.g. {GATE_EXAMPLE}")
    return list(gates)


def _metric_entry(name: Any, spec: Any) -> dict[str, Any]:
    """One entry of MLflow's ``{metric: {checks}}`` shape as a gate of the list shape."""
    if not isinstance(spec, Mapping):
        raise InvalidInputError(
            f"gates[{name!r}] must be an object of checks, got {type(spec).__name__}: e.g. "
            '{"accuracy": {"higher_is_better": true, "threshold": 0.9}}'
        )
    return {"metric": name, **dict(spec)}


def _parse_gate(i: int, gate: Any, seen: dict[str, int]) -> Gate:
    """Check one gate's keys and values; ``seen`` maps the metrics of the gates before it to their index."""
    if not isinstance(gate, Mapping):
        raise InvalidInputError(f"gates[{i}] must be an object like {GATE_EXAMPLE[1:-1]}, got {gate!r}")
    unknown = [k for k in gate if k not in GATE_KEYS]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, GATE_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInputError(f"gates[{i}]: unknown key {key!r}{hint}; allowed keys: {', '.join(GATE_KEYS)}")
    metric = gate.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise InvalidInputError(f"gates[{i}]: 'metric' is required: the name of a metric, e.g. \"accuracy\"")
    metric = metric.strip()
    where = f"gates[{i}] ({metric!r})"
    if metric in seen:
        raise InvalidInputError(f"{where}: metric {metric!r} already has a gate (gates[{seen[metric]}]): merge the two")
    seen[metric] = i
    threshold, absolute, relative = _checks(where, gate)
    return Gate(metric, _direction(where, gate), threshold, absolute, relative)


def _direction(where: str, gate: Mapping[str, Any]) -> bool:
    """The gate's ``higher_is_better`` (or ``greater_is_better``)."""
    if "higher_is_better" in gate and "greater_is_better" in gate:
        raise InvalidInputError(
            f"{where}: give 'higher_is_better' or its MLflow spelling 'greater_is_better', not both"
        )
    key = "higher_is_better" if "higher_is_better" in gate else "greater_is_better"
    direction = gate.get(key)
    if direction is None:
        raise InvalidInputError(
            f"{where}: 'higher_is_better' is required: true for scores like accuracy, false for errors and losses"
        )
    if not isinstance(direction, bool):
        raise InvalidInputError(f"{where}: {key!r} must be true or false, got {direction!r}")
    return direction


def _checks(where: str, gate: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """The gate's ``threshold``, ``min_absolute_change`` and ``min_relative_change`` (at least one is set)."""
    threshold = _number(where, "threshold", gate.get("threshold"))
    absolute = _number(where, "min_absolute_change", gate.get("min_absolute_change"))
    if absolute is not None and absolute <= 0:
        raise InvalidInputError(
            f"{where}: 'min_absolute_change' must be a positive number, got {absolute!r}"
            " (for 'not worse than the baseline' use \"min_relative_change\": 0.0)"
        )
    relative = _number(where, "min_relative_change", gate.get("min_relative_change"))
    if relative is not None and not 0 <= relative <= 1:
        raise InvalidInputError(
            f"{where}: 'min_relative_change' must be between 0 and 1 (a fraction of the baseline value,"
            f" 0.01 = 1%), got {relative!r}"
        )
    if threshold is None and absolute is None and relative is None:
        raise InvalidInputError(
            f"{where}: no check given: set 'threshold', 'min_absolute_change' and/or 'min_relative_change'"
            ' ("min_relative_change": 0.0 requires the candidate to be at least as good as the baseline)'
        )
    return threshold, absolute, relative


def _number(where: str, key: str, value: Any) -> float | None:
    """A gate's numeric value (None stays None), checked to be a finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{where}: {key!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return value


# -- evaluation ---------------------------------------------------------------------------------------------------


def exact_decimal(value: float) -> Decimal:
    """A number as a ``decimal.Decimal`` of its shortest written form (``0.1`` -> ``Decimal('0.1')``).

    Args:
        value: An int or float.

    Returns:
        The Decimal.
    """
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


def _show(value: Any) -> str:
    """A number in a gate check, with up to 12 significant digits."""
    return format_number(value, 12) if isinstance(value, (int, float, Decimal)) else str(value)


def _reaches(value: Decimal, bound: Decimal, higher: bool) -> bool:
    """Whether ``value`` is at least as good as ``bound`` (equality passes)."""
    return value >= bound if higher else value <= bound


def _status(passed: bool) -> CheckStatus:
    return CheckStatus.PASS if passed else CheckStatus.FAIL


def evaluate_gate(
    gate: Gate,
    candidate_value: float | None,
    baseline_value: float | None,
    *,
    has_baseline: bool,
) -> GateResult:
    """Evaluate one gate (MLflow ``MetricThreshold`` semantics, see the module docstring).

    Args:
        gate: One item of :func:`parse_gates`.
        candidate_value: The candidate's value of the metric (None when missing).
        baseline_value: The baseline's value (None when missing or there is no baseline).
        has_baseline: Whether there is a baseline version at all.

    Returns:
        The result with one :class:`GateCheck` per configured check; a missing candidate value gives the single
        failed check ``present``.
    """
    if candidate_value is None:
        missing = GateCheck(
            CheckName.PRESENT,
            CheckStatus.FAIL,
            "a numeric value",
            "missing",
            f"the candidate has no numeric metric {gate.metric!r} (neither a customProperty of its model version nor"
            " an entry of candidate_metrics): record it when registering, or pass the evaluation's Metrics",
        )
        return GateResult(gate.metric, gate.higher_is_better, None, baseline_value, (missing,))
    checks: list[GateCheck] = []
    if gate.threshold is not None:
        checks.append(_threshold_check(gate, candidate_value))
    if gate.comparisons and not has_baseline:
        checks += [
            GateCheck(
                key,
                CheckStatus.SKIPPED,
                f"{_show(getattr(gate, key))} over the baseline",
                _show(candidate_value),
                "no baseline to compare with",
            )
            for key in gate.comparisons
        ]
    elif gate.comparisons and baseline_value is None:
        checks += [
            GateCheck(
                key,
                CheckStatus.FAIL,
                f"{_show(getattr(gate, key))} over the baseline",
                "baseline value missing",
                f"the baseline has no numeric metric {gate.metric!r}, so the candidate cannot be compared on it:"
                " record the metric on the baseline version, or choose another baseline",
            )
            for key in gate.comparisons
        ]
    elif gate.comparisons:
        checks += _comparison_checks(gate, candidate_value, baseline_value)
    return GateResult(gate.metric, gate.higher_is_better, candidate_value, baseline_value, tuple(checks))


def _threshold_check(gate: Gate, candidate_value: float) -> GateCheck:
    higher = gate.higher_is_better
    passed = _reaches(exact_decimal(candidate_value), exact_decimal(gate.threshold), higher)
    return GateCheck(
        CheckName.THRESHOLD,
        _status(passed),
        f"{'>=' if higher else '<='} {_show(gate.threshold)}",
        _show(candidate_value),
        f"candidate {gate.metric} = {_show(candidate_value)} {'meets' if passed else 'misses'} the"
        f" {'floor' if higher else 'ceiling'} {_show(gate.threshold)} ({'higher' if higher else 'lower'} is better)",
    )


def _comparison_checks(gate: Gate, candidate_value: float, baseline_value: float) -> list[GateCheck]:
    checks = []
    if gate.min_absolute_change is not None:
        checks.append(_absolute_check(gate, candidate_value, baseline_value))
    if gate.min_relative_change is not None:
        if exact_decimal(baseline_value) == 0:
            checks.append(_zero_baseline_check(gate, candidate_value))
        else:
            checks.append(_relative_check(gate, candidate_value, baseline_value))
    return checks


def _absolute_check(gate: Gate, candidate_value: float, baseline_value: float) -> GateCheck:
    higher = gate.higher_is_better
    cand, base = exact_decimal(candidate_value), exact_decimal(baseline_value)
    delta = cand - base
    change = exact_decimal(gate.min_absolute_change)
    bound = base + change if higher else base - change
    passed = _reaches(cand, bound, higher)
    sign = "+" if higher else "-"
    shown_delta = f"{'+' if delta >= 0 else ''}{_show(delta)}"
    return GateCheck(
        CheckName.MIN_ABSOLUTE_CHANGE,
        _status(passed),
        f"{'>=' if higher else '<='} {_show(bound)} (baseline {_show(baseline_value)} {sign}"
        f" {_show(gate.min_absolute_change)})",
        f"{_show(candidate_value)} (change {shown_delta})",
        f"candidate {gate.metric} = {_show(candidate_value)}, baseline = {_show(baseline_value)}: the change"
        f" {shown_delta} {'reaches' if passed else 'falls short of'} the required"
        f" {sign}{_show(gate.min_absolute_change)}",
    )


def _zero_baseline_check(gate: Gate, candidate_value: float) -> GateCheck:
    higher = gate.higher_is_better
    bound = ZERO_BASELINE_EPSILON if higher else -ZERO_BASELINE_EPSILON
    passed = _reaches(exact_decimal(candidate_value), bound, higher)
    return GateCheck(
        CheckName.MIN_RELATIVE_CHANGE,
        _status(passed),
        f"{'>' if higher else '<'} 0 (baseline is 0: strictly better)",
        _show(candidate_value),
        f"the baseline {gate.metric} is 0, so a relative change is undefined; as in MLflow the candidate"
        f" must be strictly better: {_show(candidate_value)} is {'' if passed else 'not '}"
        f"{'higher' if higher else 'lower'} than 0",
    )


def _relative_check(gate: Gate, candidate_value: float, baseline_value: float) -> GateCheck:
    cand, base = exact_decimal(candidate_value), exact_decimal(baseline_value)
    wanted = exact_decimal(gate.min_relative_change)
    delta = cand - base
    relative = (delta if gate.higher_is_better else -delta) / abs(base)
    passed = relative >= wanted
    return GateCheck(
        CheckName.MIN_RELATIVE_CHANGE,
        _status(passed),
        f"improvement >= {_show(wanted * 100)}% of |baseline| {_show(baseline_value)}",
        f"{_show(relative * 100)}%",
        f"candidate {gate.metric} = {_show(candidate_value)}, baseline = {_show(baseline_value)}: relative"
        f" improvement {_show(relative * 100)}% {'reaches' if passed else 'falls short of'} the required"
        f" {_show(wanted * 100)}%",
    )


def evaluate_gates(
    gates: Sequence[Gate],
    candidate_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float] | None,
) -> list[GateResult]:
    """Evaluate every gate; ``baseline_metrics=None`` means there is no baseline.

    Args:
        gates: From :func:`parse_gates`.
        candidate_metrics: Metric name -> value of the candidate.
        baseline_metrics: Metric name -> value of the baseline, or None without a baseline.

    Returns:
        One :func:`evaluate_gate` result per gate, in order.
    """
    return [
        evaluate_gate(
            gate,
            candidate_metrics.get(gate.metric),
            (baseline_metrics or {}).get(gate.metric),
            has_baseline=baseline_metrics is not None,
        )
        for gate in gates
    ]
