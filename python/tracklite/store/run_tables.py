"""Reading a page of runs: as ``Run`` objects, or as Arrow tables for DataFrames.

A page is described by a query returning its attribute rows (``RUN_COLUMNS`` and ``ord``,
the position in the page): a search, or a list of run ids. ``read_runs`` answers with one
statement: the page is materialised once and joined to the latest metrics, params and
tags, so DuckDB plans and schedules one query rather than two (about half the cost of a
small search). ``read_tables`` reads the page and then its values (the page joined again)
as Arrow tables, for DataFrames of many runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracklite.entities import Run, RunData, RunInfo
from tracklite.store.reads import Read

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

# A page and everything in it in one statement: kind 0-2 rows are (ord, key, value) of
# metrics, params and tags; kind 3 rows carry the attributes of the run at ``ord``.
_PAGE_SQL = """
WITH page AS MATERIALIZED ({page})
SELECT 0 AS kind, p.ord, k.key, NULL::VARCHAR AS text, l.value AS number, NULL AS info
    FROM page p JOIN latest_metrics l ON l.run_key = p.run_key JOIN metric_keys k ON k.key_id = l.key_id
UNION ALL SELECT 1, p.ord, x.key, x.value, NULL, NULL FROM page p JOIN params x ON x.run_key = p.run_key
UNION ALL SELECT 2, p.ord, x.key, x.value, NULL, NULL FROM page p JOIN tags x ON x.run_key = p.run_key
UNION ALL SELECT 3, p.ord, NULL, NULL, NULL,
    [p.run_id, p.experiment_id, p.run_name, p.user_id, p.status, CAST(p.start_time AS VARCHAR),
     CAST(p.end_time AS VARCHAR), p.artifact_uri, p.lifecycle_stage]
    FROM page p
"""

# The latest metrics, params and tags of a page (for Arrow): the page is joined, not its
# run keys sent back as a parameter (binding a list of 10,000 keys costs more than the join).
_VALUES_SQL = """
WITH page AS MATERIALIZED ({page})
SELECT 0 AS kind, p.run_id, k.key, NULL::VARCHAR AS text, l.value AS number
    FROM page p JOIN latest_metrics l ON l.run_key = p.run_key JOIN metric_keys k ON k.key_id = l.key_id
UNION ALL SELECT 1, p.run_id, x.key, x.value, NULL FROM page p JOIN params x ON x.run_key = p.run_key
UNION ALL SELECT 2, p.run_id, x.key, x.value, NULL FROM page p JOIN tags x ON x.run_key = p.run_key
"""


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
        return list(self.runs.column("run_id").to_pylist())


def read_runs(con: Any, page_sql: str, params: list[Any]) -> list[Run]:
    """``Run`` objects for the page ``page_sql`` describes, in page order (one statement).

    Read as Python rows, not Arrow: DuckDB's relation API binds each statement twice,
    which costs more than a page's values themselves. Each run's metrics, params and tags
    come sorted by key (deterministic; sorting here is cheaper than in SQL).
    """
    infos: dict[int, list[Any]] = {}
    values: dict[int, tuple[list[Any], list[Any], list[Any]]] = {}
    for kind, ord_, key, text, number, info in con.execute(_PAGE_SQL.format(page=page_sql), params).fetchall():
        if kind == 3:
            infos[ord_] = info
        else:
            values.setdefault(ord_, ([], [], []))[kind].append((key, number if kind == 0 else text))
    runs = []
    for ord_ in sorted(infos):
        run_id, exp_id, name, user, status, start, end, uri, stage = infos[ord_]
        info = RunInfo(run_id, exp_id, name, user, status, int(start), None if end is None else int(end), uri, stage)
        data = [dict(sorted(items)) for items in values.get(ord_, ([], [], []))]
        runs.append(Run(info, RunData(*data)))
    return runs


def read_tables(con: Any, page_sql: str, params: Any) -> RunTables:
    """``RunTables`` for the page ``page_sql`` describes, in page order (two statements)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    runs = Read(con, page_sql, params).fetch_arrow_table()
    values = Read(con, _VALUES_SQL.format(page=page_sql), params).fetch_arrow_table()
    kind = values.column("kind")
    parts = []
    for code, column in ((0, "number"), (1, "text"), (2, "text")):
        part = values.filter(pc.equal(kind, code))
        parts.append(
            pa.table({"run_id": part.column("run_id"), "key": part.column("key"), "value": part.column(column)})
        )
    return RunTables(runs, *parts)
