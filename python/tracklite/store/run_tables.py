"""Reading a page of runs: as ``Run`` objects, or as Arrow tables for DataFrames.

A search answers in two queries whatever the page size: the search itself returns the
page's attribute rows (with the internal ``run_key``), and one more query brings every
latest metric, param and tag of those runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracklite.entities import Run, RunData, RunInfo

# The attribute columns of a page, in ``RunInfo``'s order after the internal run_key.
RUN_COLUMNS = (
    "run_key",
    "run_id",
    "experiment_id",
    "run_name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
)

# One query for the three key/value kinds of a page: each query costs about a millisecond.
# Metrics join by the integer run_key; params and tags are keyed by run_id in the schema.
_VALUES_SQL = (
    "SELECT 0 AS kind, r.run_id, k.key, NULL::VARCHAR AS text, l.value AS number "
    "FROM latest_metrics l JOIN metric_keys k ON k.key_id = l.key_id JOIN runs r ON r.run_key = l.run_key "
    "WHERE l.run_key IN (SELECT unnest(?)) "
    "UNION ALL SELECT 1, run_id, key, value, NULL FROM params WHERE run_id IN (SELECT unnest(?)) "
    "UNION ALL SELECT 2, run_id, key, value, NULL FROM tags WHERE run_id IN (SELECT unnest(?))"
)


@dataclass(frozen=True, slots=True)
class RunTables:
    """Runs as Arrow tables.

    Attributes:
        runs: One row per run, in page order: the ``RUN_COLUMNS``.
        metrics: Latest metric values, long form: ``run_id``, ``key``, ``value`` (double).
        params: ``run_id``, ``key``, ``value`` (string).
        tags: ``run_id``, ``key``, ``value`` (string).
    """

    runs: Any
    metrics: Any
    params: Any
    tags: Any

    @property
    def run_ids(self) -> list[str]:
        """The runs' ids, in page order."""
        return self.runs.column("run_id").to_pylist()


def read_runs(con: Any, rows: list[tuple[Any, ...]]) -> list[Run]:
    """``Run`` objects for attribute rows (tuples of ``RUN_COLUMNS``), in row order.

    A page of Run objects is read as Python rows, not Arrow: DuckDB's relation API binds
    each statement twice, which costs more than the page's values themselves.
    """
    if not rows:
        return []
    keys = [row[0] for row in rows]
    ids = [row[1] for row in rows]
    per_run: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {rid: ({}, {}, {}) for rid in ids}
    for kind, run_id, key, text, number in con.execute(_VALUES_SQL, [keys, ids, ids]).fetchall():
        per_run[run_id][kind][key] = number if kind == 0 else text
    return [Run(RunInfo(*row[1:]), RunData(*per_run[row[1]])) for row in rows]


def read_tables(con: Any, runs: Any) -> RunTables:
    """``RunTables`` for the attribute rows ``runs`` (an Arrow table of ``RUN_COLUMNS``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tracklite.store.connection import relation

    keys = runs.column("run_key").to_pylist()
    ids = runs.column("run_id").to_pylist()
    values = relation(con, _VALUES_SQL, [keys, ids, ids]).to_arrow_table()
    kind = values.column("kind")
    parts = []
    for code, column in ((0, "number"), (1, "text"), (2, "text")):
        part = values.filter(pc.equal(kind, code))
        parts.append(
            pa.table({"run_id": part.column("run_id"), "key": part.column("key"), "value": part.column(column)})
        )
    return RunTables(runs, *parts)
