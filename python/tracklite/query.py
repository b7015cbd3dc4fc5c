"""SQL over the store: ``tracklite.sql`` and its materialised :class:`QueryResult`.

Queries run on documented, stable views of the store (``docs/schema.md``): ``runs``,
``params``, ``tags``, ``metrics``, ``latest_metrics``, ``experiments``,
``experiment_tags`` (schema ``views``, first on the search path) and ``runs_wide`` (one
row per run, one column per param and per latest metric, built for the query that names
it). Queries are read-only unless ``allow_writes=True``; parameters are always bound by
DuckDB, never spliced into the text.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from tracklite.errors import InvalidParameterValue

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

Params = Sequence[Any] | Mapping[str, Any] | None
"""Bind parameters: values for ``?``/``$1`` in order, or a mapping for ``$name``."""

_Target = str | os.PathLike[str] | IO[bytes]

# PRAGMAs that only report (DuckDB's ``pragma_<name>`` table functions); any other PRAGMA,
# and every ``PRAGMA x = y``, changes settings or state.
_READ_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "functions",
        "metadata_info",
        "platform",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)
_EXPLAIN = re.compile(r"EXPLAIN\s+(?:ANALY[SZ]E\s+|\((?:[^()]|\([^()]*\))*\)\s*)?", re.I)
_PRAGMA = re.compile(r"PRAGMA\s+(\w+)\s*(\(|;|$)", re.I)
_CALL = re.compile(r"CALL\s+(\w+)\s*\(", re.I)
_FIRST_WORD = re.compile(r"[A-Za-z_]+")
# DuckDB 1.4 reads an IMPORT DATABASE's files while merely parsing it: catch it before parsing.
_IMPORT = re.compile(r"\bIMPORT\s+DATABASE\b", re.I)


def _body(text: str) -> str:
    """A statement's text without leading comments, whitespace and parentheses."""
    return text[_LEADING_NOISE.match(text).end() :]  # type: ignore[union-attr]


def _label(statement: Any) -> str:
    """How an error names a statement: its first word, and its type when that differs."""
    kind = statement.type.name
    word = _FIRST_WORD.match(_body(statement.query))
    first = word.group(0).upper() if word else kind
    return f"the {kind} statement" if first in (kind, "WITH") else f"the {first} statement (type {kind})"


def _is_read(statement: Any) -> bool:
    """Whether a parsed statement only reads (see ``sql`` for the list)."""
    import duckdb

    kind = statement.type
    body = _body(statement.query)
    if kind == duckdb.StatementType.SELECT:  # also VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE
        return True
    if kind == duckdb.StatementType.EXPLAIN:  # EXPLAIN ANALYZE runs its statement: judge that one
        match = _EXPLAIN.match(body)
        if match is None:
            return False
        try:
            inner = duckdb.extract_statements(body[match.end() :])
        except duckdb.Error:
            return False
        return bool(inner) and all(_is_read(s) for s in inner)
    if kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA.match(body)
        return match is not None and match.group(1).lower() in _READ_PRAGMAS
    if kind == duckdb.StatementType.CALL:  # CHECKPOINT parses as a CALL too
        match = _CALL.match(body)
        if match is None:
            return False
        name = match.group(1).lower()
        return (name.startswith("pragma_") and name[7:] in _READ_PRAGMAS) or name.startswith("duckdb_")
    if kind == duckdb.StatementType.MULTI:  # the PIVOT / UNPIVOT statements
        return re.match(r"(UN)?PIVOT\b", body, re.I) is not None
    return False


@dataclass(frozen=True, slots=True)
class _Whole:
    """Statements DuckDB's parser made out of one without giving them texts (DuckDB 1.4 turns
    ``PIVOT`` into a ``CREATE TYPE`` and a ``SELECT``, both with empty queries): the text as
    written, run as one."""

    query: str
    type: Any
    named_parameters: frozenset[str] = frozenset()


def split_statements(query: str) -> list[Any]:
    """``query`` split into DuckDB statements, parser expansions kept whole (see ``_Whole``).

    Raises:
        duckdb.Error, ValueError: when DuckDB cannot parse it.
    """
    import duckdb

    statements = duckdb.extract_statements(query)
    if any(not s.query.strip() for s in statements):
        return [_Whole(query, duckdb.StatementType.MULTI)]
    return list(statements)


def parse_statements(query: str, *, allow_writes: bool = False) -> list[Any]:
    """Split ``query`` into DuckDB statements with DuckDB's parser; refuse writes unless allowed.

    Args:
        query: One or more SQL statements separated by ``;``.
        allow_writes: Accept statements that change the store or the session.

    Returns:
        The parsed statements (``duckdb.Statement``), in order.

    Raises:
        InvalidParameterValue: if the text does not parse, is empty, or (unless
            ``allow_writes``) holds a statement that is not a read.
    """
    import duckdb

    if not isinstance(query, str):
        raise InvalidParameterValue(f"a SQL query must be a string, got {type(query).__name__}")
    if not allow_writes and _IMPORT.search(query):
        raise InvalidParameterValue(
            "tracklite.sql is read-only by default and refused the IMPORT statement. "
            "To change the store, pass allow_writes=True (CLI: `tracklite sql --allow-writes`)."
        )
    try:
        statements = split_statements(query)
    except (duckdb.Error, ValueError) as exc:  # ValueError: a statement type unknown to the Python API
        raise InvalidParameterValue(f"invalid SQL: {exc}") from exc
    if not statements:
        raise InvalidParameterValue("empty SQL query; write e.g. 'SELECT run_id, status FROM runs'")
    for statement in statements:
        if statement.type == duckdb.StatementType.TRANSACTION:
            raise InvalidParameterValue(
                f"tracklite.sql runs all statements in one transaction of its own; leave out {_label(statement)}"
            )
    if not allow_writes:
        for statement in statements:
            if not _is_read(statement):
                snippet = " ".join(_body(statement.query).split())
                snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
                raise InvalidParameterValue(
                    f"tracklite.sql is read-only by default and refused {_label(statement)}: {snippet!r}. "
                    "To change the store, pass allow_writes=True (CLI: `tracklite sql --allow-writes`)."
                )
    return statements


def _bind(statements: Sequence[Any], params: Params) -> list[Any]:
    """The parameters of each statement: a mapping by name, a sequence consumed in order."""
    if params is None:
        return [None] * len(statements)
    if isinstance(params, str | bytes):
        raise InvalidParameterValue(
            f"params must be a sequence or a mapping of values, not a {type(params).__name__}; "
            "write params=[value] for one value"
        )
    if len(statements) == 1:
        return [dict(params) if isinstance(params, Mapping) else list(params)]
    bound: list[Any] = []
    if isinstance(params, Mapping):
        for statement in statements:
            names = statement.named_parameters
            bound.append({k: v for k, v in params.items() if k in names} if names else None)
        return bound
    values = list(params)
    for statement in statements:
        count = len(statement.named_parameters)
        bound.append(values[:count] if count else None)
        values = values[count:]
    if values:
        raise InvalidParameterValue(f"{len(values)} more parameter(s) given than the statements use")
    return bound


@contextmanager
def views_search_path(con: Any) -> Iterator[None]:
    """Put the ``views`` schema first on the connection's search path, and restore it after.

    The store's own queries on this connection name tables unqualified, so the previous
    search path must come back whatever happens; enter this outside any transaction (a
    failed transaction refuses ``SET`` until it is rolled back).
    """
    from tracklite.store.schema import quote_literal

    saved = con.execute("SELECT current_setting('search_path')").fetchone()[0]
    con.execute("SET search_path = 'views,main'")
    try:
        yield
    finally:
        con.execute(f"SET search_path = {quote_literal(saved)}" if saved else "RESET search_path")


def run_statements(con: Any, statements: Sequence[Any], params: Params, *, allow_writes: bool) -> pa.Table:
    """Run parsed statements on a store connection; the last one's result as an Arrow table.

    The caller holds the connection with :func:`views_search_path` entered (see
    ``DuckDBStore.sql``) and, when ``allow_writes``, an open transaction. Reads run
    inside a transaction that is rolled back.

    Raises:
        InvalidParameterValue: if DuckDB rejects a statement or its parameters, or if a
            write changed the ``views`` schema.
    """
    import duckdb

    from tracklite.store.reads import Read, forget_parameters
    from tracklite.store.schema import runs_wide_sql

    bound = _bind(statements, params)
    if not allow_writes:
        con.execute("BEGIN TRANSACTION")
    try:
        if any("runs_wide" in s.query.lower() for s in statements):
            con.execute(runs_wide_sql(con))
        *leading, (last, last_args) = zip(statements, bound, strict=True)
        for statement, args in leading:
            Read(con, statement.query, args).execute()
        # The last statement's result; a write's is its row count. A read's parameters may
        # outlive a failed read in this transaction: they are forgotten after the rollback.
        if last.type == duckdb.StatementType.SELECT and not allow_writes:
            table = Read(con, last.query, last_args).fetch_arrow_table()
        else:
            table = Read(con, last.query, last_args).execute().fetch_arrow_table()
        if allow_writes:
            con.execute("DROP VIEW IF EXISTS temp.main.runs_wide")
            _check_views_intact(con)
    except duckdb.Error as exc:
        raise InvalidParameterValue(
            f"{exc}\n(the tables and views are described in docs/schema.md; list them with 'SHOW ALL TABLES')"
        ) from exc
    finally:
        if not allow_writes:
            con.execute("ROLLBACK")
            forget_parameters(con)
    return table


def _check_views_intact(con: Any) -> None:
    from tracklite.store import schema

    found = sorted(
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'views' AND database_name = current_database() "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'views' "
            "AND database_name = current_database()"
        ).fetchall()
    )
    if found != sorted(schema.VIEWS):
        raise InvalidParameterValue(
            f"the statements changed the documented `views` schema (it now holds {found}); it is rolled back. "
            "Name the tables you create or change with `main.`, e.g. 'CREATE TABLE main.notes (...)'."
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


class QueryResult:
    """The materialised result of :func:`sql`: an Arrow table with converters and writers.

    The store file is released once the query has run, so the result holds all its rows.

    Args:
        table: The rows, as a ``pyarrow.Table``.

    Examples:
        >>> import pyarrow as pa
        >>> result = QueryResult(pa.table({"run": ["a", "b"], "loss": [0.5, 0.25]}))
        >>> result.columns, len(result)
        (['run', 'loss'], 2)
        >>> result.fetchall()
        [('a', 0.5), ('b', 0.25)]
        >>> print(result)
        ┌─────┬──────┐
        │ run │ loss │
        ├─────┼──────┤
        │ a   │ 0.5  │
        │ b   │ 0.25 │
        └─────┴──────┘
    """

    __slots__ = ("_table",)

    max_repr_rows = 40
    """Rows shown by ``repr``; the whole result is always in the converters."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._table.column_names)

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for batch in self._table.to_batches():
            columns = [c.to_pylist() for c in batch.columns]
            yield from zip(*columns, strict=True)

    def __repr__(self) -> str:
        from tracklite._tables import render

        shown = QueryResult(self._table.slice(0, self.max_repr_rows)).fetchall()
        text = render(self.columns, shown)
        if len(self) > len(shown):
            text += f"\n{len(shown)} of {len(self)} rows; the whole result is in .arrow(), .df(), .fetchall()"
        return text

    def arrow(self) -> pa.Table:
        """The result as a ``pyarrow.Table`` (no copy)."""
        return self._table

    def df(self) -> pd.DataFrame:
        """The result as a pandas DataFrame.

        Raises:
            ImportError: if pandas is not installed.
        """
        return self._table.to_pandas()

    to_pandas = df

    def pl(self) -> Any:
        """The result as a polars DataFrame.

        Raises:
            ImportError: if polars is not installed (``pip install polars``).
        """
        try:
            import polars
        except ImportError as exc:
            raise ImportError(
                "QueryResult.pl() needs polars, which is not installed: `pip install polars`, or use .arrow() / .df()"
            ) from exc
        return polars.from_arrow(self._table)

    def fetchnumpy(self) -> dict[str, np.ndarray[Any, Any]]:
        """The result as one NumPy array per column (missing values as None or NaN)."""
        return {name: self._table.column(i).to_numpy() for i, name in enumerate(self._table.column_names)}

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows as a list of tuples of Python values."""
        return list(self)

    def to_csv(self, path: _Target) -> None:
        """Write the result as CSV with a header row (pyarrow's writer).

        Args:
            path: A file path or a writable binary file object.

        Raises:
            InvalidParameterValue: if a column (a list or struct) has no CSV form.
        """
        import pyarrow as pa
        import pyarrow.csv

        nested = [f.name for f in self._table.schema if pa.types.is_nested(f.type)]
        if nested:
            raise InvalidParameterValue(
                f"column(s) {', '.join(nested)} hold lists or structs, which CSV cannot; write JSON or Parquet, "
                "or flatten them in SQL (unnest(...), list_string_agg(...))"
            )
        pyarrow.csv.write_csv(self._table, path)

    def to_json(self, path: _Target) -> None:
        """Write the result as a JSON array of row objects.

        NaN and infinite floats become ``null`` (JSON has no such numbers) and bytes become
        hex strings; anything else JSON lacks (dates, decimals) is written as its text.

        Args:
            path: A file path or a writable binary file object.
        """
        rows = [_json_safe(row) for row in self._table.to_pylist()]
        data = json.dumps(rows, default=str, ensure_ascii=False, allow_nan=False).encode() + b"\n"
        if isinstance(path, str | os.PathLike):
            with open(path, "wb") as fh:
                fh.write(data)
        else:
            path.write(data)

    def to_parquet(self, path: _Target) -> None:
        """Write the result as a Parquet file (pyarrow's writer).

        Args:
            path: A file path or a writable binary file object.
        """
        import pyarrow.parquet

        pyarrow.parquet.write_table(self._table, path)


def sql(
    query: str,
    params: Params = None,
    *,
    allow_writes: bool = False,
    tracking_uri: str | None = None,
) -> QueryResult:
    """Run SQL over the store's documented views and return the whole result.

    The views (``docs/schema.md``) are first on the search path, so ``FROM runs`` means
    ``views.runs``: ``experiments``, ``experiment_tags``, ``runs``, ``params``, ``tags``,
    ``metrics`` (every point) and ``latest_metrics``. ``runs_wide`` has one row per run
    with a ``"params.<key>"`` column per param and a ``"metrics.<key>"`` column per latest
    metric; quote those names in double quotes. The store's tables stay reachable as
    ``main.<table>``. Points this process logged are flushed first, so they are included.

    Statements are read-only unless ``allow_writes=True``: SELECT (with WITH, VALUES,
    FROM-first), DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of a read, PIVOT, and reporting
    PRAGMAs such as ``PRAGMA table_info('main.runs')``. Everything else (INSERT, UPDATE,
    DELETE, CREATE, DROP, ALTER, COPY, ATTACH, INSTALL, LOAD, SET, CHECKPOINT, ...) is
    refused before anything runs, as decided by DuckDB's own parser; reads also run in a
    transaction that is rolled back. Several statements separated by ``;`` run in order
    and the last one's result is returned.

    Args:
        query: The SQL text.
        params: Values for ``?`` / ``$1`` placeholders (a sequence) or ``$name``
            placeholders (a mapping), bound by DuckDB and never spliced into the text.
            With several statements, a sequence is consumed in order and a mapping gives
            each statement the names it uses.
        allow_writes: Run statements that change the store. Name changed tables with
            ``main.`` (unqualified names reach the read-only views first); the ``views``
            schema itself must stay as it is.
        tracking_uri: The store (default: ``tracklite.get_tracking_uri()``).

    Returns:
        The result, fetched while the store was open.

    Raises:
        InvalidParameterValue: if the query is not a read and ``allow_writes`` is false,
            does not parse, fails in DuckDB, or its parameters do not match; or if the
            tracking URI is not a store file.
        StoreLockedError: if other processes held the store past the lock timeout.

    Examples:
        >>> import os, tempfile, tracklite
        >>> uri = os.path.join(tempfile.mkdtemp(), "sql.duckdb")
        >>> client = tracklite.Client(uri)
        >>> for name, lr, loss in [("a", "0.1", 0.5), ("b", "0.01", 0.25)]:
        ...     run_id = client.create_run("0", run_name=name).info.run_id
        ...     _ = client.log_param(run_id, "lr", lr)
        ...     client.log_metric(run_id, "loss", loss)
        >>> sql('SELECT run_name, "params.lr", "metrics.loss" FROM runs_wide ORDER BY 3', tracking_uri=uri)
        ┌──────────┬───────────┬──────────────┐
        │ run_name │ params.lr │ metrics.loss │
        ├──────────┼───────────┼──────────────┤
        │ b        │ 0.01      │ 0.25         │
        │ a        │ 0.1       │ 0.5          │
        └──────────┴───────────┴──────────────┘
        >>> sql("SELECT run_name FROM runs JOIN params USING (run_id) WHERE value = ?", ["0.1"],
        ...     tracking_uri=uri).fetchall()
        [('a',)]
        >>> sql("DELETE FROM main.params", tracking_uri=uri)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tracklite.errors.InvalidParameterValue: tracklite.sql is read-only by default and refused the DELETE ...
    """
    from tracklite.store import get_store
    from tracklite.tracking._uri import get_tracking_uri

    store = get_store(tracking_uri or get_tracking_uri())
    run = getattr(store, "sql", None)
    if run is None:
        raise InvalidParameterValue(f"the store at '{tracking_uri}' does not run SQL; use a store file path")
    return QueryResult(run(query, params, allow_writes=allow_writes))


__all__ = ["QueryResult", "sql"]
