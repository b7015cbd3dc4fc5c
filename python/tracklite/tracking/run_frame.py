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

    frame = tables.runs.select(list(BASE_COLUMNS)).to_pandas()
    if datetimes:
        for column in ("start_time", "end_time"):
            frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    blocks = [frame]
    for prefix, long in (("metrics", tables.metrics), ("params", tables.params), ("tags", tables.tags)):
        if long.num_rows:
            blocks.append(_wide(long, tables.runs.column("run_id"), prefix))
    return pd.concat(blocks, axis=1) if len(blocks) > 1 else frame


def _wide(long: Any, run_ids: Any, prefix: str) -> Any:
    """A long ``run_id``, ``key``, ``value`` table as one ``<prefix>.<key>`` column per key.

    Filled by index into a NumPy grid (a row per run, a column per key): a pandas pivot of
    the same rows takes several times as long.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # The grid's row of each value: the first page row of its run (a page may list a run twice).
    rows = pc.index_in(long.column("run_id"), value_set=run_ids).to_numpy(zero_copy_only=False)
    keys = long.column("key").combine_chunks().dictionary_encode()
    names = keys.dictionary.to_pylist()
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    cols = rank[keys.indices.to_numpy(zero_copy_only=False)]
    values = long.column("value")
    if pa.types.is_floating(values.type):
        grid = np.full((len(run_ids), len(names)), np.nan)
        grid[rows, cols] = values.to_numpy()
    else:
        # Params and tags repeat (a grid of hyperparameters, one user): make each distinct
        # value a Python string once, not once per run.
        encoded = values.combine_chunks().dictionary_encode()
        distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
        grid = np.full((len(run_ids), len(names)), None, dtype=object)
        grid[rows, cols] = distinct[encoded.indices.to_numpy(zero_copy_only=False)]
    first = pc.index_in(run_ids, value_set=run_ids).to_numpy(zero_copy_only=False)
    if (first != np.arange(len(first))).any():
        grid = grid[first]  # a run listed again gets its first row's values
    return pd.DataFrame(grid, columns=[f"{prefix}.{names[i]}" for i in order], dtype=grid.dtype)


def runs_arrow(tables: RunTables) -> Any:
    """The same table as ``runs_frame``, as a ``pyarrow.Table`` with UTC timestamp columns."""
    import pyarrow as pa

    table = pa.Table.from_pandas(runs_frame(tables, datetimes=False), preserve_index=False)
    for column in ("start_time", "end_time"):
        i = table.schema.get_field_index(column)
        millis = table.column(column).cast(pa.int64())  # end_time of running runs: null
        table = table.set_column(i, column, millis.cast(pa.timestamp("ms", tz="UTC")))
    return table
