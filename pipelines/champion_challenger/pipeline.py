"""Champion/challenger: train -> evaluate -> register -> compare with production -> promote or record the rejection."""

from typing import Any

from kfp import dsl

from kfp_model_lifecycle.components.compare_models import compare_models
from kfp_model_lifecycle.components.deploy_model import deploy_model_with_context
from kfp_model_lifecycle.components.promote_model import promote_model_with_context
from kfp_model_lifecycle.components.record_model_event import record_model_event_with_context
from kfp_model_lifecycle.components.register_model import register_model_with_lineage
from kfp_model_lifecycle.pipelines.sklearn_training.steps import evaluate_model, load_data, train_model

PIPELINE_NAME = "champion-challenger"

DEFAULT_GATES = [
    # The first gate's metric is the one the paired significance test checks (bootstrap for roc_auc).
    {"metric": "roc_auc", "higher_is_better": True, "threshold": 0.85, "min_absolute_change": 0.002},
    {"metric": "accuracy", "higher_is_better": True, "threshold": 0.9},
]


def _train_evaluate_register(
    model_name: Any,
    n_estimators: Any,
    max_depth: Any,
    test_size: Any,
    random_state: Any,
    code_version: Any,
    registry_url: Any,
    kfp_ui_url: Any,
) -> tuple[dsl.PipelineTask, dsl.PipelineTask]:
    """The challenger's tasks: load and split, train, evaluate, register with lineage (inside the pipeline)."""
    data = load_data(test_size=test_size, random_state=random_state)
    data.set_display_name("load and split data")
    train = train_model(
        train=data.outputs["train"], n_estimators=n_estimators, max_depth=max_depth, random_state=random_state
    )
    train.set_display_name("train challenger")
    evaluation = evaluate_model(test=data.outputs["test"], model=train.outputs["model"])
    evaluation.set_display_name("evaluate")
    register = register_model_with_lineage(
        train.outputs["model"],
        model_name,
        metrics=evaluation.outputs["metrics"],
        datasets={"train": data.outputs["train"], "test": data.outputs["test"]},
        hyperparameters={"n_estimators": n_estimators, "max_depth": max_depth, "random_state": random_state},
        code_version=code_version,
        registry_url=registry_url,
        kfp_ui_url=kfp_ui_url,
    )
    register.set_display_name("register challenger")
    return register, evaluation


def _promote_and_maybe_deploy(
    compare: dsl.PipelineTask,
    promote_to: Any,
    deploy: Any,
    inference_service_name: Any,
    canary_percent: Any,
    registry_url: Any,
    kfp_ui_url: Any,
) -> None:
    """The winner's tasks: promote it (alias ``champion``) and, with ``deploy``, roll it out to KServe."""
    promote = promote_model_with_context(
        compare.outputs["winner"],
        stage=promote_to,
        aliases=["champion"],
        reason=compare.outputs["reason"],
        evidence_uri=compare.outputs["report_uri"],
        registry_url=registry_url,
        kfp_ui_url=kfp_ui_url,
    )
    promote.set_display_name("promote challenger")
    with dsl.If(deploy == True, name="deploy-winner"):  # noqa: E712 - a KFP condition
        rollout = deploy_model_with_context(
            compare.outputs["winner"],
            inference_service_name=inference_service_name,
            canary_percent=canary_percent,
            reason=compare.outputs["reason"],
            registry_url=registry_url,
            kfp_ui_url=kfp_ui_url,
        )
        rollout.after(promote)
        rollout.set_display_name("deploy to KServe")


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Train a challenger, register it with its lineage, compare it with the production model (metric gates and a "
        "paired significance test) and promote it when it wins, or record the rejection with the comparison report."
    ),
)
def champion_challenger_pipeline(
    model_name: str = "breast-cancer-classifier",
    n_estimators: int = 100,
    max_depth: int = 5,
    test_size: float = 0.25,
    random_state: int = 42,
    gates: list = DEFAULT_GATES,
    significance_level: float = 0.05,
    promote_to: str = "production",
    deploy: bool = False,
    inference_service_name: str = "",
    canary_percent: int = 0,
    code_version: str = "",
    registry_url: str = "",
    kfp_ui_url: str = "",
):
    """Train a challenger and let it replace the production model only when it is better.

    Args:
        model_name: Registered model name; each run adds a version.
        n_estimators: Number of trees in the random forest.
        max_depth: Maximum depth of each tree; 0 means unlimited.
        test_size: Fraction of the data held out for evaluation (0 < test_size < 1).
        random_state: Seed for the data split and the forest.
        gates: Metric gates (MLflow MetricThreshold semantics): a list of ``{"metric", "higher_is_better",
            "threshold", "min_absolute_change", "min_relative_change"}``; all must pass. The first gate's metric
            is also tested for significance on the per-example predictions of both versions.
        significance_level: Significance level of the paired test (e.g. 0.05).
        promote_to: Stage a winning challenger goes to: ``production`` (replaces the champion, which is archived)
            or ``staging`` (for a human to approve and promote).
        deploy: Also deploy a winning challenger to KServe (in the run's namespace), with automatic rollback when
            the new revision fails.
        inference_service_name: Name of the InferenceService; empty: derived from the model name.
        canary_percent: Serverless canary: send this percent of traffic to the new revision first, then promote it
            once it is Ready (0: switch at once).
        code_version: Git commit (or tag) of the training code; empty: taken from the usual CI variables.
        registry_url: Model Registry base URL with scheme and port; empty: the pod's ``KML_REGISTRY_URL``.
        kfp_ui_url: Base URL of the KFP UI, to link versions and audit entries to this run.
    """
    register, evaluation = _train_evaluate_register(
        model_name, n_estimators, max_depth, test_size, random_state, code_version, registry_url, kfp_ui_url
    )
    compare = compare_models(
        candidate_model=register.outputs["registered_model"],
        candidate_metrics=evaluation.outputs["metrics"],
        candidate_predictions=evaluation.outputs["predictions"],
        gates=gates,
        baseline="production",
        model_name=model_name,
        significance_level=significance_level,
        registry_url=registry_url,
    )
    compare.set_display_name("compare with production")
    with dsl.If(compare.outputs["Output"] == True, name="challenger-wins"):  # noqa: E712 - a KFP condition
        _promote_and_maybe_deploy(
            compare, promote_to, deploy, inference_service_name, canary_percent, registry_url, kfp_ui_url
        )
    with dsl.Else(name="champion-stays"):
        reject = record_model_event_with_context(
            model_name,
            version=register.outputs["version_name"],
            event_type="rejection",
            reason=compare.outputs["reason"],
            evidence_uri=compare.outputs["report_uri"],
            registry_url=registry_url,
            kfp_ui_url=kfp_ui_url,
        )
        reject.set_display_name("record rejection")
