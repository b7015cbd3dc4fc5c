"""The lake backend: the whole store API over a DuckLake (catalog in PostgreSQL, data in Parquet).

``LakeStore`` runs the single file's SQL (``DuckDBStore``) against a lake attached to an
in-memory DuckDB in each process, through a ``LakeConnector`` in place of the file's
``Connector``. What differs is how processes share it:

- Reads never wait: each statement reads the lake's latest snapshot.
- Writes take turns across every process and host on one PostgreSQL advisory lock, held from
  ``BEGIN`` to ``COMMIT``. DuckLake has no unique constraints and its optimistic commits only
  catch two transactions deleting from the same file, so "check, then insert" (experiment
  names, ``max(id) + 1``, model version numbers, metric key ids) is only safe one writer at a
  time; with the lock no commit ever conflicts, so nothing needs retrying.
- Metric points still go through the Rust log of each process, on local disk (a folder per
  lake under ``~/.cache/tracklite/lakes``), and reach the lake in one transaction per flush.
- Artifact bytes are content-addressed files under ``<data_path>/artifacts``; only the file
  rows (``artifact_files``) are in the lake.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracklite.errors import StoreLockedError, TrackliteError
from tracklite.store import connection
from tracklite.store.connection import DEFAULT_LOCK_TIMEOUT_S, _complete, invalid_text
from tracklite.store.duckdb_store import DuckDBStore
from tracklite.store.lake import LakeLocation, attach, parse_lake_uri
from tracklite.store.schema import ensure_lake_schema

# The advisory lock's key (any constant: each lake has its own PostgreSQL database).
_WRITE_LOCK_KEY = 0x7472_6163_6B6C  # "trackl"


# What DuckDB says when the catalog's PostgreSQL connection broke under it (a restart, a
# failover, a network cut); its own message is often just the failed statement.
_LOST_CATALOG = re.compile(
    r'Failed to execute query "(ROLLBACK|COMMIT|BEGIN[^"]*)"|terminating connection|server closed the connection'
    r"|connection to server .* failed|Connection refused|no connection to the server",
    re.IGNORECASE,
)


def _lost_catalog(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.Error) and _LOST_CATALOG.search(str(exc)) is not None


def local_logs_dir(location: LakeLocation) -> str:
    """This host's folder of durability logs for the lake (``$TRACKLITE_LAKE_LOGS`` overrides
    the parent folder). Every process of the host that opens the lake finds the same one."""
    base = os.environ.get("TRACKLITE_LAKE_LOGS") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tracklite", "lakes"
    )
    key = hashlib.sha256(f"{location.catalog}\n{location.data_path}".encode()).hexdigest()[:16]
    return os.path.join(base, key)


class LakeConnection:
    """A DuckDB connection with the lake as its default catalog, and where the lake keeps
    artifact bytes (``chunk_dir``, read by ``store.artifacts``). Everything else is the
    connection's own."""

    __slots__ = ("_con", "chunk_dir")

    def __init__(self, con: Any, chunk_dir: str) -> None:
        self._con = con
        self.chunk_dir = chunk_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class _AdvisoryLock:
    """The lake-wide write lock: a PostgreSQL session advisory lock on a connection of its own.

    PostgreSQL releases it when the holder's connection ends, so a writer that dies cannot
    leave the lake locked.
    """

    def __init__(self, conninfo: str, uri: str, timeout: float) -> None:
        self._conninfo = conninfo
        self._uri = uri
        self._timeout = timeout
        self._conn: Any = None
        self._abandoned: list[Any] = []

    def acquire(self) -> None:
        try:
            import psycopg
        except ImportError:
            raise TrackliteError(
                "Writing to a lake with a PostgreSQL catalog takes its write lock through psycopg: "
                "`pip install 'tracklite[lake]'`."
            ) from None
        try:
            try:
                self._lock_on(self._connection())
            except psycopg.OperationalError:
                # A connection cut since its last use (a restart, a failover): once more on a new one.
                self._conn = None
                self._lock_on(self._connection())
        except psycopg.errors.LockNotAvailable:
            raise StoreLockedError(
                f"lake {self._uri}: another writer held the write lock for {self._timeout:.0f} s; find it in "
                "PostgreSQL's pg_locks (locktype 'advisory'), or raise TRACKLITE_LOCK_TIMEOUT"
            ) from None
        except psycopg.Error as exc:
            self._conn = None
            raise TrackliteError(f"Cannot reach the lake's catalog {self._uri}: {str(exc).strip()}") from None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute(f"SET lock_timeout = {int(self._timeout * 1000)}")
        return self._conn

    @staticmethod
    def _lock_on(conn: Any) -> None:
        conn.execute("SELECT pg_advisory_lock(%s)", [_WRITE_LOCK_KEY])

    def release(self) -> None:
        import psycopg

        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", [_WRITE_LOCK_KEY])
        except psycopg.Error:
            self._conn = None  # the session is gone, and its lock with it

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def after_fork(self) -> None:
        # The child must not close the parent's session (that would release the parent's lock).
        self._abandoned.append(self._conn)
        self._conn = None


class _LocalLock:
    """A DuckDB-file catalog is attached by one process at a time, so its threads are all
    there is to serialize, and the connector's lock already does."""

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass

    def after_fork(self) -> None:
        pass


class LakeConnector:
    """Hands out the process's connection to a lake; writes take the lake-wide write lock.

    Args:
        location: The lake.
        logs_dir: This host's folder of durability logs for it.
        lock_timeout: Seconds to wait for the write lock before ``StoreLockedError``.
    """

    def __init__(self, location: LakeLocation, logs_dir: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.location = location
        self.path = location.uri
        self.logs_dir = logs_dir
        self.chunk_dir = os.path.join(location.data_path, "artifacts")
        self.schema_version = 0
        self.opens = 0
        self._lock = threading.RLock()
        self._con: LakeConnection | None = None
        self._users = 0
        self._writing = 0
        self._broken = False
        self._abandoned: list[Any] = []
        self._write_lock: _AdvisoryLock | _LocalLock = (
            _AdvisoryLock(location.catalog.removeprefix("postgres:"), location.uri, lock_timeout)
            if location.is_postgres
            else _LocalLock()
        )
        # Closed at exit and before a fork with the file's connectors (``store.connection``).
        connection._LIVE_CONNECTORS.add(self)  # type: ignore[arg-type]

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """Yield the process's connection to the lake (opened on first use); re-entrant."""
        with self._lock:
            if self._con is None:
                self._con = self._open()
            if self._users == 0:
                _complete(self._con)
            self._users += 1
            try:
                yield self._con
            except Exception as exc:
                invalid = invalid_text(exc)
                if invalid is not None:
                    raise invalid from None
                if _lost_catalog(exc):
                    # Every pooled PostgreSQL connection of this DuckDB is cut and would fail
                    # once more: attach the lake afresh on the next call instead.
                    self._broken = True
                    raise TrackliteError(
                        f"Lost the connection to the lake's catalog {self.location.uri} "
                        f"({str(exc).strip().splitlines()[0][:200]}); the next call reconnects."
                    ) from exc
                raise
            finally:
                self._users -= 1
                if self._broken and self._users == 0:
                    self._broken = False
                    self._close_now()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Yield a connection inside ``BEGIN``, holding the lake's write lock until ``COMMIT``
        (or the rollback of any error)."""
        with self.connect() as con, self._write_turn():
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        # Taken before BEGIN, so the transaction starts from the last holder's commit.
        with self._lock:
            if self._writing == 0:
                self._write_lock.acquire()
            self._writing += 1
            try:
                yield
            finally:
                self._writing -= 1
                if self._writing == 0:
                    self._write_lock.release()

    def close(self) -> None:
        """Detach the lake and drop the lock's connection, if no caller is using them."""
        with self._lock:
            if self._users == 0:
                self._close_now()

    def _close_now(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()
            self._write_lock.close()

    def _open(self) -> LakeConnection:
        import duckdb

        if connection._exiting and threading.current_thread() is not threading.main_thread():
            raise StoreLockedError("the process is exiting; background work on the lake has stopped")
        con = duckdb.connect()
        try:
            # Attaching a busy lake can take seconds, and DuckDB would draw its progress bar on
            # the user's stdout.
            con.execute("SET enable_progress_bar = false")
            attach(con, self.location)
            lake = LakeConnection(con, self.chunk_dir)
            if self.schema_version == 0:
                with self._write_turn():
                    self.schema_version = ensure_lake_schema(lake, self.location.uri)
        except BaseException:
            con.close()
            raise
        self.opens += 1
        return lake

    def _after_fork(self) -> None:
        # Keep the parent's DuckDB and PostgreSQL handles alive, never close them: they are the parent's.
        self._abandoned.append(self._con)
        self._con = None
        self._users = 0
        self._writing = 0
        self._lock = threading.RLock()
        self._write_lock.after_fork()


class LakeStore(DuckDBStore):
    """A tracklite store in a DuckLake: many processes on many hosts at once.

    Args:
        uri: A ``ducklake:`` tracking URI (``store.lake`` documents its forms).
    """

    def __init__(self, uri: str) -> None:
        location = parse_lake_uri(uri)
        self.location = location
        self._lake = LakeConnector(location, local_logs_dir(location))
        self._setup(location.uri, self._lake)

    def _is_local_log(self, name: str) -> bool:
        # Logs live on the host of their process; another host's cannot be judged from here.
        return name.startswith(socket.gethostname() + "-")

    def _compact(self) -> None:
        # After gc: merge small files, rewrite files that are mostly deleted rows, expire old
        # snapshots, delete the files they held.
        lake = self._lake
        with lake.connect() as con, lake._write_turn():
            con.execute("CALL ducklake_merge_adjacent_files('lake')")
            con.execute("CALL ducklake_rewrite_data_files('lake')")
            con.execute("CALL ducklake_expire_snapshots('lake', older_than => now() - INTERVAL 1 MINUTE)")
            con.execute("CALL ducklake_cleanup_old_files('lake', older_than => now() - INTERVAL 1 MINUTE)")

    def stats(self) -> dict[str, Any]:
        """Counts and sizes for ``tracklite doctor``: the file's report, with the lake's Parquet
        and artifact bytes in place of a file size."""
        report = super().stats()
        data = self.location.data_path
        parquet = chunks = chunk_bytes = 0
        for folder, _dirs, files in os.walk(data):
            in_artifacts = os.path.commonpath([folder, os.path.join(data, "artifacts")]) == os.path.join(
                data, "artifacts"
            )
            for name in files:
                size = os.path.getsize(os.path.join(folder, name))
                if in_artifacts:
                    chunks += 1
                    chunk_bytes += size
                elif name.endswith(".parquet"):
                    parquet += size
        report["counts"]["artifact_chunks"] = chunks
        report["artifact_bytes"] = chunk_bytes
        report["file_bytes"] = parquet
        return report
