"""compare_models: should a candidate model version replace the baseline? Gates, significance test, reports.

The component and its pipeline entry point; the code they run is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.compare_models.component import compare_models

__all__ = ["compare_models"]
