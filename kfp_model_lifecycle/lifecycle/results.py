"""What a promotion or an approval did: the results of ``promote_model_version`` and ``approve_model_version``.

``to_dict()`` is the JSON that ``kml models promote/rollback/approve --json`` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PromotionResult:
    """What ``promote_model_version`` did (or, in a dry run, would do).

    Attributes:
        model: The registered model's name.
        model_id: Its id.
        version: The version's name.
        version_id: Its id.
        reference: ``name:version``.
        stage: The version's stage after.
        previous_stage: Its stage before.
        aliases: Its aliases after, sorted.
        new_holder: ``name:version`` of the version that now holds the stage/alias.
        previous_holder: ``name:version`` of the version that held production (or the first alias) before; ""
            when none.
        events: The events appended (or, in a dry run, planned).
        event_seq: The last one's ``seq`` (0 when nothing changed).
        changed: Whether anything changed.
        dry_run: Whether this was a dry run.
        rollback: Whether this was a rollback.
        conflicts: Races lost to other writers.
        summary: One line per event.
    """

    model: str
    model_id: str
    version: str
    version_id: str
    reference: str
    stage: str
    previous_stage: str
    aliases: list[str]
    new_holder: str
    previous_holder: str
    events: list[dict[str, Any]]
    event_seq: int
    changed: bool
    dry_run: bool
    rollback: bool
    conflicts: int
    summary: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)

    def report_rows(self) -> list[tuple[str, Any]]:
        """The rows of the Markdown report that are specific to a promotion.

        Returns:
            ``(label, value)`` pairs.
        """
        return [
            ("Stage", f"{self.previous_stage} -> {self.stage}"),
            ("Aliases", ", ".join("@" + a for a in self.aliases) or "-"),
            ("Previous holder", self.previous_holder),
        ]


@dataclass(frozen=True)
class ApprovalResult:
    """What ``approve_model_version`` recorded (or, in a dry run, would record).

    Attributes:
        model: The registered model's name.
        model_id: Its id.
        version: The version's name.
        version_id: Its id.
        reference: ``name:version``.
        status: The status requested.
        previous_status: The status before (``none`` when never set).
        approver: Who decided.
        events: The event appended (or planned), if any.
        event_seq: Its ``seq`` (0 when unchanged).
        changed: Whether anything changed.
        dry_run: Whether this was a dry run.
        summary: One line per event.
    """

    model: str
    model_id: str
    version: str
    version_id: str
    reference: str
    status: str
    previous_status: str
    approver: str
    events: list[dict[str, Any]]
    event_seq: int
    changed: bool
    dry_run: bool
    summary: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data.

        Returns:
            Every field.
        """
        return asdict(self)

    def report_rows(self) -> list[tuple[str, Any]]:
        """The rows of the Markdown report that are specific to an approval.

        Returns:
            ``(label, value)`` pairs.
        """
        return [("Approval", f"{self.previous_status} -> {self.status}"), ("Approver", self.approver)]
