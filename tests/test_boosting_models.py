"""The XGBoost and LightGBM flavors: native formats, round trips, and MLflow loading them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightgbm
import mlflow.lightgbm
import mlflow.pyfunc
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.lightgbm
import tracklite.pyfunc
import tracklite.xgboost
import xgboost
import yaml
from sklearn.datasets import load_breast_cancer

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x.columns = [c.replace(" ", "_") for c in x.columns]
    return x.iloc[:200], y.to_numpy()[:200]


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.ERROR)
    monkeypatch.setenv("TRACKLITE_MODEL_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_xgboost_classifier_round_trip_and_mlflow(tmp_path: Path, data: Any, fmt: str) -> None:
    x, y = data
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    path = str(tmp_path / "xgb")
    tracklite.xgboost.save_model(model, path, model_format=fmt, input_example=x.head(3))
    meta = yaml.safe_load(Path(path, "MLmodel").read_text())
    assert meta["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert Path(path, f"model.{fmt}").is_file()
    expected = model.predict(x)
    assert (tracklite.xgboost.load_model(path).predict(x) == expected).all()
    assert (tracklite.pyfunc.load_model(path).predict(x) == expected).all()
    assert (mlflow.pyfunc.load_model(path).predict(x) == expected).all()
    assert (mlflow.xgboost.load_model(path).predict(x) == expected).all()


def test_xgboost_booster_logged_and_mlflow_written(tmp_path: Path, store_path: str, data: Any) -> None:
    x, y = data
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, label=y), num_boost_round=3)
    with tracklite.start_run():
        info = tracklite.xgboost.log_model(booster, name="booster")
    expected = booster.predict(xgboost.DMatrix(x))
    assert np.allclose(tracklite.pyfunc.load_model(info.model_uri).predict(x), expected)
    mlflow.xgboost.save_model(booster, str(tmp_path / "by-mlflow"), pip_requirements=["xgboost"])
    assert np.allclose(tracklite.xgboost.load_model(str(tmp_path / "by-mlflow")).predict(xgboost.DMatrix(x)), expected)


def test_lightgbm_booster_and_sklearn_api(tmp_path: Path, data: Any) -> None:
    x, y = data
    booster = lightgbm.train({"verbose": -1, "num_leaves": 4}, lightgbm.Dataset(x, label=y), num_boost_round=3)
    tracklite.lightgbm.save_model(booster, str(tmp_path / "booster"))
    assert Path(tmp_path, "booster", "model.lgb").is_file()
    assert np.allclose(tracklite.pyfunc.load_model(str(tmp_path / "booster")).predict(x), booster.predict(x))
    assert np.allclose(mlflow.pyfunc.load_model(str(tmp_path / "booster")).predict(x), booster.predict(x))
    clf = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(x, y)
    tracklite.lightgbm.save_model(clf, str(tmp_path / "clf"), input_example=x.head(2))
    assert (tracklite.lightgbm.load_model(str(tmp_path / "clf")).predict(x) == clf.predict(x)).all()
    assert (mlflow.lightgbm.load_model(str(tmp_path / "clf")).predict(x) == clf.predict(x)).all()
    mlflow.lightgbm.save_model(booster, str(tmp_path / "by-mlflow"), pip_requirements=["lightgbm"])
    assert np.allclose(tracklite.lightgbm.load_model(str(tmp_path / "by-mlflow")).predict(x), booster.predict(x))


def test_log_into_a_run_and_load_from_runs_uri(store_path: str, data: Any) -> None:
    x, y = data
    clf = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(x, y)
    xgb = xgboost.XGBRegressor(n_estimators=5, max_depth=2).fit(x, y)
    with tracklite.start_run() as run:
        tracklite.lightgbm.log_model(clf, name="lgb", input_example=x.head(2))
        tracklite.xgboost.log_model(xgb, name="xgb")
    rid = run.info.run_id
    assert (tracklite.lightgbm.load_model(f"runs:/{rid}/lgb").predict(x) == clf.predict(x)).all()
    assert (tracklite.pyfunc.load_model(f"runs:/{rid}/lgb").predict(x) == clf.predict(x)).all()
    assert np.allclose(tracklite.xgboost.load_model(f"runs:/{rid}/xgb").predict(x), xgb.predict(x))
    assert np.allclose(tracklite.pyfunc.load_model(f"runs:/{rid}/xgb").predict(x), xgb.predict(x))
