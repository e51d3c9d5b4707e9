"""CLI start-up, side by side: ``kml --help``, ``kml models list/show/search`` and the official client's import.

Each command runs ``--runs`` times, interleaved (one round runs every command once, so a busy moment hurts all
alike), against one embedded registry with a few models; the table shows the median and the best wall time, and
the baselines: a bare ``python -c pass`` (interpreter start) and ``python -c "import model_registry"`` (the least any
command that talks to a registry can cost). Target: ``kml --help`` under 1 s on an idle machine.

    .venv/bin/python bench/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

HELP_TARGET_SECONDS = 1.0
KML = [sys.executable, "-m", "kfp_model_lifecycle.cli"]


def _seed(registry: EmbeddedRegistry) -> None:
    with httpx.Client(base_url=registry.api_url, timeout=30) as http:
        for m in range(3):
            model = http.post("/registered_models", json={"name": f"bench-{m}"}).json()
            for v in range(5):
                http.post(
                    "/model_versions",
                    json={
                        "name": f"1.0.{v}",
                        "registeredModelId": model["id"],
                        "customProperties": {
                            "accuracy": {"double_value": 0.8 + v / 100, "metadataType": "MetadataDoubleValue"}
                        },
                    },
                ).raise_for_status()


def commands(url: str) -> dict[str, list[str]]:
    """The commands measured, by label."""
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import model_registry"': [sys.executable, "-c", "import model_registry"],
        "kml --help": [*KML, "--help"],
        "kml models list": [*KML, "models", "list", "--registry-url", url],
        "kml models show bench-1": [*KML, "models", "show", "bench-1:1.0.2", "--registry-url", url],
        "kml models search 'accuracy > 0.82'": [*KML, "models", "search", "accuracy > 0.82", "--registry-url", url],
    }


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Wall times per command over ``runs`` interleaved rounds (each command must succeed)."""
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, argv in cmds.items():
            start = time.perf_counter()
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            times[label].append(time.perf_counter() - start)
            if result.returncode != 0:
                raise SystemExit(f"{label} failed ({result.returncode}): {result.stderr[-500:]}")
    return times


def print_table(times: dict[str, list[float]]) -> None:
    """One row per command: median, best, and the ratio to the client import."""
    baseline = statistics.median(times['python -c "import model_registry"'])
    width = max(len(label) for label in times)
    print(f"{'command':<{width}}  {'median s':>9}  {'best s':>7}  {'vs import model_registry':>25}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:<{width}}  {median:>9.3f}  {min(values):>7.3f}  {median / baseline:>24.2f}x")
    help_median = statistics.median(times["kml --help"])
    verdict = "met" if help_median < HELP_TARGET_SECONDS else "MISSED"
    print(f"\ntarget: kml --help under {HELP_TARGET_SECONDS:.0f} s: {verdict} ({help_median:.3f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRegistry(Path(tmp) / "registry.db") as registry:
        _seed(registry)
        print_table(measure(commands(registry.url), args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
