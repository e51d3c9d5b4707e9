"""Compile every component and pipeline to YAML, and check that ``compiled/`` is current, valid and small.

``kml compile [--base-image IMAGE | --package-spec SPEC] [--pip-index-url URL] [--out compiled/]`` writes
``components/<name>.yaml`` for every component exported by :mod:`kfp_model_lifecycle.components` and
``pipelines/<name>.yaml`` for every pipeline exported by :mod:`kfp_model_lifecycle.pipelines`.
``kml compile --check`` compiles into a temporary directory and fails when ``compiled/`` differs or any file
fails strict validation: every YAML document is parsed into the KFP protos with unknown fields rejected, and
the sizes stay far from the cluster's limits (see :data:`MAX_COMPONENT_BYTES`, :data:`MAX_PIPELINE_BYTES`,
:data:`MAX_DRIVER_ARGUMENT_BYTES`).
"""

from __future__ import annotations

import difflib
import filecmp
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

DEFAULT_OUT = Path("compiled")
# Linux's limit for one argument (MAX_ARG_STRLEN, including the NUL): KFP passes a lightweight component's
# whole program as one argument of `sh -c`, of the launcher, and inside the driver's `--container` JSON.
LINUX_MAX_ARG_BYTES = 131_072
# Our own budgets, far below the cluster's limits (Argo caps a workflow at 1 MiB and KFP v2 workflows are about
# 3x the pipeline spec; the community component library's YAML is 7-22 KB).
MAX_COMPONENT_BYTES = 40_000
MAX_PIPELINE_BYTES = 200_000
MAX_DRIVER_ARGUMENT_BYTES = 16 * 1024
# Go's encoding/json (the KFP driver) escapes these as \u003c, \u003e, \u0026, \u2028 and \u2029.
GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def discover() -> tuple[dict[str, Any], dict[str, Any]]:
    """The exported components and pipelines, by the name they are exported under.

    Returns:
        ``(components, pipelines)``: name -> KFP component object.
    """
    from kfp.dsl.base_component import BaseComponent
    from kfp.dsl.graph_component import GraphComponent

    from kfp_model_lifecycle import components as components_pkg
    from kfp_model_lifecycle import pipelines as pipelines_pkg

    def exported(module: Any, kind: type) -> dict[str, Any]:
        found = {}
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if isinstance(obj, kind):
                found[name] = obj
        return found

    components = {n: c for n, c in exported(components_pkg, BaseComponent).items() if not isinstance(c, GraphComponent)}
    return components, exported(pipelines_pkg, GraphComponent)


def compile_all(out: Path) -> list[Path]:
    """Compile every component and pipeline under ``out`` (in this process, with its current settings).

    Returns:
        The files written, relative to ``out``.
    """
    from kfp import compiler

    components, pipelines = discover()
    written: list[Path] = []
    for folder, items in (("components", components), ("pipelines", pipelines)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, obj in sorted(items.items()):
            rel = Path(folder) / f"{name}.yaml"
            compiler.Compiler().compile(obj, str(out / rel))
            written.append(rel)
    return written


@dataclass(frozen=True)
class PackageRoute:
    """How the pods get this package (see ``components/_common/runtime.py``).

    Attributes:
        base_image: The runtime image with the package preinstalled ("" for ``python:3.11`` plus pip).
        package_spec: A requirement installed instead of ``kfp-model-lifecycle==<version>`` ("" for that).
        pip_index_url: The package index pip installs from ("" for pip's default).
    """

    base_image: str = ""
    package_spec: str = ""
    pip_index_url: str = ""

    def __post_init__(self) -> None:
        if self.base_image and self.package_spec:
            raise ValueError(
                "--base-image and --package-spec exclude each other: the runtime image already has the package"
                " installed, so nothing is installed at start-up"
            )

    def describe(self) -> str:
        """One line for the summary."""
        if self.base_image:
            return f"base image {self.base_image} (the package preinstalled; nothing installed at start-up)"
        spec = self.package_spec or "kfp-model-lifecycle==<this version>"
        index = f" from {self.pip_index_url}" if self.pip_index_url else ""
        return f"python:3.11, installing {spec}{index} at start-up"

    def environment(self) -> dict[str, str]:
        """The variables ``components/_common/runtime.py`` reads."""
        from kfp_model_lifecycle.components._common.runtime import BASE_IMAGE_ENV, PACKAGE_SPEC_ENV, PIP_INDEX_URL_ENV

        values = {BASE_IMAGE_ENV: self.base_image, PACKAGE_SPEC_ENV: self.package_spec}
        values[PIP_INDEX_URL_ENV] = self.pip_index_url
        return values


def compile_to(out: Path, route: PackageRoute | None = None) -> list[Path]:
    """Compile into ``out``, in a fresh interpreter so the package route applies to every component.

    Args:
        out: Output directory (created).
        route: How pods get the package; None for the default (``python:3.11`` installing the pinned version).

    Returns:
        The files written, relative to ``out``.
    """
    env = dict(os.environ)
    env.update((route or PackageRoute()).environment())
    # KFP renders dict defaults (e.g. a pipeline's list of gates) into the YAML's header comment through protobuf
    # Structs; the C (upb) maps iterate in a per-process random order, the pure-Python ones do not. With these, the
    # YAML is byte-identical from one compile to the next.
    env["PYTHONHASHSEED"] = "0"
    env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    code = (
        "import sys; from pathlib import Path; from kfp_model_lifecycle.compile import compile_all;"
        "print('\\n'.join(str(p) for p in compile_all(Path(sys.argv[1]))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"compilation failed:\n{result.stderr.strip()}")
    return [Path(line) for line in result.stdout.split()]


def driver_argument_bytes(container: dict[str, Any]) -> int:
    """Bytes of the KFP driver's ``--container`` argument for this container spec (Go ``encoding/json``).

    The driver passes the executor's container spec (image, command with the whole program, args) as one
    command-line argument, JSON-encoded by Go, which also escapes ``<``, ``>`` and ``&``; it is the largest of the
    three single arguments the program travels in.

    Args:
        container: The executor's ``container`` in the pipeline spec.

    Returns:
        Its size in bytes.
    """
    text = json.dumps(container, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in GO_JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return len(text.encode("utf-8"))


def size_problems(path: Path, docs: list[Any]) -> list[str]:
    """Size budget violations of one compiled file (see the module's limits).

    Args:
        path: The file (``components/`` or ``pipelines/`` in its path decides the budget).
        docs: Its parsed YAML documents.

    Returns:
        Problems found.
    """
    problems: list[str] = []
    size = path.stat().st_size
    budget = MAX_PIPELINE_BYTES if path.parent.name == "pipelines" else MAX_COMPONENT_BYTES
    if size > budget:
        problems.append(
            f"{path}: {size:,} bytes, over the budget of {budget:,} for a {path.parent.name[:-1]} YAML: keep component"
            " bodies thin (the code belongs in the kfp_model_lifecycle package, installed in the pod)"
        )
    executors = docs[0].get("deploymentSpec", {}).get("executors", {}) if docs else {}
    for label, executor in executors.items():
        container = executor.get("container") if isinstance(executor, dict) else None
        if not isinstance(container, dict):
            continue
        largest = driver_argument_bytes(container)
        if largest > MAX_DRIVER_ARGUMENT_BYTES:
            problems.append(
                f"{path}: executor {label}: the driver's --container argument would be {largest:,} bytes, over the"
                f" budget of {MAX_DRIVER_ARGUMENT_BYTES:,} (Linux refuses {LINUX_MAX_ARG_BYTES:,}, MAX_ARG_STRLEN):"
                " shorten the component's body and docstring"
            )
    return problems


def validate_file(path: Path) -> list[str]:
    """Strictly validate one compiled component or pipeline YAML.

    Document 1 must parse into ``PipelineSpec`` and each executor into ``ExecutorSpec``; document 2 (when
    present) into ``PlatformSpec`` with each Kubernetes executor config parsed into
    ``KubernetesExecutorConfig``; unknown fields are errors. DAG task references (``dependentTasks``,
    ``producerTask``, ``componentRef``, ``executorLabel``) must point to things that exist, and the file must stay
    within its size budgets (:func:`size_problems`).

    Returns:
        Problems found (empty when the file is valid).
    """
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as exc:
        return [f"{path}: not valid YAML: {exc}"]
    if not docs or len(docs) > 2:
        return [f"{path}: expected 1 or 2 YAML documents, found {len(docs)}"]
    executors = docs[0].get("deploymentSpec", {}).get("executors", {})
    problems = _parse(docs[0], pipeline_spec_pb2.PipelineSpec(), "PipelineSpec")
    problems += _executor_problems(executors)
    problems += _reference_problems(docs[0], executors)
    if len(docs) == 2:
        problems += _platform_problems(docs[1], executors)
    return [f"{path}: {p}" for p in problems] + size_problems(path, docs)


def _parse(data: Any, message: Any, what: str) -> list[str]:
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        return [f"{what}: {exc}"]
    return []


def _executor_problems(executors: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for label, executor in executors.items():
        problems += _parse(executor, pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec(), f"executor {label}")
        container = executor.get("container", {}) if isinstance(executor, dict) else {}
        for arg in [*container.get("command", []), *container.get("args", [])]:
            size = len(str(arg).encode())
            if size >= LINUX_MAX_ARG_BYTES:
                problems.append(
                    f"executor {label}: one command argument is {size:,} bytes; Linux refuses arguments of"
                    f" {LINUX_MAX_ARG_BYTES:,} bytes or more (MAX_ARG_STRLEN), so the pod could not start: keep the"
                    " component body thin"
                )
    return problems


def _reference_problems(spec: dict[str, Any], executors: dict[str, Any]) -> list[str]:
    components = spec.get("components", {})
    problems = _check_dag(spec.get("root", {}), components, executors, "root")
    for name, comp in components.items():
        if "executorLabel" in comp and comp["executorLabel"] not in executors:
            problems.append(f"component {name}: unknown executorLabel {comp['executorLabel']!r}")
        problems += _check_dag(comp, components, executors, name)
    return problems


def _platform_problems(platform: dict[str, Any], executors: dict[str, Any]) -> list[str]:
    problems = _parse(platform, pipeline_spec_pb2.PlatformSpec(), "PlatformSpec")
    configs = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
    for label, config in configs.items():
        if label not in executors:
            problems.append(f"platform config for unknown executor {label!r}")
        problems += _parse(
            config, kubernetes_executor_config_pb2.KubernetesExecutorConfig(), f"kubernetes config {label}"
        )
    return problems


def _check_dag(
    component: dict[str, Any], components: dict[str, Any], executors: dict[str, Any], where: str
) -> list[str]:
    tasks = component.get("dag", {}).get("tasks", {})
    problems = []
    for task_name, task in tasks.items():
        ref = task.get("componentRef", {}).get("name")
        if ref not in components:
            problems.append(f"{where}: task {task_name}: unknown componentRef {ref!r}")
        for dep in task.get("dependentTasks", []):
            if dep not in tasks:
                problems.append(f"{where}: task {task_name}: unknown dependentTask {dep!r}")
        for kind in ("artifacts", "parameters"):
            for input_name, spec in task.get("inputs", {}).get(kind, {}).items():
                producer = spec.get("taskOutputArtifact", spec.get("taskOutputParameter", {})).get("producerTask")
                if producer is not None and producer not in tasks:
                    problems.append(f"{where}: task {task_name}: input {input_name} from unknown task {producer!r}")
    return problems


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != ".gitkeep"}


def check(out: Path = DEFAULT_OUT) -> list[str]:
    """Problems with ``out``: files that differ from a fresh compile, and files failing strict validation."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kml-compile-") as tmp:
        fresh = Path(tmp)
        compile_to(fresh)
        expected, actual = _files(fresh), _files(out) if out.is_dir() else set()
        for rel in sorted(expected - actual):
            problems.append(f"{out / rel}: missing (run `make compile` and commit the result)")
        for rel in sorted(actual - expected):
            problems.append(f"{out / rel}: not produced by a fresh compile (stale? remove it)")
        for rel in sorted(expected & actual):
            if not filecmp.cmp(fresh / rel, out / rel, shallow=False):
                diff = difflib.unified_diff(
                    (out / rel).read_text(encoding="utf-8").splitlines(),
                    (fresh / rel).read_text(encoding="utf-8").splitlines(),
                    str(out / rel),
                    "fresh compile",
                    lineterm="",
                    n=1,
                )
                excerpt = "\n".join(list(diff)[:12])
                problems.append(f"{out / rel}: differs from a fresh compile (run `make compile`):\n{excerpt}")
        for rel in sorted(p for p in actual if p.suffix == ".yaml"):
            problems += validate_file(out / rel)
    return problems


def main(out: Path, route: PackageRoute | None, check_only: bool) -> int:
    """Run ``kml compile``; returns the process exit code."""
    if check_only:
        problems = check(out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{len(problems)} problem(s) in {out}/", file=sys.stderr)
            return 1
        print(f"{out}/ is up to date, every file passes strict validation and stays within its size budget")
        return 0
    written = compile_to(out, route)
    invalid = [p for rel in written if rel.suffix == ".yaml" for p in validate_file(out / rel)]
    # Only generated YAML is ever removed (a component or pipeline that no longer exists), nothing else in `out`.
    generated = {p for p in _files(out) if p.suffix == ".yaml" and p.parts[0] in ("components", "pipelines")}
    for rel in sorted(generated - set(written)):
        (out / rel).unlink()
    _print_summary(out, written, route or PackageRoute())
    for problem in invalid:
        print(problem, file=sys.stderr)
    return 1 if invalid else 0


def _print_summary(out: Path, written: Iterable[Path], route: PackageRoute) -> None:
    written = list(written)
    print(f"compiled {len(written)} file(s) into {out}/ for pods on {route.describe()}:")
    for rel in written:
        size = (out / rel).stat().st_size
        print(f"  {out / rel}  ({size / 1000:.1f} KB)")
