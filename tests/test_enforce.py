"""Signature enforcement agrees with real MLflow: a dtype-by-type table, shapes, and hypothesis.

MLflow's own enforcement (``mlflow.models.utils._enforce_schema``, what its pyfunc
``predict`` runs) is the oracle: for every input, tracklite must accept, convert or reject
exactly as MLflow does, with the same resulting dtypes and values.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow.types
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.exceptions import MlflowException
from mlflow.models.utils import _enforce_schema as mlflow_enforce
from tracklite.errors import TrackliteError
from tracklite.models.enforce import enforce_schema
from tracklite.types import ColSpec, Schema, TensorSpec

TYPES = ["boolean", "integer", "long", "float", "double", "string", "binary", "datetime"]

COLUMNS: dict[str, Any] = {
    "bool": lambda: pd.Series([True, False, True]),
    "int8": lambda: pd.Series([1, 2, 3], dtype="int8"),
    "int16": lambda: pd.Series([1, -2, 3], dtype="int16"),
    "int32": lambda: pd.Series([1, 2, 300], dtype="int32"),
    "int64": lambda: pd.Series([1, 2, 3], dtype="int64"),
    "int64 zero/one": lambda: pd.Series([0, 1, 1], dtype="int64"),
    "uint8": lambda: pd.Series([1, 2, 3], dtype="uint8"),
    "uint32": lambda: pd.Series([1, 2, 3], dtype="uint32"),
    "uint64": lambda: pd.Series([1, 2, 3], dtype="uint64"),
    "float16": lambda: pd.Series([0.5, 1.5, 2.0], dtype="float16"),
    "float32": lambda: pd.Series([0.5, 1.5, 2.0], dtype="float32"),
    "float64": lambda: pd.Series([0.5, 1.5, 2.0], dtype="float64"),
    "float64 ints with NaN": lambda: pd.Series([1.0, None, 3.0]),
    "Int64 nullable": lambda: pd.Series([1, None, 3], dtype="Int64"),
    "Int32 nullable, no NA": lambda: pd.Series([1, 2, 3], dtype="Int32"),
    "int32[pyarrow]": lambda: pd.Series([1, 2, 3], dtype="int32[pyarrow]"),
    "double[pyarrow] with null": lambda: pd.Series([1.5, None, 3.0], dtype="double[pyarrow]"),
    "float[pyarrow]": lambda: pd.Series([0.5, 1.5, 2.0], dtype="float[pyarrow]"),
    "object str": lambda: pd.Series(["a", "b", "c"], dtype=object),
    "object numeric str": lambda: pd.Series(["1", "2", "3"], dtype=object),
    "object ints": lambda: pd.Series([1, 2, 3], dtype=object),
    "pandas str": lambda: pd.Series(["a", "b", "c"], dtype="str"),
    "bytes": lambda: pd.Series([b"a", b"b", b"c"], dtype=object),
    "datetime64[ns]": lambda: pd.Series(pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"])),
    "datetime64[s]": lambda: pd.Series(np.array(["2020-01-01", "2021-06-01", "2022-12-31"], dtype="datetime64[s]")),
}


def _outcome(fn: Any, data: Any, schema: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(data, schema)
    except (MlflowException, TrackliteError) as exc:
        return "error", getattr(exc, "message", str(exc))
    except (TypeError, ValueError) as exc:  # MLflow lets some pandas errors through
        return "error", str(exc)


def _same(ours: tuple[str, Any], theirs: tuple[str, Any], label: str) -> None:
    assert ours[0] == theirs[0], (
        f"{label}: tracklite {ours[0]} ({ours[1]!s:.200}), MLflow {theirs[0]} ({theirs[1]!s:.200})"
    )
    if ours[0] == "error":
        return
    a, b = ours[1], theirs[1]
    if isinstance(b, pd.DataFrame):
        assert list(a.columns) == list(b.columns), label
        for column in b.columns:
            assert a[column].dtype == b[column].dtype, (
                f"{label}: column {column} {a[column].dtype} vs {b[column].dtype}"
            )
            pd.testing.assert_series_equal(a[column], b[column], check_names=False, obj=label)
    elif isinstance(b, dict):
        assert a.keys() == b.keys()
        for key in b:
            np.testing.assert_array_equal(a[key], b[key])
            assert a[key].dtype == b[key].dtype
    else:
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def _both(data: Any, schema: Schema, label: str) -> tuple[str, Any]:
    theirs_schema = mlflow.types.Schema.from_json(schema.to_json())
    ours = _outcome(enforce_schema, data.copy() if hasattr(data, "copy") else data, schema)
    theirs = _outcome(mlflow_enforce, data.copy() if hasattr(data, "copy") else data, theirs_schema)
    _same(ours, theirs, label)
    return ours


@pytest.fixture(autouse=True)
def _quiet_mlflow_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)


@pytest.mark.parametrize("target", TYPES)
@pytest.mark.parametrize("column", list(COLUMNS))
def test_dtype_by_type_table_matches_mlflow(column: str, target: str) -> None:
    frame = pd.DataFrame({"x": COLUMNS[column]()})
    result = _both(frame, Schema([ColSpec(target, "x")]), f"{column} -> {target}")
    if result[0] == "error" and "Can not safely convert" in str(result[1]):
        assert str(result[1]).startswith("Incompatible input types for column x.")


def test_the_documented_matrix_cells() -> None:
    """The cells ../shared/MLFLOW_COMPAT.md section 4.2 calls out, checked by outcome."""

    def run(series: pd.Series, target: str) -> tuple[str, Any]:
        return _outcome(enforce_schema, pd.DataFrame({"x": series}), Schema([ColSpec(target, "x")]))

    assert run(pd.Series([1, 2, 3]), "double")[0] == "error"  # int64 -> double is refused in-process
    assert run(pd.Series([1, 2, 3], dtype="int32"), "double")[1]["x"].dtype == np.float64
    assert run(pd.Series([0.5]), "float")[0] == "error"
    assert run(pd.Series([1, 2]), "integer")[0] == "error"
    assert run(pd.Series([0.5], dtype="float32"), "double")[1]["x"].dtype == np.float64
    assert "Can not safely convert int64 to float64." in run(pd.Series([1, 2, 3]), "double")[1]


SCHEMA = Schema([ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c", required=False)])


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("all present", pd.DataFrame({"a": [1.0], "b": [2], "c": ["x"]})),
        ("missing required b", pd.DataFrame({"a": [1.0], "c": ["x"]})),
        ("missing optional c", pd.DataFrame({"a": [1.0], "b": [2]})),
        ("extra column z", pd.DataFrame({"a": [1.0], "b": [2], "z": [0]})),
        ("reordered", pd.DataFrame({"c": ["x"], "b": [2], "a": [1.0]})),
        ("None in required double", pd.DataFrame({"a": [None, 1.0], "b": [2, 3]})),
        ("dict of lists", {"a": [1.0, 2.0], "b": [1, 2]}),
        ("list of dicts", [{"a": 1.0, "b": 1}, {"a": 2.0, "b": 2}]),
        ("ndarray to named schema", np.zeros((2, 3))),
        ("a Series", pd.Series([1.0, 2.0], name="a")),
    ],
)
def test_missing_extra_optional_order(label: str, data: Any) -> None:
    _both(data, SCHEMA, label)


def test_missing_input_message() -> None:
    outcome = _both(pd.DataFrame({"a": [1.0], "z": [1]}), SCHEMA, "missing")
    assert outcome[1] == "Model is missing inputs ['b']. Note that there were extra inputs: ['z']."


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("any names, right types", pd.DataFrame({"p": [1.0], "q": [2]})),
        ("too few columns", pd.DataFrame({"p": [1.0]})),
        ("ndarray float64", np.zeros((2, 2))),
        ("wrong second type", pd.DataFrame({"p": [1.0], "q": [2.5]})),
    ],
)
def test_unnamed_schema_matches_by_position(label: str, data: Any) -> None:
    _both(data, Schema([ColSpec("double"), ColSpec("long")]), label)


TENSOR = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("same dtype", np.zeros((2, 4), dtype="float32")),
        ("float64 to float32", np.zeros((2, 4))),
        ("int32", np.zeros((2, 4), dtype="int32")),
        ("wrong width", np.zeros((2, 3), dtype="float32")),
        ("one row, no batch axis", np.zeros(4, dtype="float32")),
        ("float32 DataFrame", pd.DataFrame(np.zeros((2, 4), dtype="float32"))),
    ],
)
def test_tensor_enforcement(label: str, data: Any) -> None:
    _both(data, TENSOR, label)


def test_named_tensors() -> None:
    schema = Schema([TensorSpec(np.dtype("int64"), (-1,), "a"), TensorSpec(np.dtype("float64"), (-1, 2), "b")])
    _both({"a": np.arange(3), "b": np.zeros((3, 2))}, schema, "both")
    _both({"a": np.arange(3)}, schema, "missing b")
    _both({"a": np.arange(3, dtype="int32"), "b": np.zeros((3, 2))}, schema, "int32 for int64")


def test_wide_frame_keeps_unconverted_columns_uncopied() -> None:
    frame = pd.DataFrame({f"c{i}": np.arange(1000, dtype="float64") for i in range(4)})
    schema = Schema([ColSpec("double", f"c{i}") for i in range(4)])
    assert enforce_schema(frame, schema) is frame


# -- hypothesis: random frames against random schemas --------------------------------------------

_DTYPES = ["bool", "int8", "int32", "int64", "uint16", "float32", "float64", "object str", "pandas str"]


@st.composite
def frames_and_schemas(draw: st.DrawFn) -> tuple[pd.DataFrame, Schema]:
    n = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
    columns: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(_DTYPES))
        if kind == "bool":
            columns[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        elif kind in ("object str", "pandas str"):
            values = draw(st.lists(st.text("xyz01", max_size=3), min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype=object if kind == "object str" else "str")
        elif kind.startswith("float"):
            values = draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, -2.0, float("nan")]), min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype=kind)
        else:
            low = 0 if kind.startswith("u") else -3
            values = draw(st.lists(st.integers(low, 3), min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype=kind)
    frame = pd.DataFrame(columns)
    spec_names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
    specs = [ColSpec(draw(st.sampled_from(TYPES[:7])), name, required=draw(st.booleans())) for name in spec_names]
    return frame, Schema(specs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_and_schemas())
def test_random_frames_agree_with_mlflow(case: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = case
    _both(frame, schema, f"{frame.dtypes.to_dict()} vs {schema}")
