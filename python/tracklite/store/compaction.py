"""Rewriting the store file's uniquely indexed tables when they have split into many row groups.

DuckDB 1.4 starts a new row group for rows appended to a table with an index after each
checkpoint, and tracklite checkpoints often (every close of the file). A store built by a
sweep that creates one run per open ends up with ``runs`` in hundreds of row groups of a
few dozen rows, and every scan of it (each search, each DataFrame of runs) pays per row
group: a 10,000-run search took 42 ms on such a file against 26 ms on a compact one, a
DataFrame of all runs 580 ms against 304 ms. DuckDB 2.0 appends into the last row group.

:func:`compact_fragmented` rewrites such a table into full row groups, in insertion order.
DuckDB 1.4 cannot drop a table with an index in the transaction that drops the index, so
the rewrite takes three: drop the unique index; copy the rows into a new table that takes
the old one's place; create the index. A process that dies in between leaves the table
whole and without its index, which the next open creates
(``integrity.restore_unique_indexes``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from tracklite.store.integrity import create_unique_index, duplicate_keys
from tracklite.store.schema import UNIQUE_INDEXES, quote_identifier

ROW_GROUP_SIZE = 122_880  # DuckDB's rows per full row group
# Row groups beyond what the rows need before a table is rewritten: small enough that scans
# stay fast, large enough that a sweep creating a run per process rarely pays a rewrite.
SLACK = 16


def fragmented_tables(con: Any) -> list[str]:
    """The uniquely indexed tables with more than ``SLACK`` row groups beyond their rows' need."""
    tables = sorted({table for table, _ in UNIQUE_INDEXES.values()})
    names = ", ".join(f"'{t}'" for t in tables)
    found = con.execute(
        "SELECT table_name, estimated_size FROM duckdb_tables() "
        f"WHERE schema_name = 'main' AND database_name = current_database() AND table_name IN ({names})"
    ).fetchall()
    out = []
    for table, rows in found:
        groups = con.execute(
            f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info({quote_identifier(table)!r})"
        ).fetchone()[0]
        if groups > math.ceil((rows or 0) / ROW_GROUP_SIZE) + SLACK:
            out.append(table)
    return out


def compact(con: Any, table: str) -> None:
    """Rewrite ``table`` into full row groups, keeping its rows' order; the caller holds the
    store file outside any transaction.

    The rows go into a new table made from the old one's own definition, which then takes
    its place: a delete and re-insert would leave the old row groups behind (DuckDB 1.4 keeps
    emptied row groups in the table).
    """
    ddl = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database() "
        "AND table_name = ?",
        [table],
    ).fetchone()[0]
    staging = f"_tracklite_rewrite_{table}"
    head = re.match(rf"CREATE TABLE\s+(main\.)?\"?{re.escape(table)}\"?\s*\(", ddl)
    if head is None:  # pragma: no cover - DuckDB prints its own CREATE TABLE statements
        raise RuntimeError(f"unexpected definition of table {table}: {ddl}")
    indexes = [name for name, (owner, _) in UNIQUE_INDEXES.items() if owner == table]
    for index in indexes:
        con.execute(f"DROP INDEX IF EXISTS main.{quote_identifier(index)}")
    t = f"main.{quote_identifier(table)}"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE TABLE main.{quote_identifier(staging)} (" + ddl[head.end() :])
        con.execute(f"INSERT INTO main.{quote_identifier(staging)} SELECT * FROM {t} ORDER BY rowid")
        con.execute(f"DROP TABLE {t}")
        con.execute(f"ALTER TABLE main.{quote_identifier(staging)} RENAME TO {quote_identifier(table)}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for index in indexes:
        create_unique_index(con, index)


def compact_fragmented(con: Any) -> list[str]:
    """Rewrite every fragmented uniquely indexed table, then checkpoint so the emptied row
    groups leave the file.

    Returns:
        The tables rewritten.
    """
    # A table holding a key twice (its index damaged) is left for `tracklite doctor --repair`,
    # which knows which row the store has been answering with.
    tables = [
        table
        for table in fragmented_tables(con)
        if not any(duplicate_keys(con, t, column) for t, column in UNIQUE_INDEXES.values() if t == table)
    ]
    for table in tables:
        compact(con, table)
    if tables:
        con.execute("CHECKPOINT")
    return tables
