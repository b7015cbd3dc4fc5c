"""``migrate``: copy a whole store between a single file and a lake, in either direction.

Unlike the exchange formats, a migration copies the store's own tables row for row, internal
ids included (``run_key``, ``key_id``, ``model_key``), so the copy is the same store: every
metric point, the registry with its deleted versions and audit trail, users and permissions,
and the artifact bytes (rows of ``artifact_chunks`` in a file, content-addressed files under
a lake's data path).

It works in slices: small tables whole, the per-run tables (metrics, params, tags) in ranges
of runs. A slice whose row count and checksum already match the source's is skipped; any
other is replaced in one transaction. So an interrupted migration resumes where it stopped,
running it again copies nothing, and running it after the source has grown copies what
changed. The destination must be new or an earlier migration's copy of the same source:
one holding experiments, runs or models the source lacks is refused before anything is
written.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tracklite.errors import InvalidParameterValue
from tracklite.exchange.progress import Progress
from tracklite.store import artifacts as _artifacts
from tracklite.store.schema import quote_identifier

# Tables that are the store's own, not its content: the schema version and the progress of
# this machine's durability logs. Artifact chunks are copied apart (rows or files).
_NOT_COPIED = {"schema_info", "log_progress", "artifact_chunks"}
# Rows per slice of the per-run tables: a slice is one transaction of the destination.
_SLICE_ROWS = 2_000_000
# What identifies the content a destination may hold only if the source has it too.
_OWNED = (
    ("experiments", "experiment_id"),
    ("runs", "run_id"),
    ("registered_models", "name"),
    ("logged_models", "model_id"),
    ("users", "username"),
)


@dataclass
class MigrateReport:
    """What a migration did.

    Attributes:
        slices_copied: Table slices written to the destination.
        slices_skipped: Slices the destination already had (same rows).
        rows: Rows written.
        chunks: Artifact chunks written (the others were present).
        tables: Rows written per table.
    """

    slices_copied: int = 0
    slices_skipped: int = 0
    rows: int = 0
    chunks: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def migrate(src_uri: str, dst_uri: str, *, progress: bool = False) -> MigrateReport:
    """Copy the store at ``src_uri`` into ``dst_uri`` (created if missing): file to lake,
    lake to file, or either to its own kind.

    Stop processes writing to the source first: the copy is taken table by table, and points
    still in a live process's durability log are not in the tables yet.

    Args:
        src_uri: The store to copy (a file path or a ``ducklake:`` URI).
        dst_uri: Where to copy it.
        progress: Show a progress bar on stderr.

    Returns:
        What was copied and what was already there.

    Raises:
        InvalidParameterValue: if the two name the same store, either is a server URL, or the
            destination holds content the source does not have.

    Examples:
        >>> from tracklite.exchange.migrate import migrate  # doctest: +SKIP
        >>> migrate("mlruns.duckdb", "ducklake:postgresql://ml@db/tracking?data_path=/shared/lake")  # doctest: +SKIP
        MigrateReport(slices_copied=14, slices_skipped=0, rows=2400311, chunks=52, tables={...})
    """
    from tracklite.store import get_store

    for uri in (src_uri, dst_uri):
        if uri.startswith(("http://", "https://")):
            raise InvalidParameterValue(
                f"migrate copies between store files and lakes, not servers ({uri}); run it where the store is."
            )
    src, dst = get_store(src_uri), get_store(dst_uri)
    if src is dst:
        raise InvalidParameterValue(f"migrate needs two different stores; both name {getattr(src, 'uri', src_uri)}.")
    src.flush()  # type: ignore[attr-defined]
    report = MigrateReport()
    bars = Progress(progress)
    # The source stays open (a file: held) for the whole copy, so it is one consistent state.
    with src.connector.connect() as scon, dst.connector.connect() as dcon:  # type: ignore[attr-defined]
        _refuse_foreign_content(scon, dcon, getattr(dst, "uri", dst_uri))
        tables = [t for t in _tables(scon) if t not in _NOT_COPIED]
        slices = [(t, s) for t in tables for s in _slices(scon, t)]
        with bars.running():
            task = bars.task("tables", len(slices))
            for table, where in slices:
                copied = _copy_slice(scon, dst, table, where)
                if copied is None:
                    report.slices_skipped += 1
                else:
                    report.slices_copied += 1
                    report.rows += copied
                    report.tables[table] = report.tables.get(table, 0) + copied
                bars.advance(task)
            report.chunks = _copy_chunks(scon, dst, bars)
    return report


def _tables(con: Any) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' ORDER BY table_name"
        ).fetchall()
    ]


def _columns(con: Any, table: str) -> list[str]:
    return [
        quote_identifier(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]


def _refuse_foreign_content(scon: Any, dcon: Any, dst: str) -> None:
    for table, column in _OWNED:
        ours = {r[0] for r in scon.execute(f"SELECT {column} FROM main.{table}").fetchall()}
        theirs = [r[0] for r in dcon.execute(f"SELECT {column} FROM main.{table}").fetchall() if r[0] not in ours]
        if theirs and not (table == "experiments" and theirs == ["0"]):
            raise InvalidParameterValue(
                f"The destination {dst} has {table} the source does not ({', '.join(map(str, theirs[:3]))}"
                f"{', ...' if len(theirs) > 3 else ''}); migrate copies into a new store or an earlier copy of "
                "the same source. Choose a new destination."
            )


def _slices(con: Any, table: str) -> list[str]:
    """WHERE clauses that cut ``table`` into slices of about ``_SLICE_ROWS`` rows."""
    if "run_key" not in [c.strip('"') for c in _columns(con, table)]:
        return ["TRUE"]
    counts = con.execute(
        f"SELECT run_key, count(*) FROM main.{table} WHERE run_key IS NOT NULL GROUP BY run_key ORDER BY run_key"
    ).fetchall()
    # Cut points; together the slices cover every run_key, so rows the destination has for
    # runs the source no longer has are found too.
    cuts, rows = [], 0
    for key, n in counts:
        rows += n
        if rows >= _SLICE_ROWS:
            cuts.append(int(key))
            rows = 0
    bounds = [None, *cuts, None]
    slices = [
        " AND ".join(
            ([f"run_key > {low}"] if low is not None else []) + ([f"run_key <= {high}"] if high is not None else [])
        )
        or "run_key IS NOT NULL"
        for low, high in itertools.pairwise(bounds)
    ]
    # Rows without a run_key: written by hand through SQL.
    return [*slices, "run_key IS NULL"]


def _fingerprint(con: Any, table: str, columns: list[str], where: str) -> tuple[int, int]:
    row = con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash({', '.join(columns)})), 0) FROM main.{table} WHERE {where}"
    ).fetchone()
    return int(row[0]), int(row[1])


def _copy_slice(scon: Any, dst: Any, table: str, where: str) -> int | None:
    """Make the destination's slice equal to the source's; None if it already was."""
    columns = _columns(scon, table)
    wanted = _fingerprint(scon, table, columns, where)
    with dst.connector.connect() as dcon:
        if _fingerprint(dcon, table, columns, where) == wanted:
            return None
    names = ", ".join(columns)
    rows = scon.execute(f"SELECT {names} FROM main.{table} WHERE {where}").fetch_record_batch(100_000)
    with dst.connector.transaction() as tx:
        tx.execute(f"DELETE FROM main.{table} WHERE {where}")
        tx.register("_tracklite_migrated", rows)
        try:
            tx.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM _tracklite_migrated")
        finally:
            tx.unregister("_tracklite_migrated")
    return wanted[0]


def _copy_chunks(scon: Any, dst: Any, bars: Progress) -> int:
    """Copy the artifact chunks the destination lacks; returns how many."""
    wanted = [r[0] for r in scon.execute("SELECT DISTINCT unnest(chunks) FROM main.artifact_files").fetchall()]
    with dst.connector.connect() as dcon:
        present = set(_artifacts.present_chunks(dcon, wanted))
    missing = [d for d in wanted if d not in present]
    task = bars.task("artifact chunks", len(missing))
    for start in range(0, len(missing), 16):
        batch = missing[start : start + 16]
        found = _artifacts.read_chunks(scon, batch)
        with dst.connector.transaction() as tx:
            for digest in batch:
                if digest not in found:
                    raise InvalidParameterValue(
                        f"The source lacks artifact chunk {digest} that one of its files needs; "
                        "run `tracklite doctor` on it first."
                    )
                _artifacts.put_chunk(tx, digest, found[digest])
        bars.advance(task, len(batch))
    return len(missing)
