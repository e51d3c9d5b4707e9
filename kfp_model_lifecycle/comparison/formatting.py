"""Numbers as the reports and reasons show them: a few significant digits, no exponent for ordinary values."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

DISPLAY_DIGITS = 4
"""Significant digits of a number in a report's text (gate checks show the exact decimals they compare)."""

EXACT_DIGITS = 12
"""Significant digits where the exact value matters (gate checks, recorded hyperparameters)."""


def format_number(value: Any, digits: int = DISPLAY_DIGITS) -> str:
    """A metric value for reports: up to ``digits`` significant digits, no exponent for ordinary values.

    Args:
        value: A number, a Decimal or None.
        digits: Significant digits (numbers with more integer digits are rounded to an integer).

    Returns:
        e.g. ``0.951``, ``0.9``, ``12``, ``123457``, ``1.5e-07``; ``n/a`` for None.
    """
    if value is None:
        return "n/a"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if 10**digits <= abs(value) < 1e15:
        return str(round(value))
    text = f"{value:.{digits}g}"
    if "e" in text and 1e-4 <= abs(value) < 1e15:
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text


def signed_number(value: Any, digits: int = DISPLAY_DIGITS) -> str:
    """A difference with its sign (``+0.012``, ``-0.3``, ``0``; ``n/a`` for None).

    Args:
        value: A number or None.
        digits: Significant digits.

    Returns:
        The text.
    """
    if value is None:
        return "n/a"
    text = format_number(value, digits)
    return text if text.startswith("-") or float(value) == 0 else "+" + text


def format_value(value: Any) -> str:
    """A recorded value (hyperparameter, model metadata) as written: ``8`` for ``8.0``, ``0.1``, ``true``, text.

    Args:
        value: A number, bool, string or None.

    Returns:
        The text; numbers keep up to :data:`EXACT_DIGITS` significant digits, integral floats lose their ``.0``.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, Decimal)):
        return format_number(value, EXACT_DIGITS)
    return str(value)
