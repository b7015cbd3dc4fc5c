"""A page of runs read as Arrow tables: attributes in one table, metrics, params and tags long.

A search answers in two queries whatever the page size: the search itself returns the
page's attribute rows (with the internal ``run_key``), and one more query brings every
latest metric, param and tag of those runs. ``Run`` objects, DataFrames and Arrow tables
are all built from these tables.
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
        more: Whether the search had matching runs past this page.
    """

    runs: Any
    metrics: Any
    params: Any
    tags: Any
    more: bool = False

    @property
    def run_ids(self) -> list[str]:
        """The runs' ids, in page order."""
        return self.runs.column("run_id").to_pylist()

    def to_runs(self) -> list[Run]:
        """The page as ``Run`` objects, in page order."""
        per_run: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str]]] = {
            rid: ({}, {}, {}) for rid in self.run_ids
        }
        for slot, table in enumerate((self.metrics, self.params, self.tags)):
            cols = table.to_pydict()
            for rid, key, value in zip(cols["run_id"], cols["key"], cols["value"], strict=True):
                per_run[rid][slot][key] = value
        info = self.runs.to_pydict()
        columns = [info[name] for name in RUN_COLUMNS[1:]]
        runs = []
        for row in zip(*columns, strict=True):
            metrics, params, tags = per_run[row[0]]
            runs.append(Run(RunInfo(*row), RunData(metrics=metrics, params=params, tags=tags)))
        return runs


def read_values(con: Any, runs: Any, *, more: bool = False) -> RunTables:
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
    return RunTables(runs, *parts, more=more)
