"""Printing result tables in the terminal, rendered by DuckDB's own box printer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_rows: int = 50) -> str:
    """Rows as a boxed text table (DuckDB's renderer, so it matches ``duckdb`` CLI output)."""
    import duckdb
    import pyarrow as pa

    data = {c: [None if r[i] is None else str(r[i]) for r in rows] for i, c in enumerate(columns)}
    table = pa.table({c: pa.array(v, type=pa.string()) for c, v in data.items()})
    con = duckdb.connect()
    try:
        rel = con.from_arrow(table)
        return str(rel.limit(max_rows)) if len(rows) > max_rows else str(rel)
    finally:
        con.close()


def render_query(con: Any, query: str, params: Sequence[Any] | None = None) -> str:
    """The result of a SQL query on ``con`` as a boxed text table."""
    con.complete()  # a relation cannot start while an execute() result is unread
    rel = con.sql(query, params=params) if params else con.sql(query)
    return str(rel)
