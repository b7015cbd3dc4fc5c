"""Search results as one wide table: a row per run, ``metrics.*``, ``params.*``, ``tags.*`` columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracklite.store.run_tables import RunTables

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_frame(tables: RunTables, *, datetimes: bool = True) -> Any:
    """MLflow's ``search_runs`` DataFrame from a page of runs, rows in page order.

    Columns: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``, ``start_time`` and
    ``end_time`` (UTC datetimes), then ``metrics.<key>`` (float, NaN where missing),
    ``params.<key>`` and ``tags.<key>`` (strings, None where missing), each group sorted by key.
    With ``datetimes=False`` the times stay epoch milliseconds.
    """
    import pandas as pd

    run_ids = tables.run_ids
    runs = tables.runs.to_pandas()
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
        long = getattr(tables, name)
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


def runs_arrow(tables: RunTables) -> Any:
    """The same table as ``runs_frame``, as a ``pyarrow.Table`` with UTC timestamp columns."""
    import pyarrow as pa

    table = pa.Table.from_pandas(runs_frame(tables, datetimes=False), preserve_index=False)
    for column in ("start_time", "end_time"):
        i = table.schema.get_field_index(column)
        millis = table.column(column).cast(pa.int64())  # end_time of running runs: null
        table = table.set_column(i, column, millis.cast(pa.timestamp("ms", tz="UTC")))
    return table
