"""The example training pipeline: load data -> train -> evaluate -> register with lineage."""

from kfp import dsl

from kfp_model_lifecycle.components.register_model import register_model_with_lineage
from kfp_model_lifecycle.pipelines.sklearn_training.steps import evaluate_model, load_data, train_model

PIPELINE_NAME = "sklearn-training"


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Train a scikit-learn random forest on the breast-cancer data set shipped with scikit-learn, evaluate it "
        "(metrics, confusion matrix, ROC curve) and register it in the Kubeflow Model Registry with its lineage."
    ),
)
def training_pipeline(
    model_name: str = "breast-cancer-classifier",
    n_estimators: int = 100,
    max_depth: int = 5,
    test_size: float = 0.25,
    random_state: int = 42,
    version: str = "patch",
    code_version: str = "",
    registry_url: str = "",
    kfp_ui_url: str = "",
):
    """Train, evaluate and register a classifier; every registered version records where it came from.

    Args:
        model_name: Name of the registered model in the Model Registry (a new version is added per run).
        n_estimators: Number of trees in the random forest.
        max_depth: Maximum depth of each tree; 0 means unlimited.
        test_size: Fraction of the data held out for evaluation (0 < test_size < 1).
        random_state: Seed for the data split and the forest, for reproducible runs.
        version: Version name to register, or ``patch``/``minor``/``major`` to bump the highest SemVer version
            (the first version is ``1.0.0``).
        code_version: Git commit (or tag) of the training code; empty: taken from the usual CI variables.
        registry_url: Model Registry base URL with scheme and port, e.g.
            ``http://model-registry-service.kubeflow.svc.cluster.local:8080``; empty: the pod's
            ``KML_REGISTRY_URL`` environment variable.
        kfp_ui_url: Base URL of the KFP UI (e.g. ``https://kubeflow.example.com/pipeline``); when set, each
            version links to the run that produced it.
    """
    data = load_data(test_size=test_size, random_state=random_state)
    data.set_display_name("load and split data")
    train = train_model(
        train=data.outputs["train"], n_estimators=n_estimators, max_depth=max_depth, random_state=random_state
    )
    train.set_display_name("train random forest")
    evaluation = evaluate_model(test=data.outputs["test"], model=train.outputs["model"])
    evaluation.set_display_name("evaluate")
    register = register_model_with_lineage(
        train.outputs["model"],
        model_name,
        version=version,
        metrics=evaluation.outputs["metrics"],
        datasets={"train": data.outputs["train"], "test": data.outputs["test"]},
        hyperparameters={
            "n_estimators": n_estimators,
            "max_depth": max_depth,
            "random_state": random_state,
            "test_size": test_size,
        },
        code_version=code_version,
        registry_url=registry_url,
        kfp_ui_url=kfp_ui_url,
    )
    register.set_display_name("register model")
