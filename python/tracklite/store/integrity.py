"""Checking and rebuilding the store file's unique indexes.

DuckDB 1.4 can lose a unique index's entries for rows it replayed from a WAL (the open
path now prevents it: ``connection._fold_replayed_wal``). A row that lost its entry is
still in the table, but a lookup by its key (``WHERE run_id = ?``) misses it and the key
can be inserted again. ``tracklite doctor`` reports such indexes with
:func:`check_unique_indexes`; ``tracklite doctor --repair`` and the migration to schema
version 8 rebuild them with :func:`repair_unique_indexes`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tracklite.store.schema import UNIQUE_INDEXES, quote_identifier

# Keys per lookup: the index serves an IN list of this many constants in one statement.
_LOOKUP_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class IndexProblem:
    """What is wrong with one unique index.

    Attributes:
        index: The index's name.
        table: The table it belongs to.
        column: The indexed column.
        unreachable: Keys whose rows a lookup through the index does not find.
        duplicates: Keys stored in more than one row.
    """

    index: str
    table: str
    column: str
    unreachable: list[str]
    duplicates: list[str]

    def describe(self) -> str:
        """One line for ``tracklite doctor``."""
        parts = []
        if self.unreachable:
            parts.append(
                f"{len(self.unreachable)} row(s) not found by their {self.column} ({_sample(self.unreachable)})"
            )
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} {self.column} value(s) stored twice ({_sample(self.duplicates)})")
        return f"{self.table}: " + "; ".join(parts)


def _sample(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")


def _present(con: Any) -> set[str]:
    """The names of the unique indexes in the store's own catalog (a lake has none)."""
    return {
        row[0]
        for row in con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE is_unique AND schema_name = 'main' "
            "AND database_name = current_database()"
        ).fetchall()
    }


def create_unique_index(con: Any, index: str) -> None:
    """Create the unique index ``index`` of ``schema.UNIQUE_INDEXES``."""
    table, column = UNIQUE_INDEXES[index]
    con.execute(
        f"CREATE UNIQUE INDEX {quote_identifier(index)} ON main.{quote_identifier(table)} ({quote_identifier(column)})"
    )


def duplicate_keys(con: Any, table: str, column: str) -> list[str]:
    """The values of ``column`` stored in more than one row of ``table`` (a scan, not the index)."""
    t, c = f"main.{quote_identifier(table)}", quote_identifier(column)
    return [r[0] for r in con.execute(f"SELECT {c} FROM {t} GROUP BY {c} HAVING count(*) > 1 ORDER BY 1").fetchall()]


def _set_aside(con: Any, index: str, doomed: list[int], *, drop_index: bool) -> None:
    """Move the rows ``doomed`` (rowids) of ``index``'s table into ``set_aside_rows`` in one
    transaction, dropping the index in it first when asked."""
    table, column = UNIQUE_INDEXES[index]
    t, c = f"main.{quote_identifier(table)}", quote_identifier(column)
    con.execute("BEGIN TRANSACTION")
    try:
        if doomed:
            con.execute(
                f"INSERT INTO main.set_aside_rows SELECT ?, {c}, to_json(x)::VARCHAR, ?, ? FROM {t} x "
                "WHERE list_contains(?::BIGINT[], rowid)",
                [table, f"a second row for the same {column}; index {index} rebuilt", int(time.time() * 1000), doomed],
            )
        if drop_index:
            # Drop first: a delete through a damaged index would look for entries it lacks.
            con.execute(f"DROP INDEX main.{quote_identifier(index)}")
        if doomed:
            con.execute(f"DELETE FROM {t} WHERE list_contains(?::BIGINT[], rowid)", [doomed])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def restore_unique_indexes(con: Any) -> None:
    """Create the unique indexes a repair or a rewrite dropped and could not recreate (it
    died between its transactions). With no index to say which row the store answered with,
    a key stored twice keeps its newest row; the others go to ``set_aside_rows``. The caller
    holds the store file, outside any transaction."""
    for index in sorted(UNIQUE_INDEXES.keys() - _present(con)):
        table, column = UNIQUE_INDEXES[index]
        duplicates = duplicate_keys(con, table, column)
        if duplicates:
            t, c = f"main.{quote_identifier(table)}", quote_identifier(column)
            rows = con.execute(
                f"SELECT {c}, rowid FROM {t} WHERE list_contains(?::VARCHAR[], {c}) ORDER BY rowid DESC",
                [duplicates],
            ).fetchall()
            kept: dict[str, int] = {}
            _set_aside(
                con, index, [rowid for key, rowid in rows if kept.setdefault(key, rowid) != rowid], drop_index=False
            )
        create_unique_index(con, index)


@contextmanager
def _index_lookups(con: Any) -> Iterator[None]:
    # An equality or IN filter on an indexed column is answered by the index alone, so a key
    # whose entry is missing comes back empty (a scan or a join would find the row anyway).
    # DuckDB takes the index for at most `index_scan_max_count` keys or a share of the table.
    con.execute(f"SET index_scan_max_count = {_LOOKUP_BATCH}")
    con.execute("SET index_scan_percentage = 1.0")
    try:
        yield
    finally:
        con.execute("RESET index_scan_max_count")
        con.execute("RESET index_scan_percentage")


def _look_up(con: Any, table: str, column: str, keys: list[str], select: str) -> list[tuple[Any, ...]]:
    """``select`` of the rows the index finds for ``keys`` (inside ``_index_lookups``)."""
    marks = ", ".join("?" * len(keys))
    return list(con.execute(f"SELECT {select} FROM {table} WHERE {column} IN ({marks})", keys).fetchall())


def _check(con: Any, index: str, table: str, column: str) -> IndexProblem | None:
    t, c = f"main.{quote_identifier(table)}", quote_identifier(column)
    duplicates = duplicate_keys(con, table, column)
    keys = [r[0] for r in con.execute(f"SELECT DISTINCT {c} FROM {t} ORDER BY 1").fetchall()]
    unreachable: list[str] = []
    with _index_lookups(con):
        for start in range(0, len(keys), _LOOKUP_BATCH):
            batch = keys[start : start + _LOOKUP_BATCH]
            found = {row[0] for row in _look_up(con, t, c, batch, f"{c}")}
            unreachable.extend(k for k in batch if k not in found)
    if not unreachable and not duplicates:
        return None
    return IndexProblem(index, table, column, unreachable, duplicates)


def check_unique_indexes(con: Any) -> list[IndexProblem]:
    """Every unique index whose table holds rows it does not find, or keys stored twice.

    Args:
        con: An open connection to the store file.

    Returns:
        One :class:`IndexProblem` per damaged index; empty when all are sound.
    """
    problems = []
    present = _present(con)
    for index, (table, column) in UNIQUE_INDEXES.items():
        if index not in present:
            continue
        problem = _check(con, index, table, column)
        if problem is not None:
            problems.append(problem)
    return problems


def repair_unique_indexes(con: Any) -> list[IndexProblem]:
    """Rebuild every damaged unique index.

    A key stored in several rows keeps the row its index finds (the one the store has
    answered with since the damage), or else its first; the others are moved into
    ``set_aside_rows`` as JSON, so nothing is lost. Each index takes two transactions,
    because DuckDB cannot drop and create an index of one name in one: the first sets rows
    aside and drops the index, the second creates it anew. A process that dies between the
    two leaves the store without that index, and the next open creates it
    (:func:`restore_unique_indexes`).

    Args:
        con: A connection to the store file, outside any transaction.

    Returns:
        The problems found and repaired.
    """
    problems = check_unique_indexes(con)
    for problem in problems:
        t, c = f"main.{quote_identifier(problem.table)}", quote_identifier(problem.column)
        doomed: list[int] = []
        if problem.duplicates:
            # Keep per key the row the index still finds, else the first; set the others aside.
            with _index_lookups(con):
                kept = dict(_look_up(con, t, c, problem.duplicates, f"{c}, rowid"))
            rows = con.execute(
                f"SELECT {c}, rowid FROM {t} WHERE list_contains(?::VARCHAR[], {c}) ORDER BY rowid",
                [problem.duplicates],
            ).fetchall()
            for key, rowid in rows:
                if kept.setdefault(key, rowid) != rowid:
                    doomed.append(rowid)
        _set_aside(con, problem.index, doomed, drop_index=True)
        create_unique_index(con, problem.index)
    return problems
