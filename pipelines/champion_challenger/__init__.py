"""Example pipeline: a challenger replaces the production model only when it wins the comparison."""

from kfp_model_lifecycle.pipelines.champion_challenger.pipeline import DEFAULT_GATES, champion_challenger_pipeline

__all__ = ["DEFAULT_GATES", "champion_challenger_pipeline"]
