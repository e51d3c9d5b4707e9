"""promote_model: move a model version through stages and aliases, with an audit trail.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.promote_model.component import promote_model, promote_model_with_context

__all__ = ["promote_model", "promote_model_with_context"]
