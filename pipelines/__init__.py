"""Example pipelines composed of the lifecycle components.

``kml compile`` writes ``compiled/pipelines/<name>.yaml`` for every pipeline exported here.
"""

from kfp_model_lifecycle.pipelines.sklearn_training import training_pipeline as sklearn_training_pipeline

__all__ = ["sklearn_training_pipeline"]
