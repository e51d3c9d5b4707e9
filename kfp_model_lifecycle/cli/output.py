"""Output of the ``kml`` commands: plain-text tables for people and JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def render_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], *, max_width: int | None = 60
) -> str:
    """A plain-text table.

    Args:
        rows: The rows.
        columns: ``(key, heading)`` pairs.
        max_width: Longer cells are cut with ``...`` (None: nothing is cut).

    Returns:
        The table (heading, rule, rows), or ``(none)``.
    """
    if not rows:
        return "(none)"

    def text(value: Any) -> str:
        if isinstance(value, dict):
            value = ", ".join(f"{k}={short_value(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        value = "" if value is None else str(value).replace("\n", " ")
        return value if max_width is None or len(value) <= max_width else value[: max_width - 3] + "..."

    cells = [[text(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def short_value(value: Any) -> str:
    """A number to four significant digits, anything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def exact_value(value: Any) -> str:
    """A value in full: a whole float as an integer (``8.0`` -> ``8``), other floats as Python writes them.

    Hyperparameters and properties are shown so, where four significant digits would lose information
    (``12345.0`` would read ``1.234e+04``).
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON with sorted keys (for scripts)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def render_events(rows: Sequence[Mapping[str, Any]]) -> str:
    """Audit-trail events as blocks: a heading line, then who, why and the evidence, each in full.

    A table would cut a long reason or stretch every row to the longest one; blocks keep each event readable and
    show everything.

    Args:
        rows: Event rows (``seq``, ``time``, ``type``, ``description``, ``actor``, ``reason``, ``evidence``).

    Returns:
        The text, or ``(none)``.
    """
    if not rows:
        return "(none)"
    blocks = []
    for row in rows:
        lines = [f"#{row.get('seq')}  {row.get('time') or ''}  {row.get('type') or ''}  {row.get('description') or ''}"]
        for label, key in (("by", "actor"), ("why", "reason"), ("evidence", "evidence")):
            value = row.get(key)
            if isinstance(value, Mapping):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            if value not in (None, "", []):
                lines.append(f"    {label + ':':<10}{value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
