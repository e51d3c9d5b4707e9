"""KFP v2 components of the model lifecycle.

``kml compile`` writes ``compiled/components/<name>.yaml`` for every component exported here.
"""

from kfp_model_lifecycle.components.approve_model import approve_model, approve_model_with_context
from kfp_model_lifecycle.components.audit_registry import audit_registry
from kfp_model_lifecycle.components.compare_models import compare_models
from kfp_model_lifecycle.components.compare_versions import compare_versions
from kfp_model_lifecycle.components.deploy_model import (
    deploy_model,
    deploy_model_with_context,
    rollback_deployment,
    rollback_deployment_with_context,
)
from kfp_model_lifecycle.components.promote_model import promote_model, promote_model_with_context
from kfp_model_lifecycle.components.record_model_event import record_model_event, record_model_event_with_context
from kfp_model_lifecycle.components.register_model import register_model, register_model_with_lineage
from kfp_model_lifecycle.components.verify_installation import verify_installation

__all__ = [
    "approve_model",
    "approve_model_with_context",
    "audit_registry",
    "compare_models",
    "compare_versions",
    "deploy_model",
    "deploy_model_with_context",
    "promote_model",
    "promote_model_with_context",
    "record_model_event",
    "record_model_event_with_context",
    "register_model",
    "register_model_with_lineage",
    "rollback_deployment",
    "rollback_deployment_with_context",
    "verify_installation",
]
