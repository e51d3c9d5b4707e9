"""The ``deploy_model`` and ``rollback_deployment`` components and their pipeline entry points.

Thin declarations: the signatures and docstrings are what KFP compiles into the YAML (inputs, outputs and their
descriptions); the bodies import ``kfp_model_lifecycle`` (installed in the pod at this package's own version, see
``components/_common/runtime.py``; it brings the plain ``kubernetes`` client, not the kserve SDK) and call
:mod:`kfp_model_lifecycle.deployment.tasks`. No ``from __future__ import annotations`` here: KFP reads the
components' annotations at runtime, and it understands ``Optional[...]`` but not ``X | None``.
"""

from typing import Any, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Artifact, Output

from kfp_model_lifecycle.components._common.runtime import component_kwargs, wire_run_context


@dsl.component(**component_kwargs())
def deploy_model(
    model_reference: str,
    manifest: Output[Artifact],
    inference_service_name: str = "",
    namespace: str = "",
    deployment_mode: str = "Serverless",
    storage_uri_mode: str = "artifact",
    runtime: str = "",
    protocol_version: str = "",
    resources: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    min_replicas: int = -1,
    max_replicas: int = -1,
    service_account_name: str = "",
    labels: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    annotations: Optional[dict] = None,  # noqa: UP045 - KFP parses Optional[...], not X | None
    canary_percent: int = 0,
    timeout_seconds: int = 600,
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
) -> NamedTuple(
    "DeployModelOutputs",
    [
        ("url", str),
        ("inference_service_name", str),
        ("namespace", str),
        ("version_name", str),
        ("previous_version", str),
    ],
):
    """Deploy a registered model version to KServe as an InferenceService: safe, recorded and reversible.

    Resolves the version in the Kubeflow Model Registry, builds a ``serving.kserve.io/v1beta1`` InferenceService
    (model format and storage URI from the version's model artifact; registry labels so the registry's controller
    can sync it), creates or patches it idempotently and waits until it is Ready for the new generation, failing
    fast on ``BlockedByFailedLoad``/``InvalidSpec``. In Serverless mode a canary percent sends that share of traffic
    to the new revision first and promotes it once Ready. If the new revision fails, the previous spec is restored
    automatically (the old version keeps serving) and the task fails with the reason. Every rollout is recorded in
    the registry (ServingEnvironment, InferenceService, ServeModel) and a success adds a ``deployment`` entry to
    the model's audit trail. Use ``deploy_model_with_context`` in a pipeline to wire the namespace, run and token.

    Args:
        model_reference: The version: ``name:VERSION``, ``name@ALIAS``, ``name@staging``, or ``name`` (the version
            in stage production).
        manifest: Output: the InferenceService manifest applied (see Returns).
        inference_service_name: InferenceService name; default derived from the model name (lower-case DNS label,
            shortened so ``<name>-predictor-<namespace>`` fits in 63 characters).
        namespace: Target namespace; default the pod's own (``POD_NAMESPACE``, else the service-account file).
        deployment_mode: ``Serverless`` (Knative; canary rollouts) or ``RawDeployment`` (plain Deployment).
        storage_uri_mode: ``artifact`` (the model artifact's URI) or ``model-registry``
            (``model-registry://<model>/<version>``, for clusters with the registry's storage initializer).
        runtime: ServingRuntime name, e.g. ``kserve-sklearnserver``; default KServe picks one for the format.
        protocol_version: ``v1``, ``v2`` or ``grpc-v2``; default the runtime's.
        resources: Predictor resources: ``requests`` and/or ``limits``, each mapping resource names to
            quantities, e.g. requests ``cpu: "1"``, ``memory: 2Gi``.
        min_replicas: Minimum replicas (0 allows scale to zero in Serverless mode); -1 (default): KServe's default.
            (An integer, not ``Optional[int]``: KFP's local runner cannot pass None to an integer input.)
        max_replicas: Maximum replicas; -1 (default): KServe's default.
        service_account_name: Service account of the predictor pods; default the model artifact's.
        labels: Extra labels for the InferenceService.
        annotations: Extra annotations for the InferenceService.
        canary_percent: 1..99: the new revision first gets this share of traffic and is promoted once Ready
            (Serverless only); 0 or 100: roll out at once.
        timeout_seconds: How long the rollout may take to become Ready (a rollback gets the same again).
        dry_run: Only write the manifest output (for GitOps); neither the cluster nor the registry is changed.
        reason: Why, recorded in the audit trail.
        actor: Who deploys; default ``kfp-run:<run name>``.
        registry_service_name: The registry's Kubernetes service name for the ``modelregistry.kubeflow.org/name``
            label; default read from ``registry_url`` (``<service>.<namespace>.svc...``).
        registry_namespace: The registry's namespace for the ``modelregistry.kubeflow.org/namespace`` label;
            default read from ``registry_url``.
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port, e.g.
            ``http://model-registry-service.kubeflow.svc.cluster.local:8080``; default env ``KML_REGISTRY_URL``.
            The token comes from env ``KML_REGISTRY_TOKEN`` (a Secret), else the service-account token (https).
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https (e.g. a mounted ConfigMap).

    Returns:
        manifest: The InferenceService manifest (YAML) that was applied, or would be in a dry run.
        url: The InferenceService URL ("" in a dry run).
        inference_service_name: The InferenceService name used.
        namespace: The namespace deployed to.
        version_name: The model version deployed, e.g. ``1.0.3``.
        previous_version: The version it replaced ("" when none or the same).
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.deployment.tasks import deploy_model_task

    return deploy_model_task(**arguments)


@dsl.component(**component_kwargs())
def rollback_deployment(
    manifest: Output[Artifact],
    model_name: str = "",
    inference_service_name: str = "",
    namespace: str = "",
    timeout_seconds: int = 600,
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
) -> NamedTuple(
    "RollbackDeploymentOutputs",
    [
        ("url", str),
        ("inference_service_name", str),
        ("namespace", str),
        ("version_name", str),
        ("previous_version", str),
    ],
):
    """Redeploy the previously deployed version of an InferenceService in one step.

    Reads the InferenceService's rollouts from the Model Registry, picks the newest earlier successful rollout of
    another version (versions already rolled back from are skipped, so repeated rollbacks walk further back) and
    applies its recorded manifest again, with the same safety as ``deploy_model``: wait until Ready, restore the
    current spec if the old one fails. Recorded as a rollout with ``rollback`` set and a ``deployment`` audit entry.

    Args:
        manifest: Output: the InferenceService manifest applied (see Returns).
        model_name: The registered model; with no ``inference_service_name``, the InferenceService name is derived
            from it as ``deploy_model`` does.
        inference_service_name: The InferenceService to roll back.
        namespace: Its namespace; default the pod's own (``POD_NAMESPACE``, else the service-account file).
        timeout_seconds: How long the rollback may take to become Ready.
        dry_run: Only find the version to go back to and write its manifest; change nothing.
        reason: Why, recorded in the audit trail.
        actor: Who; default ``kfp-run:<run name>``.
        run_id: KFP run id; pass ``dsl.PIPELINE_JOB_ID_PLACEHOLDER`` (the entry point does).
        run_name: KFP run name; pass ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER`` (the entry point does).
        pipeline_name: Name of the pipeline (the entry point fills it in).
        task_name: KFP task name; pass ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER`` (the entry point does).
        kfp_ui_url: Base URL of the KFP UI, to record a link to the run; default env ``KML_KFP_UI_URL``.
        registry_url: Model Registry base URL with scheme and port; default env ``KML_REGISTRY_URL``.
        verify_tls: Verify the registry's TLS certificate (https).
        ca_bundle_path: PEM file with the CA to trust for https.

    Returns:
        manifest: The InferenceService manifest (YAML) that was applied, or would be in a dry run.
        url: The InferenceService URL ("" in a dry run).
        inference_service_name: The InferenceService rolled back.
        namespace: Its namespace.
        version_name: The version deployed now.
        previous_version: The version it replaced.
    """
    arguments = dict(locals())
    from kfp_model_lifecycle.deployment.tasks import rollback_deployment_task

    return rollback_deployment_task(**arguments)


def deploy_model_with_context(
    model_reference: Any,
    *,
    inference_service_name: Any = "",
    namespace: Any = "",
    deployment_mode: Any = "Serverless",
    storage_uri_mode: Any = "artifact",
    runtime: Any = "",
    protocol_version: Any = "",
    resources: Any = None,
    min_replicas: Any = -1,
    max_replicas: Any = -1,
    service_account_name: Any = "",
    labels: Any = None,
    annotations: Any = None,
    canary_percent: Any = 0,
    timeout_seconds: Any = 600,
    dry_run: Any = False,
    reason: Any = "",
    actor: Any = "",
    registry_service_name: Any = "",
    registry_namespace: Any = "",
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add a ``deploy_model`` task to the pipeline being defined, with the namespace, run and token wired.

    Call it inside a ``@dsl.pipeline`` function. Through ``runtime.wire_run_context`` it passes the run
    placeholders (``dsl.PIPELINE_JOB_ID_PLACEHOLDER``, ``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``,
    ``dsl.PIPELINE_TASK_NAME_PLACEHOLDER``; the KFP backend substitutes them only in task arguments) and the
    pipeline's name, so every rollout record and audit entry names the run; exposes the pod's namespace as
    ``POD_NAMESPACE`` (``kfp.kubernetes.use_field_path_as_env``: the default target namespace) and, when
    ``token_secret_name`` is given, the registry token from that Secret as ``KML_REGISTRY_TOKEN``. The Kubernetes
    settings apply on a cluster; local runs ignore them (the namespace then comes from the kubeconfig). Every
    argument may be a constant or a pipeline parameter/task output; None leaves the component's default.

    Example::

        @dsl.pipeline(name="train-register-deploy")
        def pipeline(registry_url: str = "http://model-registry-service.kubeflow.svc.cluster.local:8080"):
            reg = register_model_with_lineage(train.outputs["model"], "iris", registry_url=registry_url)
            deploy_model_with_context(
                f"iris:{reg.outputs['version_name']}", canary_percent=10, registry_url=registry_url,
                resources={"requests": {"cpu": "1", "memory": "1Gi"}}, token_secret_name="model-registry-token",
            )

    Args:
        model_reference: ``name:VERSION``, ``name@ALIAS`` or ``name`` (the production version).
        inference_service_name: InferenceService name (default derived from the model name).
        namespace: Target namespace (default the pod's own).
        deployment_mode: ``Serverless`` or ``RawDeployment``.
        storage_uri_mode: ``artifact`` or ``model-registry``.
        runtime: ServingRuntime name.
        protocol_version: ``v1``, ``v2`` or ``grpc-v2``.
        resources: Predictor resources (dict).
        min_replicas: Minimum replicas (-1: KServe's default).
        max_replicas: Maximum replicas (-1: KServe's default).
        service_account_name: Predictor service account.
        labels: Extra labels (dict).
        annotations: Extra annotations (dict).
        canary_percent: 1..99 for a canary rollout (Serverless), else 0.
        timeout_seconds: Rollout bound.
        dry_run: Only write the manifest.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        registry_service_name: The registry's service name for the labels.
        registry_namespace: The registry's namespace for the labels.
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token (None: service-account token over https).
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``manifest``, ``url``, ``inference_service_name``, ``namespace``,
        ``version_name`` and ``previous_version``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
    """
    return wire_run_context(
        deploy_model,
        "deploy_model_with_context",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model_reference=model_reference,
        inference_service_name=inference_service_name,
        namespace=namespace,
        deployment_mode=deployment_mode,
        storage_uri_mode=storage_uri_mode,
        runtime=runtime,
        protocol_version=protocol_version,
        resources=resources,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        service_account_name=service_account_name,
        labels=labels,
        annotations=annotations,
        canary_percent=canary_percent,
        timeout_seconds=timeout_seconds,
        dry_run=dry_run,
        reason=reason,
        actor=actor,
        registry_service_name=registry_service_name,
        registry_namespace=registry_namespace,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )


def rollback_deployment_with_context(
    *,
    model_name: Any = "",
    inference_service_name: Any = "",
    namespace: Any = "",
    timeout_seconds: Any = 600,
    dry_run: Any = False,
    reason: Any = "",
    actor: Any = "",
    registry_url: Any = "",
    token_secret_name: Any = None,
    token_secret_key: str = "token",  # noqa: S107 - the key's name in the Secret
    verify_tls: Any = True,
    ca_bundle_path: Any = "",
    kfp_ui_url: Any = "",
) -> dsl.PipelineTask:
    """Add a ``rollback_deployment`` task to the pipeline being defined, with the namespace, run and token wired.

    Same wiring as :func:`deploy_model_with_context`. Call it inside a ``@dsl.pipeline`` function.

    Args:
        model_name: The registered model (derives the InferenceService name when that is not given).
        inference_service_name: The InferenceService to roll back.
        namespace: Its namespace (default the pod's own).
        timeout_seconds: Rollback bound.
        dry_run: Only write the manifest of the version to go back to.
        reason: Why (audit trail).
        actor: Who (default ``kfp-run:<run name>``).
        registry_url: Registry base URL (empty: the pod's ``KML_REGISTRY_URL``).
        token_secret_name: Kubernetes Secret holding the registry token.
        token_secret_key: Key of the token in that Secret.
        verify_tls: Verify the registry's TLS certificate.
        ca_bundle_path: PEM CA bundle path in the pod.
        kfp_ui_url: KFP UI base URL for the run link.

    Returns:
        The task; its outputs are ``manifest``, ``url``, ``inference_service_name``, ``namespace``,
        ``version_name`` and ``previous_version``.

    Raises:
        RuntimeError: When called outside a pipeline definition.
    """
    return wire_run_context(
        rollback_deployment,
        "rollback_deployment_with_context",
        token_secret_name=token_secret_name,
        token_secret_key=token_secret_key,
        model_name=model_name,
        inference_service_name=inference_service_name,
        namespace=namespace,
        timeout_seconds=timeout_seconds,
        dry_run=dry_run,
        reason=reason,
        actor=actor,
        kfp_ui_url=kfp_ui_url,
        registry_url=registry_url,
        verify_tls=verify_tls,
        ca_bundle_path=ca_bundle_path,
    )
