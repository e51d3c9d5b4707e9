"""Who ran a component: the KFP run, pipeline, task and namespace, with fallbacks for missing inputs.

Where each value comes from, first match wins (a literal ``{{$...}}`` -- an unsubstituted KFP placeholder -- or
an empty value counts as missing):

==============  ==================================================================================================
run id          the ``run_id`` input (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``); env ``KFP_RUN_ID``; the pod's label
                ``pipeline/runid`` read through the Kubernetes API (needs ``KFP_POD_NAME`` and RBAC "get pods")
run name        the run's DISPLAY name: the ``run_name`` input (``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``, which the KFP
                driver substitutes with the display name); env ``KFP_RUN_NAME``; the annotation
                ``pipelines.kubeflow.org/run_name`` of the run's Argo Workflow, named by the pod's label
                ``workflows.argoproj.io/workflow`` (Kubernetes API: RBAC "get" on pods and on
                ``workflows.argoproj.io`` workflows). The name is never on the pod itself.
pipeline name   the ``pipeline_name`` input; env ``KFP_PIPELINE_NAME``
task name       the ``task_name`` input (``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``); env ``KFP_TASK_NAME``
namespace       the ``namespace`` input; env ``POD_NAMESPACE`` (``kfp.kubernetes.use_field_path_as_env``); the
                service-account namespace file
run URL         ``kfp_ui_url`` input or env ``KML_KFP_UI_URL``, plus ``/#/runs/details/<run id>``
==============  ==================================================================================================

KFP has no other run name: a run is its id and its display name (the Argo Workflow's own name, the run's
Kubernetes object, is what ``{{$.pipeline_job_resource_name}}`` gives; that placeholder crashes local runs, so it is
not passed). Code version, training image and dataset digests are in :mod:`kfp_model_lifecycle.lineage.sources`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kfp_model_lifecycle.lineage.kubernetes import (
    RUN_ID_LABEL,
    RUN_NAME_ANNOTATION,
    SA_CA_PATH,
    SA_NAMESPACE_PATH,
    SA_TOKEN_PATH,
    PodLineage,
    read_kfp_pod_lineage,
    read_service_account_namespace,
)

KFP_UI_URL_ENV = "KML_KFP_UI_URL"
# (field, environment variable it falls back to)
RUN_FIELDS = (
    ("run_id", "KFP_RUN_ID"),
    ("run_name", "KFP_RUN_NAME"),
    ("pipeline_name", "KFP_PIPELINE_NAME"),
    ("task_name", "KFP_TASK_NAME"),
    ("namespace", "POD_NAMESPACE"),
)
MISSING_HINTS = {
    "run_id": "pass dsl.PIPELINE_JOB_ID_PLACEHOLDER as run_id (register_model_with_lineage does), or let the"
    " pod's service account 'get' pods so it is read from the pod label pipeline/runid",
    "run_name": "pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER as run_name (register_model_with_lineage does); the"
    " run's display name is on its Argo Workflow only, which the pod reads when its service account may 'get'"
    " pods and workflows.argoproj.io",
    "pipeline_name": "pass pipeline_name (register_model_with_lineage fills it in when compiling)",
    "task_name": "pass dsl.PIPELINE_TASK_NAME_PLACEHOLDER as task_name (register_model_with_lineage does)",
    "namespace": "use kfp.kubernetes.use_field_path_as_env(task, 'POD_NAMESPACE', 'metadata.namespace')"
    " (register_model_with_lineage does); in a pod the service-account file is read too",
}
RUN_URL_HINT = "set kfp_ui_url (or the environment variable KML_KFP_UI_URL) to the KFP UI's base URL"


def is_missing_value(value: Any) -> bool:
    """Whether a context value is unknown: None, empty, or an unsubstituted placeholder (text in double braces).

    Args:
        value: The value as it reached the component.

    Returns:
        True when the value carries no information.
    """
    if value is None:
        return True
    text = str(value).strip()
    return not text or ("{{" in text and "}}" in text)


def build_run_url(kfp_ui_url: str, run_id: str) -> str:
    """Link to a run in the KFP UI.

    Args:
        kfp_ui_url: Base URL of the KFP UI, e.g. ``https://kubeflow.example.com/_/pipeline`` (central dashboard)
            or ``http://ml-pipeline-ui.kubeflow:80`` (standalone).
        run_id: The run id.

    Returns:
        ``<kfp_ui_url>/#/runs/details/<run_id>``, or "" when either is missing.
    """
    if is_missing_value(kfp_ui_url) or is_missing_value(run_id):
        return ""
    return f"{str(kfp_ui_url).strip().rstrip('/')}/#/runs/details/{str(run_id).strip()}"


@dataclass
class RunContext:
    """The KFP run a component belongs to; every field is "" when unknown.

    Attributes:
        run_id: The run's id (uuid).
        run_name: The run's display name (what ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` becomes).
        pipeline_name: The pipeline's name.
        task_name: The task's name.
        namespace: The run's namespace.
        run_url: Link to the run in the KFP UI.
        sources: Field -> where its value came from.
        missing: Field -> how to provide it.
        notes: Details of lookups that failed.
    """

    run_id: str = ""
    run_name: str = ""
    pipeline_name: str = ""
    task_name: str = ""
    namespace: str = ""
    run_url: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, name: str) -> str:
        """The value of the field called ``name`` (e.g. ``run_id``)."""
        return str(getattr(self, name))


def collect_run_context(
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    namespace: str = "",
    kfp_ui_url: str = "",
    *,
    env: Mapping[str, str] | None = None,
    sa_namespace_path: str = SA_NAMESPACE_PATH,
    query_kubernetes: bool = True,
    k8s_api_url: str = "",
    k8s_token_path: str = SA_TOKEN_PATH,
    k8s_ca_path: str = SA_CA_PATH,
) -> RunContext:
    """Who ran this component: the KFP run, pipeline, task and namespace, with fallbacks for missing inputs.

    Args:
        run_id: ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` as substituted by KFP (or a literal placeholder, or "").
        run_name: ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` as substituted (the run's display name).
        pipeline_name: The pipeline's name.
        task_name: ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` as substituted.
        namespace: The namespace, if passed explicitly.
        kfp_ui_url: Base URL of the KFP UI for the run link.
        env: Environment to read (default ``os.environ``).
        sa_namespace_path: The service-account namespace file.
        query_kubernetes: Read a missing run id from the pod's label, and a missing display name from its Argo
            Workflow, through the Kubernetes API.
        k8s_api_url: Kubernetes API base URL (default: in-cluster).
        k8s_token_path: Service-account token file for the Kubernetes API.
        k8s_ca_path: Kubernetes API CA bundle.

    Returns:
        The context, with ``sources``, ``missing`` and ``notes`` filled in.
    """
    env = os.environ if env is None else env
    context = RunContext()
    given = {
        "run_id": run_id,
        "run_name": run_name,
        "pipeline_name": pipeline_name,
        "task_name": task_name,
        "namespace": namespace,
    }
    _add_inputs_and_environment(context, given, env)
    if not context.namespace:
        found_namespace = read_service_account_namespace(sa_namespace_path)
        if found_namespace:
            _set(context, "namespace", found_namespace, "the service-account namespace file")
    if query_kubernetes and (not context.run_id or not context.run_name):
        pod = read_kfp_pod_lineage(
            context.namespace,
            env=env,
            api_url=k8s_api_url,
            token_path=k8s_token_path,
            ca_path=k8s_ca_path,
            need_run_name=not context.run_name,
        )
        _add_pod_lineage(context, pod)
    _add_run_url(context, kfp_ui_url, env)
    _add_missing_hints(context)
    return context


def _set(context: RunContext, name: str, value: Any, source: str) -> None:
    setattr(context, name, str(value).strip())
    context.sources[name] = source


def _add_inputs_and_environment(context: RunContext, given: Mapping[str, str], env: Mapping[str, str]) -> None:
    for name, env_name in RUN_FIELDS:
        if not is_missing_value(given[name]):
            _set(context, name, given[name], f"the {name} input")
        elif not is_missing_value(env.get(env_name)):
            _set(context, name, env.get(env_name), f"the environment variable {env_name}")


def _add_pod_lineage(context: RunContext, pod: PodLineage) -> None:
    context.notes.extend(pod.notes)
    if not context.run_id and pod.run_id:
        _set(context, "run_id", pod.run_id, f"the pod's label {RUN_ID_LABEL} (Kubernetes API)")
    if not context.run_name and pod.run_name:
        source = f"the annotation {RUN_NAME_ANNOTATION} of Argo Workflow {pod.workflow_name} (Kubernetes API)"
        _set(context, "run_name", pod.run_name, source)


def _add_missing_hints(context: RunContext) -> None:
    for name, hint in MISSING_HINTS.items():
        if not context.value(name):
            context.missing[name] = hint
    if not context.run_url:
        context.missing["run_url"] = RUN_URL_HINT if context.run_id else "needs the run id"


def _add_run_url(context: RunContext, kfp_ui_url: str, env: Mapping[str, str]) -> None:
    explicit = not is_missing_value(kfp_ui_url)
    ui_url = kfp_ui_url if explicit else (env.get(KFP_UI_URL_ENV) or "")
    context.run_url = build_run_url(ui_url, context.run_id)
    if context.run_url:
        context.sources["run_url"] = "kfp_ui_url" if explicit else KFP_UI_URL_ENV
