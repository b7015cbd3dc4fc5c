"""Where metric points go between ``log_metric`` and the store's ``metrics`` table.

``log_metric`` appends to the Rust core's buffer (``tracklite._core.MetricLog``), whose
own thread writes the points to this process's append-only log file every
``flush_interval_ms``: from then on a SIGKILL cannot lose them. The log is turned into
DuckDB rows through Arrow in short exclusive opens, by a background thread here every
``db_flush_interval`` seconds and by ``flush()``/``end_run``. Each log's applied offset
is committed in the same transaction as its rows, so applying is exactly-once even
when a process dies half way, and the logs of dead processes are applied by whoever
opens the store next (``recover``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any

from tracklite.store.connection import StoreConnector

LOG_SUFFIX = ".tlog"
DEFAULT_FLUSH_INTERVAL_MS = int(os.environ.get("TRACKLITE_FLUSH_INTERVAL_MS", "100"))
DEFAULT_DB_FLUSH_INTERVAL_S = float(os.environ.get("TRACKLITE_DB_FLUSH_INTERVAL", "1.0"))
# A log applied past this size is replaced by a fresh one (TRACKLITE_LOG_ROTATE_BYTES).
ROTATE_BYTES = int(os.environ.get("TRACKLITE_LOG_ROTATE_BYTES", str(64 * 1024 * 1024)))
_RECOVERY_EVERY_S = 5.0


def _new_log_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{LOG_SUFFIX}"


def _now_ms() -> int:
    return int(time.time() * 1000)


class MetricSink:
    """One process's metric durability log for one store, and its flushing into DuckDB.

    Args:
        connector: The store's connector.
        flush_interval_ms: How often the Rust thread makes buffered points durable.
        db_flush_interval: How often buffered points are moved into DuckDB.
    """

    def __init__(
        self,
        connector: StoreConnector,
        *,
        flush_interval_ms: int = DEFAULT_FLUSH_INTERVAL_MS,
        db_flush_interval: float = DEFAULT_DB_FLUSH_INTERVAL_S,
    ) -> None:
        self.connector = connector
        self.logs_dir = connector.logs_dir
        self.flush_interval_ms = flush_interval_ms
        self.db_flush_interval = db_flush_interval
        self.log_name = _new_log_name()
        self._log: Any = None
        self._writers: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._applied = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recovery = 0.0
        self._swept = False
        _LIVE_SINKS.add(self)

    # -- writing ------------------------------------------------------------------

    @property
    def log_path(self) -> str:
        """This process's log file (it exists once a run has been started here)."""
        return os.path.join(self.logs_dir, self.log_name)

    def ensure_log(self) -> str:
        """Create this process's log file if needed; returns its name (stored on runs)."""
        with self._lock:
            if self._log is None:
                from tracklite import _core

                os.makedirs(self.logs_dir, exist_ok=True)
                # Create and lock under a name recovery ignores, then rename: a log is
                # never visible to other processes before its owner holds its lock.
                tmp = self.log_path + ".new"
                self._log = _core.MetricLog(tmp, flush_interval_ms=self.flush_interval_ms)
                os.rename(tmp, self.log_path)
                self._applied = 0
                self._thread = threading.Thread(target=self._run_flusher, name="tracklite-db-flush", daemon=True)
                self._thread.start()
            return self.log_name

    def writer(self, run_id: str) -> Any:
        """The Rust ``RunWriter`` appending points of ``run_id`` to this process's log."""
        w = self._writers.get(run_id)
        if w is not None:
            return w
        with self._lock:
            self.ensure_log()
            w = self._writers.get(run_id)
            if w is None:
                w = self._log.run_writer(run_id)
                self._writers[run_id] = w
            return w

    def has_unapplied(self) -> bool:
        """Whether points logged here are not yet in DuckDB."""
        log = self._log
        if log is None:
            return False
        return bool(log.pending_points > 0 or log.written_offset > self._applied)

    # -- flushing -----------------------------------------------------------------

    def sync(self) -> None:
        """Make every point logged here durable (in the log file, ``fdatasync``-ed) now."""
        log = self._log
        if log is not None:
            log.sync()

    def flush(self) -> int:
        """Make every point logged here durable and visible to queries.

        Returns:
            The number of points moved into DuckDB.
        """
        with self._lock:
            if self._log is None:
                return 0
            end = self._log.sync()
            n = 0
            if end > self._applied:
                with self.connector.transaction() as con:
                    n, self._applied = apply_log(con, self.log_path, self.log_name)
            if self._applied >= ROTATE_BYTES:
                n += self._rotate()
            return n

    def _rotate(self) -> int:
        """Start a fresh log file once the current one is large and applied, so it never grows unbounded."""
        old_name, old_path = self.log_name, self.log_path
        self.log_name = _new_log_name()
        # One turn on the store for the whole swap: no other process reads `runs.writer`
        # while it names a file that is being replaced.
        with self.connector.transaction() as con:
            self._log.rotate(self.log_path + ".new")  # the old file is complete and unlocked now
            os.rename(self.log_path + ".new", self.log_path)
            self._applied = 0
            n = 0
            with contextlib.suppress(FileNotFoundError):  # another process may have recovered it
                n, _ = apply_log(con, old_path, old_name)
            con.execute("UPDATE runs SET writer = ? WHERE writer = ?", [self.log_name, old_name])
        # The progress row goes only after the file: while the file exists, its row is what
        # keeps a recovering process from applying it a second time.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(old_path)
        with self.connector.transaction() as con:
            con.execute("DELETE FROM log_progress WHERE log_name = ?", [old_name])
        return n

    def recover(self) -> int:
        """Apply the logs of processes that died before flushing them; returns points applied."""
        self._last_recovery = time.monotonic()
        if not os.path.isdir(self.logs_dir):
            return 0
        total = recovered = 0
        for name in sorted(os.listdir(self.logs_dir)):
            if not name.endswith(LOG_SUFFIX) or name == self.log_name:
                continue
            path = os.path.join(self.logs_dir, name)
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its writer is alive and will apply it itself
                if os.fstat(fh.fileno()).st_nlink == 0:
                    continue  # applied and removed by another process since we opened it
                with self.connector.transaction() as con:
                    n, _ = apply_log(con, path, name)
                    total += n
                # The file goes before its progress row, as in close(): dying between the two
                # must leave a stale row, never a log whose row says nothing was applied yet.
                os.unlink(path)
                recovered += 1
            finally:
                fh.close()
        if not self._swept or recovered:
            self._forget_removed_logs()
        return total

    def _forget_removed_logs(self) -> None:
        """Delete the progress rows of this host's logs that no longer exist (their process
        removed the file and died before its row)."""
        self._swept = True
        host = socket.gethostname() + "-"
        with self.connector.transaction() as con:
            names = [r[0] for r in con.execute("SELECT log_name FROM log_progress").fetchall()]
            gone = [n for n in names if n.startswith(host) and not os.path.exists(os.path.join(self.logs_dir, n))]
            if gone:
                con.execute("DELETE FROM log_progress WHERE list_contains(?, log_name)", [gone])

    def close(self) -> None:
        """Flush everything, close the log file and remove it once it is fully applied."""
        with self._lock:
            self._stop.set()
            if self._log is None:
                return
            self.flush()
            self._log.close()
            self._log = None
            self._writers.clear()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.log_path)
            with self.connector.transaction() as con:
                con.execute("DELETE FROM log_progress WHERE log_name = ?", [self.log_name])
            self.connector.close()

    def _after_fork(self) -> None:
        # A forked child shares nothing with the parent's log (its thread did not survive the
        # fork, and its lock belongs to the parent): the child starts its own on first use.
        self._log = None
        self._writers = {}
        self._applied = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self.log_name = _new_log_name()

    def _run_flusher(self) -> None:
        # Load the flush path's libraries now, while the user's loop runs, not at the first flush.
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401

        stop = self._stop
        while not stop.wait(self.db_flush_interval):
            try:
                if self.has_unapplied():
                    self.flush()
                if not stop.is_set() and time.monotonic() - self._last_recovery > _RECOVERY_EVERY_S:
                    self.recover()
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; points stay in the log
                if stop.is_set():
                    return  # exiting: close() applies what is left
                import warnings

                warnings.warn(f"tracklite: background flush failed, will retry: {exc}", RuntimeWarning, stacklevel=1)


def apply_log(con: Any, path: str, log_name: str) -> tuple[int, int]:
    """Move the unapplied part of one log file into the store (caller holds a transaction).

    Returns:
        ``(points applied, new applied offset)``.
    """
    import numpy as np

    from tracklite import _core

    row = con.execute("SELECT applied_offset FROM log_progress WHERE log_name = ?", [log_name]).fetchone()
    offset = int(row[0]) if row else 0
    total = 0
    while True:
        batch = _core.read_log(path, offset)
        if batch["count"]:
            run_index = np.frombuffer(batch["run"], dtype=np.uint32)
            run_keys = _run_keys(con, batch["runs"], np.unique(run_index))
            key_ids = _key_ids(con, batch["keys"])
            run_key = run_keys[run_index]
            keep = run_key >= 0  # points of runs removed by `tracklite gc` are dropped
            table = _points_table(
                {
                    "run_key": run_key[keep].astype(np.int32),
                    "key_id": key_ids[np.frombuffer(batch["key"], dtype=np.uint32)][keep],
                    "step": np.frombuffer(batch["step"], dtype=np.int64)[keep],
                    "timestamp": np.frombuffer(batch["timestamp"], dtype=np.int64)[keep],
                    "value": np.frombuffer(batch["value"], dtype=np.float64)[keep],
                }
            )
            _insert_points(con, table)
            total += table.num_rows
        new_offset = int(batch["end_offset"])
        if new_offset == offset:
            break
        con.execute("DELETE FROM log_progress WHERE log_name = ?", [log_name])
        con.execute(
            "INSERT INTO log_progress (log_name, applied_offset, updated_time) VALUES (?, ?, ?)",
            [log_name, new_offset, _now_ms()],
        )
        offset = new_offset
        if batch["at_end"] or batch["torn"]:
            break
    return total, offset


def _points_table(columns: dict[str, Any]) -> Any:
    """An Arrow table over NumPy columns, built from their buffers: ``pa.table``/``pa.array``
    import pandas on first use, which fails when this runs at interpreter exit (the last flush)."""
    import numpy as np
    import pyarrow as pa

    arrays = []
    for values in columns.values():
        data = np.ascontiguousarray(values)
        arrays.append(pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)]))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _run_keys(con: Any, run_ids: list[str], used: Any) -> Any:
    """run_key by run index (-1 for runs no longer in the store), looked up only for the
    indices in ``used``: a long-lived log defines every run its process ever wrote."""
    import numpy as np

    lookup = np.full(max(len(run_ids), 1), -1, dtype=np.int64)
    index = {run_ids[i]: i for i in used.tolist()}
    if index:
        rows = con.execute(
            "SELECT run_id, run_key FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [list(index)]
        ).fetchall()
        for run_id, run_key in rows:
            lookup[index[run_id]] = run_key
    return lookup


def _key_ids(con: Any, keys: list[str]) -> Any:
    import numpy as np

    lookup = np.zeros(max(len(keys), 1), dtype=np.int32)
    if not keys:
        return lookup
    known = dict(
        con.execute("SELECT key, key_id FROM metric_keys WHERE key IN (SELECT unnest(?::VARCHAR[]))", [keys]).fetchall()
    )
    missing = [k for k in dict.fromkeys(keys) if k not in known]
    if missing:
        next_id = con.execute("SELECT coalesce(max(key_id) + 1, 0) FROM metric_keys").fetchone()[0]
        new = {k: next_id + i for i, k in enumerate(missing)}
        con.executemany("INSERT INTO metric_keys (key_id, key) VALUES (?, ?)", [[v, k] for k, v in new.items()])
        known.update(new)
    for i, k in enumerate(keys):
        lookup[i] = known[k]
    return lookup


def _insert_points(con: Any, table: Any) -> None:
    con.register("_tracklite_points", table)
    try:
        con.execute("INSERT INTO metrics (run_key, key_id, step, timestamp, value) SELECT * FROM _tracklite_points")
        # The latest value of a key is the point with the largest (step, timestamp, value).
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _tracklite_latest AS
            SELECT run_key, key_id, max({'step': step, 'ts': timestamp, 'v': value}) AS m FROM (
                SELECT run_key, key_id, step, timestamp, value FROM _tracklite_points
                UNION ALL
                SELECT l.run_key, l.key_id, l.step, l.timestamp, l.value FROM latest_metrics l
                SEMI JOIN (SELECT DISTINCT run_key, key_id FROM _tracklite_points) p
                    ON l.run_key = p.run_key AND l.key_id = p.key_id
            ) GROUP BY run_key, key_id
            """
        )
        con.execute(
            """
            DELETE FROM latest_metrics l USING _tracklite_latest n
            WHERE l.run_key = n.run_key AND l.key_id = n.key_id
            """
        )
        con.execute(
            "INSERT INTO latest_metrics (run_key, key_id, step, timestamp, value) "
            "SELECT run_key, key_id, m.step, m.ts, m.v FROM _tracklite_latest"
        )
        con.execute("DROP TABLE _tracklite_latest")
    finally:
        con.unregister("_tracklite_points")


_LIVE_SINKS: weakref.WeakSet[MetricSink] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for sink in list(_LIVE_SINKS):
        sink._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


@atexit.register
def _close_all_sinks() -> None:
    for sink in list(_LIVE_SINKS):
        with contextlib.suppress(Exception):  # at exit; an unapplied log stays for recovery
            sink.close()
