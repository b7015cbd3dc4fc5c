"""The DuckDB operations tracklite's costs rest on, timed on whichever DuckDB is installed.

docs/architecture.md ("Which DuckDB") compares engine versions with it: run it in one
environment per version, one after the other, and put the lines side by side::

    python benches/engine.py                                # the installed duckdb
    /tmp/venv-2.0.1/bin/python benches/engine.py            # another one (duckdb, pyarrow, numpy)

It needs only duckdb, pyarrow and numpy (not tracklite), so any version can be measured.
Each operation runs 7 times on a fresh temporary file; the median is printed.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

REPEATS = 7
METRICS = "CREATE TABLE metrics (run_key INTEGER, key_id INTEGER, step BIGINT, timestamp BIGINT, value DOUBLE)"


def _points(n: int, runs: int = 1) -> pa.Table:
    rng = np.random.default_rng(7)
    steps = np.arange(n, dtype=np.int64)
    return pa.table(
        {
            "run_key": np.repeat(np.arange(runs, dtype=np.int32), n // runs),
            "key_id": np.zeros(n, dtype=np.int32),
            "step": steps,
            "timestamp": 1_700_000_000_000 + steps * 10,
            "value": np.exp(-steps / n * 5) + rng.normal(0, 0.01, n),
        }
    )


def _median(fn: Callable[[str], float]) -> float:
    times = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(fn(os.path.join(tmp, "s.duckdb")))
    return statistics.median(times)


def open_close(path: str) -> float:
    duckdb.connect(path).close()
    t0 = time.perf_counter()
    duckdb.connect(path).close()
    return time.perf_counter() - t0


def insert_100k(path: str) -> float:
    con = duckdb.connect(path)
    con.execute(METRICS)
    con.register("points", _points(100_000))
    t0 = time.perf_counter()
    con.execute("INSERT INTO metrics SELECT * FROM points")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def _store_with(path: str, rows: pa.Table) -> Any:
    con = duckdb.connect(path)
    con.execute(METRICS)
    con.register("points", rows)
    con.execute("INSERT INTO metrics SELECT * FROM points")
    con.unregister("points")
    con.execute("CHECKPOINT")
    return con


def latest_per_run(path: str) -> float:
    con = _store_with(path, _points(2_700_000, runs=2_700))
    t0 = time.perf_counter()
    con.execute("SELECT run_key, key_id, arg_max(value, (step, timestamp)) FROM metrics GROUP BY ALL").fetchall()
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def _series_read(path: str, how: str) -> float:
    con = _store_with(path, _points(1_000_000))
    sql = "SELECT step, timestamp, value FROM metrics WHERE run_key = ? AND key_id = ?"
    t0 = time.perf_counter()
    if how == "relation":
        rel = con.sql(sql, params=[0, 0])
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    elif how == "variable":
        # What tracklite does (store/reads.py): the parameters in a session variable, the
        # statement as a relation without parameters, collected into Arrow in batches.
        con.execute("SET VARIABLE p = ?", [{"p1": 0, "p2": 0}])
        rel = con.sql(sql.replace("= ? AND", "= getvariable('p').p1 AND").replace("= ?", "= getvariable('p').p2"))
        fetch = rel.to_arrow_table if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table
        table = fetch(122_880)
    else:
        result = con.execute(sql, [0, 0])
        table = result.fetch_arrow_table() if hasattr(result, "fetch_arrow_table") else result.to_arrow_table()
    seconds = time.perf_counter() - t0
    assert table.num_rows == 1_000_000
    con.close()
    return seconds


def bytes_per_point(path: str) -> float:
    base = _store_with(path, _points(1))
    base.close()
    empty = os.path.getsize(path)
    con = duckdb.connect(path)
    con.register("points", _points(1_000_000))
    con.execute("INSERT INTO metrics SELECT * FROM points")
    con.close()
    return (os.path.getsize(path) - empty) / 1_000_000


def main() -> None:
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs; median of {REPEATS}")
    rows = [
        ("open + close of a database file", _median(open_close), "ms"),
        ("insert 100,000 metric rows from Arrow", _median(insert_100k), "ms"),
        ("latest point per run, 2.7 M rows (GROUP BY)", _median(latest_per_run), "ms"),
        (
            "1,000,000-row parameterised read -> Arrow: con.sql(params=)",
            _median(lambda p: _series_read(p, "relation")),
            "ms",
        ),
        ("1,000,000-row parameterised read -> Arrow: con.execute", _median(lambda p: _series_read(p, "execute")), "ms"),
        (
            "1,000,000-row parameterised read -> Arrow: variable + con.sql",
            _median(lambda p: _series_read(p, "variable")),
            "ms",
        ),
        ("file growth per point, 1,000,000 float64 points, closed", _median(bytes_per_point), "B"),
    ]
    for label, value, unit in rows:
        shown = f"{value * 1e3:.1f} ms" if unit == "ms" else f"{value:.2f} bytes"
        print(f"{label:<62} {shown:>12}")


if __name__ == "__main__":
    main()
