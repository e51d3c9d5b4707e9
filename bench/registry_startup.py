"""The registry benchmark's start-up phase: from starting ``kml registry serve`` to its first answer.

A fresh process each time (``python -m kfp_model_lifecycle.cli registry serve``), polled with ``GET /`` every
5 ms until it answers (404, as the real server does), on an empty database and on a loaded one. Target: under 1 s
on an idle machine.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from registry_load import BenchError
from registry_stats import Row

TARGET_STARTUP_S = 1.0
_DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_first_answer(db_path: Path) -> float:
    """Seconds from spawning ``kml registry serve`` on ``db_path`` to its first HTTP answer."""
    port = _free_port()
    cmd = [sys.executable, "-m", "kfp_model_lifecycle.cli", "registry", "serve", "--port", str(port)]
    cmd += ["--db", str(db_path), "--log-level", "warning"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < _DEADLINE_S:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                return time.perf_counter() - start
            except urllib.error.HTTPError:
                return time.perf_counter() - start  # 404 on "/": it answers
            except OSError:
                if proc.poll() is not None:
                    raise BenchError(f"kml registry serve exited with code {proc.returncode}") from None
                time.sleep(0.005)
        raise BenchError(f"kml registry serve did not answer within {_DEADLINE_S:.0f} s")
    finally:
        proc.terminate()
        proc.wait(10)


def startup_row(label: str, db_path: Path, runs: int) -> Row:
    """A table row: the median and worst start-up time of ``runs`` fresh processes."""
    times = [time_to_first_answer(db_path) for _ in range(runs)]
    median = statistics.median(times)
    return Row(
        f"start-up       kml registry serve to first answer, {label}",
        runs,
        median * 1000,
        max(times) * 1000,
        "-",
        None,
        f"p50 < {TARGET_STARTUP_S:g} s",
        median < TARGET_STARTUP_S,
    )


def run_startup(loaded_db: Path | None, runs: int) -> list[Row]:
    """Start-up on an empty database and (when given) on ``loaded_db``."""
    with tempfile.TemporaryDirectory(prefix="kml-bench-startup-") as tmp:
        rows = [startup_row("empty database", Path(tmp) / "registry.db", runs)]
    if loaded_db is not None:
        rows.append(startup_row(f"loaded database ({loaded_db.stat().st_size / 2**20:.0f} MiB)", loaded_db, runs))
    return rows
