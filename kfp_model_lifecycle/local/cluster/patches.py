"""The patches the local API server applies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

:func:`patch_applier` turns a PATCH request's content type and body into the function the store applies to the
current object (custom resources take neither strategic merge patch nor server-side apply, as in Kubernetes).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kfp_model_lifecycle.local.cluster.store import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

Patch = Callable[[dict[str, Any]], dict[str, Any]]
"""Applies a patch to (a copy of) the current object and returns the patched object."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386): objects merge recursively, ``null`` deletes, anything else replaces.

    Args:
        target: The document to patch (not modified).
        patch: The merge patch.

    Returns:
        The patched document.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}: it must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"json patch path {path!r} does not exist")  # fmt: skip
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise bad_request(f"json patch: index {last!r} out of range in {path!r}")
        parent.insert(index, value)
    else:
        raise bad_request(f"json patch: cannot add below a scalar at {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise bad_request("json patch: cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], path)
    _resolve(parent, parts[-1:], path)
    if isinstance(parent, dict):
        del parent[parts[-1]]
    else:
        del parent[int(parts[-1])]
    return doc


# One function per operation: (document, target pointer parts, target path, the operation) -> new document.
def _op_add(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    return _add(doc, parts, copy.deepcopy(op["value"]), path)


def _op_remove(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    return _remove(doc, parts, path)


def _op_replace(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    _resolve(doc, parts, path)
    return _add(_remove(doc, parts, path) if parts else doc, parts, copy.deepcopy(op["value"]), path)


def _op_copy(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    source = _pointer(op.get("from", ""))
    value = copy.deepcopy(_resolve(doc, source, op.get("from", "")))
    return _add(doc, parts, value, path)


def _op_move(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    source = _pointer(op.get("from", ""))
    value = copy.deepcopy(_resolve(doc, source, op.get("from", "")))
    doc = _remove(doc, source, op.get("from", ""))
    return _add(doc, parts, value, path)


def _op_test(doc: Any, parts: list[str], path: str, op: dict[str, Any]) -> Any:
    if _resolve(doc, parts, path) != op["value"]:
        raise ApiError(422, "Invalid", f"json patch: test operation failed at {path!r}")
    return doc


_OPERATIONS: dict[str, Callable[[Any, list[str], str, dict[str, Any]], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


def _apply_operation(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or "op" not in op or "path" not in op:
        raise bad_request(f"json patch: malformed operation {op!r}")
    kind, path = op["op"], op["path"]
    parts = _pointer(path)
    if kind in ("add", "replace", "test") and "value" not in op:
        raise bad_request(f"json patch: {kind} at {path!r} needs a value")
    apply = _OPERATIONS.get(kind) if isinstance(kind, str) else None
    if apply is None:
        raise bad_request(f"json patch: unknown operation {kind!r}")
    return apply(doc, parts, path, op)


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a JSON patch (RFC 6902: add, remove, replace, move, copy, test).

    Args:
        target: The document to patch (not modified).
        operations: The list of operations.

    Returns:
        The patched document.

    Raises:
        ApiError: 400/422 on a malformed patch, a missing path or a failed ``test``.
    """
    if not isinstance(operations, list):
        raise bad_request("a json patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        doc = _apply_operation(doc, op)
    return doc


def _merge_patcher(body: Any) -> Patch:
    if not isinstance(body, dict):
        raise bad_request("a merge patch must be a JSON object")

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        result = merge_patch(current, body)
        # A resourceVersion in the patch is a precondition; otherwise the current one applies.
        if (body.get("metadata") or {}).get("resourceVersion") is None:
            result.setdefault("metadata", {})["resourceVersion"] = None
        return result

    return apply


def _json_patcher(body: Any) -> Patch:
    def apply(current: dict[str, Any]) -> dict[str, Any]:
        rv = current["metadata"]["resourceVersion"]
        result = json_patch(current, body)
        if isinstance(result, dict) and (result.get("metadata") or {}).get("resourceVersion") == rv:
            result["metadata"]["resourceVersion"] = None
        return result

    return apply


def patch_applier(content_type: str, body: Any) -> Patch:
    """The function applying a PATCH request's body to the current object.

    A ``metadata.resourceVersion`` the patch sets is a precondition (409 Conflict when stale); otherwise the
    patch applies to whatever version is current.

    Args:
        content_type: The request's media type (lower case, without parameters).
        body: The decoded request body.

    Returns:
        The patch function for :meth:`~kfp_model_lifecycle.local.cluster.store.Store.patch`.

    Raises:
        ApiError: 400 for a merge patch that is not an object; 415 for any other media type.
    """
    if content_type == MERGE_PATCH:
        return _merge_patcher(body)
    if content_type == JSON_PATCH:
        return _json_patcher(body)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH} (got {content_type or 'none'}; custom resources take no strategic "
        "merge patch or server-side apply)",
    )
