"""approve_model: record an approval decision (approved, rejected, pending) for a model version.

``approve_model`` is the KFP component; ``approve_model_with_context`` adds it to a pipeline with the run
placeholders, namespace and registry token wired. The plain functions the pod runs live in
``kfp_model_lifecycle.components._common.lifecycle`` and are re-exported here for reuse.
"""

from kfp_model_lifecycle.components._common.lifecycle import approve_model_version, run_approve_model
from kfp_model_lifecycle.components.approve_model.component import approve_model, approve_model_with_context

__all__ = ["approve_model", "approve_model_version", "approve_model_with_context", "run_approve_model"]
