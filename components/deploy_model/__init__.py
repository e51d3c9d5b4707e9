"""deploy_model and rollback_deployment: deploy registered model versions to KServe, safely and recorded.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.deploy_model.component import (
    deploy_model,
    deploy_model_with_context,
    rollback_deployment,
    rollback_deployment_with_context,
)

__all__ = ["deploy_model", "deploy_model_with_context", "rollback_deployment", "rollback_deployment_with_context"]
