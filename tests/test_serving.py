"""``tracklite models serve``: real server processes on 127.0.0.1 scoring real models.

One store holds an sklearn classifier (``iris`` version 1), a constant model (version 2),
a model with inference params and a tensor model; the servers start once for the module.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from conftest import reset_tracking
from server_fixtures import ServerProcess, free_port, start_command
from tracklite.models import ModelSignature, infer_signature
from tracklite.types import Schema, TensorSpec

JSON = "application/json"


@dataclass
class Served:
    """The module's store, models and servers."""

    store: str
    x: pd.DataFrame
    expected: list[int]
    model_dir: str
    alias: ServerProcess  # models:/iris@champion, following the alias
    pinned: ServerProcess  # models:/iris@champion, resolved at start, 2 workers
    params: ServerProcess  # models:/echo/1, --timeout 1
    tensor: ServerProcess  # a local model directory


def _build_store(folder: Path, x: pd.DataFrame, y: Any) -> tuple[str, str, list[int]]:
    from sklearn.linear_model import LogisticRegression

    store = str(folder / "store.duckdb")
    tracklite.set_tracking_uri(store)
    try:
        model = LogisticRegression(max_iter=500).fit(x, y)

        def constant(frame: Any) -> Any:  # local, so cloudpickle stores it by value
            return np.full(len(frame), 42)

        class Echo(tracklite.pyfunc.PythonModel):
            def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
                params = params or {}
                time.sleep(float(params.get("sleep", 0.0)))
                return np.full(len(model_input), params.get("k", -1))

        class Sum(tracklite.pyfunc.PythonModel):
            def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
                assert model_input.dtype == np.float32
                return model_input.sum(axis=1)

        with tracklite.start_run():
            tracklite.sklearn.log_model(model, name="model", input_example=x.head(3), registered_model_name="iris")
            tracklite.pyfunc.log_model(
                name="constant", python_model=constant, input_example=x.head(3), registered_model_name="iris"
            )
            echo_sig = infer_signature(x.head(3), params={"k": 3, "sleep": 0.0})
            tracklite.pyfunc.log_model(
                name="echo", python_model=Echo(), signature=echo_sig, registered_model_name="echo"
            )
        tracklite.Client().set_registered_model_alias("iris", "champion", "1")
        model_dir = str(folder / "tensor-model")
        tensor_sig = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float32"), (-1, 2))]))
        tracklite.pyfunc.save_model(model_dir, python_model=Sum(), signature=tensor_sig)
        expected = model.predict(x).tolist()
    finally:
        reset_tracking()
    return store, model_dir, expected


def _serve(folder: Path, *args: str) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "tracklite", "models", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    return start_command(command, folder, port, wait=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, iris: tuple[Any, Any]) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serving")
    x, y = iris
    store, model_dir, expected = _build_store(folder, x, y)
    common = ("--store", store)
    servers = [
        _serve(folder, "-m", "models:/iris@champion", "--reload-on-alias-change", "--poll-interval", "0.2", *common),
        _serve(folder, "-m", "models:/iris@champion", "--workers", "2", *common),
        _serve(folder, "-m", "models:/echo/1", "--timeout", "1", *common),
        _serve(folder, "-m", model_dir, *common),
    ]
    try:
        for server in servers:
            server.wait_healthy(120)
        yield Served(store, x, expected, model_dir, *servers)
    finally:
        for server in servers:
            server.stop()


def post(server: ServerProcess, body: Any, content_type: str = JSON) -> tuple[int, Any]:
    """POST /invocations; the status and the decoded JSON body (or text for non-JSON answers)."""
    data = (
        body if isinstance(body, bytes) else json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    )
    request = urllib.request.Request(
        server.url + "/invocations", data=data, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, raw, kind = resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers.get("content-type", "")
    return status, json.loads(raw) if kind.startswith(JSON) else raw.decode()


def split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


def test_ping_health_version(served: Served) -> None:
    for path in ("/ping", "/health"):
        with urllib.request.urlopen(served.alias.url + path) as resp:
            assert resp.status == 200
            assert resp.read() == b"\n"
            assert resp.headers["content-type"] == JSON
    with urllib.request.urlopen(served.alias.url + "/version") as resp:
        assert resp.read().decode() == tracklite.__version__


def test_every_input_format_gives_the_same_predictions(served: Served) -> None:
    rows = served.x.iloc[[0, 60, 120, 1, 2]]
    expected = [served.expected[i] for i in (0, 60, 120, 1, 2)]
    csv = rows.to_csv(index=False).encode()
    buffer = io.BytesIO()
    rows.reset_index(drop=True).to_parquet(buffer)
    ints = rows.round().astype("int64")  # JSON integers for double columns are cast, as MLflow's server does
    bodies: list[tuple[Any, str]] = [
        ({"dataframe_split": split(rows)}, JSON),
        ({"dataframe_split": {**split(rows), "index": [5, 6, 7, 8, 9]}}, JSON),
        ({"dataframe_records": rows.to_dict(orient="records")}, JSON),
        ({"instances": rows.to_dict(orient="records")}, JSON),
        ({"inputs": rows.to_dict(orient="list")}, JSON),
        ({"dataframe_split": split(rows)}, "application/json; charset=utf-8"),
        (csv, "text/csv"),
        (csv, "text/csv; charset=UTF-8"),
        (buffer.getvalue(), "application/vnd.apache.parquet"),
        ({"dataframe_split": split(rows), "params": {"ignored": 1}}, JSON),  # no params schema: ignored
    ]
    for body, content_type in bodies:
        status, answer = post(served.pinned, body, content_type)
        assert (status, answer) == (200, {"predictions": expected}), (body, content_type)
    status, answer = post(served.pinned, {"dataframe_split": split(ints)})
    assert status == 200 and len(answer["predictions"]) == 5


def test_the_models_own_serving_example_scores(served: Served) -> None:
    from tracklite.models.uri import local_model_path

    tracklite.set_tracking_uri(served.store)
    try:
        example = Path(local_model_path("models:/iris/1")) / "serving_input_example.json"
        body = example.read_bytes()
    finally:
        reset_tracking()
    status, answer = post(served.pinned, body)
    assert status == 200
    assert answer["predictions"] == served.expected[:3]


ERROR_CASES = {
    "list of lists for named columns": ({"inputs": [[5.0, 3.0, 1.0, 0.2]]}, 400, "INVALID_PARAMETER_VALUE"),
    "missing column": (
        {"dataframe_split": {"columns": ["sepal length (cm)"], "data": [[1.0]]}},
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    "string in a double column": (
        {
            "dataframe_records": [
                {"sepal length (cm)": "x", "sepal width (cm)": 1, "petal length (cm)": 1, "petal width (cm)": 1}
            ]
        },
        400,
        "BAD_REQUEST",
    ),
    "bare list": ([1, 2, 3], 400, "BAD_REQUEST"),
    "two input fields": ({"inputs": {}, "instances": []}, 400, "BAD_REQUEST"),
    "unknown field": ({"data": [[1, 2, 3, 4]]}, 400, "BAD_REQUEST"),
    "malformed JSON": ("{not json", 400, "BAD_REQUEST"),
    "split without data": ({"dataframe_split": {"columns": ["a"]}}, 400, "BAD_REQUEST"),
    "records not a list": ({"dataframe_records": {"a": 1}}, 400, "BAD_REQUEST"),
    "deeply nested JSON": ('{"inputs": ' + "[" * 100_000 + "]" * 100_000 + "}", 400, "BAD_REQUEST"),
    "deeply nested objects": ('{"inputs": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}", 400, "BAD_REQUEST"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_bad_requests_get_mlflow_errors_and_the_server_keeps_serving(served: Served, case: str) -> None:
    body, status, code = ERROR_CASES[case]
    answer_status, answer = post(served.pinned, body)
    assert answer_status == status, answer
    assert answer["error_code"] == code
    assert isinstance(answer["message"], str) and answer["message"]
    good = post(served.pinned, {"dataframe_split": split(served.x.head(2))})
    assert good == (200, {"predictions": served.expected[:2]})


def test_unsupported_content_types_are_415_in_text(served: Served) -> None:
    status, text = post(served.pinned, "a,b", "text/plain")
    assert status == 415 and "only supports the following content types" in text
    status, text = post(served.pinned, {"inputs": {}}, "application/json; charset=latin-1")
    assert status == 415 and "UTF-8" in text
    status, text = post(served.pinned, {"inputs": {}}, "application/json; format=pandas-split")
    assert status == 415 and "format" in text


def test_bad_csv_and_parquet_bodies(served: Served) -> None:
    status, answer = post(served.pinned, b"sepal length (cm)\nnot-a-number\n", "text/csv")
    assert status == 400 and answer["error_code"] == "BAD_REQUEST"
    status, answer = post(served.pinned, b"PAR1 not parquet", "application/vnd.apache.parquet")
    assert status == 400 and answer["error_code"] == "BAD_REQUEST"
    status, answer = post(served.pinned, b"", "text/csv")
    assert status == 400 and answer["error_code"] == "BAD_REQUEST"


def test_params_are_checked_against_the_params_schema(served: Served) -> None:
    rows = {"dataframe_split": split(served.x.head(2))}
    assert post(served.params, rows) == (200, {"predictions": [3, 3]})  # the default
    assert post(served.params, {**rows, "params": {"k": 7}}) == (200, {"predictions": [7, 7]})
    assert post(served.params, {**rows, "params": {"k": 7, "unknown": 1}}) == (200, {"predictions": [7, 7]})
    status, answer = post(served.params, {**rows, "params": {"k": "abc"}})
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Invalid parameters found" in answer["message"]
    status, answer = post(served.params, {**rows, "params": [1]})
    assert status == 400 and "Parameters must be a dictionary" in answer["message"]


def test_a_slow_request_times_out_and_the_server_keeps_serving(served: Served) -> None:
    rows = {"dataframe_split": split(served.x.head(2))}
    status, answer = post(served.params, {**rows, "params": {"sleep": 3.0}})
    assert status == 504
    assert answer["error_code"] == "DEADLINE_EXCEEDED" and "exceeded limit (1 s)" in answer["message"]
    assert post(served.params, rows) == (200, {"predictions": [3, 3]})


def test_tensor_model_casts_json_to_the_tensor_dtype(served: Served) -> None:
    assert post(served.tensor, {"inputs": [[1.0, 2.0], [3, 4]]}) == (200, {"predictions": [3.0, 7.0]})
    assert post(served.tensor, {"instances": [[1.5, 2.5]]}) == (200, {"predictions": [4.0]})
    status, answer = post(served.tensor, {"inputs": [[1.0, 2.0, 3.0]]})
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Shape of input" in answer["message"]
    status, answer = post(served.tensor, {"inputs": {"a": [1.0]}})
    assert status == 400


def test_concurrent_clients_get_their_own_answers(served: Served) -> None:
    def call(i: int) -> tuple[int, Any]:
        rows = served.x.iloc[[i % 150]]
        if i % 5 == 0:
            return post(served.pinned, {"dataframe_split": {"columns": ["x"], "data": [[1]]}})
        return post(served.pinned, {"dataframe_records": rows.to_dict(orient="records")})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(200)))
    for i, (status, answer) in enumerate(answers):
        if i % 5 == 0:
            assert status == 400
        else:
            assert (status, answer) == (200, {"predictions": [served.expected[i % 150]]})


def test_a_moved_alias_is_followed_only_when_asked(served: Served) -> None:
    rows = {"dataframe_split": split(served.x.head(3))}
    assert post(served.alias, rows) == (200, {"predictions": served.expected[:3]})
    tracklite.set_tracking_uri(served.store)
    try:
        client = tracklite.Client()
        client.set_registered_model_alias("iris", "champion", "2")
    finally:
        reset_tracking()
    try:
        deadline = time.monotonic() + 60
        while post(served.alias, rows) != (200, {"predictions": [42, 42, 42]}):
            assert time.monotonic() < deadline, served.alias.log_text()
            time.sleep(0.1)
        # Resolved once at start: the server without --reload-on-alias-change keeps version 1.
        assert post(served.pinned, rows) == (200, {"predictions": served.expected[:3]})
        assert "now serving version 2 (was 1)" in served.alias.log_text()
    finally:
        tracklite.set_tracking_uri(served.store)
        try:
            tracklite.Client().set_registered_model_alias("iris", "champion", "1")
        finally:
            reset_tracking()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite", "models", "serve", *args], capture_output=True, text=True, timeout=120
    )


def test_serve_refuses_bad_model_uris_before_listening(served: Served) -> None:
    result = _cli("-m", "models:/nope/1", "--store", served.store, "--port", str(free_port()))
    assert result.returncode == 1
    assert "Registered Model with name=nope not found" in result.stderr
    result = _cli("-m", "models:/iris/1", "--reload-on-alias-change", "--store", served.store)
    assert result.returncode == 1
    assert "needs a model URI that can move" in result.stderr
    result = _cli("-m", str(Path(served.store).parent / "missing"), "--store", served.store)
    assert result.returncode == 1 and "MLmodel" in result.stderr
