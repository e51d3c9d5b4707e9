"""The deployment jobs: deploy a registered model version to KServe, roll a deployment back, undeploy it.

``deploy_model`` and ``rollback_deployment`` are thin components over :func:`run_deploy_model` and
:func:`run_rollback_deployment` (through :mod:`~kfp_model_lifecycle.deployment.tasks`); ``kml models
rollback-deployment`` and ``kml models undeploy`` call :func:`run_rollback_deployment` and
:func:`run_undeploy_model`. Each job checks its inputs up front, opens the Kubernetes client and the registry
connection (:mod:`~kfp_model_lifecycle.deployment.session`), and hands the work to the package's modules:
:mod:`~kfp_model_lifecycle.deployment.names` and :mod:`~kfp_model_lifecycle.deployment.manifest` (what to deploy),
:mod:`~kfp_model_lifecycle.deployment.deploy` (RBAC pre-check, rollout with canary and automatic restore,
registry records and the audit trail) and :mod:`~kfp_model_lifecycle.deployment.history` (what a rollback
restores).

Environment knobs (all optional): ``KUBECONFIG`` (else the in-cluster service account, else ``~/.kube/config``),
``KML_DEPLOY_POLL_SECONDS`` (status poll interval, default 2), ``KML_DEPLOY_PROGRESS_SECONDS`` (progress log
interval, default 10), ``KML_K8S_MAX_ATTEMPTS`` (attempts for transient API errors, default 5).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp_model_lifecycle.client import RegistryConnection
from kfp_model_lifecycle.deployment.deploy import DeployOutcome, DeployRequest, deploy_version, undeploy_key
from kfp_model_lifecycle.deployment.history import RollbackPlan, plan_rollback
from kfp_model_lifecycle.deployment.inference_service import (
    delete_inference_service,
    get_inference_service,
    wait_until_deleted,
)
from kfp_model_lifecycle.deployment.kube import KubeClient
from kfp_model_lifecycle.deployment.manifest import (
    build_inference_service_manifest,
    manifest_runtime,
    refresh_rollout_manifest,
)
from kfp_model_lifecycle.deployment.names import inference_service_name_for
from kfp_model_lifecycle.deployment.recording import ServingRecords, record_undeployment
from kfp_model_lifecycle.deployment.records import find_registry_inference_service, find_serving_environment
from kfp_model_lifecycle.deployment.session import (
    given_text,
    kubernetes_session,
    registry_session,
    resolve_deploy_namespace,
    write_manifest_output,
)
from kfp_model_lifecycle.deployment.validation import (
    DeploySettings,
    RolloutOptions,
    check_job_inputs,
    check_model_reference,
    check_timeout_seconds,
)
from kfp_model_lifecycle.errors import InvalidInputError, KubernetesError
from kfp_model_lifecycle.lifecycle import lifecycle_run_actor, resolve_model_reference
from kfp_model_lifecycle.lineage.context import RunContext, collect_run_context
from kfp_model_lifecycle.log import logger as log


@dataclass(frozen=True)
class DeploymentResult:
    """What :func:`run_deploy_model` or :func:`run_rollback_deployment` deployed (or, in a dry run, would deploy).

    Attributes:
        url: Where the version serves ("" in a dry run).
        inference_service_name: The InferenceService.
        namespace: Its namespace.
        model: The registered model's name.
        version: The version's name.
        version_id: The version's id.
        reference: ``model:version``.
        previous_version: The version served before ("" when none).
        manifest: The manifest applied.
        manifest_yaml: The manifest as YAML (the output artifact).
        dry_run: Nothing was changed.
        phases: What the rollout did, e.g. ``["updated", "canary 10%", "promoted"]``.
        records: What was written to the registry (None in a dry run, or when nothing changed).
        rolled_back_from: The version replaced by a rollback ("" for a deployment).
    """

    url: str
    inference_service_name: str
    namespace: str
    model: str
    version: str
    version_id: str
    reference: str
    previous_version: str
    manifest: dict[str, Any]
    manifest_yaml: str
    dry_run: bool
    phases: list[str]
    records: ServingRecords | None
    rolled_back_from: str = ""


@dataclass(frozen=True)
class UndeployResult:
    """What :func:`run_undeploy_model` did.

    Attributes:
        inference_service_name: The InferenceService.
        namespace: Its namespace.
        deleted: Whether it existed and was deleted.
        version: The version it served ("" when unknown).
        records: What was written to the registry (None when nothing: no record, or already undeployed).
    """

    inference_service_name: str
    namespace: str
    deleted: bool
    version: str
    records: ServingRecords | None


def run_deploy_model(
    *,
    model_reference: str,
    inference_service_name: str = "",
    namespace: str = "",
    deployment_mode: str = "Serverless",
    storage_uri_mode: str = "artifact",
    runtime: str = "",
    protocol_version: str = "",
    resources: Mapping[str, Any] | None = None,
    min_replicas: Any = None,
    max_replicas: Any = None,
    service_account_name: str = "",
    labels: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    canary_percent: Any = 0,
    timeout_seconds: Any = 600,
    dry_run: bool = False,
    reason: str = "",
    actor: str = "",
    registry_service_name: str = "",
    registry_namespace: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    manifest_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> DeploymentResult:
    """The whole ``deploy_model`` job on plain values: resolve, build, apply, wait, roll back on failure, record.

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS``, ``name`` (the production version)...
        inference_service_name: "" derives one from the model name (``sanitize_inference_service_name``).
        namespace: Target namespace ("" for the pod's, else the kubeconfig context's).
        deployment_mode: ``Serverless`` or ``RawDeployment``.
        storage_uri_mode: ``artifact`` or ``model-registry``.
        runtime: ServingRuntime name ("" for KServe's choice).
        protocol_version: ``v1``, ``v2``, ``grpc-v2`` or "".
        resources: Predictor resources.
        min_replicas: Minimum replicas (None or negative: unset).
        max_replicas: Maximum replicas (None or negative: unset).
        service_account_name: Predictor service account (default: the artifact's).
        labels: Extra labels.
        annotations: Extra annotations.
        canary_percent: 0..100.
        timeout_seconds: Bound for the rollout (and again for a rollback).
        dry_run: Only build and write the manifest: no cluster access, no registry writes.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        registry_service_name: The registry's service name for the labels (default from ``registry_url``).
        registry_namespace: The registry's namespace for the labels (default from ``registry_url``).
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL for the run link.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file ("" for ``KUBECONFIG``/in-cluster/``~/.kube/config``).
        kube_context: Kubeconfig context ("" for the current one).
        manifest_path: Where to write the manifest YAML ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        What was deployed where.

    Raises:
        InvalidInputError: For invalid inputs (checked before anything is read or changed).
        PermissionError: When RBAC denies a verb the rollout needs (nothing was changed).
        DeploymentError: When the rollout failed; the message says what runs now.
    """
    model_reference, settings, options = _checked_deploy_inputs(locals())
    env = os.environ if env is None else env
    context = _run_context(context, run_id, run_name, pipeline_name, task_name, kfp_ui_url, env)
    with kubernetes_session(kubeconfig_path, kube_context, env, required=not dry_run) as k8s:
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        with registry_session(
            conn, registry_url=registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env
        ) as registry:
            request = _deploy_request(
                registry, model_reference, given_text(inference_service_name), target_namespace, settings, options,
                context, actor=lifecycle_run_actor(context, actor), reason=reason, dry_run=dry_run,
            )  # fmt: skip
            return _deploy_or_dry_run(registry, k8s, request, dry_run, manifest_path)


_DEPLOY_TEXT_INPUTS = (
    "inference_service_name", "namespace", "reason", "actor", "registry_url", "ca_bundle_path", "kubeconfig_path",
    "kube_context", "manifest_path",
)  # fmt: skip
_SETTINGS_INPUTS = tuple(inspect.signature(DeploySettings.from_inputs).parameters)


def _checked_deploy_inputs(inputs: Mapping[str, Any]) -> tuple[str, DeploySettings, RolloutOptions]:
    """Check every input of ``run_deploy_model`` before anything is read or written.

    Args:
        inputs: The job's arguments by name.

    Returns:
        The model reference, the InferenceService settings and the rollout options.
    """
    check_job_inputs(
        {k: inputs[k] for k in _DEPLOY_TEXT_INPUTS}, {"dry_run": inputs["dry_run"], "verify_tls": inputs["verify_tls"]}
    )
    reference = check_model_reference(inputs["model_reference"])
    settings = DeploySettings.from_inputs(**{k: inputs[k] for k in _SETTINGS_INPUTS})
    options = RolloutOptions.from_inputs(
        canary_percent=inputs["canary_percent"], timeout_seconds=inputs["timeout_seconds"]
    )
    return reference, settings, options


def _run_context(
    context: RunContext | None,
    run_id: str,
    run_name: str,
    pipeline_name: str,
    task_name: str,
    kfp_ui_url: str,
    env: Mapping[str, str],
) -> RunContext:
    """The given run context, else the one collected from the inputs and the pod."""
    if context is not None:
        return context
    return collect_run_context(run_id, run_name, pipeline_name, task_name, "", kfp_ui_url, env=env)


def _deploy_request(
    conn: RegistryConnection,
    model_reference: str,
    given_name: str,
    namespace: str,
    settings: DeploySettings,
    options: RolloutOptions,
    context: RunContext,
    *,
    actor: str,
    reason: str,
    dry_run: bool,
) -> DeployRequest:
    """Resolve the model reference and name the InferenceService: what ``deploy_model`` deploys where."""
    resolved = resolve_model_reference(conn, model_reference, repair=not dry_run)
    model, version = resolved.model, resolved.version
    name = inference_service_name_for(given_name, str(model.get("name") or ""), namespace)
    log.info("deploying %s (%s) as InferenceService %s/%s", resolved.reference, resolved.selector, namespace, name)

    def manifest_for(record_id: str) -> dict[str, Any]:
        return build_inference_service_manifest(
            name=name, namespace=namespace, model=model, version=version, artifact=resolved.artifact,
            settings=settings, registry_url=conn.url, registry_inference_service_id=record_id, context=context,
        )  # fmt: skip

    return DeployRequest(model, version, name, namespace, manifest_for, options, context, actor=actor, reason=reason,
                         runtime=settings.runtime, reference=resolved.reference)  # fmt: skip


def _deploy_or_dry_run(
    conn: RegistryConnection, k8s: KubeClient | None, request: DeployRequest, dry_run: bool, manifest_path: str
) -> DeploymentResult:
    """Deploy the request (or in a dry run only build its manifest, with the registry record id if it has one)."""
    if k8s is not None:
        log.info("Kubernetes API %s (credentials: %s)", k8s.host, k8s.source)
    if dry_run or k8s is None:
        environment = find_serving_environment(conn, request.namespace)
        record = find_registry_inference_service(conn, environment, request.name) if environment else None
        manifest = request.manifest_for(str((record or {}).get("id") or ""))
        text = write_manifest_output(manifest, manifest_path)
        log.info("dry run: wrote the manifest; the cluster and the registry were not touched\n%s", text)
        return _result(request, manifest, text, None)
    deployed = deploy_version(conn, k8s, request)
    text = write_manifest_output(deployed.manifest, manifest_path)
    log.info("%s is deployed to %s: %s (%s)", request.reference, request.target, deployed.url,
             ", ".join(deployed.rollout.phases))  # fmt: skip
    return _result(request, deployed.manifest, text, deployed)


def _result(
    request: DeployRequest,
    manifest: dict[str, Any],
    manifest_yaml: str,
    deployed: DeployOutcome | None,
    *,
    previous_version: str = "",
    rolled_back_from: str = "",
) -> DeploymentResult:
    """The result of a deployment (``deployed``), or of a dry run (``deployed`` None)."""
    return DeploymentResult(
        url=deployed.url if deployed else "",
        inference_service_name=request.name,
        namespace=request.namespace,
        model=str(request.model.get("name") or ""),
        version=str(request.version.get("name") or ""),
        version_id=str(request.version["id"]),
        reference=request.reference,
        previous_version=deployed.previous_version if deployed else previous_version,
        manifest=manifest,
        manifest_yaml=manifest_yaml,
        dry_run=deployed is None,
        phases=deployed.rollout.phases if deployed else ["dry run"],
        records=deployed.records if deployed else None,
        rolled_back_from=rolled_back_from,
    )


def run_rollback_deployment(
    *,
    model_name: str = "",
    inference_service_name: str = "",
    namespace: str = "",
    timeout_seconds: Any = 600,
    dry_run: bool = False,
    reason: str = "",
    actor: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    manifest_path: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> DeploymentResult:
    """The whole ``rollback_deployment`` job: redeploy the previously deployed version of an InferenceService.

    The target is the newest earlier successful rollout of another version in the registry's records (versions
    rolled back from are skipped, so repeated rollbacks walk back); its recorded manifest is applied again with
    the same safety as a deployment (wait, automatic restore on failure) and recorded as a rollback.

    Args:
        model_name: The registered model ("" when ``inference_service_name`` is given: read from the records).
        inference_service_name: The InferenceService ("" derives it from ``model_name`` as deploy_model does).
        namespace: Its namespace ("" for the pod's, else the kubeconfig context's).
        timeout_seconds: Bound for the rollout (and again for a rollback of the rollback).
        dry_run: Only find the target and write its manifest.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL.
        registry_url: Registry base URL (else ``KML_REGISTRY_URL``).
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file.
        kube_context: Kubeconfig context.
        manifest_path: Where to write the manifest YAML ("" to skip).
        env: Environment (default ``os.environ``).
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        What was deployed, with ``rolled_back_from`` (the version name replaced).

    Raises:
        InvalidInputError: Without model_name and inference_service_name, or for invalid inputs.
        NotFoundError: When the InferenceService has no records or no earlier version to go back to.
        DeploymentError: When the rollout failed; the message says what runs now.
    """
    env = os.environ if env is None else env
    check_job_inputs(
        {"model_name": model_name, "inference_service_name": inference_service_name, "namespace": namespace,
         "reason": reason, "actor": actor, "registry_url": registry_url, "kubeconfig_path": kubeconfig_path},
        {"dry_run": dry_run, "verify_tls": verify_tls},
    )  # fmt: skip
    timeout = check_timeout_seconds(timeout_seconds)
    given_model, given_name = given_text(model_name), given_text(inference_service_name)
    if not given_model and not given_name:
        raise InvalidInputError("rollback_deployment needs model_name or inference_service_name (or both)")
    context = _run_context(context, run_id, run_name, pipeline_name, task_name, kfp_ui_url, env)
    with kubernetes_session(kubeconfig_path, kube_context, env, required=not dry_run) as k8s:
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        with registry_session(
            conn, registry_url=registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env
        ) as registry:
            name = inference_service_name_for(given_name, given_model, target_namespace)
            live = get_inference_service(k8s, target_namespace, name) if k8s is not None and not dry_run else None
            plan = plan_rollback(registry, namespace=target_namespace, name=name, model_name=given_model, live=live)
            request = _rollback_request(
                registry, plan, name, target_namespace, RolloutOptions(0, timeout), context,
                actor=lifecycle_run_actor(context, actor), reason=reason,
            )  # fmt: skip
            return _roll_back_or_dry_run(registry, k8s, request, plan, dry_run, manifest_path)


def _rollback_request(
    conn: RegistryConnection,
    plan: RollbackPlan,
    name: str,
    namespace: str,
    options: RolloutOptions,
    context: RunContext,
    *,
    actor: str,
    reason: str,
) -> DeployRequest:
    """The recorded manifest of the rollout to restore, made current for this run: what a rollback deploys."""
    rolled_back_from = plan.current_version_name
    log.info(
        "rolling back %s/%s from %s to %s (deployed %s by rollout %s)", namespace, name, rolled_back_from or "?",
        plan.version.get("name"), plan.rollout.time, plan.rollout.name,
    )  # fmt: skip

    def manifest_for(record_id: str) -> dict[str, Any]:
        refreshed = refresh_rollout_manifest(plan.manifest, record_id=record_id, registry_url=conn.url, context=context)
        refreshed["metadata"]["namespace"] = namespace
        refreshed["metadata"]["name"] = name
        return refreshed

    return DeployRequest(
        plan.model, plan.version, name, namespace, manifest_for, options, context, actor=actor,
        reason=reason or f"roll back from {rolled_back_from or 'the current version'}", rollback=True,
        runtime=manifest_runtime(plan.manifest), reference=f"{plan.model.get('name')}:{plan.version.get('name')}",
    )  # fmt: skip


def _roll_back_or_dry_run(
    conn: RegistryConnection,
    k8s: KubeClient | None,
    request: DeployRequest,
    plan: RollbackPlan,
    dry_run: bool,
    manifest_path: str,
) -> DeploymentResult:
    """Redeploy the planned version (or in a dry run only write its manifest)."""
    rolled_back_from = plan.current_version_name
    if dry_run or k8s is None:
        manifest = request.manifest_for(str(plan.record.get("id") or ""))
        text = write_manifest_output(manifest, manifest_path)
        return _result(
            request, manifest, text, None, previous_version=rolled_back_from, rolled_back_from=rolled_back_from
        )
    deployed = deploy_version(conn, k8s, request)
    text = write_manifest_output(deployed.manifest, manifest_path)
    log.info("rolled back %s to %s: %s", request.target, request.reference, deployed.url)
    return _result(request, deployed.manifest, text, deployed, rolled_back_from=rolled_back_from)


def run_undeploy_model(
    *,
    inference_service_name: str = "",
    model_name: str = "",
    namespace: str = "",
    timeout_seconds: Any = 120,
    reason: str = "",
    actor: str = "",
    run_id: str = "",
    run_name: str = "",
    pipeline_name: str = "",
    task_name: str = "",
    kfp_ui_url: str = "",
    registry_url: str = "",
    verify_tls: bool = True,
    ca_bundle_path: str = "",
    kubeconfig_path: str = "",
    kube_context: str = "",
    env: Mapping[str, str] | None = None,
    context: RunContext | None = None,
    conn: RegistryConnection | None = None,
) -> UndeployResult:
    """Delete an InferenceService and record it: the registry record becomes ``UNDEPLOYED``.

    Args:
        inference_service_name: The InferenceService ("" derives it from ``model_name``).
        model_name: The registered model (for the derived name).
        namespace: Its namespace.
        timeout_seconds: Bound for the object to disappear.
        reason: Why (audit trail).
        actor: Who.
        run_id: KFP run id.
        run_name: KFP run name.
        pipeline_name: Pipeline name.
        task_name: KFP task name.
        kfp_ui_url: KFP UI base URL.
        registry_url: Registry base URL.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: CA bundle for https.
        kubeconfig_path: Kubeconfig file.
        kube_context: Kubeconfig context.
        env: Environment.
        context: A precomputed run context (tests).
        conn: An open registry connection to use (not closed here); None connects with ``registry_url``.

    Returns:
        What was deleted and recorded.

    Raises:
        InvalidInputError: Without inference_service_name and model_name.
        KubernetesError: When the InferenceService is still there after ``timeout_seconds`` (the registry was not
            updated).
    """
    env = os.environ if env is None else env
    check_job_inputs(
        {"model_name": model_name, "inference_service_name": inference_service_name, "namespace": namespace,
         "reason": reason, "actor": actor, "registry_url": registry_url, "kubeconfig_path": kubeconfig_path},
        {"verify_tls": verify_tls},
    )  # fmt: skip
    timeout = check_timeout_seconds(timeout_seconds)
    given_name, given_model = given_text(inference_service_name), given_text(model_name)
    if not given_name and not given_model:
        raise InvalidInputError("undeploying needs inference_service_name or model_name")
    context = _run_context(context, run_id, run_name, pipeline_name, task_name, kfp_ui_url, env)
    with kubernetes_session(kubeconfig_path, kube_context, env) as k8s:
        target_namespace = resolve_deploy_namespace(namespace, context, k8s)
        name = inference_service_name_for(given_name, given_model, target_namespace)
        with registry_session(
            conn, registry_url=registry_url, verify_tls=verify_tls, ca_bundle_path=ca_bundle_path, env=env
        ) as registry:
            live = get_inference_service(k8s, target_namespace, name)
            environment = find_serving_environment(registry, target_namespace)
            record = find_registry_inference_service(registry, environment, name, live) if environment else None
            deleted = _delete(k8s, live, target_namespace, name, timeout)
            version, records = "", None
            if record:
                version, records = record_undeployment(
                    registry, record, namespace=target_namespace, name=name, deleted=deleted, context=context,
                    actor=lifecycle_run_actor(context, actor), reason=reason,
                    key=undeploy_key(context, target_namespace, name, str(record.get("modelVersionId") or "")),
                )  # fmt: skip
            return UndeployResult(name, target_namespace, deleted, version, records)


def _delete(k8s: KubeClient, live: Mapping[str, Any] | None, namespace: str, name: str, timeout_seconds: float) -> bool:
    """Delete the InferenceService and wait until it is gone; False when it did not exist."""
    if live is None or not delete_inference_service(k8s, namespace, name):
        log.info("InferenceService %s/%s does not exist", namespace, name)
        return False
    if not wait_until_deleted(k8s, namespace, name, timeout_seconds):
        raise KubernetesError(
            f"InferenceService {namespace}/{name} is still there {timeout_seconds:.0f}s after its"
            " deletion (a finalizer has not finished): check `kubectl describe isvc -n"
            f" {namespace} {name}`; the registry was not updated"
        )
    log.info("deleted InferenceService %s/%s", namespace, name)
    return True
