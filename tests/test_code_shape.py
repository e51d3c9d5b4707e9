"""The shape of the code: small modules and functions, and data flowing one way.

* No module over 600 lines and no function over 60 lines of code (docstrings, comments and blank lines aside):
  past that a module or function is asking to be split by concern. ``ruff`` checks complexity (C901, max 10).
* The runtime package never imports the tooling (CLI, compile, embedded registry, cluster stand-in, demo): pods do
  not get the tooling's dependencies, and the tooling builds on the package, not the other way round.
* Code that runs in pods imports at the top of the module (a lazy import is for optional dependencies only).
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for root in ("kfp_model_lifecycle", "components", "pipelines")
    for p in (REPO / root).rglob("*.py")
    if "__pycache__" not in p.parts
)
MAX_MODULE_LINES = 600
MAX_FUNCTION_CODE_LINES = 60
TOOLING = (
    "kfp_model_lifecycle.cli",
    "kfp_model_lifecycle.compile",
    "kfp_model_lifecycle.local",
    "kfp_model_lifecycle.ui",
)
# Runtime modules: what component pods and the Python API run.
RUNTIME = [
    p
    for p in SOURCES
    if p.is_relative_to(REPO / "kfp_model_lifecycle")
    and not any(p.is_relative_to(REPO / "kfp_model_lifecycle" / part) for part in ("cli", "local", "ui"))
    and p.name != "compile.py"
]


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, source_lines: list[str]) -> int:
    docstring = set()
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        docstring = set(range(first.lineno, first.end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = source_lines[number - 1].strip()
        if text and not text.startswith("#") and number not in docstring:
            count += 1
    return count


def test_modules_are_small() -> None:
    big = {_rel(p): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert big == {}, f"modules over {MAX_MODULE_LINES} lines: split them by concern"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_functions_are_small(path: Path) -> None:
    source = path.read_text()
    lines = source.splitlines()
    long = {
        node.name: size
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (size := _code_lines(node, lines)) > MAX_FUNCTION_CODE_LINES
    }
    assert long == {}, f"functions over {MAX_FUNCTION_CODE_LINES} lines of code in {_rel(path)}"


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node))
    return found


@pytest.mark.parametrize("path", RUNTIME, ids=_rel)
def test_the_runtime_never_imports_the_tooling(path: Path) -> None:
    names = [name for name, _ in _imports(ast.parse(path.read_text()))]
    tooling = [name for name in names if any(name == t or name.startswith(t + ".") for t in TOOLING)]
    assert tooling == [], f"{_rel(path)} imports tooling"


@pytest.mark.parametrize("path", RUNTIME, ids=_rel)
def test_runtime_modules_import_at_the_top(path: Path) -> None:
    tree = ast.parse(path.read_text())
    nested = [
        (name, node.lineno)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for name, node in _imports(function)
    ]
    assert nested == [], f"{_rel(path)}: imports inside functions (move them to the top of the module)"
