"""promote_model: move a model version through lifecycle stages and aliases, with an audit trail.

``promote_model`` is the KFP component; ``promote_model_with_context`` adds it to a pipeline with the run
placeholders, namespace and registry token wired. The plain functions the pod runs live in
``kfp_model_lifecycle.components._common.lifecycle`` and are re-exported here for reuse.
"""

from kfp_model_lifecycle.components._common.lifecycle import (
    lifecycle_history,
    promote_model_version,
    resolve_model_reference,
    run_promote_model,
    set_lifecycle_policy,
)
from kfp_model_lifecycle.components.promote_model.component import promote_model, promote_model_with_context

__all__ = [
    "lifecycle_history",
    "promote_model",
    "promote_model_version",
    "promote_model_with_context",
    "resolve_model_reference",
    "run_promote_model",
    "set_lifecycle_policy",
]
