"""The report's content as plain text, shared by the Markdown and the HTML report (each escapes it its own way)."""

from __future__ import annotations

import datetime
from typing import Any

from kfp_model_lifecycle.comparison.decision import gates_text
from kfp_model_lifecycle.comparison.formatting import format_number, signed_number
from kfp_model_lifecycle.comparison.ranking import TrendPoint
from kfp_model_lifecycle.comparison.result import ComparisonResult, MetricRow
from kfp_model_lifecycle.comparison.settings import BaselineMode

NO_WINNER_HEADLINE = "(the candidate fails its thresholds and there is no baseline)"


def format_time(epoch_ms: Any) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM UTC`` ("" when unknown).

    Args:
        epoch_ms: Milliseconds since the epoch (int or digit string).

    Returns:
        The time text.
    """
    try:
        ms = int(epoch_ms)
    except (TypeError, ValueError):
        return ""
    if ms <= 0:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative_text(row: MetricRow) -> str:
    """A metric row's relative change in percent, e.g. ``+2.473%`` (``n/a`` when undefined).

    Args:
        row: The row.

    Returns:
        The text.
    """
    return "n/a" if row.relative is None else f"{signed_number(row.relative * 100, 4)}%"


def baseline_origin(result: ComparisonResult) -> str:
    """How the baseline was chosen, in words.

    Args:
        result: From ``run_compare_models``.

    Returns:
        e.g. ``the production version``, ``best of 412 LIVE version(s) with accuracy (5 page(s), ...)``.
    """
    mode = result.baseline_mode
    if mode == BaselineMode.PRODUCTION:
        return "the production version"
    if mode == BaselineMode.BEST:
        scanned, pages = (result.ranking.scanned, result.ranking.pages) if result.ranking else (0, 0)
        return (
            f"best of {scanned} LIVE version(s) with {result.primary_metric}"
            f" ({pages} page(s), filtered by the registry)"
        )
    if mode == BaselineMode.REFERENCE:
        return f"reference {result.settings.baseline}"
    return "none (thresholds only)"


def significance_lines(result: ComparisonResult) -> list[str]:
    """The significance section as plain sentences (escaped by the caller).

    Args:
        result: From ``run_compare_models``.

    Returns:
        Lines of text.
    """
    sig = result.significance
    settings = result.settings
    lines = [f"Result: {sig.outcome} -- {sig.reason}"]
    if sig.n:
        lines.append(f"Examples: {sig.n} ({sig.pairing})")
        lines.append(
            f"{sig.metric} from the predictions: candidate {format_number(sig.candidate_value)},"
            f" baseline {format_number(sig.baseline_value)}, difference {signed_number(sig.difference)}"
        )
    if sig.mcnemar:
        m = sig.mcnemar
        lines.append(
            f"Exact McNemar test: candidate alone right b = {m.b}, baseline alone right c = {m.c},"
            f" two-sided p-value = {format_number(m.p_value)}"
        )
    boot = sig.bootstrap
    if boot is not None and boot.ci_low is not None:
        lines.append(
            f"Paired bootstrap: {format_number(boot.confidence * 100)}% interval of the difference"
            f" [{format_number(boot.ci_low)}, {format_number(boot.ci_high)}] from {boot.used} of"
            f" {boot.resamples} resamples (seed {boot.seed})"
        )
    required = "required" if settings.require_significance else "used when predictions are available"
    lines.append(
        f"Settings: test {settings.significance_test}, alpha {format_number(sig.alpha)},"
        f" seed {settings.seed}, {settings.bootstrap_resamples} bootstrap resamples,"
        f" significance {required}"
    )
    return lines


def side_rows(result: ComparisonResult) -> list[tuple[str, str, str]]:
    """The rows of the candidate/baseline overview table (plain text, escaped by the caller).

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``(label, candidate text, baseline text)`` tuples.
    """
    cand, base = result.candidate, result.baseline
    if base is None:
        chosen = result.baseline_note or "none"
        right = ["none", "", "", "", "", chosen, "none"]
    else:
        chosen = baseline_origin(result)
        right = [
            base.reference or "none",
            base.version_id,
            base.stage,
            base.state,
            format_time(base.created),
            chosen,
            base.predictions or "none",
        ]
    left = [
        cand.reference,
        cand.version_id,
        cand.stage,
        cand.state,
        format_time(cand.created),
        "candidate",
        cand.predictions or "none",
    ]
    labels = ["Version", "Version id", "Stage", "State", "Created", "Chosen as", "Predictions"]
    return [(label, str(c or ""), str(b or "")) for label, c, b in zip(labels, left, right, strict=True)]


def lineage_rows(result: ComparisonResult) -> list[tuple[str, str, str]]:
    """The lineage table: every recorded lineage field of either version, side by side.

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``(field, candidate value, baseline value)`` tuples, in first-seen order.
    """
    cand = result.candidate.lineage
    base = result.baseline.lineage if result.baseline else {}
    keys = list(dict.fromkeys([*cand, *base]))
    return [(key, str(cand.get(key, "")), str(base.get(key, ""))) for key in keys]


def primary_threshold(result: ComparisonResult) -> float | None:
    """The threshold of the gate on the primary metric, if it has one.

    Args:
        result: From ``run_compare_models``.

    Returns:
        The threshold, or None.
    """
    return next(
        (
            float(gate.threshold)
            for gate in result.settings.gates
            if gate.metric == result.primary_metric and gate.threshold is not None
        ),
        None,
    )


def trend_roles(point: TrendPoint) -> str:
    """A trend point's roles, e.g. ``baseline, production`` or ``archived``.

    Args:
        point: The point.

    Returns:
        The roles joined by commas.
    """
    marks = (point.role, "production" if point.stage == "production" else "", "archived" if point.archived else "")
    return ", ".join(mark for mark in marks if mark)


def gates_heading(result: ComparisonResult) -> str:
    """The gates section's title, counting gates and checks as the decision's reason does.

    Args:
        result: From ``run_compare_models``.

    Returns:
        e.g. ``Gates: 2 gates (3 checks)``.
    """
    return f"Gates: {gates_text(result.gates)}"
