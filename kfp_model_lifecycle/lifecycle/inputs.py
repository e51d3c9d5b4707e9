"""Checking what callers pass: types and values, before anything is read or written.

Every public function of the package (the components' ``run_*`` jobs, the ``Lifecycle`` API, ``kml models``)
checks its inputs with these helpers first, so a wrong type is a :class:`~kfp_model_lifecycle.errors.InvalidInputError`
that names the parameter, what it got and what to pass -- never an ``AttributeError`` from deep inside, a silent
wrong result or a half-written registry. Values echoed in messages are cut (:func:`shown`), so a 10,000-character
name never floods a log.

Rules for values of the wrong kind:

* text parameters take ``str`` (None means the default, ""); numbers are refused: ``version=2`` could mean the
  version named ``"2"`` or a bump, so the message says to write ``version="2"``;
* list parameters take a list (tuple, set) of text; a single string is taken as ONE item when that is unambiguous
  (``aliases="champion"`` is ``["champion"]``); a string with a comma or one that looks like a JSON list is refused
  (was ``"a,b"`` one label or two?);
* mapping parameters take a dict with text keys; flags take ``True``/``False``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from kfp_model_lifecycle.errors import InvalidInputError

SHOWN_CHARS = 80
"""Values longer than this are cut in messages."""


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value for an error message: its ``repr``, cut to ``limit`` characters with its length.

    Args:
        value: Anything a caller passed.
        limit: The most characters of it to show.

    Returns:
        e.g. ``'iris'`` or ``'xxxxxxxx…' (10000 characters)``.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def described(value: Any) -> str:
    """A value with its type, for "got ..." in messages.

    Args:
        value: Anything a caller passed.

    Returns:
        e.g. ``int 123``, ``str 'nightly'``, ``list [1, 2]``.
    """
    return f"{type(value).__name__} {shown(value)}"


def _example(name: str, example: str) -> str:
    return f", e.g. {name}={example}" if example else ""


def check_text(value: Any, name: str, *, example: str = "") -> str:
    """A text parameter (None means "").

    Args:
        value: What was passed.
        name: The parameter's name, for the message.
        example: A valid value written as Python, for the message (e.g. ``"'iris'"``).

    Returns:
        The text as given.

    Raises:
        InvalidInputError: For anything but a string or None.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise InvalidInputError(f"{name} must be text, got {described(value)}: pass a string{_example(name, example)}")


def check_required_text(value: Any, name: str, *, example: str) -> str:
    """A text parameter that must not be empty (surrounding white space removed).

    Args:
        value: What was passed.
        name: The parameter's name.
        example: A valid value written as Python.

    Returns:
        The stripped text.

    Raises:
        InvalidInputError: For anything but a non-blank string.
    """
    text = check_text(value, name, example=example).strip()
    if not text:
        raise InvalidInputError(f"{name} is empty: give one{_example(name, example)}")
    return text


def check_text_list(value: Any, name: str, *, example: str) -> list[str]:
    """A list-of-text parameter; blank items are dropped.

    Args:
        value: A list, tuple or set of strings; None (empty); or one string taken as one item unless ambiguous.
        name: The parameter's name.
        example: A valid value written as Python (e.g. ``"['champion']"``).

    Returns:
        The items, stripped, without blanks.

    Raises:
        InvalidInputError: For a string with a comma or a ``[``, a mapping, a number, or an item that is not text.
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if "," in text or text.startswith("["):
            raise InvalidInputError(
                f"{name} must be a list, got the string {shown(value)}: is that one item or several? Pass a list"
                f"{_example(name, example)}"
            )
        return [text] if text else []
    if isinstance(value, Mapping | bytes | bytearray) or not isinstance(value, Iterable):
        raise InvalidInputError(f"{name} must be a list of text, got {described(value)}{_example(name, example)}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInputError(
                f"{name}[{i}] must be text, got {described(item)}: pass a list of strings{_example(name, example)}"
            )
    return [item.strip() for item in items if item.strip()]


def check_mapping(value: Any, name: str, *, example: str) -> dict[str, Any]:
    """A mapping parameter with text keys (None means empty).

    Args:
        value: What was passed.
        name: The parameter's name.
        example: A valid value written as Python (e.g. ``"{'accuracy': 0.93}"``).

    Returns:
        A copy as a dict.

    Raises:
        InvalidInputError: For anything but a mapping, or a key that is not a non-empty string.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{name} must be a mapping (a dict of name -> value), got {described(value)}{_example(name, example)}"
        )
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise InvalidInputError(
                f"{name}: every key must be a non-empty name (text), got {described(key)}{_example(name, example)}"
            )
    return dict(value)


def check_flag(value: Any, name: str) -> bool:
    """A yes/no parameter: ``True``/``False`` (or 0/1, which JSON and some callers use).

    Args:
        value: What was passed.
        name: The parameter's name.

    Returns:
        The flag.

    Raises:
        InvalidInputError: For anything else -- ``"no"`` would otherwise count as true.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidInputError(f"{name} must be True or False, got {described(value)}")


def check_optional_flag(value: Any, name: str) -> bool | None:
    """A yes/no parameter where None means "unchanged".

    Args:
        value: What was passed.
        name: The parameter's name.

    Returns:
        The flag, or None.

    Raises:
        InvalidInputError: For anything but None, a bool or 0/1.
    """
    return None if value is None else check_flag(value, name)


def check_number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    whole: bool = False,
    example: str = "",
) -> float:
    """A finite number parameter within bounds (numeric text is refused: pass a number).

    Args:
        value: What was passed.
        name: The parameter's name.
        minimum: The smallest value allowed (None: no bound).
        maximum: The largest value allowed (None: no bound).
        whole: The value must be integral (``3.0`` passes: KFP hands ints over as floats).
        example: A valid value, for the message.

    Returns:
        The value as a float (``int(...)`` it for whole numbers).

    Raises:
        InvalidInputError: For a bool, text, NaN, an infinity, a fraction where a whole number is needed, or a value
            out of bounds.
    """
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be {kind}, got {described(value)}{_example(name, example)}")
    number = float(value)
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise InvalidInputError(f"{name} must be {kind}, got {shown(value)}{_example(name, example)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else f" from {minimum:g}"
        high = "" if maximum is None else f" to {maximum:g}"
        raise InvalidInputError(f"{name} must be{low}{high}, got {shown(value)}{_example(name, example)}")
    return number


def check_finite_metrics(metrics: Mapping[str, Any], name: str) -> None:
    """Refuse NaN and infinite metric values, naming the metric (the registry stores finite doubles only).

    Args:
        metrics: Metric name -> value (other values are left to the caller).
        name: The parameter's name.

    Raises:
        InvalidInputError: For a NaN or infinite value.
    """
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(
                f"{name}[{shown(key)}] is {value!r}: the Model Registry stores finite numbers only (its JSON has no"
                " NaN or infinity), and a text value would wrongly match searches. Fix: leave the metric out, or"
                " compute a finite value"
            )
