"""The Markdown report a promotion or approval writes for the KFP UI, and writing files atomically."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from kfp_model_lifecycle.lifecycle.describe import describe_change
from kfp_model_lifecycle.lifecycle.results import ApprovalResult, PromotionResult


def _cell(value: Any) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def _audit_trail_lines(events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return []
    lines = ["", "## Audit trail entries", "", "| # | Event | Actor | Reason |", "| --- | --- | --- | --- |"]
    for event in events:
        cells = [event.get("seq"), describe_change(event), event.get("actor"), event.get("reason")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    evidence = dict(events[-1].get("evidence") or {})
    if evidence:
        lines += ["", "## Evidence", ""] + [f"- **{_cell(k)}**: {_cell(v)}" for k, v in sorted(evidence.items())]
    return lines


def lifecycle_summary_markdown(result: PromotionResult | ApprovalResult, title: str) -> str:
    """A Markdown report of a promotion or approval, for the KFP UI.

    Args:
        result: From ``promote_model_version`` or ``approve_model_version``.
        title: Heading.

    Returns:
        GitHub-flavoured Markdown.
    """
    lines = [f"# {title}", ""]
    if result.dry_run:
        lines += ["**Dry run**: nothing was written to the registry.", ""]
    rows = [("Model version", result.reference), ("Version id", result.version_id), *result.report_rows()]
    rows.append(("Changed", "yes" if result.changed else "no (already so)"))
    lines += ["| | |", "| --- | --- |"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    lines += _audit_trail_lines(result.events)
    return "\n".join(lines) + "\n"


def write_text_atomically(path: str, text: str) -> None:
    """Write text through a temporary file and a rename, so readers never see half a file.

    Args:
        path: Destination file (parent directories are created).
        text: The content.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
