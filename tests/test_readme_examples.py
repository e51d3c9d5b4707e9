"""Every ```python block of README.md and components/*/README.md runs as written.

Each block runs in a fresh interpreter, in a temporary directory, with ``KML_REGISTRY_URL`` pointing at an embedded
registry; every pipeline it defines (or imports) is then compiled with ``kfp.compiler``. A block that cannot run says
why in an HTML comment on the line before its fence: ``<!-- not run: REASON -->``; there are few of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kfp_model_lifecycle.local.registry import EmbeddedRegistry

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted(REPO.glob("components/*/README.md"))]
FENCE = re.compile(r"^(\s*)```python\s*$")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->")
MAX_NOT_RUN = 2
RUNNER = """
import runpy, sys
from kfp import compiler
from kfp.dsl.graph_component import GraphComponent

namespace = runpy.run_path(sys.argv[1], run_name="__main__")
for name, value in namespace.items():
    if isinstance(value, GraphComponent):
        compiler.Compiler().compile(value, f"{name}.yaml")
        print(f"compiled pipeline {name}")
"""


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    code: str
    not_run: str

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def _examples(document: Path) -> list[Example]:
    lines = document.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
            previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            marker = NOT_RUN.search(previous)
            code = textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n"
            found.append(Example(document, i + 1, code, marker.group("reason") if marker else ""))
            i = end
        i += 1
    return found


EXAMPLES = [example for document in DOCUMENTS for example in _examples(document)]


def test_examples_are_found_and_few_are_not_run() -> None:
    assert len(EXAMPLES) >= 10
    skipped = [e.name for e in EXAMPLES if e.not_run]
    assert len(skipped) <= MAX_NOT_RUN, f"too many examples marked not run: {skipped}"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.not_run], ids=lambda e: e.name)
def test_example_runs_as_written(example: Example, registry: EmbeddedRegistry, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(example.code, encoding="utf-8")
    runner = tmp_path / "run_example.py"
    runner.write_text(RUNNER, encoding="utf-8")
    env = {**os.environ, "KML_REGISTRY_URL": registry.url, "KML_REGISTRY_MAX_ATTEMPTS": "2"}
    env.pop("KML_REGISTRY_TOKEN", None)
    result = subprocess.run(
        [sys.executable, str(runner), str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{example.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    if "@dsl.pipeline" in example.code:
        assert "compiled pipeline" in result.stdout, f"{example.name} defines a pipeline that was not compiled"
