"""Short, exclusive opens of the store file, shared by the threads of a process.

DuckDB lets one process hold a file at a time, and while it does no other process can
even read it. So tracklite never keeps the file open for long: each use opens it (or
reuses an open connection from a burst of calls), and the connection is closed again
once it has been idle for ``linger`` seconds.

Processes take turns through a kernel lock (``flock`` on ``<store>.logs/turn.lock``)
held exactly while they have the file open: a waiting process sleeps in the kernel and
is woken the moment the file is free, instead of polling DuckDB's lock and losing the
race to busier processes. Clients outside tracklite (the ``duckdb`` shell) do not take
turns; against them a process retries with jittered backoff up to ``lock_timeout``
seconds. See ``docs/architecture.md`` for the measured costs behind these choices.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import random
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from tracklite.errors import InvalidParameterValue, StoreCorruptError, StoreLockedError
from tracklite.store.compaction import compact_fragmented
from tracklite.store.schema import ensure_schema

DEFAULT_LOCK_TIMEOUT_S = float(os.environ.get("TRACKLITE_LOCK_TIMEOUT", "120"))
DEFAULT_LINGER_S = float(os.environ.get("TRACKLITE_LINGER", "0.02"))
# However busy a process is, it gives the file up after holding it this long, so that a
# tight loop of reads or writes in one process cannot starve the others.
MAX_HOLD_S = float(os.environ.get("TRACKLITE_MAX_HOLD", "0.1"))
# With no tracklite process waiting, a busy process still lets go this often, for clients
# such as the duckdb shell that cannot say they are waiting.
MAX_HOLD_UNCONTENDED_S = 2.0
# How often a long-lived process looks for tables split into many row groups (DuckDB 1.4;
# store/compaction.py); every process also looks at its first open.
COMPACT_EVERY_OPENS = 200


_LIVE_CONNECTORS: weakref.WeakSet[Connector] = weakref.WeakSet()


def _close_before_fork() -> None:
    # A child must not inherit an open DuckDB database: DuckDB would hand the child the
    # parent's cached instance, and two processes would write one file from two memories.
    for connector in list(_LIVE_CONNECTORS):
        if connector._lock.acquire(blocking=False):
            try:
                if connector._users == 0:
                    connector._close_now()
            finally:
                connector._lock.release()


def _reset_after_fork() -> None:
    for connector in list(_LIVE_CONNECTORS):
        connector._after_fork()


os.register_at_fork(before=_close_before_fork, after_in_child=_reset_after_fork)

_exiting = False


@atexit.register
def _close_all_at_exit() -> None:
    # Runs after the metric sinks' exit hook (registered later, so run earlier). No DuckDB
    # call may still be under way in a daemon thread when the interpreter finalizes: such a
    # thread is torn down mid-call and DuckDB aborts the process.
    global _exiting
    _exiting = True
    for connector in list(_LIVE_CONNECTORS):
        with connector._lock:
            connector._close_now()


def _complete(con: Any) -> None:
    """Finish an unread result on ``con`` (DuckDB 2.0 refuses new relations while one is
    pending; DuckDB 1.x has no ``complete`` and does not need it)."""
    complete = getattr(con, "complete", None)
    if complete is not None:
        complete()


def invalid_text(exc: BaseException) -> InvalidParameterValue | None:
    """The caller's error for a string DuckDB could not take, or None for any other error.

    A ``str`` holding an unpaired UTF-16 surrogate ("\\ud800") is not Unicode text: DuckDB's
    Python client refuses it while binding the statement (a ``RuntimeError`` from its C++
    bindings, or a ``UnicodeEncodeError``), so nothing was written.
    """
    if isinstance(exc, UnicodeEncodeError):
        shown = repr(exc.object[exc.start : exc.end])
    elif isinstance(exc, RuntimeError) and str(exc).startswith("Unable to cast Python instance of type <class 'str'>"):
        shown = "a lone surrogate such as '\\ud800'"
    else:
        return None
    return InvalidParameterValue(
        f"A name, value or filter holds an unpaired UTF-16 surrogate ({shown}), which is not Unicode text and "
        "cannot be stored; pass valid Unicode strings (decode bytes with errors='replace' if unsure)."
    )


def _fold_replayed_wal(con: Any, path: str) -> None:
    """Checkpoint a DuckDB WAL that this open has just replayed.

    A WAL at open means the last holder died with commits not yet in the file. DuckDB 1.4
    replays it, but a connection that then closes without writing drops the replayed rows
    from every unique index: the rows stay, but ``WHERE run_id = ?`` no longer finds them
    and their keys can be stored twice (docs/architecture.md, "Which DuckDB"). An explicit
    checkpoint writes the replayed rows and their index entries into the file first.
    """
    import duckdb

    if not os.path.exists(path + ".wal"):
        return
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        raise StoreCorruptError(
            f"cannot fold the write-ahead log '{path}.wal' of a process that died into the store: {exc}; "
            "nothing was changed. Free disk space if it is full, then open the store again."
        ) from exc


class StoreConnector(Protocol):
    """What the store code needs from its connection source: the single file's
    ``Connector`` or a lake's ``LakeConnector`` (``store.lake_store``)."""

    path: str
    logs_dir: str
    schema_version: int

    def connect(self) -> AbstractContextManager[Any]:
        """An open connection, re-entrant within a thread."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A connection inside one committed (or rolled back) write transaction."""
        ...

    def close(self) -> None:
        """Let go of the store when no caller is using it."""
        ...


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text or "lock on file" in text


class Connector:
    """Hands out the process's connection to one store file, opening it on demand.

    Args:
        path: The store file.
        logs_dir: The folder of durability logs beside it (holds the init lock).
        lock_timeout: Seconds to wait for other processes to release the file.
        linger: Seconds an idle connection stays open, so bursts share one open.
    """

    def __init__(
        self,
        path: str,
        logs_dir: str,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
        linger: float = DEFAULT_LINGER_S,
    ) -> None:
        self.path = path
        self.logs_dir = logs_dir
        self.lock_timeout = lock_timeout
        self.linger = linger
        self.schema_version = 0
        self.opens = 0
        self._lock = threading.RLock()
        self._con: Any = None
        self._turn: Any = None  # the flocked turn.lock file while the connection is open
        self._abandoned: list[Any] = []
        self._users = 0
        self._opened_at = 0.0
        self._yielded = False
        self._last_release = 0.0
        self._closer: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)
        _LIVE_CONNECTORS.add(self)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """Yield an open DuckDB connection holding the file; re-entrant within a thread.

        Raises:
            StoreLockedError: if other processes held the file past ``lock_timeout``.
            StoreCorruptError: if the file is not a tracklite store.
        """
        with self._lock:
            if self._con is None:
                self._con = self._open()
            if self._users == 0:
                # A lingering connection (or the schema check of a new one) may hold an unread
                # result, and DuckDB 2.0 refuses relations and registrations until it is finished.
                _complete(self._con)
            self._users += 1
            try:
                yield self._con
            except (UnicodeEncodeError, RuntimeError) as exc:
                invalid = invalid_text(exc)
                if invalid is None:
                    raise
                raise invalid from None
            finally:
                self._users -= 1
                if self._users == 0:
                    self._last_release = time.monotonic()
                    if self.linger <= 0:
                        self._close_now()
                    elif self._last_release - self._opened_at > MAX_HOLD_S and (
                        self._others_waiting() or self._last_release - self._opened_at > MAX_HOLD_UNCONTENDED_S
                    ):
                        self._close_now()
                        self._yielded = True
                    else:
                        self._ensure_closer()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Yield a connection inside ``BEGIN``; commit on success, roll back on any error."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def close(self) -> None:
        """Close the connection now if no caller is using it."""
        with self._lock:
            if self._users == 0:
                self._close_now()

    def _after_fork(self) -> None:
        # A forked child must not touch the parent's DuckDB handle or locks; it opens its own.
        # Keep, never unlock, the parent's turn file: unlocking would release the parent's turn.
        # Likewise keep the parent's connection object alive: closing it here would tear down
        # DuckDB state whose threads exist only in the parent.
        self._abandoned.append((self._turn, self._con))
        self._turn = None
        self._con = None
        self._users = 0
        self._closer = None
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)

    def _close_now(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            try:
                con.close()
            finally:
                self._end_turn()

    def _take_turn(self) -> None:
        os.makedirs(self.logs_dir, exist_ok=True)
        turn = open(os.path.join(self.logs_dir, "turn.lock"), "a+")  # noqa: SIM115
        try:
            fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Say we are waiting (a shared lock on wait.lock) while we sleep for the turn,
            # so that a busy holder knows to let go.
            with open(os.path.join(self.logs_dir, "wait.lock"), "a+") as waiting:
                fcntl.flock(waiting, fcntl.LOCK_SH)
                fcntl.flock(turn, fcntl.LOCK_EX)
        self._turn = turn

    def _others_waiting(self) -> bool:
        """Whether another tracklite process is waiting for the file (holds wait.lock shared)."""
        with open(os.path.join(self.logs_dir, "wait.lock"), "a+") as waiting:
            try:
                fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(waiting, fcntl.LOCK_UN)
            return False

    def _end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            fcntl.flock(turn, fcntl.LOCK_UN)
            turn.close()

    def _ensure_closer(self) -> None:
        if self._closer is None or not self._closer.is_alive():
            self._closer = threading.Thread(target=self._close_when_idle, name="tracklite-store-closer", daemon=True)
            self._closer.start()
        else:
            self._wake.notify()

    def _close_when_idle(self) -> None:
        with self._lock:
            while self._con is not None:
                idle = time.monotonic() - self._last_release
                if self._users == 0 and idle >= self.linger:
                    self._close_now()
                    return
                self._wake.wait(timeout=max(self.linger - idle, 0.001))

    def _open(self) -> Any:
        import duckdb

        if _exiting and threading.current_thread() is not threading.main_thread():
            raise StoreLockedError("the process is exiting; background work on the store has stopped")

        first = self.schema_version == 0
        init_lock = None
        if first:
            # Serialise creation and migration across processes: several processes
            # starting at once on a missing file must not race on the schema.
            os.makedirs(self.logs_dir, exist_ok=True)
            init_lock = open(os.path.join(self.logs_dir, "init.lock"), "a+")  # noqa: SIM115
            fcntl.flock(init_lock, fcntl.LOCK_EX)
        try:
            if self._yielded:
                # We just gave the file up after a long hold: let a waiting process in first.
                self._yielded = False
                time.sleep(0.005)
            self._take_turn()
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.001
            while True:
                try:
                    con = duckdb.connect(self.path)
                    break
                except duckdb.IOException as exc:
                    if not _is_lock_conflict(exc):
                        raise StoreCorruptError(f"cannot open store '{self.path}': {exc}") from exc
                    if time.monotonic() > deadline:
                        raise StoreLockedError(
                            f"store '{self.path}' stayed locked by another process for "
                            f"{self.lock_timeout:.0f} s; find it with `fuser {self.path}`, or raise "
                            "TRACKLITE_LOCK_TIMEOUT"
                        ) from exc
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.05)
                except duckdb.Error as exc:
                    raise StoreCorruptError(
                        f"cannot open store '{self.path}': {exc}; is it a tracklite store file?"
                    ) from exc
            self.opens += 1
            self._opened_at = time.monotonic()
            try:
                _fold_replayed_wal(con, self.path)
            except BaseException:
                con.close()
                raise
            try:
                if first:
                    self.schema_version = ensure_schema(con, self.path)
                if first or self.opens % COMPACT_EVERY_OPENS == 0:
                    compact_fragmented(con)
            except BaseException:
                con.close()
                raise
            return con
        except BaseException:
            self._end_turn()
            raise
        finally:
            if init_lock is not None:
                fcntl.flock(init_lock, fcntl.LOCK_UN)
                init_lock.close()
