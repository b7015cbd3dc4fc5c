"""``tracklite models serve`` against the real ``mlflow models serve`` as a compatibility oracle.

Every model is served by both servers; every request goes to both and the answers are
compared: HTTP status, ``error_code`` for errors, ``predictions`` for successes. Where the two
legitimately differ, each case asserts what each server does (``DIFFERENCE`` comments).

Models: an sklearn classifier with a column signature (saved by tracklite); a custom model with
a params schema and one with a tensor signature, each saved once by tracklite (the model kind a
tracklite user deploys to MLflow) and once by MLflow (a clean oracle for the success paths).
All ten servers start at once in one module fixture: ``mlflow models serve`` takes ~10 s alone
and ~30 s for five on two cores.
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from server_fixtures import ServerProcess, free_port, start_command
from tracklite.models import ModelSignature
from tracklite.types import ColSpec, Schema, TensorSpec
from tracklite.types.schema import ParamSchema, ParamSpec

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
START_TIMEOUT_S = 180  # ten servers starting together on two noisy cores


@dataclass
class Pair:
    """One model served by both servers."""

    model_dir: str
    tracklite: ServerProcess
    mlflow: ServerProcess


@dataclass
class Served:
    """The module's models and servers."""

    x: pd.DataFrame
    expected: list[int]  # the classifier's predictions for every row of x
    iris: Pair  # sklearn classifier, 4 double columns, saved by tracklite
    echo: Pair  # custom model with params {k: long = 3, temp: double = 0.5}, saved by tracklite
    tensor: Pair  # custom model, float32 tensor (-1, 2) summed per row, saved by tracklite
    ml_echo: Pair  # the same echo model saved by MLflow
    ml_tensor: Pair  # the same tensor model saved by MLflow

    def pairs(self) -> dict[str, Pair]:
        """Every pair by name."""
        return {
            "iris": self.iris,
            "echo": self.echo,
            "tensor": self.tensor,
            "ml_echo": self.ml_echo,
            "ml_tensor": self.ml_tensor,
        }


def _echo_signature() -> ModelSignature:
    params = ParamSchema([ParamSpec("k", "long", 3), ParamSpec("temp", "double", 0.5)])
    return ModelSignature(inputs=Schema([ColSpec("double", "x")]), params=params)


def _save_tracklite_models(folder: Path) -> tuple[str, str]:
    """The echo and tensor models saved by tracklite (classes local, so cloudpickle stores them
    by value and the servers need not import this test module)."""

    class Echo(tracklite.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
            params = params or {}
            return [{"k": params.get("k"), "temp": params.get("temp"), "n": len(model_input)}]

    class Sum(tracklite.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
            assert model_input.dtype == np.float32
            return model_input.sum(axis=1)

    echo, tensor = str(folder / "echo"), str(folder / "tensor")
    tracklite.pyfunc.save_model(echo, python_model=Echo(), signature=_echo_signature())
    tensor_sig = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float32"), (-1, 2))]))
    tracklite.pyfunc.save_model(tensor, python_model=Sum(), signature=tensor_sig)
    return echo, tensor


def _save_mlflow_models(folder: Path) -> tuple[str, str]:
    """The same two models saved by MLflow itself."""
    # MLflow warns about the missing type hints, cloudpickle and the missing input example, all
    # expected here. record=True, not just "ignore": MLflow sets its own "once" filter around some.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        return _save_mlflow_models_quietly(folder)


def _save_mlflow_models_quietly(folder: Path) -> tuple[str, str]:
    import mlflow.models
    import mlflow.pyfunc
    import mlflow.types

    # No type hints on these predict methods: MLflow would read them as the model's input schema.

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            params = params or {}
            return [{"k": params.get("k"), "temp": params.get("temp"), "n": len(model_input)}]

    class Sum(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            assert model_input.dtype == np.float32
            return model_input.sum(axis=1)

    echo, tensor = str(folder / "ml-echo"), str(folder / "ml-tensor")
    params = mlflow.types.ParamSchema(
        [mlflow.types.ParamSpec("k", "long", 3), mlflow.types.ParamSpec("temp", "double", 0.5)]
    )
    echo_sig = mlflow.models.ModelSignature(
        inputs=mlflow.types.Schema([mlflow.types.ColSpec("double", "x")]), params=params
    )
    tensor_sig = mlflow.models.ModelSignature(
        inputs=mlflow.types.Schema([mlflow.types.TensorSpec(np.dtype("float32"), (-1, 2))])
    )
    mlflow.pyfunc.save_model(echo, python_model=Echo(), signature=echo_sig)
    mlflow.pyfunc.save_model(tensor, python_model=Sum(), signature=tensor_sig)
    return echo, tensor


def _start_pair(folder: Path, model_dir: str) -> Pair:
    """Both servers for ``model_dir``, started without waiting."""
    port = free_port()
    tl = [sys.executable, "-m", "tracklite", "models", "serve", "-m", model_dir, "--host", "127.0.0.1"]
    tl_server = start_command([*tl, "--port", str(port)], folder, port, wait=False)
    port = free_port()
    ml = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_dir, "--env-manager", "local"]
    ml_server = start_command([*ml, "-p", str(port), "-h", "127.0.0.1"], folder, port, wait=False)
    return Pair(model_dir, tl_server, ml_server)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, iris: tuple[Any, Any]) -> Iterator[Served]:
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("serving-mlflow")
    x, y = iris
    model = LogisticRegression(max_iter=500).fit(x, y)
    iris_dir = str(folder / "iris")
    tracklite.sklearn.save_model(model, iris_dir, input_example=x.head(5))
    echo, tensor = _save_tracklite_models(folder)
    ml_echo, ml_tensor = _save_mlflow_models(folder)
    pairs: list[Pair] = []
    with pytest.MonkeyPatch.context() as env:
        # mlflow models serve runs `bash -c "exec uvicorn ..."`: uvicorn must be on PATH.
        env.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")  # nothing written to the cwd
        env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        env.setenv("DO_NOT_TRACK", "true")
        try:
            for model_dir in (iris_dir, echo, tensor, ml_echo, ml_tensor):
                pairs.append(_start_pair(folder, model_dir))
            for pair in pairs:
                pair.tracklite.wait_healthy(START_TIMEOUT_S)
                pair.mlflow.wait_healthy(START_TIMEOUT_S)
            yield Served(x, model.predict(x).tolist(), *pairs)
        finally:
            for pair in pairs:
                pair.tracklite.stop()
                pair.mlflow.stop()


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, media type, and the body (decoded JSON, or text)."""

    status: int
    media_type: str
    body: Any

    @property
    def outcome(self) -> tuple[int, str | None]:
        """``(status, error_code)``; the code is None for successes and non-JSON answers."""
        code = self.body.get("error_code") if isinstance(self.body, dict) and self.status != 200 else None
        return self.status, code


def request(url: str, path: str, body: Any = None, content_type: str | None = JSON) -> Answer:
    """GET ``path`` (no body) or POST ``body`` (bytes, text, or a value sent as JSON)."""
    data = None
    if body is not None:
        data = (
            body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        )
    headers = {"Content-Type": content_type} if content_type is not None else {}
    req = urllib.request.Request(url + path, data=data, headers=headers, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw, kind = resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers.get("content-type", "")
    media_type = kind.split(";")[0].strip()
    if media_type == JSON and path == "/invocations":
        return Answer(status, media_type, json.loads(raw))
    return Answer(status, media_type, raw.decode())


def invoke_both(pair: Pair, body: Any, content_type: str | None = JSON) -> tuple[Answer, Answer]:
    """POST /invocations to tracklite's server and to MLflow's."""
    return (
        request(pair.tracklite.url, "/invocations", body, content_type),
        request(pair.mlflow.url, "/invocations", body, content_type),
    )


def assert_same(tl: Answer, ml: Answer) -> None:
    """Same status and media type; same predictions for a success, same error_code for a JSON
    error, same text for a 415."""
    assert tl.outcome == ml.outcome, (tl, ml)
    assert tl.media_type == ml.media_type, (tl, ml)
    if tl.status == 200:
        assert tl.body == ml.body  # {"predictions": ...} and nothing else
    elif tl.status == 415:
        # Wording difference: after "IMPORTANT: The MLflow Model scoring protocol has changed in
        # MLflow version 2.0. ..." MLflow goes on about pinning mlflow==1.30.0 and a docs link;
        # tracklite shows a request example instead.
        assert tl.body.split("IMPORTANT")[0] == ml.body.split("IMPORTANT")[0]


def split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


# --- the sklearn classifier -----------------------------------------------------------------------

ROWS = [0, 60, 120, 1, 2]
COLS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
RECORD = dict(zip(COLS, [5.1, 3.5, 1.4, 0.2], strict=True))


def _rows(x: pd.DataFrame) -> pd.DataFrame:
    return x.iloc[ROWS]


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer)
    return buffer.getvalue()


OK = (200, None)
BAD_REQUEST = (400, "BAD_REQUEST")
INVALID = (400, "INVALID_PARAMETER_VALUE")
UNSUPPORTED = (415, None)

# name -> (body builder from the iris rows, content type, outcome on both servers). A body
# builder gets the rows as a DataFrame so the frames are built once the fixture has the data.
IRIS_CASES: dict[str, tuple[Any, str | None, tuple[int, str | None]]] = {
    "dataframe_split": (lambda r: {"dataframe_split": split(r)}, JSON, OK),
    "dataframe_split with index": (
        lambda r: {"dataframe_split": {**split(r), "index": [5, 6, 7, 8, 9]}},
        JSON,
        OK,
    ),
    "dataframe_records": (lambda r: {"dataframe_records": r.to_dict(orient="records")}, JSON, OK),
    "instances as records": (lambda r: {"instances": r.to_dict(orient="records")}, JSON, OK),
    "inputs as columns": (lambda r: {"inputs": r.to_dict(orient="list")}, JSON, OK),
    "inputs as list of lists": (lambda r: {"inputs": r.to_numpy().tolist()}, JSON, INVALID),
    "instances as list of lists": (lambda r: {"instances": r.to_numpy().tolist()}, JSON, INVALID),
    "JSON ints for doubles": (lambda r: {"dataframe_split": split(r.round().astype("int64"))}, JSON, OK),
    "JSON bools for doubles": (lambda r: {"dataframe_records": [{**RECORD, COLS[0]: True}]}, JSON, OK),
    "missing column": (lambda r: {"dataframe_split": {"columns": COLS[:1], "data": [[1.0]]}}, JSON, INVALID),
    "extra column": (lambda r: {"dataframe_records": [{**RECORD, "extra": 9}]}, JSON, OK),
    "string in a double column": (lambda r: {"dataframe_records": [{**RECORD, COLS[0]: "x"}]}, JSON, BAD_REQUEST),
    "string in inputs columns": (
        lambda r: {"inputs": {**r.to_dict(orient="list"), COLS[0]: ["x"] * 5}},
        JSON,
        BAD_REQUEST,
    ),
    "null in a double column": (lambda r: {"dataframe_records": [{**RECORD, COLS[0]: None}]}, JSON, BAD_REQUEST),
    "no rows": (lambda r: {"dataframe_split": {"columns": COLS, "data": []}}, JSON, BAD_REQUEST),
    "bare list": (lambda r: r.to_dict(orient="records"), JSON, BAD_REQUEST),
    "JSON string": (lambda r: '"hello"', JSON, BAD_REQUEST),
    "two format keys": (
        lambda r: {"dataframe_split": split(r), "dataframe_records": r.to_dict(orient="records")},
        JSON,
        BAD_REQUEST,
    ),
    "unknown key data": (lambda r: {"data": r.to_dict(orient="records")}, JSON, BAD_REQUEST),
    "only params": (lambda r: {"params": {}}, JSON, BAD_REQUEST),
    "dataframe_split as a list": (lambda r: {"dataframe_split": r.to_dict(orient="records")}, JSON, BAD_REQUEST),
    "dataframe_split without data": (lambda r: {"dataframe_split": {"columns": COLS}}, JSON, BAD_REQUEST),
    "dataframe_split ragged": (
        lambda r: {"dataframe_split": {"columns": COLS, "data": [[1.0, 2.0]]}},
        JSON,
        BAD_REQUEST,
    ),
    "dataframe_records as a dict": (lambda r: {"dataframe_records": RECORD}, JSON, BAD_REQUEST),
    "instances of unequal length": (lambda r: {"instances": [RECORD, {COLS[0]: 1.0}]}, JSON, BAD_REQUEST),
    "malformed JSON": (lambda r: b'{"dataframe_split": ', JSON, BAD_REQUEST),
    "invalid UTF-8": (lambda r: b'{"dataframe_split": "\xff"}', JSON, BAD_REQUEST),
    "empty body": (lambda r: b"", JSON, BAD_REQUEST),
    "CSV with header": (lambda r: r.to_csv(index=False), CSV, OK),
    "CSV with a string for a double": (
        lambda r: r.to_csv(index=False).replace("5.1", "x", 1),
        CSV,
        BAD_REQUEST,
    ),
    "CSV with other columns": (lambda r: "a,b\nx,y\n", CSV, INVALID),
    "empty CSV": (lambda r: b"", CSV, BAD_REQUEST),
    "Parquet": (_parquet, PARQUET, OK),
    "not Parquet": (lambda r: b"not parquet", PARQUET, BAD_REQUEST),
    "text/plain": (lambda r: json.dumps({"dataframe_split": split(r)}), "text/plain", UNSUPPORTED),
    "no content type": (lambda r: json.dumps({"dataframe_split": split(r)}), None, UNSUPPORTED),
    "params without a params schema": (lambda r: {"dataframe_split": split(r), "params": {"ignored": 1}}, JSON, OK),
    "params null": (lambda r: {"dataframe_split": split(r), "params": None}, JSON, OK),
    "charset=utf-8": (lambda r: {"dataframe_split": split(r)}, "application/json; charset=utf-8", OK),
    "charset=latin-1": (lambda r: {"dataframe_split": split(r)}, "application/json; charset=latin-1", UNSUPPORTED),
    "unknown content-type parameter": (
        lambda r: {"dataframe_split": split(r)},
        "application/json; format=pandas-split",
        UNSUPPORTED,
    ),
}


@pytest.mark.parametrize("case", list(IRIS_CASES))
def test_iris_payloads_get_the_same_answer(served: Served, case: str) -> None:
    build, content_type, outcome = IRIS_CASES[case]
    rows = _rows(served.x)
    tl, ml = invoke_both(served.iris, build(rows), content_type)
    assert tl.outcome == outcome, tl
    assert_same(tl, ml)
    if outcome == OK and case not in ("extra column", "JSON bools for doubles", "JSON ints for doubles"):
        assert tl.body == {"predictions": [served.expected[i] for i in ROWS]}


def test_iris_params_that_are_not_an_object(served: Served) -> None:
    # A model without a params schema ignores params, whatever their shape, on both servers.
    body = {"dataframe_split": split(_rows(served.x)), "params": [1]}
    tl, ml = invoke_both(served.iris, body)
    assert tl.outcome == ml.outcome == OK
    assert tl.body == ml.body == {"predictions": [served.expected[i] for i in ROWS]}


def test_iris_media_type_case(served: Served) -> None:
    # DIFFERENCE: media types are case-insensitive (RFC 9110 §8.3.1); tracklite accepts
    # "Application/JSON", MLflow compares the string and answers 415.
    tl, ml = invoke_both(served.iris, {"dataframe_split": split(_rows(served.x))}, "Application/JSON")
    assert tl.outcome == OK
    assert tl.body == {"predictions": [served.expected[i] for i in ROWS]}
    assert ml.outcome == UNSUPPORTED
    assert "Got 'Application/JSON'" in ml.body


def test_error_bodies(served: Served) -> None:
    # DIFFERENCE: MLflow's error bodies also carry "sqlstate" and "error_class" (KAM00 /
    # INVALID_PARAMETER_VALUE for bad input, KAM01 / SCHEMA_ENFORCEMENT_FAILED for tensor shapes);
    # tracklite's carry error_code, message and (for failures inside the model) stack_trace.
    tl, ml = invoke_both(served.iris, {"dataframe_records": [{**RECORD, COLS[0]: "x"}]})
    assert set(tl.body) == {"error_code", "message"}
    assert set(ml.body) == {"error_code", "message", "sqlstate", "error_class"}
    assert tl.body["message"] == ml.body["message"]  # same text, word for word
    assert (ml.body["sqlstate"], ml.body["error_class"]) == ("KAM00", "INVALID_PARAMETER_VALUE")
    tl, ml = invoke_both(served.iris, {"dataframe_split": {"columns": COLS, "data": []}})
    assert set(tl.body) == {"error_code", "message", "stack_trace"}
    assert set(ml.body) == {"error_code", "message", "sqlstate", "error_class", "stack_trace"}
    tl, ml = invoke_both(served.ml_tensor, {"inputs": [[1.0, 2.0, 3.0]]})
    assert "sqlstate" not in tl.body
    assert (ml.body["sqlstate"], ml.body["error_class"]) == ("KAM01", "SCHEMA_ENFORCEMENT_FAILED")


def test_unknown_key_message_names_the_fields(served: Served) -> None:
    # DIFFERENCE (wording only): for {"data": ...} MLflow says "Received dictionary with input
    # fields: []" (it lists only the known fields it found); tracklite lists the keys it got.
    tl, ml = invoke_both(served.iris, {"data": [RECORD]})
    assert "Received dictionary with input fields: ['data']" in tl.body["message"]
    assert "Received dictionary with input fields: []" in ml.body["message"]


def test_the_models_own_serving_example(served: Served) -> None:
    body = (Path(served.iris.model_dir) / "serving_input_example.json").read_bytes()
    tl, ml = invoke_both(served.iris, body)
    assert tl.outcome == OK
    assert_same(tl, ml)
    assert tl.body == {"predictions": served.expected[:5]}


def test_ping_health_version(served: Served) -> None:
    import mlflow

    for name, pair in served.pairs().items():  # every model loads in both servers
        for path in ("/ping", "/health"):
            tl, ml = request(pair.tracklite.url, path), request(pair.mlflow.url, path)
            assert (tl.status, tl.media_type, tl.body) == (200, JSON, "\n"), (name, path)
            assert (ml.status, ml.media_type, ml.body) == (200, JSON, "\n"), (name, path)
    tl, ml = request(served.iris.tracklite.url, "/version"), request(served.iris.mlflow.url, "/version")
    assert (tl.status, tl.body) == (200, tracklite.__version__)
    assert (ml.status, ml.body) == (200, mlflow.__version__)
    for method_path in ("/invocations", "/nope"):
        tl, ml = request(served.iris.tracklite.url, method_path), request(served.iris.mlflow.url, method_path)
        assert tl.status == ml.status == (405 if method_path == "/invocations" else 404)


def test_mlflow_scoring_server_client(served: Served) -> None:
    import mlflow
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    rows = _rows(served.x)
    clients = {}
    for name, pair in served.pairs().items():
        clients[name] = [
            ScoringServerClient("127.0.0.1", s.url.rsplit(":", 1)[1]) for s in (pair.tracklite, pair.mlflow)
        ]
    tl, ml = clients["iris"]
    for client in (tl, ml):
        client.wait_server_ready(timeout=10)
        client.ping()
    assert tl.get_version() == tracklite.__version__
    assert ml.get_version() == mlflow.__version__
    assert tl.invoke(rows) == ml.invoke(rows) == {"predictions": [served.expected[i] for i in ROWS]}
    for client in (tl, ml):  # an array is sent as {"inputs": [[...]]}: no column names, both refuse it
        with pytest.raises(Exception, match="error code 400"):
            client.invoke(rows.to_numpy())
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    tl, ml = clients["ml_echo"]
    assert tl.invoke(frame, params={"k": 5}) == ml.invoke(frame, params={"k": 5})
    assert tl.invoke(frame, params={"k": 5}) == {"predictions": [{"k": 5, "temp": 0.5, "n": 2}]}
    tl, ml = clients["ml_tensor"]
    array = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    assert tl.invoke(array) == ml.invoke(array) == {"predictions": [3.0, 7.0]}
    tl, ml = clients["echo"]
    assert tl.invoke(frame, params={"k": 5}) == {"predictions": [{"k": 5, "temp": 0.5, "n": 2}]}
    assert ml.invoke(frame, params={"k": 5}) == tl.invoke(frame, params={"k": 5})


# --- params and tensors -----------------------------------------------------------------------------

FRAME = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}

# name -> (body, outcome on both servers, predictions when OK)
PARAMS_CASES: dict[str, tuple[Any, tuple[int, str | None], Any]] = {
    "valid params": ({**FRAME, "params": {"k": 7, "temp": 0.2}}, OK, [{"k": 7, "temp": 0.2, "n": 2}]),
    "no params: defaults": (FRAME, OK, [{"k": 3, "temp": 0.5, "n": 2}]),
    "some params": ({**FRAME, "params": {"temp": 1}}, OK, [{"k": 3, "temp": 1.0, "n": 2}]),
    "null param": ({**FRAME, "params": {"k": None}}, OK, [{"k": None, "temp": 0.5, "n": 2}]),
    "unknown param ignored": ({**FRAME, "params": {"zzz": 1}}, OK, [{"k": 3, "temp": 0.5, "n": 2}]),
    "params with inputs": ({"inputs": {"x": [1.0]}, "params": {"k": 9}}, OK, [{"k": 9, "temp": 0.5, "n": 1}]),
    "string for long": ({**FRAME, "params": {"k": "abc"}}, INVALID, None),
    "numeric string for long": ({**FRAME, "params": {"k": "5"}}, INVALID, None),
    "float for long": ({**FRAME, "params": {"k": 1.5}}, INVALID, None),
    "list for long": ({**FRAME, "params": {"k": [1]}}, INVALID, None),
}


def _compare_model_cases(
    pair: Pair,
    body: Any,
    outcome: tuple[int, str | None],
    predictions: Any,
) -> None:
    """``body`` to both servers: tracklite's answer is ``outcome`` (and ``predictions``), and
    MLflow's the same (MLflow serves tracklite-saved custom models too)."""
    tl, ml = invoke_both(pair, body)
    assert tl.outcome == outcome, tl
    if outcome == OK:
        assert tl.body == {"predictions": predictions}
    assert_same(tl, ml)


@pytest.mark.parametrize("saved_by", ["tracklite", "mlflow"])
@pytest.mark.parametrize("case", list(PARAMS_CASES))
def test_params_model(served: Served, case: str, saved_by: str) -> None:
    body, outcome, predictions = PARAMS_CASES[case]
    pair = served.echo if saved_by == "tracklite" else served.ml_echo
    _compare_model_cases(pair, body, outcome, predictions)


@pytest.mark.parametrize("saved_by", ["tracklite", "mlflow"])
def test_params_that_are_not_an_object(served: Served, saved_by: str) -> None:
    # Ignored by a model without a params schema, refused by enforcement for one with it, as MLflow does.
    pair = served.echo if saved_by == "tracklite" else served.ml_echo
    tl, ml = invoke_both(pair, {**FRAME, "params": [1]})
    assert tl.outcome == ml.outcome == INVALID
    assert "Parameters must be a dictionary. Got type 'list'." in tl.body["message"]


# name -> (JSON body, outcome on both servers, predictions when OK)
TENSOR_CASES: dict[str, tuple[Any, tuple[int, str | None], Any]] = {
    "inputs": ({"inputs": [[1.0, 2.0]]}, OK, [3.0]),
    "inputs, JSON ints": ({"inputs": [[1.0, 2.0], [3, 4]]}, OK, [3.0, 7.0]),
    "instances": ({"instances": [[1.0, 2.0]]}, OK, [3.0]),
    "dataframe_split": ({"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}, OK, [3.0]),
    "dataframe_records": ({"dataframe_records": [{"a": 1.0, "b": 2.0}]}, OK, [3.0]),
    "wrong shape": ({"inputs": [[1.0, 2.0, 3.0]]}, INVALID, None),
    "one dimension": ({"inputs": [1.0, 2.0]}, INVALID, None),
    "three dimensions": ({"inputs": [[[1.0, 2.0]]]}, INVALID, None),
    "scalar": ({"inputs": 1.0}, INVALID, None),
    "ragged": ({"inputs": [[1.0, 2.0], [1.0]]}, BAD_REQUEST, None),
    "strings": ({"inputs": [["a", "b"]]}, BAD_REQUEST, None),
    "named inputs for an unnamed tensor": ({"inputs": {"a": [[1.0, 2.0]]}}, BAD_REQUEST, None),
}


@pytest.mark.parametrize("saved_by", ["tracklite", "mlflow"])
@pytest.mark.parametrize("case", list(TENSOR_CASES))
def test_tensor_model(served: Served, case: str, saved_by: str) -> None:
    body, outcome, predictions = TENSOR_CASES[case]
    pair = served.tensor if saved_by == "tracklite" else served.ml_tensor
    _compare_model_cases(pair, body, outcome, predictions)


@pytest.mark.parametrize("saved_by", ["tracklite", "mlflow"])
def test_tensor_model_csv(served: Served, saved_by: str) -> None:
    # DIFFERENCE: MLflow cannot read CSV for a tensor signature (it asks the schema for pandas
    # types, which a TensorSpec refuses: 400 BAD_REQUEST "TensorSpec only supports numpy types");
    # tracklite reads the CSV and casts it to the tensor's dtype.
    pair = served.tensor if saved_by == "tracklite" else served.ml_tensor
    tl, ml = invoke_both(pair, "a,b\n1.0,2.0\n", CSV)
    assert tl.outcome == OK
    assert tl.body == {"predictions": [3.0]}
    assert ml.outcome == BAD_REQUEST
    assert "TensorSpec only supports numpy types" in ml.body["message"]
