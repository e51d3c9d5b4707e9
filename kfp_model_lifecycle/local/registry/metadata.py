"""Custom property values (``MetadataValue``) as the real server accepts them.

The generated ``mr_openapi`` models check each value's shape; on top of that the real server (its converter
``MapOpenAPICustomPropertiesEmbedMD``, verified in kubeflow/hub) decides what it can store:

* ``int_value`` is parsed with Go's ``strconv.ParseInt(value, 10, 32)`` into a 32-bit column: an optional sign
  and decimal digits, -2,147,483,648 to 2,147,483,647. Anything else answers 400 ``... unable to decode as int64
  invalid numeric string: strconv.ParseInt: parsing "3000000000": value out of range for key <name>``. (The
  client's generated model allows at most 9 digits; the server does not check that pattern.)
* ``struct_value`` must be standard base64 (padding required; newlines ignored) of a JSON object.
* ``double_value`` must be a finite number (a JSON literal such as ``1e400`` is refused when the body is read).
* property names are stored in a ``varchar(255)`` column.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import pydantic

from kfp_model_lifecycle.local.registry.client_models import models as m
from kfp_model_lifecycle.local.registry.errors import bad_request
from kfp_model_lifecycle.local.registry.names import check_property_name

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_GO_INT_RE = re.compile(r"[+-]?[0-9]+")

METADATA_TYPES: dict[str, type[pydantic.BaseModel]] = {
    "MetadataIntValue": m.MetadataIntValue,
    "MetadataDoubleValue": m.MetadataDoubleValue,
    "MetadataStringValue": m.MetadataStringValue,
    "MetadataBoolValue": m.MetadataBoolValue,
    "MetadataStructValue": m.MetadataStructValue,
    "MetadataProtoValue": m.MetadataProtoValue,
}
"""The ``metadataType`` values and their generated models."""


def parse_int32(text: str, name: str) -> int:
    """``int_value`` as Go's ``strconv.ParseInt(text, 10, 32)`` reads it.

    Args:
        text: The value as sent.
        name: The property name (for the message).

    Returns:
        The integer.

    Raises:
        ApiError: 400 with the real server's message (invalid syntax, or out of the 32-bit range).
    """
    if not _GO_INT_RE.fullmatch(text):
        reason = "invalid syntax"
    elif not INT32_MIN <= int(text) <= INT32_MAX:
        reason = "value out of range"
    else:
        return int(text)
    raise bad_request(
        f"unable to decode as int64 invalid numeric string: strconv.ParseInt: parsing {json.dumps(text)}: {reason}"
        f" for key {name} (int_value is stored in 32 bits, {INT32_MIN} to {INT32_MAX}: store larger integers"
        " as MetadataDoubleValue or MetadataStringValue)"
    )


def check_struct(text: str, name: str) -> None:
    """Check that ``struct_value`` is standard base64 of a JSON object, as the real server decodes it.

    Raises:
        ApiError: 400 naming what is wrong.
    """
    try:
        decoded = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(
            f"unable to decode illegal base64 data ({exc}) for key {name}: struct_value must be standard base64"
            " (with padding) of a JSON object"
        ) from None
    try:
        value = json.loads(decoded)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise bad_request(f"unable to decode struct_value for key {name}: it must be base64 of a JSON object")


def _int_value(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``MetadataIntValue`` like the real server (not the client's 9-digit pattern)."""
    for key in value:
        if key not in ("int_value", "metadataType"):
            raise bad_request(f'customProperties.{name}: json: unknown field "{key}"')
    text = value.get("int_value")
    if text is None:
        raise bad_request(f"customProperties.{name}: required field(s) missing: int_value")
    if not isinstance(text, str):
        raise bad_request(f'customProperties.{name}: int_value must be a string of a decimal integer, e.g. "10"')
    # Stored as a number: read back in canonical form ("+7" and "007" come back as "7"), like the real server.
    return {"int_value": str(parse_int32(text, name)), "metadataType": "MetadataIntValue"}


def _describe(exc: pydantic.ValidationError) -> str:
    missing = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "missing"]
    if missing:
        return f"required field(s) missing: {', '.join(missing)}"
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def validate_metadata_value(name: str, value: Any) -> dict[str, Any]:
    """Validate one custom property value (a ``MetadataValue`` tagged by ``metadataType``).

    Raises:
        ApiError: 400 for a value the real server refuses.
    """
    check_property_name(name)
    if not isinstance(value, dict):
        raise bad_request(f"customProperties.{name}: expected an object with metadataType")
    kind = value.get("metadataType")
    model = METADATA_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        allowed = ", ".join(METADATA_TYPES)
        raise bad_request(f"customProperties.{name}: invalid metadataType {kind!r}, expected one of {allowed}")
    if kind == "MetadataIntValue":
        return _int_value(name, value)
    allowed_keys = {f.alias or n for n, f in model.model_fields.items()}
    for key in value:
        if key not in allowed_keys:
            raise bad_request(f'customProperties.{name}: json: unknown field "{key}"')
    try:
        data = model.model_validate(value).model_dump(by_alias=True, exclude_none=True, mode="json")
    except pydantic.ValidationError as exc:
        raise bad_request(f"customProperties.{name}: {_describe(exc)}") from None
    if kind == "MetadataStructValue":
        check_struct(str(data["struct_value"]), name)
    return data
