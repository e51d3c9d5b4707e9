"""Unit tests of the example pipeline's training steps (plain functions, no KFP)."""

from pathlib import Path

import joblib
import numpy as np
import pytest

from kfp_model_lifecycle.pipelines.sklearn_training.steps import (
    evaluate_classifier,
    read_csv_dataset,
    split_breast_cancer_data,
    train_random_forest,
)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    d = tmp_path_factory.mktemp("data")
    info = split_breast_cancer_data(str(d / "train.csv"), str(d / "test.csv"), 0.25, 7)
    return d / "train.csv", d / "test.csv", info


def test_split_writes_stratified_csv_with_header(split):
    train, test, info = split
    x_train, y_train, features = read_csv_dataset(str(train))
    _, y_test, _ = read_csv_dataset(str(test))
    assert len(features) == 30 and x_train.shape[1] == 30
    assert info["train_rows"] == len(y_train) == 426 and info["test_rows"] == len(y_test) == 143
    assert abs(y_train.mean() - y_test.mean()) < 0.02  # stratified
    assert train.read_text().splitlines()[0].endswith(",target")


def test_split_is_reproducible(tmp_path, split):
    train, _, _ = split
    split_breast_cancer_data(str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), 0.25, 7)
    assert (tmp_path / "a.csv").read_bytes() == train.read_bytes()


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1])
def test_split_rejects_bad_test_size(tmp_path, bad):
    with pytest.raises(ValueError, match="test_size"):
        split_breast_cancer_data(str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), bad, 1)


def test_train_saves_model_joblib_for_kserve(tmp_path, split):
    train, _, _ = split
    info = train_random_forest(str(train), str(tmp_path / "model"), 20, 3, 1)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.joblib"]
    clf = joblib.load(tmp_path / "model" / "model.joblib")
    assert clf.n_estimators == 20 and clf.max_depth == 3
    assert info["framework"] == "sklearn" and info["hyperparameters"] == {
        "n_estimators": 20,
        "max_depth": 3,
        "random_state": 1,
    }
    assert 0.9 < info["train_accuracy"] <= 1.0


@pytest.mark.parametrize(("n_estimators", "max_depth", "match"), [(0, 3, "n_estimators"), (5, -1, "max_depth")])
def test_train_rejects_bad_hyperparameters(tmp_path, split, n_estimators, max_depth, match):
    with pytest.raises(ValueError, match=match):
        train_random_forest(str(split[0]), str(tmp_path / "m"), n_estimators, max_depth, 1)


def test_evaluate_reports_consistent_metrics(tmp_path, split):
    train, test, _ = split
    train_random_forest(str(train), str(tmp_path / "model"), 30, 4, 1)
    result = evaluate_classifier(str(test), str(tmp_path / "model"), str(tmp_path / "pred.csv"))
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    assert tn + fp + fn + tp == result["n"] == 143
    assert result["scalars"]["accuracy"] == pytest.approx((tp + tn) / 143, abs=1e-6)
    assert result["scalars"]["recall"] == pytest.approx(tp / (tp + fn), abs=1e-6)
    assert result["scalars"]["accuracy"] > 0.9 and result["scalars"]["roc_auc"] > 0.95
    roc = result["roc"]
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert all(np.isfinite(roc["thresholds"])) and max(roc["thresholds"]) <= 1.0
    rows = np.loadtxt(tmp_path / "pred.csv", delimiter=",", skiprows=1)
    assert rows.shape == (143, 3)
    assert (rows[:, 0] == rows[:, 1]).mean() == pytest.approx(result["scalars"]["accuracy"], abs=1e-6)


def test_evaluate_explains_missing_model(tmp_path, split):
    with pytest.raises(FileNotFoundError, match=r"model\.joblib"):
        evaluate_classifier(str(split[1]), str(tmp_path / "nothing"), str(tmp_path / "p.csv"))
