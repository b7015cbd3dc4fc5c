"""Search results as one wide table: a row per run, ``metrics.*``, ``params.*``, ``tags.*`` columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_frame(tables: dict[str, Any], run_ids: Sequence[str], *, datetimes: bool = True) -> Any:
    """MLflow's ``search_runs`` DataFrame from a store's ``run_tables``, rows in ``run_ids`` order.

    Columns: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``, ``start_time`` and
    ``end_time`` (UTC datetimes), then ``metrics.<key>`` (float, NaN where missing),
    ``params.<key>`` and ``tags.<key>`` (strings, None where missing), each group sorted by key.
    With ``datetimes=False`` the times stay epoch milliseconds.
    """
    import pandas as pd

    runs = tables["runs"].to_pandas()
    frame = runs[list(BASE_COLUMNS)].copy()
    if datetimes:
        for column in ("start_time", "end_time"):
            frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    blocks = [frame]
    for prefix, name, dtype in (
        ("metrics", "metrics", "float64"),
        ("params", "params", "object"),
        ("tags", "tags", "object"),
    ):
        long = tables[name]
        if long.num_rows == 0:
            continue
        df = long.to_pandas()
        wide = df.pivot(index="run_id", columns="key", values="value")
        wide = wide.reindex(index=list(run_ids), columns=sorted(wide.columns))
        wide.columns = [f"{prefix}.{k}" for k in wide.columns]
        wide = wide.astype(dtype)
        if dtype == "object":
            wide = wide.where(wide.notna(), None)
        wide.index = range(len(run_ids))
        blocks.append(wide)
    out = pd.concat(blocks, axis=1) if len(blocks) > 1 else frame
    return out.reset_index(drop=True)


def runs_arrow(tables: dict[str, Any], run_ids: Sequence[str]) -> Any:
    """The same table as ``runs_frame``, as a ``pyarrow.Table`` with UTC timestamp columns."""
    import pyarrow as pa

    table = pa.Table.from_pandas(runs_frame(tables, run_ids, datetimes=False), preserve_index=False)
    for column in ("start_time", "end_time"):
        i = table.schema.get_field_index(column)
        millis = table.column(column).cast(pa.int64())  # end_time of running runs: null
        table = table.set_column(i, column, millis.cast(pa.timestamp("ms", tz="UTC")))
    return table
