"""Real MLflow as the oracle for model directories: each tool loads what the other saved."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import tracklite.models
import tracklite.pyfunc
import tracklite.sklearn
from mlflow.exceptions import MlflowException
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from tracklite.errors import SchemaEnforcementError


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle", "skops"])
def test_mlflow_loads_tracklite_sklearn(tmp_path: Path, iris: Any, fmt: str) -> None:
    x, y = iris
    model = LogisticRegression(max_iter=500).fit(x, y)
    path = str(tmp_path / "m")
    tracklite.sklearn.save_model(model, path, serialization_format=fmt, input_example=x.head(5))
    expected = model.predict(x)
    assert (mlflow.sklearn.load_model(path).predict(x) == expected).all()
    loaded = mlflow.pyfunc.load_model(path)
    assert (np.asarray(loaded.predict(x)) == expected).all()
    assert loaded.metadata.signature.inputs.input_names() == list(x.columns)
    with pytest.raises(MlflowException, match="missing inputs"):
        loaded.predict(x.drop(columns=[x.columns[0]]))


def test_mlflow_loads_tracklite_tree_ensemble(tmp_path: Path, iris: Any) -> None:
    x, y = iris
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(x, y)
    tracklite.sklearn.save_model(model, str(tmp_path / "gb"))
    assert (mlflow.pyfunc.load_model(str(tmp_path / "gb")).predict(x) == model.predict(x)).all()


def test_tracklite_loads_mlflow_sklearn_skops_default(tmp_path: Path, iris: Any) -> None:
    x, y = iris
    model = LogisticRegression(max_iter=500).fit(x, y)
    path = str(tmp_path / "mlflow-model")
    mlflow.sklearn.save_model(model, path, input_example=x.head(3), pip_requirements=["scikit-learn"])
    expected = model.predict(x)
    assert (tracklite.sklearn.load_model(path).predict(x) == expected).all()
    loaded = tracklite.pyfunc.load_model(path)
    assert loaded.metadata.flavors["sklearn"]["serialization_format"] == "skops"
    assert (loaded.predict(x) == expected).all()
    with pytest.raises(SchemaEnforcementError, match=r"Model is missing inputs \['sepal length \(cm\)'\]"):
        loaded.predict(x.drop(columns=["sepal length (cm)"]))


def test_tracklite_loads_mlflow_tree_model_with_trusted_types(tmp_path: Path, iris: Any) -> None:
    x, y = iris
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(x, y)
    path = str(tmp_path / "gb")
    mlflow.sklearn.save_model(
        model, path, skops_trusted_types=["sklearn.tree._tree.Tree"], pip_requirements=["scikit-learn"]
    )
    assert (tracklite.pyfunc.load_model(path).predict(x) == model.predict(x)).all()


class Doubler(mlflow.pyfunc.PythonModel):
    """An MLflow custom model: reads a scale artifact, doubles column x."""

    def load_context(self, context: Any) -> None:
        self.scale = float(Path(context.artifacts["scale"]).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return model_input["x"] * self.scale


def test_tracklite_loads_mlflow_pyfunc(tmp_path: Path) -> None:
    scale = tmp_path / "scale.txt"
    scale.write_text("2")
    path = str(tmp_path / "custom")
    frame = pd.DataFrame({"x": [1.0, 2.5]})
    mlflow.pyfunc.save_model(
        path, python_model=Doubler(), artifacts={"scale": str(scale)}, input_example=frame, pip_requirements=["pandas"]
    )
    loaded = tracklite.pyfunc.load_model(path)
    assert loaded.predict(frame).tolist() == [2.0, 5.0]
    assert loaded.predict(frame).tolist() == mlflow.pyfunc.load_model(path).predict(frame).tolist()
    with pytest.raises(SchemaEnforcementError, match="Can not safely convert str to float64"):
        loaded.predict(pd.DataFrame({"x": ["a"]}))


class Tripler(tracklite.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input["x"] * (params or {}).get("factor", 3)


def test_mlflow_predicts_with_tracklite_custom_models(tmp_path: Path) -> None:
    # MLflow asks a custom model for predict_type_hints before every predict (not at load).
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    signature = tracklite.models.infer_signature(frame, params={"factor": 3})
    tracklite.pyfunc.save_model(str(tmp_path / "cls"), python_model=Tripler(), signature=signature)
    tracklite.pyfunc.save_model(str(tmp_path / "fn"), python_model=lambda df: df["x"] + 1, input_example=frame)
    by_mlflow = mlflow.pyfunc.load_model(str(tmp_path / "cls"))
    assert by_mlflow.predict(frame).tolist() == [3.0, 6.0]
    assert by_mlflow.predict(frame, params={"factor": 10}).tolist() == [10.0, 20.0]
    assert mlflow.pyfunc.load_model(str(tmp_path / "fn")).predict(frame).tolist() == [2.0, 3.0]
