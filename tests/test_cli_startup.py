"""The ``kml`` command starts quickly: help needs no client, and model commands need no KFP component modules.

Timing belongs in ``bench/cli_startup.py``; these tests check what makes it fast -- which modules each command
imports -- so they do not depend on how busy the machine is.
"""

import subprocess
import sys

import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry


def _imported(argv: list[str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kfp_model_lifecycle.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["models", "--help"],
        ["models", "promote", "--help"],
        ["models", "register", "--help"],
        ["models", "compare", "--help"],
        ["models", "audit", "--help"],
        ["doctor", "--help"],
        ["ui", "--help"],
        ["cluster", "up", "--help"],
    ],
)
def test_help_imports_neither_kfp_nor_the_registry_client(argv: list[str]) -> None:
    modules = _imported(argv)
    heavy = {m for m in modules if m.split(".")[0] in ("kfp", "mr_openapi", "model_registry", "kubernetes", "pydantic")}
    assert heavy == set()


def test_model_commands_import_no_kfp_component_definitions(registry: EmbeddedRegistry) -> None:
    for argv in (["models", "list"], ["models", "search", 'stage = "development"']):
        modules = _imported([*argv, "--registry-url", registry.url])
        assert "mr_openapi" in modules  # it does talk to the registry ...
        assert not any(m == "kfp" or m.startswith(("kfp.", "kfp_model_lifecycle.components")) for m in modules)
