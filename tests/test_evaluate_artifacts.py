"""tracklite.evaluate's artifacts: plots and tables in the run, SHAP with and without SHAP installed,
and real MLflow's default evaluator as the oracle for names and values."""

from __future__ import annotations

import io
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
from PIL import Image
from sklearn import metrics as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from tracklite.models import evaluate

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

CLASSIFIER_FILES = {"per_class_metrics", "confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot"}
SHAP_FILES = {"shap_beeswarm_plot", "shap_summary_plot", "shap_feature_importance_plot", "shap_feature_importances"}


def _png(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.verify()
    return Image.open(io.BytesIO(data)).size


def _run_files(run_id: str) -> dict[str, bytes]:
    client = tracklite.Client()
    return {f.path: client.read_artifact(run_id, f.path) for f in client.list_artifacts(run_id) if not f.is_dir}


def test_binary_classifier_artifacts(store_path: str) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x, y = x[:300, :6], y[:300]
    model = LogisticRegression(max_iter=3000).fit(x, y)
    with tracklite.start_run() as run:
        result = evaluate(model, (x, y), model_type="classifier", evaluator_config={"metric_prefix": "val_"})
    assert set(result.artifacts) == CLASSIFIER_FILES | SHAP_FILES
    files = _run_files(run.info.run_id)
    assert set(files) == {a.path for a in result.artifacts.values()}
    assert all(path.startswith("val_") for path in files)  # the prefix names the files, as in MLflow
    for name, artifact in result.artifacts.items():
        assert files[artifact.path] == artifact.data
        assert artifact.uri.endswith("/" + artifact.path)
        if artifact.path.endswith(".png"):
            width, height = _png(artifact.data)
            assert width > 300 and height > 200, name
            assert artifact.content.size == (width, height)
    table = result.artifacts["per_class_metrics"].content
    pred = model.predict(x)
    assert table["positive_class"].tolist() == [0, 1]
    assert table["recall_score"].tolist() == pytest.approx(sk.recall_score(y, pred, average=None).tolist())
    assert table["precision_score"].tolist() == pytest.approx(sk.precision_score(y, pred, average=None).tolist())
    assert table["true_positives"].tolist() == [np.sum((y == c) & (pred == c)) for c in (0, 1)]
    proba = model.predict_proba(x)
    assert table["roc_auc"].tolist() == pytest.approx([sk.roc_auc_score(y == c, proba[:, c]) for c in (0, 1)])


def test_multiclass_artifacts_and_the_class_limit(store_path: str) -> None:
    x, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]  # string labels work too
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate(model, (x, labels), model_type="classifier")
    assert set(result.artifacts) == CLASSIFIER_FILES  # SHAP needs numeric labels
    assert any("SHAP needs numeric or boolean labels" in str(w.message) for w in caught)
    assert result.artifacts["per_class_metrics"].content["positive_class"].tolist() == sorted(set(labels))
    with pytest.warns(UserWarning, match="max_classes_for_multiclass_roc_pr=2"):
        result = evaluate(
            model,
            (x, labels),
            model_type="classifier",
            evaluator_config={"max_classes_for_multiclass_roc_pr": 2, "log_model_explainability": False},
        )
    assert set(result.artifacts) == {"per_class_metrics", "confusion_matrix"}


def test_regressor_artifacts_and_shap_importances(store_path: str) -> None:
    x, y = load_diabetes(return_X_y=True)
    x, y = x[:90], y[:90]  # fewer rows than SHAP's background sample: its mean is the data's
    names = [f"f{i}" for i in range(x.shape[1])]
    model = LinearRegression().fit(pd.DataFrame(x, columns=names), y)
    result = evaluate(model, x, targets=y, model_type="regressor", feature_names=names)
    assert set(result.artifacts) == {"residuals_plot", "predicted_vs_actual_plot"} | SHAP_FILES
    for name in ("residuals_plot", "predicted_vs_actual_plot", "shap_summary_plot"):
        _png(result.artifacts[name].data)
    # A linear model's SHAP value is coef * (x - mean(x)): the importances are known exactly.
    importances = result.artifacts["shap_feature_importances"].content.set_index("feature")
    want = np.abs(model.coef_ * (x - x.mean(axis=0))).mean(axis=0)
    assert importances.loc[names, "mean_abs_shap_value"].to_numpy() == pytest.approx(want, rel=1e-6)
    assert importances.index[0] == names[int(np.argmax(want))]  # largest first


def test_large_regression_plots_a_sample(store_path: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60_000, 3))
    y = x @ [1.0, 2.0, -1.0] + rng.normal(size=60_000)
    result = evaluate(
        LinearRegression().fit(x, y),
        (x, y),
        model_type="regressor",
        evaluator_config={"log_model_explainability": False},
    )
    assert set(result.artifacts) == {"residuals_plot", "predicted_vs_actual_plot"}
    assert result.metrics["example_count"] == 60_000


def test_without_shap(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # as if SHAP were not installed
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not asked for: no warning, no SHAP files
        result = evaluate(model, (x, y), model_type="classifier")
    assert set(result.artifacts) == CLASSIFIER_FILES
    with pytest.warns(UserWarning, match="model explainability skipped: SHAP is not installed"):
        result = evaluate(model, (x, y), model_type="classifier", evaluator_config={"log_model_explainability": True})
    assert set(result.artifacts) == CLASSIFIER_FILES
    assert result.metrics["accuracy_score"] > 0.9


def test_without_matplotlib(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    with pytest.warns(UserWarning, match="matplotlib is not installed, so no plots are logged"):
        result = evaluate(model, (x, y), model_type="classifier", evaluator_config={"log_model_explainability": False})
    assert set(result.artifacts) == {"per_class_metrics"}


def _fails_on_other_shapes(x: np.ndarray) -> Any:
    model = LinearRegression().fit(x, x.sum(axis=1))

    def predict(data: Any) -> Any:
        if len(data) != len(x):
            raise RuntimeError("this model only predicts whole batches")
        return model.predict(data)

    return predict


def test_a_failing_explainer_warns_or_raises_before_logging(client: tracklite.Client) -> None:
    x = np.random.default_rng(1).normal(size=(20, 3))
    predict = _fails_on_other_shapes(x)
    config: dict[str, Any] = {"log_model_explainability": True, "explainability_algorithm": "exact"}
    with pytest.warns(UserWarning, match="SHAP failed: RuntimeError"):
        result = evaluate(predict, (x, x.sum(axis=1)), model_type="regressor", evaluator_config=config)
    assert set(result.artifacts) == {"residuals_plot", "predicted_vs_actual_plot"}
    before = client.search_runs(["0"])
    with pytest.raises(RuntimeError, match="whole batches"):
        evaluate(
            predict,
            (x, x.sum(axis=1)),
            model_type="regressor",
            evaluator_config={**config, "ignore_exceptions": False},
        )
    assert client.search_runs(["0"]) == before
    assert tracklite.active_run() is None


@pytest.mark.parametrize("model_type", ["classifier", "regressor"])
def test_names_and_values_match_mlflow(store_path: str, tmp_path: Any, model_type: str) -> None:
    mlflow = pytest.importorskip("mlflow")
    if model_type == "classifier":
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        x, y = x.iloc[:200, :5], y.iloc[:200]
        model: Any = LogisticRegression(max_iter=3000).fit(x, y)
    else:
        x, y = load_diabetes(return_X_y=True, as_frame=True)
        model = LinearRegression().fit(x, y)
    frame = x.assign(label=y.to_numpy())
    config = {"log_model_explainability": True}
    with mlflow.start_run(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's import hooks and internals warn on its side
        info = mlflow.sklearn.log_model(model, name="model")
        theirs = mlflow.models.evaluate(
            info.model_uri, frame, targets="label", model_type=model_type, evaluator_config=config
        )
    ours = evaluate(model, frame, targets="label", model_type=model_type, evaluator_config=config)
    assert ours.metrics == pytest.approx(theirs.metrics)
    # Every artifact MLflow's default evaluator logs, we log under the same name, except the
    # lift and calibration curves (documented); we add a few of our own.
    assert set(theirs.artifacts) - {"lift_curve_plot", "calibration_curve_plot"} <= set(ours.artifacts)
