"""``labelSelector`` and ``fieldSelector`` of list and watch requests, as far as the stand-in supports them."""

from __future__ import annotations

from typing import Any

from kfp_model_lifecycle.local.cluster.store import bad_request

FIELD_LABELS = ("metadata.name", "metadata.namespace")


def label_matches(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a`` (comma = AND).

    Raises:
        ApiError: 400 for set-based selectors (``in``, ``notin``).
    """
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif " in " in term or " notin " in term:
            raise bad_request(f"labelSelector {selector!r}: set-based selectors are not supported by the stand-in")
        elif term not in labels:
            return False
    return True


def field_matches(obj: dict[str, Any], selector: str) -> bool:
    """Field selectors on ``metadata.name`` and ``metadata.namespace`` (``=``, ``==``, ``!=``; comma = AND).

    Raises:
        ApiError: 400 for any other field.
    """
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = (s.strip() for s in term.replace("!=", "=").replace("==", "=").split("=", 1))
        if key not in FIELD_LABELS:
            raise bad_request(f'field label not supported: "{key}" (use metadata.name or metadata.namespace)')
        actual = obj["metadata"].get(key.split(".", 1)[1])
        if (actual == value) == negate:
            return False
    return True


def selected(obj: dict[str, Any], query: dict[str, str]) -> bool:
    """Whether ``obj`` matches the ``labelSelector`` and ``fieldSelector`` of the request ``query``, if any."""
    labels = obj["metadata"].get("labels") or {}
    if query.get("labelSelector") and not label_matches(labels, query["labelSelector"]):
        return False
    return not (query.get("fieldSelector") and not field_matches(obj, query["fieldSelector"]))
