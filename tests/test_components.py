"""Every library component is a thin declaration: one function in the pod program, the package does the work.

These checks hold for all components at once (``kfp_model_lifecycle.components.__all__``): the compiled program
defines only the component function, its body imports one task function from the installed package and calls it
with every argument, the names it uses resolve, the package is pinned to this version, and the parameters the
component declares are exactly the ones its task accepts (so the signature on the component and the code it runs
cannot drift apart).
"""

import builtins
import dis
import inspect
import types
from typing import Any

import pytest
from kfp.dsl.base_component import BaseComponent

from kfp_model_lifecycle import __version__, components
from kfp_model_lifecycle.audit import task as audit_task
from kfp_model_lifecycle.comparison import leaderboard_task
from kfp_model_lifecycle.comparison import task as comparison_task
from kfp_model_lifecycle.components._common.runtime import (
    BASE_IMAGE_ENV,
    PACKAGE_SPEC_ENV,
    PIP_INDEX_URL_ENV,
    component_kwargs,
    package_requirement,
)
from kfp_model_lifecycle.deployment import tasks as deployment_tasks
from kfp_model_lifecycle.doctor import task as doctor_task
from kfp_model_lifecycle.lifecycle import tasks as lifecycle_tasks
from kfp_model_lifecycle.registration import task as registration_task

# component name -> (its task, the run function the task forwards the other parameters to, the run function's
# parameters that are not component inputs: filled in by the task from the artifacts, or only for Python callers)
TASKS = {
    "register_model": (
        registration_task.register_model_task,
        registration_task.run_register_model,
        {"model_uri", "model_path", "model_metadata", "metrics", "datasets", "output_path"},
    ),
    "compare_models": (
        comparison_task.compare_models_task,
        comparison_task.run_compare_models,
        {
            "candidate_version_id",
            "candidate_predictions_path",
            "candidate_predictions_uri",
            "candidate_predictions_name",
            "baseline_predictions_path",
        },
    ),
    "compare_versions": (leaderboard_task.compare_versions_task, leaderboard_task.run_compare_versions, set()),
    "promote_model": (lifecycle_tasks.promote_model_task, lifecycle_tasks.run_promote_model, {"summary_path"}),
    "approve_model": (lifecycle_tasks.approve_model_task, lifecycle_tasks.run_approve_model, {"summary_path"}),
    "record_model_event": (lifecycle_tasks.record_model_event_task, lifecycle_tasks.run_record_model_event, set()),
    "deploy_model": (
        deployment_tasks.deploy_model_task,
        deployment_tasks.run_deploy_model,
        {"manifest_path", "kubeconfig_path", "kube_context"},
    ),
    "rollback_deployment": (
        deployment_tasks.rollback_deployment_task,
        deployment_tasks.run_rollback_deployment,
        {"manifest_path", "kubeconfig_path", "kube_context"},
    ),
    "verify_installation": (
        doctor_task.verify_installation_task,
        doctor_task.run_verify_installation,
        {"kubeconfig_path", "kube_context"},
    ),
    "audit_registry": (
        audit_task.audit_registry_task,
        audit_task.run_audit_registry,
        {"kubeconfig_path", "kube_context", "now"},
    ),
}
# Keyword arguments every run function takes for tests and Python callers (never component inputs).
PYTHON_ONLY = {"env", "context", "conn", "k8s", "source"}  # source: manual registrations (Python API, CLI)

LIBRARY_COMPONENTS = {
    name: obj for name, obj in vars(components).items() if name in components.__all__ and isinstance(obj, BaseComponent)
}


def test_every_library_component_has_a_task() -> None:
    assert set(LIBRARY_COMPONENTS) == set(TASKS)


def _program(component: BaseComponent) -> str:
    executor = next(iter(component.pipeline_spec.deployment_spec["executors"].values()))
    return executor["container"]["command"][-1]


def _global_names(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_pod_program_is_the_component_alone(name: str) -> None:
    component = LIBRARY_COMPONENTS[name]
    source = _program(component)
    namespace: dict[str, Any] = {"__name__": "ephemeral_component"}
    exec(compile(source, "ephemeral_component.py", "exec"), namespace)  # noqa: S102 - our own compiled code
    defined = [
        f
        for f in namespace.values()
        if isinstance(f, types.FunctionType) and f.__code__.co_filename == "ephemeral_component.py"
    ]
    assert [f.__name__ for f in defined] == [name]
    undefined = {n for n in _global_names(defined[0].__code__) if n not in namespace and not hasattr(builtins, n)}
    assert undefined == set()
    task = TASKS[name][0]
    assert f"from {task.__module__} import {task.__name__}" in source
    assert f"return {task.__name__}(**arguments)" in source
    assert len(source.encode()) < 16 * 1024


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_body_is_a_few_lines(name: str) -> None:
    function = LIBRARY_COMPONENTS[name].python_func
    lines = inspect.getsource(function).split('    """', 2)[-1].splitlines()
    code = [line for line in lines[1:] if line.strip()]
    assert len(code) <= 3, code


@pytest.mark.parametrize("name", sorted(TASKS))
def test_component_parameters_are_exactly_what_its_task_accepts(name: str) -> None:
    component = LIBRARY_COMPONENTS[name]
    task, run, not_inputs = TASKS[name]
    declared = set(inspect.signature(component.python_func).parameters)
    explicit = {
        p.name for p in inspect.signature(task).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    assert explicit <= declared, f"{name}: the task takes {sorted(explicit - declared)}, which the component lacks"
    run_parameters = set(inspect.signature(run).parameters) - PYTHON_ONLY - not_inputs - explicit
    forwarded = declared - explicit
    assert forwarded == run_parameters, (
        f"{name}: declared but not taken by {run.__name__}: {sorted(forwarded - run_parameters)};"
        f" taken by {run.__name__} but not declared: {sorted(run_parameters - forwarded)}"
    )


def test_package_route_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (BASE_IMAGE_ENV, PACKAGE_SPEC_ENV, PIP_INDEX_URL_ENV):
        monkeypatch.delenv(variable, raising=False)
    assert package_requirement() == f"kfp-model-lifecycle=={__version__}"
    assert component_kwargs() == {
        "base_image": "python:3.11",
        "packages_to_install": [f"kfp-model-lifecycle=={__version__}"],
        "install_kfp_package": False,
    }
    spec = "kfp-model-lifecycle @ git+https://github.com/example/kfp-model-lifecycle@v0.1.0"
    monkeypatch.setenv(PACKAGE_SPEC_ENV, spec)
    monkeypatch.setenv(PIP_INDEX_URL_ENV, "https://pypi.internal/simple")
    kwargs = component_kwargs()
    assert kwargs["packages_to_install"] == [spec] and kwargs["pip_index_urls"] == ["https://pypi.internal/simple"]
    monkeypatch.setenv(BASE_IMAGE_ENV, "registry.example.com/kml-runtime:0.1.0")
    assert component_kwargs() == {
        "base_image": "registry.example.com/kml-runtime:0.1.0",
        "packages_to_install": [],
        "install_kfp_package": False,
    }
