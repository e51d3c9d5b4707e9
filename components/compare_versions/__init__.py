"""compare_versions: a leaderboard of model versions ranked on chosen metrics, with reports and the best version.

The component; the code it runs is in the ``kfp_model_lifecycle`` package.
"""

from kfp_model_lifecycle.components.compare_versions.component import compare_versions

__all__ = ["compare_versions"]
