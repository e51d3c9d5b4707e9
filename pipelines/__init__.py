"""Example pipelines composed of the lifecycle components.

``kml compile`` writes ``compiled/pipelines/<name>.yaml`` for every pipeline exported here.
"""

from kfp_model_lifecycle.pipelines.candidate_leaderboard import candidate_leaderboard_pipeline
from kfp_model_lifecycle.pipelines.champion_challenger import champion_challenger_pipeline
from kfp_model_lifecycle.pipelines.registry_audit import registry_audit_pipeline
from kfp_model_lifecycle.pipelines.sklearn_training import training_pipeline as sklearn_training_pipeline

__all__ = [
    "candidate_leaderboard_pipeline",
    "champion_challenger_pipeline",
    "registry_audit_pipeline",
    "sklearn_training_pipeline",
]
