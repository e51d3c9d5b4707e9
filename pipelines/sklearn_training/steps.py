"""The training steps of the example pipeline: load and split data, train, evaluate.

A scikit-learn classifier on the breast-cancer data set that ships inside scikit-learn (no downloads).
Each step is a KFP v2 lightweight component whose body calls a plain function defined here (embedded into
the component with ``additional_funcs``), so tests call the functions directly.
"""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from kfp_model_lifecycle.components._common.runtime import JOBLIB, SCIKIT_LEARN, example_component_kwargs


def split_breast_cancer_data(train_path: str, test_path: str, test_size: float, random_state: int) -> dict:
    """Load scikit-learn's breast-cancer data set and write a stratified train/test split as CSV files.

    Args:
        train_path: Where to write the training rows (CSV with a header; the last column is ``target``).
        test_path: Where to write the test rows (same format).
        test_size: Fraction of rows held out for testing, strictly between 0 and 1.
        random_state: Seed of the split.

    Returns:
        Metadata about the split: source, feature names, row counts and class balance.
    """
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size={test_size!r}: expected a fraction strictly between 0 and 1, e.g. 0.25")
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=float(test_size), random_state=int(random_state), stratify=data.target
    )
    columns = [str(n).replace(" ", "_") for n in data.feature_names] + ["target"]
    header = ",".join(columns)
    for path, x, y in ((train_path, x_train, y_train), (test_path, x_test, y_test)):
        rows = np.column_stack([x, y])
        np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.10g")
    return {
        "source": "sklearn.datasets.load_breast_cancer",
        "features": columns[:-1],
        "target": "target",
        "classes": [str(c) for c in data.target_names],
        "train_rows": len(y_train),
        "test_rows": len(y_test),
        "train_positive_fraction": round(float(np.mean(y_train)), 4),
    }


def read_csv_dataset(path: str) -> tuple:
    """Read a CSV written by :func:`split_breast_cancer_data`: returns (features, target, feature_names)."""
    import numpy as np

    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return rows[:, :-1], rows[:, -1].astype(int), header[:-1]


def train_random_forest(train_path: str, model_dir: str, n_estimators: int, max_depth: int, random_state: int) -> dict:
    """Train a random-forest classifier and save it the way KServe's sklearn runtime loads it.

    Args:
        train_path: Training CSV from :func:`split_breast_cancer_data`.
        model_dir: Directory to create; the model is saved as ``<model_dir>/model.joblib``.
        n_estimators: Number of trees (>= 1).
        max_depth: Maximum tree depth; 0 means unlimited.
        random_state: Seed of the forest.

    Returns:
        Model metadata: framework, framework version, hyperparameters and training accuracy.
    """
    import os

    import joblib
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    if int(n_estimators) < 1:
        raise ValueError(f"n_estimators={n_estimators!r}: expected at least 1 tree")
    if int(max_depth) < 0:
        raise ValueError(f"max_depth={max_depth!r}: expected 0 (unlimited) or a positive depth")
    x, y, features = read_csv_dataset(train_path)
    hyperparameters = {
        "n_estimators": int(n_estimators),
        "max_depth": int(max_depth),
        "random_state": int(random_state),
    }
    clf = RandomForestClassifier(
        n_estimators=int(n_estimators),
        max_depth=int(max_depth) or None,
        random_state=int(random_state),
        n_jobs=1,
    )
    clf.fit(x, y)
    os.makedirs(model_dir, exist_ok=True)
    joblib.dump(clf, os.path.join(model_dir, "model.joblib"))
    return {
        "framework": "sklearn",
        "framework_version": sklearn.__version__,
        "model_class": "sklearn.ensemble.RandomForestClassifier",
        "hyperparameters": hyperparameters,
        "n_features": len(features),
        "train_accuracy": round(float(clf.score(x, y)), 6),
    }


def evaluate_classifier(test_path: str, model_dir: str, predictions_path: str) -> dict:
    """Evaluate a saved binary classifier on the test CSV.

    Args:
        test_path: Test CSV from :func:`split_breast_cancer_data`.
        model_dir: Directory holding ``model.joblib``.
        predictions_path: Where to write per-example ``label,prediction,score`` rows (CSV with a header),
            used later for paired significance tests between model versions.

    Returns:
        ``scalars`` (accuracy, precision, recall, f1, roc_auc), ``confusion_matrix`` (rows = true class),
        ``roc`` (fpr, tpr, thresholds, all finite) and ``n`` (test rows).
    """
    import os

    import joblib
    import numpy as np
    from sklearn import metrics as skm

    model_file = os.path.join(model_dir, "model.joblib")
    if not os.path.exists(model_file):
        raise FileNotFoundError(f"{model_file} not found: the model input must be a directory with model.joblib")
    clf = joblib.load(model_file)
    x, y, _ = read_csv_dataset(test_path)
    predicted = clf.predict(x).astype(int)
    score = clf.predict_proba(x)[:, 1]
    np.savetxt(
        predictions_path,
        np.column_stack([y, predicted, score]),
        delimiter=",",
        header="label,prediction,score",
        comments="",
        fmt=["%d", "%d", "%.6f"],
    )
    fpr, tpr, thresholds = skm.roc_curve(y, score)
    thresholds = np.minimum(thresholds, 1.0)  # the first threshold is +inf, which JSON metadata cannot hold
    scalars = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, score)),
    }
    return {
        "scalars": {k: round(v, 6) for k, v in scalars.items()},
        "confusion_matrix": skm.confusion_matrix(y, predicted, labels=[0, 1]).tolist(),
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist()},
        "n": len(y),
    }


@dsl.component(**example_component_kwargs(SCIKIT_LEARN), additional_funcs=[split_breast_cancer_data])
def load_data(train: Output[Dataset], test: Output[Dataset], test_size: float = 0.25, random_state: int = 42):
    """Load the breast-cancer data set shipped with scikit-learn and split it into train and test sets.

    Args:
        test_size: Fraction of rows held out for testing (0 < test_size < 1).
        random_state: Seed of the stratified split, for reproducible data.

    Returns:
        train: Training rows as CSV (header; the last column is ``target``).
        test: Held-out rows, same format.
    """
    info = split_breast_cancer_data(train.path, test.path, test_size, random_state)
    for artifact, rows in ((train, info["train_rows"]), (test, info["test_rows"])):
        artifact.metadata.update({"source": info["source"], "rows": rows, "format": "csv", "target": "target"})
    print(f"split {info['train_rows']} training / {info['test_rows']} test rows from {info['source']}")


@dsl.component(
    **example_component_kwargs(SCIKIT_LEARN, JOBLIB), additional_funcs=[read_csv_dataset, train_random_forest]
)
def train_model(
    train: Input[Dataset], model: Output[Model], n_estimators: int = 100, max_depth: int = 5, random_state: int = 42
):
    """Train a random-forest classifier; saved as ``model.joblib`` in the model directory (KServe sklearn layout).

    Args:
        train: Training data from ``load_data``.
        n_estimators: Number of trees in the forest.
        max_depth: Maximum depth of each tree; 0 means unlimited.
        random_state: Seed of the forest, for reproducible models.

    Returns:
        model: The trained model: a directory with ``model.joblib``; metadata carries ``framework``,
            ``framework_version`` and the hyperparameters.
    """
    info = train_random_forest(train.path, model.path, n_estimators, max_depth, random_state)
    model.metadata.update(info)
    print(f"trained {info['model_class']} {info['hyperparameters']} (train accuracy {info['train_accuracy']})")


@dsl.component(
    **example_component_kwargs(SCIKIT_LEARN, JOBLIB), additional_funcs=[read_csv_dataset, evaluate_classifier]
)
def evaluate_model(
    test: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    predictions: Output[Dataset],
):
    """Evaluate the model on the test set; the KFP UI renders the metrics, confusion matrix and ROC curve.

    Args:
        test: Test data from ``load_data``.
        model: The trained model from ``train_model``.

    Returns:
        metrics: Scalar metrics: accuracy, precision, recall, f1, roc_auc.
        classification_metrics: Confusion matrix and ROC curve.
        predictions: Per-example ``label,prediction,score`` CSV (for paired significance tests).
    """
    result = evaluate_classifier(test.path, model.path, predictions.path)
    for name, value in result["scalars"].items():
        metrics.log_metric(name, value)
    classification_metrics.log_confusion_matrix(["malignant", "benign"], result["confusion_matrix"])
    roc = result["roc"]
    classification_metrics.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
    predictions.metadata.update({"rows": result["n"], "format": "csv", "columns": ["label", "prediction", "score"]})
    print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in result["scalars"].items()))
