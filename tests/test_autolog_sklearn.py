"""scikit-learn autologging: real fits, and what lands in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from sklearn import metrics as sk
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tracklite.errors import InvalidParameterValue

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


@pytest.fixture
def autolog(store_path: str) -> Iterator[Any]:
    """Autologging on for the test, off (scikit-learn's own methods back) afterwards."""
    tracklite.sklearn.autolog()
    yield tracklite.sklearn.autolog
    tracklite.sklearn.autolog(disable=True)


def _only_run(client: tracklite.Client) -> Any:
    (run,) = client.search_runs(["0"])
    return run


def test_classifier_fit_logs_params_metrics_tags_plots_and_model(autolog: Any) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x, y = x[:300, :8], y[:300]
    weights = np.linspace(0.5, 1.5, len(y))
    model = LogisticRegression(C=0.5, max_iter=3000)
    assert model.fit(x, y, sample_weight=weights) is model  # fit returns what it always returns
    client = tracklite.Client()
    run = _only_run(client)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.params == {k: str(v) for k, v in model.get_params().items()}
    pred, proba = model.predict(x), model.predict_proba(x)
    want = {
        "training_score": model.score(x, y, sample_weight=weights),
        "training_accuracy_score": sk.accuracy_score(y, pred, sample_weight=weights),
        "training_precision_score": sk.precision_score(y, pred, sample_weight=weights),
        "training_recall_score": sk.recall_score(y, pred, sample_weight=weights),
        "training_f1_score": sk.f1_score(y, pred, sample_weight=weights),
        "training_log_loss": sk.log_loss(y, proba, sample_weight=weights),
        "training_roc_auc": sk.roc_auc_score(y, proba[:, 1], sample_weight=weights),
    }
    assert run.data.metrics == pytest.approx(want)
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"training_confusion_matrix.png", "training_roc_curve.png", "training_precision_recall_curve.png"} <= files
    (logged,) = client.search_logged_models(["0"])
    assert logged.name == "model" and logged.source_run_id == run.info.run_id
    loaded = tracklite.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.predict(x) == pred).all()
    assert loaded.metadata.signature is not None


def test_regressor_metrics_and_a_user_run(autolog: Any) -> None:
    x, y = load_diabetes(return_X_y=True)
    with tracklite.start_run() as run:
        model = Ridge(alpha=0.3).fit(x, y)
        tracklite.log_param("mine", 1)
    got = tracklite.get_run(run.info.run_id).data
    pred = model.predict(x)
    mse = sk.mean_squared_error(y, pred)
    assert got.metrics == pytest.approx(
        {
            "training_score": model.score(x, y),
            "training_mean_squared_error": mse,
            "training_root_mean_squared_error": mse**0.5,
            "training_mean_absolute_error": sk.mean_absolute_error(y, pred),
            "training_r2_score": sk.r2_score(y, pred),
        }
    )
    assert got.params["alpha"] == "0.3" and got.params["mine"] == "1"
    assert "mlflow.autologging" not in got.tags  # the user's run, not one autologging started


def test_pipeline_is_one_run_with_flattened_params(autolog: Any) -> None:
    x, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    run = _only_run(tracklite.Client())
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["logisticregression__max_iter"] == "500"
    assert run.data.params["standardscaler__with_mean"] == "True"
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(pipe.score(x, y))
    StandardScaler().fit(x)  # data preparation alone gets no run, as in MLflow
    assert len(tracklite.Client().search_runs(["0"])) == 1


def test_grid_search_logs_best_estimator_and_child_runs(autolog: Any) -> None:
    x, y = load_iris(return_X_y=True)
    grid = {"C": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}
    autolog(max_tuning_runs=3)
    search = GridSearchCV(LogisticRegression(max_iter=1000), grid, cv=3).fit(x, y)
    client = tracklite.Client()
    runs = client.search_runs(["0"])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 4 and len(children) == 3  # the best three candidates only
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["cv"] == "3" and "estimator__C" not in parent.data.params
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    results = search.cv_results_
    best_ranks = sorted(results["rank_test_score"])[:3]
    assert sorted(c.data.metrics["rank_test_score"] for c in children) == best_ranks
    for child in children:
        i = next(
            i for i, p in enumerate(results["params"]) if all(child.data.params[k] == str(v) for k, v in p.items())
        )
        assert child.data.metrics["mean_test_score"] == pytest.approx(results["mean_test_score"][i])
        assert not any(k.startswith(("split", "param")) for k in child.data.metrics)
        assert child.data.params["max_iter"] == "1000" and child.info.status == "FINISHED"
    files = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert "cv_results.csv" in files
    table = client.read_artifact(parent.info.run_id, "cv_results.csv").decode()
    assert table.splitlines()[0].startswith("mean_fit_time") and len(table.splitlines()) == 9
    names = sorted(m.name for m in client.search_logged_models(["0"]))
    assert names == ["best_estimator", "model"]


def test_randomized_search_and_unlimited_children(autolog: Any) -> None:
    x, y = load_diabetes(return_X_y=True)
    autolog(max_tuning_runs=None, log_models=False)
    RandomizedSearchCV(Ridge(), {"alpha": [0.01, 0.1, 1, 10, 100]}, n_iter=4, cv=2, random_state=0).fit(x, y)
    client = tracklite.Client()
    assert len(client.search_runs(["0"])) == 5
    assert client.search_logged_models(["0"]) == []


def test_post_training_metrics(autolog: Any) -> None:
    x, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = x[::2], x[1::2], y[::2], y[1::2]
    from sklearn.metrics import accuracy_score, f1_score  # imported after autolog, as MLflow requires

    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    run_id = _only_run(tracklite.Client()).info.run_id
    pred = model.predict(X_test)
    first = accuracy_score(y_test, pred)
    f1 = f1_score(y_test, pred, average="macro")
    again = accuracy_score(y_test, pred, normalize=False)
    score = model.score(X_test, y_test)
    other = model.predict(X_train)
    accuracy_score(y_train, other)
    accuracy_score(y_test, list(pred))  # a copy of the predictions is not traced, as in MLflow
    metrics = tracklite.get_run(run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == first
    assert metrics["f1_score_X_test"] == f1
    assert metrics["accuracy_score-2_X_test"] == again
    assert metrics["LogisticRegression_score_X_test"] == score
    assert metrics["accuracy_score-3_X_train"] == accuracy_score(y_train, other)
    assert len([k for k in metrics if not k.startswith("training_")]) == 5
    info = json.loads(tracklite.Client().read_artifact(run_id, "metric_info.json"))
    assert info["accuracy_score-2_X_test"] == "accuracy_score(y_true=y_test, y_pred=pred, normalize=False)"
    assert info["LogisticRegression_score_X_test"] == "LogisticRegression.score(X=X_test, y=y_test)"


def test_controls(autolog: Any) -> None:
    x, y = load_diabetes(return_X_y=True)
    client = tracklite.Client()
    autolog(log_models=False, extra_tags={"team": "vision"})
    LinearRegression().fit(x, y)
    run = _only_run(client)
    assert run.data.tags["team"] == "vision" and client.search_logged_models(["0"]) == []
    autolog(exclusive=True)
    with tracklite.start_run() as mine:
        LinearRegression().fit(x, y)
    assert tracklite.get_run(mine.info.run_id).data.params == {}  # exclusive: the user's run is left alone
    autolog(log_input_examples=True)
    LinearRegression().fit(x, y)
    latest = tracklite.last_active_run()
    assert latest is not None
    model = tracklite.pyfunc.load_model(f"runs:/{latest.info.run_id}/model")
    assert model.metadata.saved_input_example_info is not None
    autolog(disable=True)
    KMeans(n_clusters=2, n_init=1).fit(x)
    assert len(client.search_runs(["0"])) == 3  # nothing new once disabled
    assert "fit" not in vars(GridSearchCV)  # scikit-learn's own methods are back
    with pytest.raises(InvalidParameterValue, match="max_tuning_runs"):
        autolog(max_tuning_runs=-1)


def test_a_failing_store_does_not_break_fit(autolog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = load_diabetes(return_X_y=True)
    store = type(tracklite.Client().store)

    def broken(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "log_batch", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LinearRegression().fit(x, y)
        assert model.coef_.shape == (10,)  # trained and returned as usual
        with pytest.raises(ValueError, match="0 sample"):  # the user's own errors still surface
            LinearRegression().fit(np.empty((0, 2)), np.empty(0))
    messages = [str(w.message) for w in caught]
    assert "tracklite autologging (sklearn) could not log params and tags: OSError('disk full')" in messages[0]
    assert all(w.filename == __file__ for w in caught)  # pointed at the user's line
    statuses = sorted(r.info.status for r in tracklite.Client().search_runs(["0"]))
    assert statuses == ["FAILED", "FINISHED"]


def test_silent_hides_the_warnings(autolog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    autolog(silent=True)
    monkeypatch.setattr(type(tracklite.Client().store), "log_batch", lambda *_, **__: 1 / 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])


def test_global_autolog_patches_sklearn_when_it_is_imported(tmp_path: Path) -> None:
    program = (
        "import sys, tracklite\n"
        "tracklite.autolog()\n"
        "assert 'sklearn' not in sys.modules\n"
        "from sklearn.linear_model import LinearRegression\n"
        "LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])\n"
        "run = tracklite.last_active_run()\n"
        "print(run.data.tags['estimator_name'], run.data.metrics['training_r2_score'])\n"
    )
    env = {**os.environ, "TRACKLITE_TRACKING_URI": str(tmp_path / "s.duckdb")}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["LinearRegression", "1.0"]
