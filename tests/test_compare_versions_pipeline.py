"""The candidate_leaderboard pipeline end to end with KFP's local runner: ParallelFor, Collected, rank, promote."""

from pathlib import Path

import pytest

from kfp_model_lifecycle.client import connect_model_registry
from kfp_model_lifecycle.comparison.versions import property_value, version_metrics
from kfp_model_lifecycle.lifecycle import resolve_model_reference
from kfp_model_lifecycle.local.registry import EmbeddedRegistry
from kfp_model_lifecycle.pipelines import candidate_leaderboard_pipeline

CANDIDATES = [  # a weak, a strong and a middling candidate, in that order
    {"n_estimators": 1, "max_depth": 1},
    {"n_estimators": 60, "max_depth": 6},
    {"n_estimators": 3, "max_depth": 2},
]


@pytest.mark.slow
def test_the_best_candidate_goes_to_staging(local_runner: Path, registry: EmbeddedRegistry, unique: str) -> None:
    name = f"leaderboard-{unique}"
    candidate_leaderboard_pipeline(model_name=name, candidates=CANDIDATES, registry_url=registry.url)
    with connect_model_registry(registry.url) as conn:
        staging = resolve_model_reference(conn, f"{name}@staging", repair=False)
        model_id = str(staging.model["id"])
        versions = conn.list_all(
            "list versions", lambda api, token: api.get_registered_model_versions(model_id, next_page_token=token)
        )
    assert len(versions) == len(CANDIDATES)
    best = max(versions, key=lambda v: (version_metrics(v)["roc_auc"], version_metrics(v)["accuracy"]))
    assert staging.version["id"] == best["id"]
    assert property_value(best["customProperties"], "hp_n_estimators") == 60  # the strong candidate won
    reports = list(local_runner.glob("candidate-leaderboard-*/compare-versions/report_markdown"))
    markdown = max(reports, key=lambda p: p.stat().st_mtime).read_text()
    assert f"**Best: {staging.reference}**" in markdown
    assert markdown.count(f"| {name}:") == len(CANDIDATES) and "n\\_estimators=60" in markdown
