"""approve_model: record an approval decision (approved, rejected, pending) for a model version.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.approve_model.component import approve_model, approve_model_with_context

__all__ = ["approve_model", "approve_model_with_context"]
