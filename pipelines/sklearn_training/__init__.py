"""Example pipeline: train a scikit-learn classifier, evaluate it and register it with its lineage."""

from kfp_model_lifecycle.pipelines.sklearn_training.pipeline import training_pipeline

__all__ = ["training_pipeline"]
