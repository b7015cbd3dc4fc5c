"""How the store runs a read statement: rows from a prepared statement, Arrow from a relation.

DuckDB 1.4 has two ways to run a query from Python, and each is fast for one kind of result:

* ``con.execute(query, params)`` prepares the statement and materialises its result, which
  is the cheapest way to a few Python rows (a point read in ~0.7 ms);
* ``con.sql(query)`` makes a relation, and a relation's ``fetch_arrow_table`` collects its
  result into Arrow in parallel while the query runs (``fetchnumpy`` is as quick):
  1,000,000 rows of three columns in 10-20 ms, against 30-35 ms for the same rows
  converted from a prepared statement's result on the same (loaded) machine.

A relation cannot take parameters cheaply: ``con.sql(query, params=[...])`` turns its
result into Python objects before any Arrow output (2.2-2.9 s for those rows). So an Arrow
or NumPy read writes integers and floats into the statement as exact literals and carries
its other parameters in one session variable, a ``STRUCT`` with a field per parameter,
read with ``getvariable``. DuckDB binds both as constants, so a filter on them still
reaches the table scan. The placeholders are found with DuckDB's own tokenizer (never
inside a string or comment), and the rewrite is checked with DuckDB's parser; a statement
that does not rewrite cleanly, or that binds differently without typed parameters, runs
as a prepared statement instead.

See ``docs/architecture.md`` ("Which DuckDB") for the measurements.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Arrow results come in batches of DuckDB's row group size: larger batches are slower to
# collect (23 ms for one 1,000,000-row batch against 10 ms for 122,880-row ones).
ARROW_BATCH_ROWS = 122_880

# The session variable an Arrow read's parameters travel in. It is reset after each read, so
# that no later statement on the connection (a server user's SQL) can read them.
PARAMS_VARIABLE = "tracklite_read_params"

# Matched in the query's UTF-8 bytes: DuckDB's tokenizer gives byte offsets.
_POSITIONAL = re.compile(rb"\?|\$(\d+)")
_NAMED = re.compile(rb"\$([A-Za-z_][A-Za-z0-9_]*)")

Params = Sequence[Any] | Mapping[str, Any] | None


class Read:
    """One read statement with its parameters, run when one of its results is fetched.

    Every read of the store with parameters goes through this class (never through
    ``con.sql(query, params=...)``). Fetch one result, once, while ``con`` is held.

    Args:
        con: An open DuckDB connection (or cursor).
        query: One SQL statement; parameters as ``?``, ``$1`` or ``$name``.
        params: The parameters: a sequence for ``?`` and ``$1``, a mapping for ``$name``.
    """

    __slots__ = ("con", "params", "query")

    def __init__(self, con: Any, query: str, params: Params = None) -> None:
        self.con = con
        self.query = query
        self.params = params

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All result rows as tuples."""
        return self.execute().fetchall()  # type: ignore[no-any-return]

    def fetchone(self) -> tuple[Any, ...] | None:
        """The first result row, or ``None``."""
        return self.execute().fetchone()  # type: ignore[no-any-return]

    def fetch_arrow_table(self) -> Any:
        """The result as a ``pyarrow.Table`` (in chunks of ``ARROW_BATCH_ROWS`` rows)."""
        # DuckDB 2.0 names the relation's Arrow fetch to_arrow_table (fetch_arrow_table warns).
        return self._collect(
            lambda rel: getattr(rel, "to_arrow_table", rel.fetch_arrow_table)(ARROW_BATCH_ROWS),
            lambda result: result.fetch_arrow_table(),
        )

    def fetchnumpy(self) -> dict[str, Any]:
        """The result as one contiguous NumPy array per column (masked where NULL)."""
        return self._collect(lambda rel: rel.fetchnumpy(), lambda result: result.fetchnumpy())  # type: ignore[no-any-return]

    def _collect(self, from_relation: Callable[[Any], Any], from_result: Callable[[Any], Any]) -> Any:
        import duckdb

        inlined = inline_parameters(self.query, self.params)
        if inlined is None:
            return from_result(self.execute())
        query, variable = inlined
        if variable is not None:
            self.con.execute(f"SET VARIABLE {PARAMS_VARIABLE} = ?", [variable])
        try:
            try:
                relation = self.con.sql(query)  # parsed and bound, not yet run
            except (duckdb.BinderException, duckdb.ConversionException):
                # A prepared statement's parameter takes the type its place asks for (a
                # string added to a number); a variable keeps the type of its value. Such
                # a statement runs prepared, which also raises its real error if it has one.
                # (A failed bind leaves a transaction usable; a failed run would not.)
                relation = None
            if relation is not None:
                return from_relation(relation)
        finally:
            if variable is not None:
                forget_parameters(self.con)
        return from_result(self.execute())

    def fetch_record_batch(self, rows: int) -> Any:
        """The result as a ``pyarrow.RecordBatchReader`` of ``rows``-row batches, streamed."""
        return self.execute().fetch_record_batch(rows)

    def execute(self) -> Any:
        """Run it as a prepared statement; its result stays pending on the connection, returned."""
        if self.params is None:
            return self.con.execute(self.query)
        return self.con.execute(self.query, self.params)


def forget_parameters(con: Any) -> None:
    """Drop the parameters of the last Arrow read from ``con``'s session.

    ``Read`` does this after each read; a read that failed inside a transaction cannot (an
    aborted transaction refuses every statement), so whoever ends that transaction calls
    this after its ``ROLLBACK``.
    """
    import duckdb

    with contextlib.suppress(duckdb.TransactionException):
        con.execute(f"RESET VARIABLE {PARAMS_VARIABLE}")


def inline_parameters(query: str, params: Params) -> tuple[str, dict[str, Any] | None] | None:
    """``query`` with each placeholder replaced by a field of ``PARAMS_VARIABLE``.

    Returns:
        The rewritten query and the ``STRUCT`` value for the variable (``None`` when the
        query has no parameters), or ``None`` when the query is not one ``SELECT`` whose
        placeholders match ``params`` exactly (the caller then prepares it).
    """
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error:
        return None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        return None
    expected = set(statements[0].named_parameters)
    if params is None or (not expected and not params):
        return (query, None) if not expected else None

    named = isinstance(params, Mapping)
    raw = query.encode("utf-8")
    tokens = duckdb.tokenize(query)
    pieces: list[bytes] = []
    variable: dict[str, Any] = {}
    found: set[str] = set()
    done = 0
    positional = 0
    for i, (start, kind) in enumerate(tokens):
        if kind != duckdb.token_type.operator or raw[start : start + 1] not in (b"?", b"$"):
            continue
        if named:
            match = _NAMED.match(raw, start)
            # DuckDB's tokenizer splits "$name" into "$" and the identifier that follows it.
            if match is None or i + 1 >= len(tokens) or tokens[i + 1][0] != start + 1:
                return None
            name = match.group(1).decode("ascii")
            if name not in params:
                return None
            field = f"n_{name}"
            variable[field] = params[name]
        else:
            match = _POSITIONAL.match(raw, start)
            if match is None:
                return None
            if match.group(1) is None:
                positional += 1
                number = positional
            else:
                number = int(match.group(1))
            if not 1 <= number <= len(params):
                return None
            name = str(number)
            field = f"p{number}"
            variable[field] = params[number - 1]
        found.add(name)
        pieces.append(raw[done:start])
        literal = _literal(variable[field])
        if literal is not None:
            del variable[field]
            pieces.append(literal.encode("ascii"))
        else:
            pieces.append(f"(getvariable('{PARAMS_VARIABLE}').\"{field}\")".encode())
        done = match.end()
    pieces.append(raw[done:])
    if found != expected or len(found) != len(params):
        return None
    rewritten = b"".join(pieces).decode("utf-8")
    try:
        checked = duckdb.extract_statements(rewritten)
    except duckdb.Error:
        return None
    if len(checked) != 1 or checked[0].named_parameters:
        return None
    return rewritten, variable or None


def _literal(value: Any) -> str | None:
    """A number as exact SQL of the type a parameter would get, or ``None`` (use the variable).

    A literal needs no variable set and reset. Floats must be literals: a ``STRUCT`` field
    turns NaN into NULL. Integers are cast, as a parameter is typed (INTEGER, then BIGINT):
    a bare literal would take the type of a narrow column beside it, and ``ORDER BY 2``
    would name a column. Integers beyond BIGINT go in the variable, which types them as a
    parameter would (UBIGINT, DOUBLE).
    """
    if type(value) is int and -(2**63) <= value < 2**63:
        return f"CAST({value} AS {'INTEGER' if -(2**31) <= value < 2**31 else 'BIGINT'})"
    if isinstance(value, float):  # also numpy.float64
        return f"CAST('{float(value)!r}' AS DOUBLE)"  # repr reads back exactly; also 'nan', 'inf'
    return None
