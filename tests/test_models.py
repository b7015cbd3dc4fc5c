"""Models: MLmodel files, signatures, the sklearn and pyfunc flavors, logged models and URIs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist, TrackliteError
from tracklite.models import Model, ModelSignature, infer_signature
from tracklite.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

# -- types and signatures -----------------------------------------------------------------


def test_schema_json_is_mlflows() -> None:
    text = (
        '[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false}, '
        '{"type": "array", "items": {"type": "string"}, "name": "c", "required": true}]'
    )
    schema = Schema.from_json(text)
    assert schema.to_json() == text
    assert schema.required_input_names() == ["a", "c"]
    tensor = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])
    assert json.loads(tensor.to_json()) == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert Schema.from_json(tensor.to_json()) == tensor
    assert Schema.from_json('[{"type": "double"}]').inputs[0].required is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"type": "decimal", "name": "a"}]', "Unsupported type 'decimal'"),
        ('[{"type": "double", "name": "a", "optional": true}]', "unexpected keyword argument 'optional'"),
        ('[{"type": "double", "name": "a"}, {"type": "double"}]', "combination of named and unnamed"),
        ('[{"type": "double"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]', "combination"),
        ("not json", "not valid JSON"),
        ('{"type": "double"}', "JSON list"),
    ],
)
def test_bad_schemas_are_named(text: str, message: str) -> None:
    with pytest.raises(TrackliteError, match=message):
        Schema.from_json(text)


def test_param_schema_round_trip_and_defaults() -> None:
    params = ParamSchema([ParamSpec("temp", "float", 0.5), ParamSpec("flags", DataType.string, ["x"], (-1,))])
    assert ParamSchema.from_json(params.to_json()) == params
    assert json.loads(params.to_json())[0] == {"name": "temp", "type": "float", "default": 0.5, "shape": None}
    with pytest.raises(InvalidParameterValue, match="Binary type is not supported"):
        ParamSpec("b", "binary", b"x")
    with pytest.raises(InvalidParameterValue, match="Can not safely convert"):
        ParamSpec("k", "long", "abc")


def test_infer_signature_column_and_tensor() -> None:
    df = pd.DataFrame({"x": [1.0, None], "s": ["a", "b"], "b": [True, False], "n": np.array([1, 2], dtype="int32")})
    with pytest.warns(UserWarning, match="integer column"):
        sig = infer_signature(df, np.array([0, 1]), params={"k": 3, "names": ["a", "b"]})
    assert [(c.name, c.type, c.required) for c in sig.inputs.inputs] == [
        ("x", DataType.double, False),
        ("s", DataType.string, True),
        ("b", DataType.boolean, True),
        ("n", DataType.integer, True),
    ]
    assert sig.outputs == Schema([TensorSpec(np.dtype("int64"), (-1,))])
    assert [(p.name, p.dtype, p.shape) for p in sig.params.params] == [
        ("k", DataType.long, None),
        ("names", DataType.string, (-1,)),
    ]
    assert ModelSignature.from_dict(sig.to_dict()) == sig
    images = infer_signature({"img": np.zeros((2, 8, 8), dtype="uint8")})
    assert images.inputs == Schema([TensorSpec(np.dtype("uint8"), (-1, 8, 8), "img")])


# -- the MLmodel file ------------------------------------------------------------------------


def test_mlmodel_keeps_unknown_keys_and_sorts(tmp_path: Path) -> None:
    model = Model(flavors={"python_function": {"loader_module": "x"}}, custom_key={"a": 1})
    model.save(str(tmp_path / "MLmodel"))
    text = (tmp_path / "MLmodel").read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys == sorted(keys)
    again = Model.load(str(tmp_path))
    assert again.extra == {"custom_key": {"a": 1}}
    assert again.model_uuid == model.model_uuid


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("", TrackliteError, "is empty"),
        ("flavors: [1, 2", TrackliteError, "not valid YAML"),
        ("- a list", TrackliteError, "YAML mapping"),
        ("flavors: 3", TrackliteError, "must map each flavor"),
        ('flavors: {}\nsignature: {inputs: \'[{"type": "nope"}]\'}', TrackliteError, "inputs do not parse"),
    ],
)
def test_corrupt_mlmodel_is_a_clear_error(tmp_path: Path, content: str, error: type, message: str) -> None:
    (tmp_path / "MLmodel").write_text(content)
    with pytest.raises(error, match=message):
        tracklite.pyfunc.load_model(str(tmp_path))


def test_missing_pieces_are_clear_errors(tmp_path: Path, logreg: LogisticRegression) -> None:
    with pytest.raises(ResourceDoesNotExist, match='Could not find an "MLmodel"'):
        tracklite.pyfunc.load_model(str(tmp_path / "nowhere"))
    path = tmp_path / "m"
    tracklite.sklearn.save_model(logreg, str(path))
    os.remove(path / "model.pkl")
    with pytest.raises(TrackliteError, match=r"model\.pkl' is missing"):
        tracklite.pyfunc.load_model(str(path))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "MLmodel").write_text(
        yaml.safe_dump({"flavors": {"python_function": {"loader_module": "mlflow.transformers"}}})
    )
    with pytest.raises(TrackliteError, match=r"cannot load models of MLflow's 'mlflow\.transformers' flavor"):
        tracklite.pyfunc.load_model(str(tmp_path / "odd"))
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": {"pickled_model": "m.pkl"}}}))
    with pytest.raises(TrackliteError, match='does not have the "python_function" flavor'):
        tracklite.pyfunc.load_model(str(tmp_path / "none"))


# -- sklearn -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle", "skops"])
def test_sklearn_round_trip_every_format(tmp_path: Path, iris: Any, logreg: LogisticRegression, fmt: str) -> None:
    x, _ = iris
    path = str(tmp_path / fmt)
    tracklite.sklearn.save_model(logreg, path, serialization_format=fmt, input_example=x.head(3))
    expected = logreg.predict(x)
    assert (tracklite.sklearn.load_model(path).predict(x) == expected).all()
    assert (tracklite.pyfunc.load_model(path).predict(x) == expected).all()
    files = set(os.listdir(path))
    assert {"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"} <= files
    assert {"input_example.json", "serving_input_example.json"} <= files
    meta = yaml.safe_load(Path(path, "MLmodel").read_text())
    assert meta["flavors"]["sklearn"]["serialization_format"] == fmt
    assert meta["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert json.loads(meta["signature"]["inputs"])[0] == {
        "type": "double",
        "name": "sepal length (cm)",
        "required": True,
    }
    requirements = Path(path, "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in requirements)
    assert (fmt != "pickle") == any(r.startswith(f"{fmt}==") for r in requirements)
    example = json.loads(Path(path, "input_example.json").read_text())
    assert example["columns"] == list(x.columns) and len(example["data"]) == 3


def test_default_format_saves_tree_ensembles_skops_needs_trust(tmp_path: Path, iris: Any) -> None:
    x, y = iris
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)).fit(x, y)
    tracklite.sklearn.save_model(forest, str(tmp_path / "default"))
    assert (tracklite.sklearn.load_model(str(tmp_path / "default")).predict(x) == forest.predict(x)).all()
    with pytest.raises(InvalidParameterValue, match=r"untrusted types \['sklearn.tree._tree.Tree'\]"):
        tracklite.sklearn.save_model(forest, str(tmp_path / "skops"), serialization_format="skops")
    assert not (tmp_path / "skops").exists()
    tracklite.sklearn.save_model(
        forest, str(tmp_path / "skops"), serialization_format="skops", skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
    assert (tracklite.pyfunc.load_model(str(tmp_path / "skops")).predict(x) == forest.predict(x)).all()


def test_sklearn_bad_arguments(tmp_path: Path, logreg: LogisticRegression) -> None:
    with pytest.raises(InvalidParameterValue, match="Unrecognized serialization format: joblib"):
        tracklite.sklearn.save_model(logreg, str(tmp_path / "a"), serialization_format="joblib")
    tracklite.sklearn.save_model(logreg, str(tmp_path / "b"))
    with pytest.raises(InvalidParameterValue, match="already exists and is not empty"):
        tracklite.sklearn.save_model(logreg, str(tmp_path / "b"))


def test_predict_proba_as_pyfunc(tmp_path: Path, iris: Any, logreg: LogisticRegression) -> None:
    x, _ = iris
    tracklite.sklearn.save_model(logreg, str(tmp_path / "p"), pyfunc_predict_fn="predict_proba")
    assert np.allclose(tracklite.pyfunc.load_model(str(tmp_path / "p")).predict(x), logreg.predict_proba(x))


# -- pyfunc ------------------------------------------------------------------------------------


class Scaler(tracklite.pyfunc.PythonModel):
    """Multiplies by a factor read from an artifact; adds the ``shift`` param."""

    def load_context(self, context: tracklite.pyfunc.PythonModelContext) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return model_input["x"] * self.factor + (params or {}).get("shift", 0.0)


def test_python_model_with_artifacts_code_and_params(tmp_path: Path) -> None:
    factor = tmp_path / "factor.txt"
    factor.write_text("3")
    code = tmp_path / "helper_mod.py"
    code.write_text("VALUE = 7\n")
    sig = ModelSignature(Schema([ColSpec("double", "x")]), params=ParamSchema([ParamSpec("shift", "double", 0.0)]))
    path = str(tmp_path / "custom")
    tracklite.pyfunc.save_model(
        path, python_model=Scaler(), artifacts={"factor": str(factor)}, code_paths=[str(code)], signature=sig
    )
    factor.write_text("100")  # the model keeps its own copy
    model = tracklite.pyfunc.load_model(path)
    frame = pd.DataFrame({"x": [1.0, 2.0], "extra": ["a", "b"]})
    assert model.predict(frame).tolist() == [3.0, 6.0]
    assert model.predict(frame, params={"shift": 1}).tolist() == [4.0, 7.0]
    with pytest.raises(InvalidParameterValue, match="Invalid parameters found"):
        model.predict(frame, params={"shift": "abc"})
    assert isinstance(model.unwrap_python_model(), Scaler)
    assert os.path.isfile(os.path.join(path, "code", "helper_mod.py"))
    block = yaml.safe_load(Path(path, "MLmodel").read_text())["flavors"]["python_function"]
    assert block["loader_module"] == "mlflow.pyfunc.model"
    assert block["artifacts"]["factor"]["path"] == "artifacts/factor.txt"


def test_function_model_and_bad_python_model(tmp_path: Path) -> None:
    tracklite.pyfunc.save_model(str(tmp_path / "f"), python_model=lambda df: df * 2)
    assert tracklite.pyfunc.load_model(str(tmp_path / "f")).predict(pd.DataFrame({"a": [1]}))["a"].tolist() == [2]
    with pytest.raises(InvalidParameterValue, match="PythonModel subclass instance or a function"):
        tracklite.pyfunc.save_model(str(tmp_path / "g"), python_model=42)
    with pytest.raises(InvalidParameterValue, match="exactly one of python_model"):
        tracklite.pyfunc.save_model(str(tmp_path / "h"))


# -- logged models and URIs -------------------------------------------------------------------


def test_log_model_loads_by_run_and_model_uri(store_path: str, iris: Any, logreg: LogisticRegression) -> None:
    x, _ = iris
    tracklite.set_experiment("models")
    with tracklite.start_run() as run:
        tracklite.log_param("C", 1.0)
        info = tracklite.sklearn.log_model(logreg, name="clf", input_example=x.head(2))
    assert info.model_id.startswith("m-") and info.run_id == run.info.run_id
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.artifact_path.endswith(f"/models/{info.model_id}/artifacts")
    expected = logreg.predict(x)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/clf"):
        assert (tracklite.sklearn.load_model(uri).predict(x) == expected).all()
        assert (tracklite.pyfunc.load_model(uri).predict(x) == expected).all()
    meta = tracklite.pyfunc.load_model(info.model_uri).metadata
    assert (meta.model_id, meta.run_id) == (info.model_id, run.info.run_id)
    found = tracklite.search_logged_models(filter_string="name = 'clf' AND params.C = '1.0'", output_format="list")
    assert [m.model_id for m in found] == [info.model_id]
    assert found[0].status == "READY" and found[0].source_run_id == run.info.run_id
    frame = tracklite.search_logged_models()
    assert frame["model_id"].tolist() == [info.model_id]


def test_loading_reuses_the_cache_until_the_model_changes(store_path: str, logreg: LogisticRegression) -> None:
    with tracklite.start_run():
        info = tracklite.sklearn.log_model(logreg, name="clf")
    first = tracklite.pyfunc.load_model(info.model_uri)._path
    marker = os.path.join(first, "MLmodel")
    stamp = os.stat(marker).st_mtime_ns
    second = tracklite.pyfunc.load_model(info.model_uri)._path
    assert second == first and os.stat(marker).st_mtime_ns == stamp
    with tracklite.start_run():
        other = tracklite.sklearn.log_model(logreg, name="clf")
    assert tracklite.pyfunc.load_model(other.model_uri)._path != first


def test_failed_log_model_leaves_no_ready_model(store_path: str) -> None:
    class Unpicklable(tracklite.pyfunc.PythonModel):
        def __reduce__(self) -> Any:
            raise RuntimeError("cannot pickle me")

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    with tracklite.start_run() as run, pytest.raises(InvalidParameterValue, match="Failed to serialize"):
        tracklite.pyfunc.log_model(name="bad", python_model=Unpicklable())
    models = tracklite.search_logged_models(output_format="list")
    assert [m.status for m in models] == ["FAILED"]
    with pytest.raises(ResourceDoesNotExist, match="no model named 'bad'"):
        tracklite.pyfunc.load_model(f"runs:/{run.info.run_id}/bad")


def test_unknown_uris(store_path: str) -> None:
    with pytest.raises(ResourceDoesNotExist, match="Logged model with ID 'm-0000' not found"):
        tracklite.pyfunc.load_model("models:/m-0000")
    with pytest.raises(InvalidParameterValue, match="Unsupported model URI"):
        tracklite.pyfunc.load_model("s3://bucket/model")
    with pytest.raises(ResourceDoesNotExist, match="Registered Model with name=my-model not found"):
        tracklite.pyfunc.load_model("models:/my-model/1")
    with pytest.raises(InvalidParameterValue, match="Invalid model URI 'models:/my-model'"):
        tracklite.pyfunc.load_model("models:/my-model")
    with pytest.raises(InvalidParameterValue, match="Invalid runs URI"):
        tracklite.pyfunc.load_model("runs:/abc")


def test_client_logged_model_methods(store_path: str, logreg: LogisticRegression) -> None:
    client = tracklite.Client()
    with tracklite.start_run() as run:
        infos = [tracklite.sklearn.log_model(logreg, name=f"m{i}", params={"i": i}) for i in range(3)]
    exp = run.info.experiment_id
    assert client.get_logged_model(infos[0].model_id).params["i"] == "0"
    page = client.search_logged_models([exp], max_results=2, order_by=["name ASC"])
    assert [m.name for m in page] == ["m0", "m1"] and page.token is not None
    rest = client.search_logged_models([exp], max_results=2, order_by=["name ASC"], page_token=page.token)
    assert [m.name for m in rest] == ["m2"] and rest.token is None
    client.set_logged_model_tags(infos[1].model_id, {"stage": "candidate"})
    found = client.search_logged_models([exp], filter_string="tags.stage = 'candidate'")
    assert [m.model_id for m in found] == [infos[1].model_id]
    client.delete_logged_model(infos[2].model_id)
    with pytest.raises(ResourceDoesNotExist):
        client.get_logged_model(infos[2].model_id)
    with pytest.raises(InvalidParameterValue, match="position"):
        client.search_logged_models([exp], filter_string="name = ")


def test_model_info_and_input_example_read_back(store_path: str, iris: Any, logreg: LogisticRegression) -> None:
    from tracklite.models import get_model_info

    x, _ = iris
    with tracklite.start_run() as run:
        info = tracklite.sklearn.log_model(logreg, name="clf", input_example=x.head(4))
    again = get_model_info(f"runs:/{run.info.run_id}/clf")
    assert (again.model_id, again.run_id, again.signature) == (info.model_id, run.info.run_id, info.signature)
    assert get_model_info(info.model_uri).name == "clf"
    path = tracklite.pyfunc.load_model(info.model_uri)._path
    example = Model.load(path).load_input_example(path)
    pd.testing.assert_frame_equal(example, x.head(4).reset_index(drop=True))
    assert tracklite.pyfunc.load_model(info.model_uri).predict(example).tolist() == logreg.predict(x.head(4)).tolist()


def test_python_model_logged_and_loaded_from_runs_uri(store_path: str, tmp_path: Path) -> None:
    factor = tmp_path / "factor.txt"
    factor.write_text("2")
    frame = pd.DataFrame({"x": [1.0, 4.0]})
    with tracklite.start_run() as run:
        info = tracklite.pyfunc.log_model(
            name="scaler", python_model=Scaler(), artifacts={"factor": str(factor)}, input_example=frame
        )
    for uri in (f"runs:/{run.info.run_id}/scaler", info.model_uri):
        model = tracklite.pyfunc.load_model(uri)
        assert model.predict(frame).tolist() == [2.0, 8.0]
        assert model.metadata.get_input_schema() == Schema([ColSpec("double", "x")])
