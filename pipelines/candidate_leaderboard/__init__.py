"""Example pipeline: train several candidates in parallel, rank them on a leaderboard, promote the best to staging."""

from kfp_model_lifecycle.pipelines.candidate_leaderboard.pipeline import (
    DEFAULT_CANDIDATES,
    DEFAULT_METRICS,
    candidate_leaderboard_pipeline,
)

__all__ = ["DEFAULT_CANDIDATES", "DEFAULT_METRICS", "candidate_leaderboard_pipeline"]
