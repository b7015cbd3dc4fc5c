"""``store.reads.Read``: Arrow and NumPy reads run as relations give what a prepared statement gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracklite.store.reads import PARAMS_VARIABLE, Read, inline_parameters


@pytest.fixture
def con(tmp_path: Path) -> Iterator[Any]:
    """A DuckDB file with a table of 300,000 rows inserted in a known order."""
    con = duckdb.connect(str(tmp_path / "reads.duckdb"))
    con.execute(
        "CREATE TABLE points AS SELECT (i % 3)::INTEGER AS series, (299999 - i)::BIGINT AS step, "
        "i / 7.0 AS value, 'k' || (i % 11) AS key, TIMESTAMP '2024-01-01' + to_seconds(i) AS stamp "
        "FROM range(300000) t(i)"
    )
    yield con
    con.close()


def _same(read: Read) -> None:
    expected = read.execute().fetch_arrow_table()
    got = read.fetch_arrow_table()
    assert got.schema == expected.schema
    assert repr(got.to_pylist()) == repr(expected.to_pylist())  # repr: NaN equals NaN


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("SELECT step, value FROM points WHERE series = ? AND step < ?", [1, 1000]),
        ("SELECT step FROM points WHERE series = $1 AND step < $2 AND step > $2 - 50", [2, 500]),
        ("SELECT step FROM points WHERE key = $key AND series = $series", {"key": "k3", "series": 0}),
        ("SELECT step FROM points WHERE list_contains(?, key) AND step < 40", [["k1", "k2"]]),
        ("SELECT count(*) FROM points WHERE series IN (SELECT unnest(?::INTEGER[]))", [[]]),
        ("SELECT step FROM points WHERE value > ? ORDER BY step LIMIT ?", [42856.5, 3]),
        # Placeholders in strings, quoted names, comments and dollar quotes are not parameters.
        ("SELECT '?' AS \"a?\", $$ $1 ? $$ AS b, E'\\' ?' AS c, ? AS d /* ? */ -- ?\n", ["x"]),
        # A string for a timestamp: a variable would keep VARCHAR; this runs prepared.
        ("SELECT step FROM points WHERE stamp < ? ORDER BY step LIMIT 2", ["2024-01-01 00:00:03"]),
        ("SELECT ? AS nan, ? AS inf, ? AS neg, ? AS big, ? AS huge", [float("nan"), float("inf"), -0.0, 2**63, 10**30]),
        ("SELECT 1 AS one", None),
        # DuckDB's tokenizer counts bytes: text before a placeholder may be any UTF-8.
        ("SELECT key FROM points WHERE key <> '日本' AND series = ? AND step < 5", [1]),
        ("SELECT $1 || '€€' || '$1' || 'a' AS label", [7]),
        ("SELECT '€' AS e, ? AS a, /* ☃ ? */ $$ é $1 $$ AS b", ["x"]),
        # An integer takes a parameter's type, not a narrow column's, and never names a column.
        ("SELECT tiny + ? AS t FROM (SELECT 1::TINYINT AS tiny)", [100]),
    ],
)
def test_an_arrow_read_gives_what_a_prepared_statement_gives(con: Any, query: str, params: Any) -> None:
    _same(Read(con, query, params))


def test_an_integer_parameter_in_order_by_is_a_value_not_a_column_number(con: Any) -> None:
    """DuckDB refuses a parameter there when prepared; inlined, it must not become ``ORDER BY 2``."""
    got = Read(con, "SELECT key, step FROM points WHERE step < 30 ORDER BY ?, step", [2]).fetch_arrow_table()
    assert got.column("step").to_pylist() == list(range(30))


def test_a_parameterised_arrow_read_runs_as_a_relation_with_its_filters_in_the_scan() -> None:
    query, variable = inline_parameters(  # type: ignore[misc]
        "SELECT step FROM points WHERE series = ? AND key = ? AND value < ?", [1, "k'2", 0.5]
    )
    assert "?" not in query and "CAST(1 AS INTEGER)" in query and "CAST('0.5' AS DOUBLE)" in query
    assert variable == {"p2": "k'2"}  # a string travels as a value, never spliced into SQL


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("SELECT ? + ?", [1]),  # too few
        ("SELECT ?", [1, 2]),  # too many
        ("SELECT $a", {"b": 1}),  # wrong name
        ("SELECT 1; SELECT ?", [1]),  # two statements
        ("CREATE TABLE t (a INTEGER)", None),  # not a read
    ],
)
def test_what_does_not_rewrite_cleanly_runs_prepared(query: str, params: Any) -> None:
    assert inline_parameters(query, params) is None


def test_wrong_parameters_raise_the_prepared_statements_error(con: Any) -> None:
    with pytest.raises(duckdb.InvalidInputException) as prepared:
        con.execute("SELECT step FROM points WHERE series = ? AND step < ?", [1]).fetchall()
    with pytest.raises(duckdb.InvalidInputException) as read:
        Read(con, "SELECT step FROM points WHERE series = ? AND step < ?", [1]).fetch_arrow_table()
    assert str(read.value) == str(prepared.value)


def test_the_parameters_are_not_left_for_later_statements(con: Any) -> None:
    """A server user's SQL on the same connection must not read another read's parameters."""
    Read(con, "SELECT step FROM points WHERE key = ?", ["secret-key"]).fetch_arrow_table()
    Read(con, "SELECT step FROM points WHERE key = ?", ["secret-key"]).fetchnumpy()
    assert con.execute(f"SELECT getvariable('{PARAMS_VARIABLE}')").fetchall() == [(None,)]
    with pytest.raises(duckdb.BinderException):  # a failed read resets them too
        Read(con, "SELECT nope FROM points WHERE key = ?", ["secret-key"]).fetch_arrow_table()
    assert con.execute(f"SELECT getvariable('{PARAMS_VARIABLE}')").fetchall() == [(None,)]


def test_an_unordered_scan_comes_back_in_stored_order(con: Any) -> None:
    """The store reads series unsorted and relies on the stored order (duckdb_store.get_metric_arrays)."""
    for series in range(3):
        columns = Read(con, "SELECT step FROM points WHERE series = ?", [series]).fetchnumpy()
        assert len(columns["step"]) == 100_000 and (np.diff(columns["step"]) == -3).all()
        table = Read(con, "SELECT step FROM points WHERE series = ?", [series]).fetch_arrow_table()
        assert (np.diff(table.column("step").to_numpy()) == -3).all()


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=5),
    st.lists(st.text(max_size=5), max_size=5),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_VALUES, min_size=1, max_size=4))
def test_any_parameter_values_read_back_as_a_prepared_statement_reads_them(
    tmp_path_factory: Any, values: list[Any]
) -> None:
    con = duckdb.connect(str(tmp_path_factory.mktemp("reads") / "v.duckdb"))
    try:
        query = "SELECT " + ", ".join(f"? AS c{i}" for i in range(len(values)))
        expected = con.execute(query, values).fetch_arrow_table()
        got = Read(con, query, values).fetch_arrow_table()
        assert got.schema == expected.schema
        assert repr(got.to_pylist()) == repr(expected.to_pylist())
    finally:
        con.close()


def test_a_read_failing_in_a_transaction_raises_its_own_error_and_leaves_nothing(con: Any) -> None:
    """A run-time error aborts the transaction: no retry is possible, the error is the read's,
    and the parameters are dropped by ``forget_parameters`` after the rollback."""
    from tracklite.store.reads import forget_parameters

    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException, match="Could not convert"):
        Read(con, "SELECT key::INTEGER FROM points WHERE key <> ?", ["top-secret"]).fetch_arrow_table()
    con.execute("ROLLBACK")
    forget_parameters(con)
    assert con.execute(f"SELECT getvariable('{PARAMS_VARIABLE}')").fetchall() == [(None,)]


def test_sql_with_parameters_leaves_nothing_behind_even_when_it_fails(tmp_path: Path) -> None:
    """``tracklite.sql`` runs reads in a transaction it rolls back."""
    import tracklite
    from tracklite.errors import InvalidParameterValue
    from tracklite.store import get_store

    path = str(tmp_path / "store.duckdb")
    tracklite.Client(path).create_experiment("日本-€")
    store = get_store(path)
    assert store.sql("SELECT name FROM experiments WHERE name <> 'é' AND name = ?", ["日本-€"]).to_pylist() == [
        {"name": "日本-€"}
    ]
    with pytest.raises(InvalidParameterValue, match="Conversion Error"):
        store.sql("SELECT name::INTEGER FROM experiments WHERE name <> ?", ["top-secret"])
    assert store.sql(f"SELECT getvariable('{PARAMS_VARIABLE}') AS v").to_pylist() == [{"v": None}]
