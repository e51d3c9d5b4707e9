"""A value axis for the reports' charts: rounded ticks (0.80, 0.85, 0.90), clamped to [0, 1] for bounded metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NICE_STEPS = (1.0, 2.0, 5.0, 10.0)
"""Tick steps are one of these times a power of ten (so tick labels need few decimals)."""

TARGET_TICKS = 5
"""About this many ticks on an axis."""

MAX_DECIMALS = 12


@dataclass(frozen=True)
class Axis:
    """A value axis: its ends are ticks, and every tick is a round number.

    Attributes:
        low: The smallest value shown (the first tick).
        high: The largest value shown (the last tick).
        step: The distance between ticks.
        ticks: The ticks, from ``low`` to ``high``.
        decimals: Decimals that show every tick exactly.
    """

    low: float
    high: float
    step: float
    ticks: tuple[float, ...]
    decimals: int

    def label(self, value: float) -> str:
        """A tick's text, e.g. ``0.85`` (every tick with the same decimals).

        Args:
            value: A tick.

        Returns:
            The text.
        """
        return f"{value:.{self.decimals}f}"

    def fraction(self, value: float) -> float:
        """Where ``value`` lies between ``low`` (0) and ``high`` (1).

        Args:
            value: A value.

        Returns:
            The fraction (outside 0..1 for values off the axis).
        """
        return (value - self.low) / (self.high - self.low)


def nice_step(span: float, target: int = TARGET_TICKS) -> float:
    """The tick step for a span: 1, 2 or 5 times a power of ten, giving about ``target`` ticks.

    Args:
        span: ``high - low`` (> 0).
        target: About how many ticks.

    Returns:
        The step.
    """
    raw = span / max(1, target - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in NICE_STEPS if m * power >= raw * (1 - 1e-9))


def _decimals(step: float) -> int:
    """The fewest decimals that write multiples of ``step`` exactly."""
    for decimals in range(MAX_DECIMALS + 1):
        if abs(round(step, decimals) - step) <= step * 1e-9:
            return decimals
    return MAX_DECIMALS


def nice_axis(values: Sequence[float], *, unit_interval: bool = False, target: int = TARGET_TICKS) -> Axis:
    """An axis spanning ``values`` with round ticks at both ends.

    Args:
        values: The values to show (at least one).
        unit_interval: The metric lies in [0, 1] (accuracy, AUC...): the axis never leaves [0, 1].
        target: About how many ticks.

    Returns:
        The axis.
    """
    low, high = min(values), max(values)
    if high <= low:
        pad = abs(high) * 0.05 or 0.05
        low, high = low - pad, high + pad
    if unit_interval:
        low, high = max(0.0, low), min(1.0, high)
    step = nice_step(high - low, target)
    decimals = _decimals(step)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    if unit_interval:
        first, last = max(0.0, first), min(1.0, last)
    count = round((last - first) / step)
    ticks = tuple(round(first + i * step, decimals) for i in range(count + 1))
    return Axis(ticks[0], ticks[-1], step, ticks, decimals)
