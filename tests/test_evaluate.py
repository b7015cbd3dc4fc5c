"""tracklite.evaluate: default metrics against scikit-learn, baselines, thresholds, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from sklearn import metrics as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from tracklite.errors import InvalidParameterValue, TrackliteError
from tracklite.models import (
    MetricThreshold,
    ModelValidationFailedException,
    evaluate,
    make_metric,
    validate_evaluation_results,
)

PROGRAM = """\
import tracklite as mlflow, tracklite.sklearn
from sklearn.dummy import DummyClassifier
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.ensemble import RandomForestClassifier

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake
data = load_iris()
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2, random_state=42)
model = RandomForestClassifier().fit(X_train, y_train)
baseline_model = DummyClassifier(strategy="most_frequent").fit(X_train, y_train)
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(model, artifact_path="model")
    mlflow.sklearn.log_model(baseline_model, artifact_path="baseline_model")
    result = mlflow.evaluate(model=model, data=(X_test, y_test), targets="y_true", model_type="classifier",
                             baseline_model=baseline_model,
                             evaluator_config={"metric_prefix": "eval_", "log_model_explainability": True})
    print("Model metrics:", result.metrics)
    print("Baseline metrics:", result.baseline_model_metrics)
"""


@pytest.fixture
def binary() -> tuple[Any, np.ndarray, Any]:
    x, y = load_breast_cancer(return_X_y=True)
    x, y = x[:200, :5], y[:200]
    return LogisticRegression(max_iter=2000).fit(x, y), x, y


def test_binary_metrics_equal_sklearn(store_path: str, binary: tuple[Any, np.ndarray, Any]) -> None:
    model, x, y = binary
    w = np.linspace(0.5, 2, len(y))
    for weights in (None, w):
        config = {} if weights is None else {"sample_weights": weights}
        got = evaluate(model, (x, y), model_type="classifier", evaluator_config=config).metrics
        pred, proba = model.predict(x), model.predict_proba(x)
        tn, fp, fn, tp = sk.confusion_matrix(y, pred, sample_weight=weights).ravel()
        want = {
            "example_count": len(y),
            "accuracy_score": sk.accuracy_score(y, pred, sample_weight=weights),
            "precision_score": sk.precision_score(y, pred, sample_weight=weights),
            "recall_score": sk.recall_score(y, pred, sample_weight=weights),
            "f1_score": sk.f1_score(y, pred, sample_weight=weights),
            "log_loss": sk.log_loss(y, proba, sample_weight=weights),
            "roc_auc": sk.roc_auc_score(y, proba[:, 1], sample_weight=weights),
            "true_negatives": tn,
            "false_positives": fp,
            "false_negatives": fn,
            "true_positives": tp,
            "precision_recall_auc": sk.average_precision_score(y, proba[:, 1], sample_weight=weights),
            "score": model.score(x, y, sample_weight=weights),
        }
        assert got == pytest.approx(want)


def test_multiclass_metrics_equal_sklearn(store_path: str) -> None:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=50).fit(x[:, :2], y)
    got = evaluate(model, (x[:, :2], y), model_type="classifier").metrics
    pred, proba = model.predict(x[:, :2]), model.predict_proba(x[:, :2])
    want = {
        "example_count": len(y),
        "accuracy_score": sk.accuracy_score(y, pred),
        "precision_score": sk.precision_score(y, pred, average="weighted"),
        "recall_score": sk.recall_score(y, pred, average="weighted"),
        "f1_score": sk.f1_score(y, pred, average="weighted"),
        "log_loss": sk.log_loss(y, proba),
        "roc_auc": sk.roc_auc_score(y, proba, multi_class="ovr", average="weighted"),
        "score": model.score(x[:, :2], y),
    }
    assert got == pytest.approx(want)


def test_regression_metrics_equal_sklearn(store_path: str) -> None:
    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x, y)
    w = np.linspace(1, 3, len(y))
    got = evaluate(model, x, targets=y, model_type="regressor", evaluator_config={"sample_weights": w}).metrics
    pred = model.predict(x)
    mse = sk.mean_squared_error(y, pred, sample_weight=w)
    assert got == pytest.approx(
        {
            "example_count": len(y),
            "mean_absolute_error": sk.mean_absolute_error(y, pred, sample_weight=w),
            "mean_squared_error": mse,
            "root_mean_squared_error": mse**0.5,
            "r2_score": sk.r2_score(y, pred, sample_weight=w),
            "max_error": sk.max_error(y, pred),
            "mean_absolute_percentage_error": sk.mean_absolute_percentage_error(y, pred, sample_weight=w),
            "sum_on_target": y.sum(),
            "mean_on_target": y.mean(),
            "score": model.score(x, y, sample_weight=w),
        }
    )


def test_user_program_runs_as_written(tmp_path: Path) -> None:
    env = {**os.environ, "TRACKLITE_TRACKING_URI": str(tmp_path / "store.duckdb")}
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "Model metrics: {'eval_score': 1.0, 'eval_example_count': 30.0" in out
    assert "Baseline metrics: {'eval_score': 0.3, 'eval_example_count': 30.0" in out
    client = tracklite.Client(str(tmp_path / "store.duckdb"))
    (run,) = client.search_runs(["0"])
    assert run.data.metrics["eval_accuracy_score"] == 1.0
    assert run.data.metrics["baseline_eval_accuracy_score"] == pytest.approx(0.3)
    assert {m.name for m in client.search_logged_models(["0"])} == {"model", "baseline_model"}
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"eval_confusion_matrix.png", "eval_roc_curve_plot.png", "eval_shap_summary_plot.png"} <= files


def test_model_kinds_prefix_predictions_and_extra_metrics(store_path: str, binary: tuple[Any, np.ndarray, Any]) -> None:
    _, array, y = binary
    x = pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])
    model = LogisticRegression(max_iter=2000).fit(x, y)
    frame = x.assign(label=y)
    with tracklite.start_run() as run:
        info = tracklite.sklearn.log_model(model, name="m")
    version = tracklite.register_model(info.model_uri, "clf")
    want = sk.accuracy_score(y, model.predict(x))
    kinds = [
        model,
        model.predict,
        tracklite.pyfunc.load_model(info.model_uri),
        f"runs:/{run.info.run_id}/m",
        f"models:/clf/{version.version}",
        info.model_uri,
    ]
    for kind in kinds:
        got = evaluate(kind, frame, targets="label", model_type="classifier").metrics
        assert got["accuracy_score"] == pytest.approx(want)
    errors = make_metric(eval_fn=lambda p, t: float(np.sum(p != t)), greater_is_better=False, name="errors")
    frame["pred"] = model.predict(x)
    with tracklite.start_run() as run:
        got = evaluate(
            None,
            frame,
            targets="label",
            predictions="pred",
            model_type="classifier",
            extra_metrics=[errors],
            evaluator_config={"metric_prefix": "v_"},
        ).metrics
    assert got["v_accuracy_score"] == pytest.approx(want)
    assert got["v_errors"] == np.sum(frame["pred"] != y)
    assert "v_log_loss" not in got
    assert tracklite.get_run(run.info.run_id).data.metrics == got


def test_evaluate_starts_a_run_when_none_is_active(store_path: str, binary: tuple[Any, np.ndarray, Any]) -> None:
    model, x, y = binary
    result = evaluate(model, (x, y), model_type="classifier")
    assert tracklite.get_run(str(result.run_id)).data.metrics == result.metrics


@pytest.mark.parametrize(
    ("rule", "candidate", "baseline", "broken"),
    [
        (MetricThreshold(threshold=0.8, greater_is_better=True), 0.9, 0.5, None),
        (MetricThreshold(threshold=0.95, greater_is_better=True), 0.9, 0.5, "threshold: must be >= 0.95"),
        (MetricThreshold(threshold=0.2, greater_is_better=False), 0.1, 0.5, None),
        (MetricThreshold(threshold=0.05, greater_is_better=False), 0.1, 0.5, "threshold: must be <= 0.05"),
        (MetricThreshold(min_absolute_change=0.3, greater_is_better=True), 0.9, 0.5, None),
        (MetricThreshold(min_absolute_change=0.5, greater_is_better=True), 0.9, 0.5, "min_absolute_change=0.5"),
        (MetricThreshold(min_absolute_change=0.3, greater_is_better=False), 0.1, 0.5, None),
        (MetricThreshold(min_absolute_change=0.3, greater_is_better=False), 0.9, 0.5, "min_absolute_change=0.3"),
        (MetricThreshold(min_relative_change=0.5, greater_is_better=True), 0.9, 0.5, None),
        (MetricThreshold(min_relative_change=0.9, greater_is_better=True), 0.9, 0.5, "min_relative_change=0.9"),
        (MetricThreshold(min_relative_change=0.5, greater_is_better=False), 0.2, 0.5, None),
        (MetricThreshold(min_relative_change=0.7, greater_is_better=False), 0.2, 0.5, "min_relative_change=0.7"),
        (MetricThreshold(0.8, 0.1, 0.1, greater_is_better=True), 0.9, 0.5, None),
        (MetricThreshold(0.95, 0.1, 0.1, greater_is_better=True), 0.9, 0.5, "threshold"),
    ],
)
def test_thresholds(rule: MetricThreshold, candidate: float, baseline: float, broken: str | None) -> None:
    cand = tracklite.models.EvaluationResult({"m": candidate})
    base = tracklite.models.EvaluationResult({"m": baseline})
    if broken is None:
        validate_evaluation_results(cand, base, {"m": rule})
        return
    with pytest.raises(ModelValidationFailedException) as err:
        validate_evaluation_results(cand, base, {"m": rule})
    assert isinstance(err.value, TrackliteError)
    assert f"m: candidate={candidate!r} baseline={baseline!r} breaks" in str(err.value)
    assert broken in str(err.value)


def test_threshold_arguments_are_validated() -> None:
    for kwargs in ({}, {"min_absolute_change": -1}, {"min_relative_change": 2}):
        with pytest.raises(InvalidParameterValue):
            MetricThreshold(**kwargs, greater_is_better=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValue, match="greater_is_better"):
        MetricThreshold(threshold=1)


def test_failed_thresholds_raise_after_logging(store_path: str, binary: tuple[Any, np.ndarray, Any]) -> None:
    model, x, y = binary
    baseline = DummyClassifier().fit(x, y)
    thresholds = {
        "accuracy_score": MetricThreshold(threshold=0.99, greater_is_better=True),
        "log_loss": MetricThreshold(min_relative_change=1.0, greater_is_better=False),
        "f1_score": MetricThreshold(min_absolute_change=0.01, greater_is_better=True),
    }
    with tracklite.start_run() as run, pytest.raises(ModelValidationFailedException) as err:
        evaluate(model, (x, y), model_type="classifier", baseline_model=baseline, validation_thresholds=thresholds)
    lines = str(err.value).splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == ["accuracy_score", "log_loss"]
    logged = tracklite.get_run(run.info.run_id).data.metrics
    assert "accuracy_score" in logged and "baseline_accuracy_score" in logged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": (np.zeros((3, 2)), np.zeros(4))}, "3 rows but targets has 4"),
        ({"model_type": "ranker"}, "model_type='ranker' is unknown"),
        ({"targets": "nope"}, "targets='nope' is not a column"),
        ({"model": object()}, "has no predict method"),
        ({"model": None}, "pass a model"),
        ({"evaluator_config": {"explainability_algorithm": "magic"}}, "explainability_algorithm='magic'"),
        ({"evaluator_config": {"explainability_nsamples": 0}}, "explainability_nsamples=0"),
        ({"env_manager": "conda"}, "env_manager='conda'"),
        ({"evaluators": "shap"}, "only the 'default' evaluator"),
        ({"inference_params": {"k": 1}}, "inference_params needs a model whose predict takes params"),
    ],
)
def test_bad_input_logs_nothing(client: tracklite.Client, kwargs: dict[str, Any], message: str) -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0], "label": [0, 1, 1]})
    args: dict[str, Any] = {
        "model": DummyClassifier().fit(frame[["a"]], frame["label"]),
        "data": frame,
        "targets": "label",
        "model_type": "classifier",
        **kwargs,
    }
    with pytest.raises((InvalidParameterValue, ValueError), match=message):
        evaluate(**args)
    assert client.search_runs(["0"]) == []
    assert tracklite.active_run() is None


class _Shift(tracklite.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return np.asarray(model_input)[:, 0] + (params or {}).get("shift", 0.0)


def test_inference_params_reach_a_pyfunc_model(store_path: str, tmp_path: Path) -> None:
    x = np.arange(20.0).reshape(10, 2)
    y = x[:, 0] + 1
    signature = tracklite.models.infer_signature(x, y, params={"shift": 0.0})
    tracklite.pyfunc.save_model(str(tmp_path / "shift"), python_model=_Shift(), signature=signature)
    config = {"log_model_explainability": False}
    plain = evaluate(str(tmp_path / "shift"), (x, y), model_type="regressor", evaluator_config=config)
    shifted = evaluate(
        str(tmp_path / "shift"),
        (x, y),
        model_type="regressor",
        inference_params={"shift": 1.0},
        evaluator_config=config,
    )
    assert plain.metrics["mean_absolute_error"] == 1.0
    assert shifted.metrics["mean_absolute_error"] == 0.0
