"""The comparison reports: Markdown (GFM, no raw HTML) and a self-contained HTML page with an inline SVG chart.

Both render the record returned by ``run_compare_models``: decision and reason, both versions side by side,
metric deltas, every gate check with its numbers, the significance test, the lineage of both versions and the
trend of the primary metric across versions. The KFP UI renders ``system.Markdown`` (GFM tables; raw HTML is
shown as text) and ``system.HTML`` (in a sandboxed iframe); the HTML page loads nothing from elsewhere and
every string that comes from the registry is escaped. Like :mod:`.comparison`, these are plain functions
embedded into the pod (:data:`REPORT_FUNCTIONS`).
"""

from __future__ import annotations

import datetime
import html
import os
from collections.abc import Mapping
from typing import Any

from kfp_model_lifecycle.comparison.core import format_number


def markdown_text(value: Any) -> str:
    """Text safe inside a GFM table cell: Markdown punctuation and ``|`` escaped, ``<``/``>``/``&`` as entities.

    Args:
        value: Any value (converted with ``str``); line breaks become spaces.

    Returns:
        One line of escaped text.
    """
    text = " ".join(str("" if value is None else value).split())
    out = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in "\\`*_[]|#~!":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


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


def signed_number(value: Any, digits: int = 6) -> str:
    """A difference with its sign (``+0.012``, ``-0.3``, ``0``; ``n/a`` for None).

    Args:
        value: A number or None.
        digits: Significant digits.

    Returns:
        The text.
    """
    if value is None:
        return "n/a"
    text = format_number(value, digits)
    return text if text.startswith("-") or float(value) == 0 else "+" + text


def report_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison in a few JSON-able fields: the reports' artifact metadata, and evidence for a promotion.

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``decision``, ``winner``, ``winner_role``, ``reason``, ``candidate``, ``baseline`` (references),
        ``candidate_version_id``, ``baseline_version_id``, ``baseline_mode``, ``primary_metric``,
        ``significance`` (status), ``p_value``/``ci_low``/``ci_high`` when tested, ``gates_passed``,
        ``gates_total`` and ``registry_url``.
    """
    cand = result.get("candidate") or {}
    base = result.get("baseline") or {}
    sig = result.get("significance") or {}
    summary: dict[str, Any] = {
        "decision": bool(result.get("decision")),
        "winner": result.get("winner") or "",
        "winner_role": result.get("winner_role") or "",
        "reason": result.get("reason") or "",
        "candidate": cand.get("reference") or "",
        "candidate_version_id": cand.get("version_id") or "",
        "baseline": base.get("reference") or "",
        "baseline_version_id": base.get("version_id") or "",
        "baseline_mode": result.get("baseline_mode") or "",
        "primary_metric": result.get("primary_metric") or "",
        "significance": sig.get("status") or "not tested",
        "gates_passed": sum(1 for g in result.get("gates") or [] if g.get("passed")),
        "gates_total": len(result.get("gates") or []),
        "registry_url": result.get("registry_url") or "",
    }
    if sig.get("mcnemar"):
        summary["p_value"] = sig["mcnemar"]["p_value"]
    boot = sig.get("bootstrap") or {}
    if boot.get("ci_low") is not None:
        summary["ci_low"] = boot["ci_low"]
        summary["ci_high"] = boot["ci_high"]
    return summary


def baseline_origin(result: Mapping[str, Any]) -> str:
    """How the baseline was chosen, in words.

    Args:
        result: From ``run_compare_models``.

    Returns:
        e.g. ``the production version``, ``best of 412 LIVE version(s) with accuracy (5 page(s), ...)``.
    """
    mode = result.get("baseline_mode")
    if mode == "production":
        return "the production version"
    if mode == "best":
        ranking = result.get("ranking") or {}
        return (
            f"best of {ranking.get('scanned', 0)} LIVE version(s) with {result.get('primary_metric')}"
            f" ({ranking.get('pages', 0)} page(s), filtered by the registry)"
        )
    if mode == "reference":
        return f"reference {result.get('baseline_request')}"
    return "none (thresholds only)"


def significance_lines(result: Mapping[str, Any]) -> list[str]:
    """The significance section as plain sentences (escaped by the caller).

    Args:
        result: From ``run_compare_models``.

    Returns:
        Lines of text.
    """
    sig = result.get("significance") or {}
    settings = result.get("settings") or {}
    lines = [f"Result: {sig.get('status', 'not tested')} -- {sig.get('reason', '')}"]
    if sig.get("n"):
        lines.append(f"Examples: {sig['n']} ({sig.get('pairing', '')})")
        lines.append(
            f"{sig.get('metric')} from the predictions: candidate {format_number(sig.get('candidate_value'))},"
            f" baseline {format_number(sig.get('baseline_value'))}, difference {signed_number(sig.get('difference'))}"
        )
    if sig.get("mcnemar"):
        m = sig["mcnemar"]
        lines.append(
            f"Exact McNemar test: candidate alone right b = {m['b']}, baseline alone right c = {m['c']},"
            f" two-sided p-value = {format_number(m['p_value'], 6)}"
        )
    boot = sig.get("bootstrap") or {}
    if boot.get("ci_low") is not None:
        lines.append(
            f"Paired bootstrap: {format_number(boot['confidence'] * 100)}% interval of the difference"
            f" [{format_number(boot['ci_low'])}, {format_number(boot['ci_high'])}] from {boot['used']} of"
            f" {boot['resamples']} resamples (seed {boot['seed']})"
        )
    alpha = sig.get("alpha", settings.get("significance_level"))
    required = "required" if settings.get("require_significance") else "used when predictions are available"
    lines.append(
        f"Settings: test {settings.get('significance_test', 'auto')}, alpha {format_number(alpha)},"
        f" seed {settings.get('seed')}, {settings.get('bootstrap_resamples')} bootstrap resamples,"
        f" significance {required}"
    )
    return lines


def trend_bar(value: float, low: float, high: float, width: int = 20) -> str:
    """A text bar for the Markdown trend table (Unicode block characters, no HTML).

    Args:
        value: The value.
        low: The smallest value shown.
        high: The largest value shown.
        width: Characters for the largest value.

    Returns:
        e.g. ``████████▌``.
    """
    if high <= low:
        return "█" * (width // 2)
    eighths = round((value - low) / (high - low) * (width - 1) * 8) + 8
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def side_rows(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the candidate/baseline overview table (plain text, escaped by the caller).

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``(label, candidate text, baseline text)`` tuples.
    """
    cand = result["candidate"]
    base = result.get("baseline") or {}
    chosen = baseline_origin(result) if base else (result.get("baseline_note") or "none")
    rows = [
        ("Version", cand.get("reference"), base.get("reference") or "none"),
        ("Version id", cand.get("version_id"), base.get("version_id")),
        ("Stage", cand.get("stage"), base.get("stage")),
        ("State", cand.get("state"), base.get("state")),
        ("Created", format_time(cand.get("created")), format_time(base.get("created"))),
        ("Chosen as", "candidate", chosen),
        ("Predictions", cand.get("predictions") or "none", base.get("predictions") or "none"),
    ]
    return [(label, str(left or ""), str(right or "")) for label, left, right in rows]


def lineage_rows(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The lineage table: every recorded lineage field of either version, side by side.

    Args:
        result: From ``run_compare_models``.

    Returns:
        ``(field, candidate value, baseline value)`` tuples, in first-seen order.
    """
    cand = result["candidate"].get("lineage") or {}
    base = (result.get("baseline") or {}).get("lineage") or {}
    keys: list[str] = []
    for side in (cand, base):
        for key in side:
            if key not in keys:
                keys.append(key)
    return [(key, str(cand.get(key, "")), str(base.get(key, ""))) for key in keys]


def render_markdown(result: Mapping[str, Any]) -> str:
    """The comparison report in GitHub-flavoured Markdown (tables, no raw HTML), as the KFP UI renders it.

    Args:
        result: From ``run_compare_models``.

    Returns:
        The Markdown text.
    """
    e = markdown_text
    cand = result["candidate"]
    metric = result.get("primary_metric") or ""
    out: list[str] = [f"# Model comparison: {e(cand.get('model_name') or cand.get('reference'))}", ""]
    if result.get("decision"):
        out.append(f"**Decision: promote {e(cand['reference'])}** (candidate wins)")
    elif result.get("winner"):
        out.append(f"**Decision: keep {e(result['winner'])}** (baseline stays)")
    else:
        out.append("**Decision: do not promote** (the candidate fails its thresholds and there is no baseline)")
    out += ["", f"> {e(result.get('reason'))}", "", "| | Candidate | Baseline |", "| --- | --- | --- |"]
    for label, left, right in side_rows(result):
        out.append(f"| {e(label)} | {e(left)} | {e(right)} |")

    out += ["", "## Metrics", "", "| Metric | Candidate | Baseline | Delta | Relative | Gated |"]
    out.append("| --- | ---: | ---: | ---: | ---: | :---: |")
    for row in result.get("metrics") or []:
        relative = "n/a" if row.get("relative") is None else f"{signed_number(row['relative'] * 100, 4)}%"
        out.append(
            f"| {e(row['metric'])} | {format_number(row.get('candidate'))} | {format_number(row.get('baseline'))}"
            f" | {signed_number(row.get('delta'))} | {relative} | {'yes' if row.get('gated') else ''} |"
        )

    out += ["", "## Gates", "", "| Metric | Direction | Check | Required | Actual | Result |"]
    out.append("| --- | --- | --- | --- | --- | :---: |")
    details = []
    for gate in result.get("gates") or []:
        direction = "higher is better" if gate.get("higher_is_better") else "lower is better"
        for check in gate.get("checks") or []:
            mark = {"pass": "PASS", "fail": "**FAIL**", "skipped": "skipped"}[check["status"]]
            out.append(
                f"| {e(gate['metric'])} | {direction} | {e(check['check'])} | {e(check['required'])}"
                f" | {e(check['actual'])} | {mark} |"
            )
            details.append(f"- {e(gate['metric'])} {e(check['check'])} ({check['status']}): {e(check['detail'])}")
    out += ["", *details, "", "## Significance", ""]
    out += [f"- {e(line)}" for line in significance_lines(result)]
    out.append("")

    trend = result.get("trend") or []
    if trend:
        values = [p["value"] for p in trend]
        low, high = min(values), max(values)
        out += [f"## Trend of {e(metric)} across versions", "", f"| Version | Created | {e(metric)} | | Role |"]
        out.append("| --- | --- | ---: | --- | --- |")
        for point in trend:
            roles = [r for r in (point.get("role"), "production" if point.get("stage") == "production" else "") if r]
            out.append(
                f"| {e(point['version'])} | {format_time(point.get('created'))} | {format_number(point['value'])}"
                f" | {trend_bar(point['value'], low, high)} | {e(', '.join(roles))} |"
            )
        out.append("")

    out += ["## Lineage", ""]
    rows = lineage_rows(result)
    if rows:
        out += ["| | Candidate | Baseline |", "| --- | --- | --- |"]
        out += [f"| {e(key)} | {e(left)} | {e(right)} |" for key, left, right in rows]
    else:
        out.append("No lineage recorded on either version.")
    out.append("")
    if result.get("notes"):
        out += ["## Notes", ""]
        out += [f"- {e(note)}" for note in result["notes"]]
        out.append("")
    out += [
        f"Generated by kfp-model-lifecycle compare_models from the Model Registry at {e(result.get('registry_url'))}.",
        "",
    ]
    return "\n".join(out)


def trend_svg(result: Mapping[str, Any], width: int = 760, height: int = 280) -> str:
    """An inline SVG line chart of the primary metric across versions; candidate and baseline highlighted.

    Points are evenly spaced in creation order; the primary gate's threshold (if any) is a dashed line; every
    point has a ``<title>`` tooltip. No scripts, no external resources; all text escaped.

    Args:
        result: From ``run_compare_models``.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The ``<svg>`` element ("" when there is no trend).
    """
    trend = result.get("trend") or []
    if not trend:
        return ""
    esc = html.escape
    metric = str(result.get("primary_metric") or "")
    threshold = next(
        (
            float(spec["threshold"])
            for spec in result.get("gate_specs") or []
            if spec.get("metric") == metric and spec.get("threshold") is not None
        ),
        None,
    )
    values = [p["value"] for p in trend] + ([threshold] if threshold is not None else [])
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 if high > low else (abs(high) * 0.05 or 0.05)
    low, high = low - pad, high + pad
    left, right, top, bottom = 70, 20, 30, 60
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if len(trend) == 1 else plot_w * i / (len(trend) - 1))

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{esc(metric)} across versions">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
        f'<text x="{left}" y="{top - 10}" font-size="13" font-weight="bold">{esc(metric)} by version'
        " (oldest to newest)</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        v = low + (high - low) * frac
        y = y_of(v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{esc(format_number(v, 4))}</text>"
        )
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#c62828"'
            ' stroke-dasharray="5,4"/>'
            f'<text x="{left + plot_w - 4}" y="{y - 4:.1f}" font-size="11" text-anchor="end" fill="#c62828">'
            f"threshold {esc(format_number(threshold))}</text>"
        )
    points = " ".join(f"{x_of(i):.1f},{y_of(p['value']):.1f}" for i, p in enumerate(trend))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#90a4ae" stroke-width="2"/>')
    colors = {"candidate": "#ef6c00", "baseline": "#1565c0"}
    for i, point in enumerate(trend):
        role = point.get("role") or ""
        color = colors.get(role, "#607d8b")
        stroke = ' stroke="#2e7d32" stroke-width="3"' if point.get("stage") == "production" else ""
        label = f"{point['version']}: {metric} = {format_number(point['value'])}"
        label += f" ({role})" if role else ""
        label += f" [stage {point['stage']}]" if point.get("stage") else ""
        parts.append(
            f'<circle cx="{x_of(i):.1f}" cy="{y_of(point["value"]):.1f}" r="{7 if role else 4}" fill="{color}"'
            f"{stroke}><title>{esc(label)}</title></circle>"
        )
        if role or i in (0, len(trend) - 1):
            name = str(point["version"])
            name = name if len(name) <= 18 else name[:17] + "..."
            y = top + plot_h + 16 + (14 if role == "baseline" else 0)
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{y}" font-size="11" text-anchor="middle" fill="{color}">{esc(name)}</text>'
            )
    legend_y = height - 12
    parts.append(
        f'<circle cx="{left}" cy="{legend_y - 4}" r="6" fill="#ef6c00"/>'
        f'<text x="{left + 10}" y="{legend_y}" font-size="12">candidate</text>'
        f'<circle cx="{left + 100}" cy="{legend_y - 4}" r="6" fill="#1565c0"/>'
        f'<text x="{left + 110}" y="{legend_y}" font-size="12">baseline</text>'
        f'<circle cx="{left + 190}" cy="{legend_y - 4}" r="5" fill="#607d8b" stroke="#2e7d32" stroke-width="3"/>'
        f'<text x="{left + 200}" y="{legend_y}" font-size="12">in production</text>'
        "</svg>"
    )
    return "".join(parts)


def render_html(result: Mapping[str, Any]) -> str:
    """The comparison report as one self-contained HTML page (inline CSS and SVG, no scripts, no external files).

    Args:
        result: From ``run_compare_models``.

    Returns:
        The HTML document.
    """
    esc = html.escape
    cand = result["candidate"]
    metric = str(result.get("primary_metric") or "")

    def link(value: str) -> str:
        text = str(value or "")
        if text.startswith(("https://", "http://")):
            return f'<a href="{esc(text)}" rel="noopener noreferrer" target="_blank">{esc(text)}</a>'
        return esc(text)

    css = (
        "body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#212121}"
        "h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0}"
        "table{border-collapse:collapse;margin:8px 0;font-size:13px}"
        "th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".banner{padding:12px 16px;border-radius:6px;font-size:16px;margin:8px 0}"
        ".promote{background:#e8f5e9;border:1px solid #66bb6a}.keep{background:#fff8e1;border:1px solid #ffb300}"
        ".pass{color:#2e7d32;font-weight:bold}.fail{color:#c62828;font-weight:bold}.skipped{color:#757575}"
        ".muted{color:#757575;font-size:12px}ul{margin:4px 0}"
    )
    title = esc(str(cand.get("model_name") or cand.get("reference") or ""))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Model comparison: {title}</title>",
        f"<style>{css}</style></head><body>",
        f"<h1>Model comparison: {title}</h1>",
    ]
    if result.get("decision"):
        head = f"Decision: promote <b>{esc(cand['reference'])}</b> (candidate wins)"
    elif result.get("winner"):
        head = f"Decision: keep <b>{esc(result['winner'])}</b> (baseline stays)"
    else:
        head = "Decision: <b>do not promote</b> (the candidate fails its thresholds and there is no baseline)"
    css_class = "promote" if result.get("decision") else "keep"
    out.append(f'<div class="banner {css_class}">{head}<br><span>{esc(str(result.get("reason") or ""))}</span></div>')

    out.append("<table><tr><th></th><th>Candidate</th><th>Baseline</th></tr>")
    for label, left, right in side_rows(result):
        out.append(f"<tr><th>{esc(label)}</th><td>{esc(left)}</td><td>{esc(right)}</td></tr>")
    out.append("</table>")

    out.append(
        "<h2>Metrics</h2><table><tr><th>Metric</th><th>Candidate</th><th>Baseline</th><th>Delta</th>"
        "<th>Relative</th><th>Gated</th></tr>"
    )
    for row in result.get("metrics") or []:
        relative = "n/a" if row.get("relative") is None else f"{signed_number(row['relative'] * 100, 4)}%"
        out.append(
            f'<tr><td>{esc(row["metric"])}</td><td class="num">{format_number(row.get("candidate"))}</td>'
            f'<td class="num">{format_number(row.get("baseline"))}</td>'
            f'<td class="num">{signed_number(row.get("delta"))}</td><td class="num">{relative}</td>'
            f"<td>{'yes' if row.get('gated') else ''}</td></tr>"
        )
    out.append("</table>")

    out.append(
        "<h2>Gates</h2><table><tr><th>Metric</th><th>Direction</th><th>Check</th><th>Required</th>"
        "<th>Actual</th><th>Result</th><th>Detail</th></tr>"
    )
    for gate in result.get("gates") or []:
        direction = "higher is better" if gate.get("higher_is_better") else "lower is better"
        for check in gate.get("checks") or []:
            out.append(
                f"<tr><td>{esc(gate['metric'])}</td><td>{direction}</td><td>{esc(check['check'])}</td>"
                f"<td>{esc(check['required'])}</td><td>{esc(check['actual'])}</td>"
                f'<td class="{check["status"]}">{check["status"].upper()}</td><td>{esc(check["detail"])}</td></tr>'
            )
    out.append("</table>")

    out.append("<h2>Significance</h2><ul>")
    out += [f"<li>{esc(line)}</li>" for line in significance_lines(result)]
    out.append("</ul>")

    svg = trend_svg(result)
    if svg:
        out.append(f"<h2>Trend of {esc(metric)} across versions</h2>")
        out.append(svg)
        out.append("<table><tr><th>Version</th><th>Created</th><th>Value</th><th>Role</th><th>Stage</th></tr>")
        for point in result.get("trend") or []:
            out.append(
                f"<tr><td>{esc(point['version'])}</td><td>{format_time(point.get('created'))}</td>"
                f'<td class="num">{format_number(point["value"])}</td><td>{esc(point.get("role") or "")}</td>'
                f"<td>{esc(point.get('stage') or '')}</td></tr>"
            )
        out.append("</table>")

    out.append("<h2>Lineage</h2>")
    rows = lineage_rows(result)
    if rows:
        out.append("<table><tr><th></th><th>Candidate</th><th>Baseline</th></tr>")
        out += [f"<tr><th>{esc(k)}</th><td>{link(left)}</td><td>{link(right)}</td></tr>" for k, left, right in rows]
        out.append("</table>")
    else:
        out.append("<p>No lineage recorded on either version.</p>")
    if result.get("notes"):
        out.append("<h2>Notes</h2><ul>")
        out += [f"<li>{esc(str(note))}</li>" for note in result["notes"]]
        out.append("</ul>")
    out.append(
        '<p class="muted">Generated by kfp-model-lifecycle compare_models from the Model Registry at'
        f" {esc(str(result.get('registry_url') or ''))}.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_comparison_reports(result: Mapping[str, Any], markdown_path: str, html_path: str) -> dict[str, Any]:
    """Write both reports and return the summary to put into the report artifacts' metadata.

    Args:
        result: From ``run_compare_models``.
        markdown_path: Output path of the Markdown report.
        html_path: Output path of the HTML report.

    Returns:
        :func:`report_summary`.
    """
    for path, text in ((markdown_path, render_markdown(result)), (html_path, render_html(result))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return report_summary(result)
