"""deploy_model: deploy a registered model version to KServe safely, on the record, and reversibly.

``deploy_model`` and ``rollback_deployment`` are the KFP components; ``deploy_model_with_context`` and
``rollback_deployment_with_context`` add them to a pipeline with the namespace, run placeholders and registry token
wired. The plain functions the pods run live in :mod:`.deployment` and are re-exported here for reuse.
"""

from kfp_model_lifecycle.components.deploy_model.component import (
    deploy_model,
    deploy_model_with_context,
    rollback_deployment,
    rollback_deployment_with_context,
)
from kfp_model_lifecycle.components.deploy_model.deployment import (
    build_inference_service_manifest,
    list_model_deployments,
    run_deploy_model,
    run_rollback_deployment,
    run_undeploy_model,
    sanitize_inference_service_name,
)

__all__ = [
    "build_inference_service_manifest",
    "deploy_model",
    "deploy_model_with_context",
    "list_model_deployments",
    "rollback_deployment",
    "rollback_deployment_with_context",
    "run_deploy_model",
    "run_rollback_deployment",
    "run_undeploy_model",
    "sanitize_inference_service_name",
]
