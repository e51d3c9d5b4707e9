"""Registry audit: verify_installation (fail fast) -> audit_registry (findings by severity, reports, counts).

Meant for a KFP recurring run, e.g. every night::

    import kfp

    client = kfp.Client(host="https://kubeflow.example.com/pipeline")
    experiment = client.create_experiment("registry-audit")
    client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name="nightly-registry-audit",
        pipeline_package_path="compiled/pipelines/registry_audit_pipeline.yaml",
        params={"registry_url": "http://model-registry-service.kubeflow.svc.cluster.local:8080"},
        cron_expression="0 0 3 * * *",  # KFP cron has a seconds field: 03:00 every day
        max_concurrency=1,
        no_catchup=True,
    )

(or the KFP UI: upload the pipeline, then *Create run* with run type *Recurring*). A run fails when the audit finds
something at least as severe as ``fail_on`` -- the failed run is the alert; the reports and counts are in the
run's outputs either way. The audit only reads: it checks ``write_probe=False`` and ``get`` on InferenceServices,
so a read-only service account can run it.
"""

from kfp import dsl

from kfp_model_lifecycle.components.audit_registry import audit_registry
from kfp_model_lifecycle.components.verify_installation import verify_installation

PIPELINE_NAME = "registry-audit"
READ_VERBS = ["get"]
"""The audit reads InferenceServices only."""


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Check the installation (registry v1 API, credentials, KServe, RBAC), then audit the Model Registry: production"
        " versions without the required approval, missing lineage, stale staging versions, aliases on archived"
        " versions, lifecycle properties out of sync with the audit trail, serving records that do not match the"
        " cluster. For a KFP recurring run."
    ),
)
def registry_audit_pipeline(
    registry_url: str = "",
    model_name: str = "",
    staging_max_days: int = 30,
    fail_on: str = "error",
    check_kubernetes: bool = True,
    namespace: str = "",
    token_secret_name: str = "",
):
    """Verify the installation, then audit the registry.

    Args:
        registry_url: Model Registry base URL with scheme and port; empty: the pods' ``KML_REGISTRY_URL``.
        model_name: Audit only this registered model; empty: every model.
        staging_max_days: Flag versions in staging for longer than this many days.
        fail_on: Fail the run on ``error`` findings, on any finding (``warning``), or ``never``.
        check_kubernetes: Check KServe and RBAC first, and compare DEPLOYED serving records with the cluster.
        namespace: Namespace of the RBAC and Secret checks; empty: the pipeline's.
        token_secret_name: The Secret deploying pipelines take the registry token from, to check it exists.
    """
    verify = verify_installation(
        registry_url=registry_url,
        write_probe=False,
        check_kubernetes=check_kubernetes,
        namespace=namespace,
        inference_service_verbs=READ_VERBS,
        token_secret_name=token_secret_name,
    )
    verify.set_display_name("verify the installation")
    audit = audit_registry(
        model_name=model_name,
        staging_max_days=staging_max_days,
        fail_on=fail_on,
        check_deployments=check_kubernetes,
        registry_url=registry_url,
    ).after(verify)
    audit.set_display_name("audit the registry")
