"""XGBoost and LightGBM autologging: real small trainings, and what lands in the store."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.lightgbm
import tracklite.pyfunc
import tracklite.xgboost
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from tracklite.errors import InvalidParameterValue

ROUNDS = 12


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x.iloc[:300, :6].rename(columns=lambda c: c.replace(" ", "_")), y.to_numpy()[:300]


@pytest.fixture
def autolog(store_path: str) -> Iterator[None]:
    """Both integrations on for the test, off (the libraries' own functions back) afterwards."""
    tracklite.xgboost.autolog()
    tracklite.lightgbm.autolog()
    yield
    tracklite.xgboost.autolog(disable=True)
    tracklite.lightgbm.autolog(disable=True)


def _only_run(client: tracklite.Client) -> Any:
    (run,) = client.search_runs(["0"])
    return run


def _history(client: tracklite.Client, run_id: str, key: str) -> tuple[list[int], list[float]]:
    points = client.get_metric_history(run_id, key)
    return [m.step for m in points], [m.value for m in points]


def _json(client: tracklite.Client, run_id: str, path: str) -> Any:
    return json.loads(client.read_artifact(run_id, path))


def _artifacts(client: tracklite.Client, run_id: str) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id)}


def _dmatrices(data: tuple[pd.DataFrame, np.ndarray]) -> tuple[Any, Any]:
    x, y = data
    return xgb.DMatrix(x[:200], y[:200]), xgb.DMatrix(x[200:], y[200:])


def test_xgboost_train_logs_params_metrics_importance_and_model(
    autolog: None, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    dtrain, dvalid = _dmatrices(data)
    params = {"objective": "binary:logistic", "max_depth": 2, "eval_metric": ["logloss", "auc"], "seed": 1}
    evals: dict[str, Any] = {}
    booster = xgb.train(
        params, dtrain, ROUNDS, evals=[(dtrain, "train"), (dvalid, "valid")], evals_result=evals, verbose_eval=False
    )
    assert isinstance(booster, xgb.Booster)
    client = tracklite.Client()
    run = _only_run(client)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.params == {
        "objective": "binary:logistic",
        "max_depth": "2",
        "eval_metric": "['logloss', 'auc']",
        "seed": "1",
        "num_boost_round": str(ROUNDS),
        "maximize": "None",
        "early_stopping_rounds": "None",
        "verbose_eval": "False",
        "custom_metric": "None",
    }
    assert set(run.data.metrics) == {"train-logloss", "train-auc", "valid-logloss", "valid-auc"}
    for data_name, results in evals.items():
        for metric, values in results.items():
            steps, logged = _history(client, run_id, f"{data_name}-{metric}")
            assert steps == list(range(ROUNDS))
            assert logged == pytest.approx(values, rel=1e-12)
    assert _json(client, run_id, "feature_importance_weight.json") == booster.get_score(importance_type="weight")
    assert {"feature_importance_weight.json", "feature_importance_weight.png"} <= _artifacts(client, run_id)
    (logged_model,) = client.search_logged_models(["0"])
    assert logged_model.name == "model" and logged_model.source_run_id == run_id
    assert logged_model.params["num_boost_round"] == str(ROUNDS)
    loaded = tracklite.pyfunc.load_model(f"runs:/{run_id}/model")
    x = data[0]
    np.testing.assert_allclose(loaded.predict(x), booster.predict(xgb.DMatrix(x)))
    assert loaded.metadata.signature is not None
    assert isinstance(tracklite.xgboost.load_model(f"runs:/{run_id}/model"), xgb.Booster)


def test_xgboost_early_stopping_and_importance_types(store_path: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    tracklite.xgboost.autolog(importance_types=["gain", "cover"], log_models=False, log_input_examples=True)
    try:
        dtrain, dvalid = _dmatrices(data)
        evals: dict[str, Any] = {}
        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.9, "seed": 1}
        booster = xgb.train(
            params,
            dtrain,
            200,
            evals=[(dvalid, "valid")],
            early_stopping_rounds=2,
            evals_result=evals,
            verbose_eval=False,
        )
    finally:
        tracklite.xgboost.autolog(disable=True)
    client = tracklite.Client()
    run = _only_run(client)
    run_id = run.info.run_id
    ran = len(evals["valid"]["logloss"])
    assert ran < 200  # it stopped early
    assert run.data.metrics["stopped_iteration"] == ran - 1
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    steps, values = _history(client, run_id, "valid-logloss")
    assert steps == [*range(ran), ran]  # the best iteration's result one step after the last
    assert values[-1] == pytest.approx(evals["valid"]["logloss"][booster.best_iteration])
    assert run.data.params["early_stopping_rounds"] == "2"
    for kind in ("gain", "cover"):
        assert _json(client, run_id, f"feature_importance_{kind}.json") == pytest.approx(
            booster.get_score(importance_type=kind)
        )
    assert "feature_importance_weight.json" not in _artifacts(client, run_id)
    assert client.search_logged_models(["0"]) == []


def test_xgboost_sklearn_fit_logs_one_run_with_the_fitted_model(
    autolog: None, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = data
    model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=2, random_state=0)
    assert model.fit(x, y, eval_set=[(x, y)], verbose=False) is model
    assert model.callbacks is None  # the estimator's own settings are left as they were
    client = tracklite.Client()
    run = _only_run(client)
    run_id = run.info.run_id
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    assert run.data.params["max_depth"] == "2"
    steps, values = _history(client, run_id, "validation_0-logloss")
    assert steps == list(range(ROUNDS))
    assert values == pytest.approx(model.evals_result()["validation_0"]["logloss"], rel=1e-12)
    assert "feature_importance_weight.json" in _artifacts(client, run_id)
    (logged_model,) = client.search_logged_models(["0"])  # one model: the classifier, not its booster
    assert logged_model.source_run_id == run_id
    assert isinstance(tracklite.xgboost.load_model(f"runs:/{run_id}/model"), xgb.XGBClassifier)
    loaded = tracklite.pyfunc.load_model(f"runs:/{run_id}/model")
    assert (loaded.predict(x) == model.predict(x)).all()
    assert loaded.metadata.signature is not None


def _lgb_sets(data: tuple[pd.DataFrame, np.ndarray]) -> tuple[Any, Any]:
    x, y = data
    train = lgb.Dataset(x[:200], y[:200])
    return train, lgb.Dataset(x[200:], y[200:], reference=train)


LGB_PARAMS = {"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 1}


def test_lightgbm_train_logs_params_metrics_importance_and_model(
    autolog: None, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    train, valid = _lgb_sets(data)
    evals: dict[str, Any] = {}
    booster = lgb.train(
        dict(LGB_PARAMS),
        train,
        ROUNDS,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(evals)],
    )
    client = tracklite.Client()
    run = _only_run(client)
    run_id = run.info.run_id
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params == {
        **{k: str(v) for k, v in LGB_PARAMS.items()},
        "num_boost_round": str(ROUNDS),
        "keep_training_booster": "False",
    }
    assert set(run.data.metrics) == {"train-binary_logloss", "valid-binary_logloss"}  # no early stopping
    for data_name, results in evals.items():
        for metric, values in results.items():
            steps, logged = _history(client, run_id, f"{data_name}-{metric}")
            assert steps == list(range(ROUNDS))
            assert logged == pytest.approx(values, rel=1e-12)
    for kind in ("split", "gain"):
        want = dict(zip(booster.feature_name(), booster.feature_importance(importance_type=kind).tolist(), strict=True))
        assert _json(client, run_id, f"feature_importance_{kind}.json") == want
        assert f"feature_importance_{kind}.png" in _artifacts(client, run_id)
    loaded = tracklite.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_allclose(loaded.predict(data[0]), booster.predict(data[0]))
    assert loaded.metadata.signature is not None


def test_lightgbm_early_stopping(autolog: None, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    train, valid = _lgb_sets(data)
    evals: dict[str, Any] = {}
    booster = lgb.train(
        {**LGB_PARAMS, "learning_rate": 0.9},
        train,
        200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(2, verbose=False), lgb.record_evaluation(evals)],
    )
    client = tracklite.Client()
    run = _only_run(client)
    ran = len(evals["valid_0"]["binary_logloss"])
    assert ran < 200
    assert run.data.metrics["stopped_iteration"] == ran
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    steps, values = _history(client, run.info.run_id, "valid_0-binary_logloss")
    assert steps == [*range(ran), ran]
    assert values[-1] == pytest.approx(evals["valid_0"]["binary_logloss"][booster.best_iteration - 1])


def test_lightgbm_sklearn_fit_logs_one_run_with_the_fitted_model(
    store_path: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    tracklite.lightgbm.autolog(log_input_examples=True, registered_model_name="lgbm", extra_tags={"team": "a"})
    try:
        x, y = data
        model = lgb.LGBMClassifier(n_estimators=ROUNDS, num_leaves=4, verbose=-1)
        assert model.fit(x, y, eval_X=(x,), eval_y=(y,)) is model
    finally:
        tracklite.lightgbm.autolog(disable=True)
    client = tracklite.Client()
    run = _only_run(client)
    run_id = run.info.run_id
    assert run.data.tags["team"] == "a"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    steps, values = _history(client, run_id, "valid_0-binary_logloss")
    assert steps == list(range(ROUNDS))
    assert values == pytest.approx(model.evals_result_["valid_0"]["binary_logloss"], rel=1e-12)
    (logged_model,) = client.search_logged_models(["0"])
    assert logged_model.source_run_id == run_id
    assert isinstance(tracklite.lightgbm.load_model(f"runs:/{run_id}/model"), lgb.LGBMClassifier)
    loaded = tracklite.pyfunc.load_model(f"runs:/{run_id}/model")
    assert (loaded.predict(x) == model.predict(x)).all()
    assert loaded.metadata.saved_input_example_info is not None
    assert client.get_model_version("lgbm", 1).run_id == run_id


def test_a_user_run_gets_the_logs_and_stays_open(autolog: None, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    dtrain, _ = _dmatrices(data)
    with tracklite.start_run() as run:
        xgb.train({"objective": "binary:logistic"}, dtrain, 3)
        assert tracklite.active_run() is not None
        tracklite.log_param("mine", 1)
    got = tracklite.Client().get_run(run.info.run_id).data.params
    assert got["num_boost_round"] == "3" and got["mine"] == "1"


def test_exclusive_leaves_a_user_run_alone(store_path: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    tracklite.xgboost.autolog(exclusive=True)
    try:
        with tracklite.start_run() as run:
            xgb.train({"objective": "binary:logistic"}, _dmatrices(data)[0], 3)
    finally:
        tracklite.xgboost.autolog(disable=True)
    assert tracklite.Client().get_run(run.info.run_id).data.params == {}


def test_disabled_autologging_logs_nothing_and_restores_the_libraries(
    store_path: str, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    originals = (xgb.train, xgb.sklearn.train, lgb.train, lgb.sklearn.train, lgb.LGBMClassifier.fit)
    tracklite.xgboost.autolog()
    tracklite.lightgbm.autolog()
    assert xgb.train is not originals[0]
    tracklite.xgboost.autolog(disable=True)
    tracklite.lightgbm.autolog(disable=True)
    assert (xgb.train, xgb.sklearn.train, lgb.train, lgb.sklearn.train, lgb.LGBMClassifier.fit) == originals
    assert "fit" not in vars(xgb.XGBRegressor)  # inherited methods are inherited again
    x, y = data
    xgb.XGBRegressor(n_estimators=3).fit(x, y)
    lgb.train(dict(LGB_PARAMS), lgb.Dataset(x, y), 3)
    assert tracklite.active_run() is None
    assert tracklite.Client().search_runs(["0"]) == []


def test_global_autolog_enables_both(store_path: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    tracklite.autolog()
    try:
        x, y = data
        xgb.XGBRegressor(n_estimators=3).fit(x, y)
        lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(x, y)
    finally:
        tracklite.autolog(disable=True)
    runs = tracklite.Client().search_runs(["0"])
    assert sorted(r.data.tags["mlflow.autologging"] for r in runs) == ["lightgbm", "xgboost"]
    assert len(tracklite.Client().search_logged_models(["0"])) == 2


def test_a_failing_store_does_not_break_training(
    autolog: None, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = data
    plain = xgb.XGBClassifier(n_estimators=5, max_depth=2, random_state=0)
    with tracklite.autologging.session.quiet():  # trained without autologging, for comparison
        plain.fit(x, y)
    store = type(tracklite.Client().store)

    def broken(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    with tracklite.start_run() as run, warnings.catch_warnings(record=True) as caught:
        for method in ("log_batch", "metric_writer", "log_artifact_bytes", "create_logged_model"):
            monkeypatch.setattr(store, method, broken)
        warnings.simplefilter("always")
        model = xgb.XGBClassifier(n_estimators=5, max_depth=2, random_state=0)
        assert model.fit(x, y, eval_set=[(x, y)], verbose=False) is model
        booster = lgb.train(dict(LGB_PARAMS), lgb.Dataset(x, y), 5, valid_sets=[lgb.Dataset(x, y)])
        monkeypatch.undo()
    assert (model.predict(x) == plain.predict(x)).all()
    assert booster.num_trees() == 5
    messages = "\n".join(str(w.message) for w in caught)
    for what in ("log params", "log per-iteration metrics", "log feature importance (weight)", "log the model"):
        assert f"tracklite autologging (xgboost) could not {what}: OSError('disk full')" in messages
    assert "tracklite autologging (lightgbm) could not log params" in messages
    assert all(w.filename == __file__ for w in caught)  # pointed at the user's line
    assert tracklite.Client().get_run(run.info.run_id).info.status == "FINISHED"


def test_training_errors_still_surface(autolog: None) -> None:
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(np.ones((4, 2)), np.ones(4)), 2)
    (run,) = tracklite.Client().search_runs(["0"])
    assert run.info.status == "FAILED"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="model_format"):
        tracklite.xgboost.autolog(model_format="pickle")
    with pytest.raises(TypeError):
        tracklite.lightgbm.autolog(log_datasets=True)  # type: ignore[call-arg]


def test_unsupported_versions_can_stay_unpatched(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xgb, "__version__", "0.90")
    original = xgb.train
    with pytest.warns(UserWarning, match=r"xgboost 0.90 is outside the tested range >=1.7,<4"):
        tracklite.xgboost.autolog(disable_for_unsupported_versions=True)
    assert xgb.train is original
    tracklite.xgboost.autolog()  # without the switch, any version is patched
    try:
        assert xgb.train is not original
    finally:
        tracklite.xgboost.autolog(disable=True)
