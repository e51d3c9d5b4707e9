"""Candidate leaderboard: train N candidates in a ParallelFor -> register each -> rank them -> promote the best.

Every candidate is trained on the same split and evaluated on the same test rows, registered with its lineage and
hyperparameters (recorded by train_model in the model's metadata); ``dsl.Collected`` gathers the registered
version ids after the loop, ``compare_versions`` ranks them on the chosen metrics (a leaderboard report in the KFP
UI) and the best one is promoted to ``staging`` with the leaderboard as evidence, for a person to approve for
production.
"""

from typing import Any

from kfp import dsl

from kfp_model_lifecycle.components.compare_versions import compare_versions
from kfp_model_lifecycle.components.promote_model import promote_model_with_context
from kfp_model_lifecycle.components.register_model import register_model_with_lineage
from kfp_model_lifecycle.pipelines.sklearn_training.steps import evaluate_model, load_data, train_model

PIPELINE_NAME = "candidate-leaderboard"

DEFAULT_CANDIDATES = [
    {"n_estimators": 3, "max_depth": 1},
    {"n_estimators": 25, "max_depth": 3},
    {"n_estimators": 150, "max_depth": 8},
]
"""Hyperparameter settings, one candidate each."""

DEFAULT_METRICS = ["roc_auc", "accuracy"]
"""Rank on roc_auc, ties broken by accuracy (both higher is better)."""


def _train_and_register(
    data: dsl.PipelineTask,
    candidate: Any,
    model_name: Any,
    random_state: Any,
    code_version: Any,
    registry_url: Any,
    kfp_ui_url: Any,
) -> dsl.PipelineTask:
    """One candidate's tasks inside the loop: train, evaluate, register with lineage; returns the registration."""
    train = train_model(
        train=data.outputs["train"],
        n_estimators=candidate.n_estimators,
        max_depth=candidate.max_depth,
        random_state=random_state,
    )
    train.set_display_name("train candidate")
    evaluation = evaluate_model(test=data.outputs["test"], model=train.outputs["model"])
    evaluation.set_display_name("evaluate candidate")
    # The hyperparameters come from the model's metadata (train_model records them there): a dict holding loop
    # item fields is not resolved by KFP's local runner.
    register = register_model_with_lineage(
        train.outputs["model"],
        model_name,
        metrics=evaluation.outputs["metrics"],
        datasets={"train": data.outputs["train"], "test": data.outputs["test"]},
        code_version=code_version,
        registry_url=registry_url,
        kfp_ui_url=kfp_ui_url,
    )
    register.set_display_name("register candidate")
    return register


def _rank_and_promote(
    version_ids: Any, metrics: Any, promote_to: Any, registry_url: Any, kfp_ui_url: Any
) -> dsl.PipelineTask:
    """After the loop: rank the registered candidates and promote the best; returns the ranking task."""
    rank = compare_versions(version_ids=version_ids, metrics=metrics, registry_url=registry_url)
    rank.set_display_name("rank candidates")
    promote = promote_model_with_context(
        rank.outputs["best"],
        stage=promote_to,
        reason=rank.outputs["reason"],
        evidence_uri=rank.outputs["report_uri"],
        registry_url=registry_url,
        kfp_ui_url=kfp_ui_url,
    )
    promote.set_display_name("promote the best candidate")
    return rank


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Train several scikit-learn candidates in parallel (one per hyperparameter setting), register each with its "
        "lineage, rank them on a leaderboard (compare_versions) and promote the best one to staging."
    ),
)
def candidate_leaderboard_pipeline(
    model_name: str = "breast-cancer-classifier",
    candidates: list = DEFAULT_CANDIDATES,
    metrics: list = DEFAULT_METRICS,
    test_size: float = 0.25,
    random_state: int = 42,
    promote_to: str = "staging",
    code_version: str = "",
    registry_url: str = "",
    kfp_ui_url: str = "",
):
    """Train one candidate per hyperparameter setting, rank them all, and promote the best.

    Args:
        model_name: Registered model name; each candidate becomes a version.
        candidates: Hyperparameter settings, one candidate each: ``[{"n_estimators": 50, "max_depth": 4}, ...]``
            (``max_depth`` 0 means unlimited).
        metrics: Metrics to rank on, in order (``-name`` for lower is better), e.g. ``["roc_auc", "accuracy"]``.
        test_size: Fraction of the data held out for evaluation (0 < test_size < 1); the same split for every
            candidate.
        random_state: Seed for the data split and the forests.
        promote_to: Stage the best candidate goes to: ``staging`` (for a person to approve for production) or
            ``production``.
        code_version: Git commit (or tag) of the training code; empty: taken from the usual CI variables.
        registry_url: Model Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        kfp_ui_url: Base URL of the KFP UI, to link versions and audit entries to this run.
    """
    data = load_data(test_size=test_size, random_state=random_state)
    data.set_display_name("load and split data")
    with dsl.ParallelFor(candidates, name="candidates") as candidate:
        register = _train_and_register(
            data, candidate, model_name, random_state, code_version, registry_url, kfp_ui_url
        )
    _rank_and_promote(dsl.Collected(register.outputs["version_id"]), metrics, promote_to, registry_url, kfp_ui_url)
