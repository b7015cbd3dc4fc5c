"""The metric hot path of a tracking-server client: a local spool, sent in batches.

``log_metric`` against ``http(s)://`` logs into a Rust ``RunWriter`` exactly as against a
store file (the native fast path of ``tracklite.log_metric`` needs one), but the writer's
metric log is a *spool* file under ``~/.cache/tracklite/remote/<digest of the URI>/``
(``TRACKLITE_REMOTE_SPOOL`` moves it): one file per run and process, ``fdatasync``-ed by
the Rust thread. A sender thread here reads the unsent part with ``_core.read_log`` and
POSTs it:

* to a tracklite server as columns (``/api/2.0/tracklite/runs/log-metrics-columnar``),
  naming the spool and its byte range, which the server applies exactly once;
* to any other MLflow server as ``runs/log-batch`` requests of at most 1000 metrics.

``flush()`` returns once the server has acknowledged every point logged before it. At exit
the rest is sent within ``TRACKLITE_REMOTE_EXIT_TIMEOUT`` seconds (default 30); a spool the
server did not take stays on disk, with a warning, and the next tracklite process using the
same server sends it (spools whose process is gone are found by their free ``flock``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import socket
import threading
import time
import uuid
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from tracklite.errors import ResourceDoesNotExist, TrackliteError

if TYPE_CHECKING:
    from tracklite.store.rest_store import RestStore

SPOOL_SUFFIX = ".tlog"
#: Points per columnar request (about 3.7 MB of base64 at most).
COLUMNAR_BATCH = 100_000
#: MLflow's limit of metrics per ``runs/log-batch`` request.
LOG_BATCH_LIMIT = 1000
SEND_INTERVAL_S = float(os.environ.get("TRACKLITE_REMOTE_SEND_INTERVAL", "0.2"))
_RECOVER_EVERY_S = 30.0


def spool_dir(uri: str) -> str:
    """The folder of spool files for the tracking server at ``uri``."""
    base = os.environ.get("TRACKLITE_REMOTE_SPOOL") or os.path.join(
        os.path.expanduser("~"), ".cache", "tracklite", "remote"
    )
    return os.path.join(base, hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Spool:
    """One spool file and how much of it the server has acknowledged.

    A live spool belongs to this process (``log`` is its ``MetricLog``); a recovered one is
    a dead process's file, held by our ``flock`` while we send it.
    """

    def __init__(self, path: str, run_id: str | None, log: Any = None, lock_fh: Any = None) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.run_id = run_id
        self.log = log
        self.writer: Any = None
        self.lock_fh = lock_fh
        self.lock = threading.Lock()
        self.sent = _read_sent(path)
        self.partial = 0  # points of the batch at ``sent`` already sent by log-batch requests

    def end_offset(self, sync: bool) -> int:
        if self.log is None:
            return os.path.getsize(self.path)
        return int(self.log.sync() if sync else self.log.written_offset)


def _read_sent(path: str) -> int:
    try:
        with open(path + ".sent") as fh:
            return int(fh.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _write_sent(path: str, offset: int) -> None:
    tmp = path + ".sent.new"
    with open(tmp, "w") as fh:
        fh.write(str(offset))
    os.replace(tmp, path + ".sent")


def _remove_spool(path: str) -> None:
    for p in (path, path + ".sent"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


class RemoteMetrics:
    """A ``RestStore``'s spools and their sender thread.

    Args:
        store: The store whose server receives the points.
    """

    def __init__(self, store: RestStore) -> None:
        self._store_ref = weakref.ref(store)
        self.uri = store.uri
        self.dir = spool_dir(store.uri)
        self._spools: dict[str, _Spool] = {}
        self._recovered: dict[str, _Spool] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._columnar: bool | None = None
        self._failures = 0
        self._last_recovery = 0.0
        self.exit_timeout = float(os.environ.get("TRACKLITE_REMOTE_EXIT_TIMEOUT", "30"))
        self._recover_lock = threading.Lock()
        _LIVE.add(self)
        if os.path.isdir(self.dir) and any(n.endswith(SPOOL_SUFFIX) for n in os.listdir(self.dir)):
            self._ensure_thread()  # spools left by earlier processes: send them now

    # -- writing ------------------------------------------------------------------

    def writer(self, run_id: str) -> Any:
        """The Rust ``RunWriter`` spooling the points of ``run_id`` (created on first use)."""
        spool = self._spools.get(run_id)
        if spool is not None:
            return spool.writer
        with self._lock:
            spool = self._spools.get(run_id)
            if spool is None:
                from tracklite import _core

                os.makedirs(self.dir, exist_ok=True)
                name = f"{run_id}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SPOOL_SUFFIX}"
                path = os.path.join(self.dir, name)
                # Created and locked under a name recovery ignores, then renamed: another
                # process never sees a spool before its owner holds the lock.
                log = _core.MetricLog(path + ".new", flush_interval_ms=100)
                os.rename(path + ".new", path)
                spool = _Spool(path, run_id, log)
                spool.writer = log.run_writer(run_id)
                self._spools[run_id] = spool
                self._ensure_thread()
            return spool.writer

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tracklite-remote-metrics", daemon=True)
            self._thread.start()

    # -- sending ------------------------------------------------------------------

    def _store(self) -> RestStore:
        store = self._store_ref()
        if store is None:
            raise TrackliteError(f"The client for {self.uri} is gone.")
        return store

    def columnar(self) -> bool:
        """Whether the server takes tracklite's columnar batches (asked once)."""
        if self._columnar is None:
            self._columnar = self._store().server_info().get("store_type") == "tracklite"
        return self._columnar

    def send(self, spool: _Spool, *, sync: bool, deadline: float | None = None) -> None:
        """Send everything of ``spool`` written so far (``sync``: after writing its buffer).

        Raises:
            TrackliteError: the server refused a batch or could not be reached; what is
                unsent stays in the spool.
        """
        from tracklite import _core

        log = spool.log
        if log is not None and not log.closed and log.pending_points == 0 and log.written_offset <= spool.sent:
            return  # nothing new: no fdatasync, no request
        with spool.lock:
            end = spool.end_offset(sync)
            while spool.sent < end:
                if deadline is not None and time.monotonic() > deadline:
                    raise TrackliteError(f"Timed out sending metrics to {self.uri}.")
                batch = _core.read_log(spool.path, spool.sent, COLUMNAR_BATCH if self.columnar() else LOG_BATCH_LIMIT)
                if batch["end_offset"] == spool.sent:
                    break  # only a torn tail (a dead writer's last append) is left
                run_id = spool.run_id or (batch["runs"][0] if batch["runs"] else None)
                if run_id is None:
                    spool.sent = int(batch["end_offset"])
                    continue
                if self.columnar():
                    new = self._send_columnar(spool, run_id, batch)
                else:
                    new = self._send_log_batch(spool, run_id, batch)
                spool.sent = new
                _write_sent(spool.path, new)

    def _send_columnar(self, spool: _Spool, run_id: str, batch: Any) -> int:
        body = {
            "run_id": run_id,
            "spool": spool.name,
            "start_offset": spool.sent,
            "end_offset": int(batch["end_offset"]),
            "count": int(batch["count"]),
            "keys": batch["keys"],
            "key_index": _b64(batch["key"]),
            "steps": _b64(batch["step"]),
            "timestamps": _b64(batch["timestamp"]),
            "values": _b64(batch["value"]),
        }
        answer = self._store().call("POST", "/api/2.0/tracklite/runs/log-metrics-columnar", json=body)
        return int(answer["applied_offset"])

    def _send_log_batch(self, spool: _Spool, run_id: str, batch: Any) -> int:
        import numpy as np

        from tracklite.server.protocol import number

        keys = batch["keys"]
        key_index = np.frombuffer(batch["key"], dtype="<u4").tolist()
        steps = np.frombuffer(batch["step"], dtype="<i8").tolist()
        stamps = np.frombuffer(batch["timestamp"], dtype="<i8").tolist()
        values = np.frombuffer(batch["value"], dtype="<f8").tolist()
        store = self._store()
        # A record can hold more than 1000 points (log_series): send it in pieces, counting
        # the pieces sent so a retry after a failure does not send them twice.
        for lo in range(spool.partial, len(values), LOG_BATCH_LIMIT):
            hi = min(lo + LOG_BATCH_LIMIT, len(values))
            metrics = [
                {"key": keys[key_index[i]], "value": number(values[i]), "timestamp": stamps[i], "step": steps[i]}
                for i in range(lo, hi)
            ]
            store.call("POST", "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
            spool.partial = hi
        spool.partial = 0
        return int(batch["end_offset"])

    def flush(self, run_id: str | None = None) -> None:
        """Return once the server has every point logged so far (of ``run_id``, or all).

        Raises:
            TrackliteError: the server could not be reached or refused the points; they
                stay in the spool and are sent later.
        """
        with self._lock:
            spools = [s for s in self._spools.values() if run_id is None or s.run_id == run_id]
        for spool in spools:
            self.send(spool, sync=True)

    def retire(self, run_id: str) -> None:
        """Send and close the spool of a run that ended, and remove it once all is sent."""
        with self._lock:
            spool = self._spools.pop(run_id, None)
        if spool is None:
            return
        try:
            self.send(spool, sync=True)
        except BaseException:
            with self._lock:
                self._spools.setdefault(run_id, spool)
            raise
        with spool.lock:
            spool.log.close()
            self.send_rest_after_close(spool)

    def send_rest_after_close(self, spool: _Spool) -> None:
        """Remove a closed spool whose points are all sent (else keep it for recovery)."""
        from tracklite import _core

        try:
            tail = _core.read_log(spool.path, spool.sent)
        except FileNotFoundError:
            return  # once closed (unlocked), a recovery pass may send and remove it first
        if tail["count"] == 0:
            _remove_spool(spool.path)

    def recover(self) -> None:
        """Send the spools that processes now gone left behind (their lock is free)."""
        with self._recover_lock:  # one pass at a time (the sender thread's and an explicit call)
            self._recover()

    def _recover(self) -> None:
        self._last_recovery = time.monotonic()
        if not os.path.isdir(self.dir):
            return
        mine = {s.name for s in self._spools.values()}
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(SPOOL_SUFFIX) or name in mine or self._stop.is_set():
                continue
            path = os.path.join(self.dir, name)
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and sends it itself
                if os.fstat(fh.fileno()).st_nlink == 0:
                    continue  # sent and removed by another process since we listed it
                spool = _Spool(path, None, None, fh)
                try:
                    self.send(spool, sync=False)
                except ResourceDoesNotExist as exc:
                    # The run is gone from the server (deleted for good): nothing to send it to.
                    warnings.warn(
                        f"tracklite: dropping spooled metrics of a run the server at {self.uri} no longer has "
                        f"({path}): {exc}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                _remove_spool(path)
            finally:
                fh.close()

    def _run(self) -> None:
        backoff = SEND_INTERVAL_S
        while not self._stop.wait(backoff):
            try:
                with self._lock:
                    spools = list(self._spools.values())
                for spool in spools:
                    if spool.log is not None and not spool.log.closed:
                        self.send(spool, sync=False)
                if time.monotonic() - self._last_recovery > _RECOVER_EVERY_S:
                    self.recover()
                self._failures = 0
                backoff = SEND_INTERVAL_S
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; points stay in the spool
                if self._stop.is_set():
                    return
                self._failures += 1
                backoff = min(10.0, SEND_INTERVAL_S * 2**self._failures)
                if self._failures == 1:
                    # The thread must outlive a warning turned into an error (``-W error``).
                    with contextlib.suppress(Exception):
                        warnings.warn(
                            f"tracklite: sending metrics to {self.uri} failed, will retry (they are kept in "
                            f"{self.dir}): {exc}",
                            RuntimeWarning,
                            stacklevel=1,
                        )

    # -- shutting down ------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Stop the sender, send what is left (within ``timeout`` seconds) and close the spools.

        Spools not fully sent stay on disk, with a warning naming them; the next process
        using this server sends them.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        deadline = time.monotonic() + (self.exit_timeout if timeout is None else timeout)
        with self._lock:
            spools = list(self._spools.values())
            self._spools.clear()
        kept = []
        for spool in spools:
            error: Exception | None = None
            try:
                self.send(spool, sync=True, deadline=deadline)
            except Exception as exc:  # noqa: BLE001 - reported below; the spool is kept
                error = exc
            with contextlib.suppress(Exception):
                spool.log.close()
            if error is None:
                with contextlib.suppress(Exception):
                    self.send_rest_after_close(spool)
            else:
                kept.append((spool.path, error))
        for path, error in kept:
            warnings.warn(
                f"tracklite: metrics not yet sent to {self.uri} are kept in {path} ({error}); the next tracklite "
                "process that uses this server sends them.",
                RuntimeWarning,
                stacklevel=2,
            )

    def after_fork(self) -> None:
        """In a forked child: forget the parent's spools and thread (the child starts its own)."""
        self._spools = {}
        self._lock = threading.RLock()
        self._recover_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None


_LIVE: weakref.WeakSet[RemoteMetrics] = weakref.WeakSet()


def _after_fork() -> None:
    for remote in list(_LIVE):
        remote.after_fork()


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _close_all() -> None:
    for remote in list(_LIVE):
        with contextlib.suppress(Exception):
            remote.close()
