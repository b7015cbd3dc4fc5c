"""Batch inference: ``tracklite models predict`` over files and ``tracklite.pyfunc.predict_batches``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tracklite
import tracklite.pyfunc
import tracklite.sklearn
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist, SchemaEnforcementError, TrackliteError
from tracklite.models import infer_signature
from tracklite.serving.batch import predict_file

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


@pytest.fixture
def iris_model(store_path: str, iris: tuple[Any, Any], logreg: Any) -> str:
    """``models:/iris/1``: the iris classifier, registered in the test's store."""
    x, _ = iris
    with tracklite.start_run():
        tracklite.sklearn.log_model(logreg, name="model", input_example=x.head(3), registered_model_name="iris")
    return "models:/iris/1"


@pytest.fixture
def big_iris(iris: tuple[Any, Any]) -> pd.DataFrame:
    """Iris repeated to 15,000 rows with a little noise, so no two chunks are alike."""
    x, _ = iris
    rng = np.random.default_rng(7)
    frame = pd.concat([x] * 100, ignore_index=True)
    return frame + rng.normal(0, 0.3, frame.shape)


def predict_cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite", "models", "predict", "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_parquet_file_predictions_equal_in_process_predictions(
    store_path: str, iris_model: str, big_iris: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    big_iris.to_parquet(source, row_group_size=4000)
    out = tmp_path / "out.parquet"
    result = predict_cli(store_path, "-m", iris_model, "-i", str(source), "-o", str(out), "--chunk-rows", "1000")
    assert result.returncode == 0, result.stderr
    assert "15,000 rows predicted" in result.stdout
    expected = tracklite.pyfunc.load_model(iris_model).predict(big_iris)
    written = pd.read_parquet(out)
    assert list(written.columns) == ["prediction"]
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_in_and_out_with_input_columns(
    store_path: str, iris_model: str, big_iris: pd.DataFrame, tmp_path: Path, fmt: str
) -> None:
    source = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        big_iris.to_csv(source, index=False)
    else:
        big_iris.to_json(source, orient="records", lines=True)
    out = tmp_path / f"out.{fmt}"
    args = ["-m", iris_model, "-i", str(source), "-o", str(out), "--chunk-rows", "2500", "--include-input"]
    result = predict_cli(store_path, *args)
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(out) if fmt == "csv" else pd.read_json(out, lines=True)
    assert list(written.columns) == [*big_iris.columns, "prediction"]
    assert len(written) == len(big_iris)
    expected = tracklite.pyfunc.load_model(iris_model).predict(big_iris)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected)
    # pandas wrote the JSON input with 10 decimals; what was read is written back unchanged.
    np.testing.assert_allclose(written[big_iris.columns].to_numpy(), big_iris.to_numpy(), rtol=0, atol=1e-9)


def test_input_is_parsed_with_the_signature_types(store_path: str, iris_model: str, tmp_path: Path) -> None:
    # Integer columns for a double schema are fine here, as they are in a scoring request.
    frame = pd.DataFrame(
        {c: [5, 6, 7] for c in ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")}
    )
    frame["extra"] = ["a", "b", "c"]
    frame.to_parquet(tmp_path / "ints.parquet")
    rows = predict_file(iris_model, str(tmp_path / "ints.parquet"), str(tmp_path / "out.jsonl"))
    assert rows == 3
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [set(line) for line in lines] == [{"prediction"}] * 3


def test_chunks_are_bounded_by_chunk_rows(store_path: str, tmp_path: Path) -> None:
    def chunk_size(frame: Any) -> Any:  # every row says how big its chunk was
        return np.full(len(frame), len(frame))

    x = pd.DataFrame({"a": np.arange(10_007, dtype="float64")})
    with tracklite.start_run():
        info = tracklite.pyfunc.log_model(name="sizer", python_model=chunk_size, input_example=x.head(2))
    for fmt in ("csv", "jsonl", "parquet"):
        source = tmp_path / f"in.{fmt}"
        if fmt == "csv":
            x.to_csv(source, index=False)
        elif fmt == "jsonl":
            x.to_json(source, orient="records", lines=True)
        else:
            x.to_parquet(source)
        out = tmp_path / f"sizes-{fmt}.parquet"
        assert predict_file(info.model_uri, str(source), str(out), chunk_rows=3000) == len(x)
        sizes = pq.read_table(out).column("prediction").to_numpy()
        assert len(sizes) == len(x) and sizes.max() <= 3000, fmt
        assert set(np.unique(sizes)) == {3000, 1007}, fmt  # 3 full chunks and the rest


def test_a_bad_row_names_its_rows_and_leaves_no_output(
    store_path: str, iris_model: str, big_iris: pd.DataFrame, tmp_path: Path
) -> None:
    frame = big_iris.astype(object)
    frame.iloc[7_500, 1] = "not a number"
    source = tmp_path / "bad.jsonl"
    frame.to_json(source, orient="records", lines=True)
    out = tmp_path / "out.csv"
    out.write_text("an earlier result\n")
    result = predict_cli(store_path, "-m", iris_model, "-i", str(source), "-o", str(out), "--chunk-rows", "1000")
    assert result.returncode == 1
    assert "sepal width (cm)" in result.stderr and "Data is not compatible with model signature" in result.stderr
    assert out.read_text() == "an earlier result\n"  # untouched
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []

    frame = big_iris.drop(columns=["petal width (cm)"])
    frame.to_parquet(tmp_path / "missing.parquet")
    with pytest.raises(SchemaEnforcementError, match=r"Rows 1-1000 of .*missing inputs \['petal width \(cm\)'\]"):
        predict_file(iris_model, str(tmp_path / "missing.parquet"), str(tmp_path / "o.parquet"), chunk_rows=1000)
    assert not (tmp_path / "o.parquet").exists()


def test_bad_arguments_are_clear(store_path: str, iris_model: str, tmp_path: Path, iris: tuple[Any, Any]) -> None:
    iris[0].to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(InvalidParameterValue, match="Cannot tell the format"):
        predict_file(iris_model, str(tmp_path / "in.csv"), str(tmp_path / "out.xlsx"))
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        predict_file(iris_model, str(tmp_path / "nope.csv"), str(tmp_path / "out.csv"))
    with pytest.raises(InvalidParameterValue, match="chunk_rows"):
        predict_file(iris_model, str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), chunk_rows=0)
    with pytest.raises(ResourceDoesNotExist):
        predict_file("models:/nope/1", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"))
    (tmp_path / "empty.csv").write_text(",".join(iris[0].columns) + "\n")
    assert predict_file(iris_model, str(tmp_path / "empty.csv"), str(tmp_path / "empty-out.csv")) == 0
    assert (tmp_path / "empty-out.csv").exists()
    result = predict_cli(store_path, "-m", iris_model, "-i", str(tmp_path / "in.csv"), "-o", "x.csv", "--params", "[1]")
    assert result.returncode == 2 and "JSON object" in result.stderr


def test_two_dimensional_and_frame_outputs_become_columns(store_path: str, tmp_path: Path) -> None:
    def proba(frame: Any) -> Any:
        return np.stack([frame["a"].to_numpy(), 1 - frame["a"].to_numpy()], axis=1)

    def frame_out(frame: Any) -> Any:
        return pd.DataFrame({"label": ["x"] * len(frame), "score": frame["a"].to_numpy() * 2})

    x = pd.DataFrame({"a": np.linspace(0, 1, 50)})
    x.to_parquet(tmp_path / "in.parquet")
    with tracklite.start_run():
        a = tracklite.pyfunc.log_model(name="proba", python_model=proba, input_example=x.head(2))
        b = tracklite.pyfunc.log_model(name="frame", python_model=frame_out, input_example=x.head(2))
    predict_file(a.model_uri, str(tmp_path / "in.parquet"), str(tmp_path / "a.csv"), chunk_rows=7)
    written = pd.read_csv(tmp_path / "a.csv")
    assert list(written.columns) == ["prediction_0", "prediction_1"]
    np.testing.assert_allclose(written["prediction_1"], 1 - x["a"])
    predict_file(b.model_uri, str(tmp_path / "in.parquet"), str(tmp_path / "b.parquet"), chunk_rows=7)
    written = pd.read_parquet(tmp_path / "b.parquet")
    assert list(written.columns) == ["label", "score"] and len(written) == 50


def test_predict_batches_is_lazy_and_enforces(iris_model: str, big_iris: pd.DataFrame) -> None:
    import pyarrow as pa

    pulled: list[int] = []

    def frames() -> Iterator[Any]:
        for start in range(0, 3000, 1000):
            pulled.append(start)
            chunk = big_iris.iloc[start : start + 1000]
            yield pa.Table.from_pandas(chunk, preserve_index=False) if start else chunk

    results = tracklite.pyfunc.predict_batches(iris_model, frames())
    assert pulled == []  # nothing read before asked
    first = next(results)
    assert pulled == [0] and len(first) == 1000
    rest = list(results)
    expected = tracklite.pyfunc.load_model(iris_model).predict(big_iris.iloc[:3000])
    np.testing.assert_array_equal(np.concatenate([first, *rest]), expected)
    # In-process rules: int64 for a double column is an error here (it is cast in files and requests).
    ints = big_iris.head(2).round().astype("int64")
    with pytest.raises(SchemaEnforcementError, match="Can not safely convert int64 to float64"):
        next(tracklite.pyfunc.predict_batches(iris_model, [ints]))
    with pytest.raises(TrackliteError):
        tracklite.pyfunc.predict_batches("models:/nope/1", [])


def test_predict_batches_passes_params(store_path: str) -> None:
    class Echo(tracklite.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
            return np.full(len(model_input), (params or {}).get("k", 0))

    x = pd.DataFrame({"a": [1.0, 2.0]})
    with tracklite.start_run():
        info = tracklite.pyfunc.log_model(
            name="echo", python_model=Echo(), signature=infer_signature(x, params={"k": 1})
        )
    out = list(tracklite.pyfunc.predict_batches(info.model_uri, [x, x], params={"k": 5}))
    assert [o.tolist() for o in out] == [[5, 5], [5, 5]]
    assert os.environ.get("TRACKLITE_MODEL_CACHE")  # loaded through the test's own cache
