"""The registry's ``MetadataValue`` wire form: Python values to and from ``customProperties``, and timestamps.

Every value the package stores goes through :func:`lifecycle_property`; every value the lifecycle reads through
:func:`plain_properties`. Times are ISO 8601 strings in UTC (:func:`utc_timestamp`).

Integers: the real registry keeps ``int_value`` in a 32-bit column (``strconv.ParseInt(s, 10, 32)``: an int outside
-2147483648..2147483647 is rejected), and the v1 API's schema (which the official client enforces before sending)
allows at most 9 digits (``^-?([1-9][0-9]{0,8}|0)$``). So integers with at most 9 digits are stored as
``int_value``, larger ones as ``double_value`` while the double holds them exactly (``|n| <= 2**53``), and beyond
that as their decimal text (``string_value``). Doubles with an integral value beyond 9 digits read back as
``int``, so such an integer round-trips; a filter with an integer literal (``seed = 12345678901``) matches both int
and double values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

# int_value: 9 digits (the API schema's pattern; the server's column is int32, wider)
INT_VALUE_MIN = -999_999_999
INT_VALUE_MAX = 999_999_999
# The largest magnitude up to which every integer is exactly representable as a double.
MAX_EXACT_DOUBLE_INT = 2**53


def utc_timestamp() -> str:
    """The current time in UTC as ISO 8601 with milliseconds, e.g. ``2026-05-04T10:20:30.123Z``.

    Times are stored as strings: they read well in the registry UI and sort correctly as text (the registry
    client accepts only 32-bit integers, too small for epoch milliseconds).

    Returns:
        The timestamp.
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def lifecycle_property(value: Any) -> dict[str, Any]:
    """A Python value in the registry's ``MetadataValue`` wire form.

    Args:
        value: bool, int, float or str (anything else is stored as its JSON text). Integers outside the 32-bit
            range the registry stores as ints (9 digits) become doubles (exact up to 2**53) or, beyond, decimal text.

    Returns:
        e.g. ``{"string_value": "production", "metadataType": "MetadataStringValue"}``.
    """
    if isinstance(value, bool):
        return {"bool_value": value, "metadataType": "MetadataBoolValue"}
    if isinstance(value, int):
        return _integer_property(value)
    if isinstance(value, float):
        return {"double_value": value, "metadataType": "MetadataDoubleValue"}
    if isinstance(value, str):
        return {"string_value": value, "metadataType": "MetadataStringValue"}
    return {"string_value": json.dumps(value, sort_keys=True, default=str), "metadataType": "MetadataStringValue"}


def _integer_property(value: int) -> dict[str, Any]:
    """An int as ``int_value`` when it has at most 9 digits, else a double while exact, else its decimal text."""
    if INT_VALUE_MIN <= value <= INT_VALUE_MAX:
        return {"int_value": str(value), "metadataType": "MetadataIntValue"}
    if abs(value) <= MAX_EXACT_DOUBLE_INT:
        return {"double_value": float(value), "metadataType": "MetadataDoubleValue"}
    return {"string_value": str(value), "metadataType": "MetadataStringValue"}


def _double_value(meta: Mapping[str, Any]) -> float | int | None:
    """A double; an integral one beyond 9 digits as ``int`` (how :func:`lifecycle_property` stores such ints)."""
    value = meta.get("double_value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if float(value).is_integer() and not INT_VALUE_MIN <= value <= INT_VALUE_MAX and abs(value) <= MAX_EXACT_DOUBLE_INT:
        return int(value)
    return value


def _int_value(meta: Mapping[str, Any]) -> int | None:
    try:
        return int(meta.get("int_value"))
    except (TypeError, ValueError):
        return None


def _struct_value(meta: Mapping[str, Any]) -> Any:
    # The v1 spec says base64 of the JSON; the Go server answers with the JSON text itself. Read both.
    text = str(meta.get("struct_value") or "")
    try:
        return json.loads(base64.b64decode(text, validate=True))
    except ValueError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return None


_DECODERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "MetadataStringValue": lambda meta: meta.get("string_value"),
    "MetadataIntValue": _int_value,
    "MetadataDoubleValue": _double_value,
    "MetadataBoolValue": lambda meta: bool(meta.get("bool_value")),
    "MetadataStructValue": _struct_value,
}


def lifecycle_property_value(meta: Any) -> Any:
    """The Python value of a ``MetadataValue`` in wire form (the inverse of :func:`lifecycle_property`).

    Args:
        meta: e.g. ``{"int_value": "3", "metadataType": "MetadataIntValue"}``.

    Returns:
        str, int, float, bool, a dict for struct values, or None when unknown.
    """
    if not isinstance(meta, Mapping):
        return None
    kind = meta.get("metadataType")
    if kind is None and "string_value" in meta:
        kind = "MetadataStringValue"
    decode = _DECODERS.get(str(kind))
    return decode(meta) if decode else None


def plain_properties(entity: Mapping[str, Any] | None) -> dict[str, Any]:
    """An entity's ``customProperties`` as plain Python values.

    Args:
        entity: A RegisteredModel, ModelVersion or Artifact in wire form (or None).

    Returns:
        Property name -> value (see :func:`lifecycle_property_value`).
    """
    props = (entity or {}).get("customProperties") or {}
    return {str(k): lifecycle_property_value(v) for k, v in props.items()}


def same_properties(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two ``customProperties`` maps hold the same values (wire-form details like int-as-string ignored).

    Args:
        a: A map in wire form.
        b: Another one.

    Returns:
        True when they have the same keys and values.
    """
    a, b = dict(a or {}), dict(b or {})
    if set(a) != set(b):
        return False
    return all(lifecycle_property_value(a[k]) == lifecycle_property_value(b[k]) for k in a)
