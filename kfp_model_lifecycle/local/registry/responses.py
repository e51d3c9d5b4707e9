"""JSON answers of the embedded registry that never fail to render.

New requests cannot store a non-finite number (:func:`.validation.decode_json` refuses ``1e400``), but a
database written by an older version may hold one: JSON has no infinity, so a plain ``JSONResponse`` would answer
500 on every read or list that includes that entity. :class:`RegistryJSONResponse` renders such values as the
largest finite double with the same sign (NaN as ``null``) instead, so every read keeps working.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from starlette.responses import JSONResponse, Response

_MAX_DOUBLE = sys.float_info.max


def finite(value: Any) -> Any:
    """``value`` with every infinity replaced by the largest finite double of its sign and NaN by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else math.copysign(_MAX_DOUBLE, value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def json_bytes(content: Any) -> bytes:
    """The compact JSON of ``content``, as ``JSONResponse`` renders it (non-finite numbers made finite)."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError:  # "Out of range float values are not JSON compliant"
        return json.dumps(finite(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RegistryJSONResponse(JSONResponse):
    """A ``JSONResponse`` that renders non-finite numbers stored by older versions (see the module docstring)."""

    def render(self, content: Any) -> bytes:
        """The compact JSON of ``content`` (non-finite numbers made finite when there are any)."""
        return json_bytes(content)


class RenderedJSONResponse(Response):
    """A JSON answer rendered beforehand (e.g. in a worker thread, so a big list does not block the event loop)."""

    media_type = "application/json"
