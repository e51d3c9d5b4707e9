"""register_model: register a trained model in the Kubeflow Model Registry with its lineage.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.register_model.component import register_model, register_model_with_lineage

__all__ = ["register_model", "register_model_with_lineage"]
