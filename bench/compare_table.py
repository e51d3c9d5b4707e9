"""Shared helpers of the side-by-side benchmarks: percentiles, process CPU and memory, tables with ratios.

Standard library plus ``psutil`` (installed with the project's dev tools); without psutil the CPU and memory of a
server's process tree are read from ``/proc`` (Linux).
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

try:  # pragma: no cover - psutil is a dev dependency; /proc is the fallback
    import psutil
except ImportError:  # pragma: no cover
    psutil = None

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else math.nan


def _children(pid: int) -> list[int]:
    if psutil is not None:
        try:
            return [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found + [grandchild for child in found for grandchild in _children(child)]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants."""
    total = 0.0
    for member in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` and its descendants, in bytes."""
    total = 0
    for member in (pid, *_children(pid)):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@dataclass
class Table:
    """A table printed with aligned columns: a title, a header, rows, notes below.

    Attributes:
        title: Printed above the table.
        header: Column titles.
        rows: Cells as text.
        notes: Lines printed below.
    """

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        """Append a row (cells are converted with ``str``)."""
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        """The table as text."""
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]).rstrip()

        out = [f"## {self.title}", "", line(self.header), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        out += ["", *self.notes] if self.notes else []
        return "\n".join(out)


def ms(seconds: float) -> str:
    """Seconds as milliseconds with a precision that suits the value ("-" for NaN)."""
    if math.isnan(seconds):
        return "-"
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(ours: float, theirs: float) -> str:
    """``theirs / ours`` as "12.3x" (how many times faster we are; "-" when unknown)."""
    if math.isnan(ours) or math.isnan(theirs) or ours <= 0:
        return "-"
    return f"{theirs / ours:.1f}x"


def mib(size: float) -> str:
    """Bytes as MiB."""
    return "-" if math.isnan(size) else f"{size / 2**20:.0f}"
