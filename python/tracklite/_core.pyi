"""Type stubs for ``tracklite._core``, tracklite's private Rust extension.

Users never import this module; ``tracklite`` wraps it. Everything here is thread-safe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Final, Literal, SupportsFloat, SupportsIndex, TypedDict, final

from typing_extensions import Buffer

__all__ = [
    "WAL_MAGIC",
    "MetricLog",
    "RunWriter",
    "__version__",
    "cast_columns",
    "downsample",
    "enforce_action",
    "log_metric",
    "read_log",
    "set_active_writer",
    "set_log_metric_fallback",
    "validate_metric_key",
]

__version__: Final[str]
WAL_MAGIC: Final[bytes]
"""The 8 bytes every metric log file starts with (``b"TLWAL001"``)."""

class _LogRead(TypedDict):
    """What :func:`read_log` returns. Byte columns are little-endian, for ``numpy.frombuffer``."""

    runs: list[str]
    """run_id by run index: every RUN definition before ``end_offset``."""
    keys: list[str]
    """Metric key by key index: every KEY definition before ``end_offset``."""
    run: bytes
    """Run index per point (``uint32``)."""
    key: bytes
    """Key index per point (``uint32``)."""
    step: bytes
    """Step per point (``int64``)."""
    timestamp: bytes
    """Timestamp per point, epoch milliseconds (``int64``)."""
    value: bytes
    """Value per point (``float64``, NaN and infinities bit-exact)."""
    count: int
    """Number of points read."""
    end_offset: int
    """Byte offset right after the last fully decoded record: the next call's ``offset``."""
    at_end: bool
    """True if nothing complete follows ``end_offset`` (False: stopped at ``max_points``)."""
    torn: bool
    """True if an incomplete or corrupt record follows ``end_offset`` (a crash mid-append, or
    a live writer's append in progress)."""

@final
class MetricLog:
    """An append-only, crash-safe metric log file, written by a background thread.

    Creating it creates ``path`` (which must not exist) holding an exclusive advisory lock
    (``flock``) until :meth:`close`, and writes the header. Every ``flush_interval_ms`` a
    background thread appends the points buffered by :class:`RunWriter` objects (then
    ``fdatasync`` if ``fsync``), so a killed process loses at most about one interval of points.
    The log closes itself when it and all of its writers are garbage collected.

    Args:
        path: The log file to create; its directory must exist.
        flush_interval_ms: How often the background thread writes; ``0`` disables it (only
            :meth:`sync`, :meth:`RunWriter.log_series` and :meth:`close` write then).
        fsync: ``fdatasync`` after each background write, :meth:`sync` and :meth:`close`.

    Raises:
        FileExistsError: ``path`` exists.
        OSError: The file cannot be created, locked or written.
    """

    def __new__(
        cls, path: str | os.PathLike[str], *, flush_interval_ms: int = 100, fsync: bool = True
    ) -> MetricLog: ...
    def run_writer(self, run_id: str) -> RunWriter:
        """A writer logging into this file for ``run_id``.

        The first call for a run_id appends a RUN definition and assigns the next run index; later
        calls return writers with the same index.

        Raises:
            ValueError: The log is closed.
        """

    def sync(self) -> int:
        """Writes everything buffered now (and ``fdatasync`` if ``fsync``), releasing the GIL.

        Returns:
            The byte length of the file's complete records (durable if ``fsync``); after
            :meth:`close`, the final length of the file.

        Raises:
            OSError: Writing failed (the buffered records are kept and retried).
        """

    def rotate(self, new_path: str | os.PathLike[str]) -> int:
        """Continues the log in a new file, so a long-running process does not grow one file forever.

        Under the log's locks (GIL released): writes every buffered point to the current file
        (then ``fdatasync`` if ``fsync``), creates and locks ``new_path`` like the constructor,
        writes the header and the definitions of every run and key written so far with the same
        indexes (existing :class:`RunWriter` objects keep working; the new file reads on its own
        with :func:`read_log`), ``fdatasync``-s it if ``fsync``, and sends every later write
        there. The old file is then unlocked and closed. A point logged concurrently ends up in
        exactly one of the two files, and logging order is kept across them.

        Afterwards :attr:`path` is ``new_path`` and :attr:`written_offset` the new file's length.

        Args:
            new_path: The file to continue in; it must not exist and its directory must.

        Returns:
            The old file's final length in bytes; it holds only complete records.

        Raises:
            FileExistsError: ``new_path`` exists (the log keeps writing to the current file).
            ValueError: The log is closed, or this is a forked child's copy of it.
            OSError: Writing the current file, or creating, locking or writing ``new_path``,
                failed; the current file stays in use and a half-made ``new_path`` is removed.

        Examples:
            >>> import os, tempfile
            >>> a, b = (os.path.join(tempfile.mkdtemp(), name) for name in ("a.tlog", "b.tlog"))
            >>> log = MetricLog(a, flush_interval_ms=0)
            >>> w = log.run_writer("run1")
            >>> w.log("loss", 0.5, step=0)
            >>> log.rotate(b) == os.path.getsize(a)
            True
            >>> w.log("loss", 0.25, step=1)
            >>> log.close()
            >>> [(r["runs"], r["keys"], r["count"]) for r in (read_log(a, 0), read_log(log.path, 0))]
            [(['run1'], ['loss'], 1), (['run1'], ['loss'], 1)]
        """

    def close(self) -> None:
        """Stops the background thread, syncs, closes the file and releases its lock.

        Idempotent. Afterwards logging raises ``ValueError("metric log is closed")``.

        Raises:
            OSError: The final write failed.
        """

    @property
    def path(self) -> str:
        """The current log file's path (the last :meth:`rotate`'s ``new_path``)."""

    @property
    def pending_points(self) -> int:
        """Points buffered and not yet written to the file."""

    @property
    def written_offset(self) -> int:
        """Bytes written to the current file so far (always the end of a complete record)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    @property
    def fsync(self) -> bool:
        """Whether writes are followed by ``fdatasync``."""

    @property
    def flush_interval_ms(self) -> int:
        """The background write interval in milliseconds (0: no background thread)."""

@final
class RunWriter:
    """Logs metrics of one run into a :class:`MetricLog` (from :meth:`MetricLog.run_writer`).

    Metric keys are interned per log: the first use of a key validates it (MLflow's rules) and
    appends a KEY definition; later uses are a pointer lookup.
    """

    def log(
        self,
        key: str,
        value: SupportsFloat,
        step: SupportsIndex | None = None,
        timestamp: SupportsIndex | None = None,
    ) -> None:
        """Buffers one metric point; the background thread writes it.

        Args:
            key: The metric name (MLflow rules, at most 250 characters).
            value: A ``float``, ``int`` or object with ``__float__`` (numpy scalars); not ``bool``
                or ``numpy.bool_``, ``str``, ``bytes`` or ``None``. NaN and infinities are kept.
            step: An int (``__index__``, not ``bool``); ``None`` means 0.
            timestamp: Epoch milliseconds, a nonnegative int; ``None`` means now.

        Raises:
            tracklite.errors.InvalidParameterValue: An invalid key, value, step or timestamp.
            ValueError: The log is closed.
        """

    def log_series(
        self,
        key: str,
        values: Buffer | Iterable[SupportsFloat],
        steps: Buffer | Iterable[SupportsIndex] | None = None,
        timestamps: Buffer | Iterable[SupportsIndex] | None = None,
    ) -> int:
        """Logs many points of one key and writes them to the file now (GIL released).

        Buffered points are written first. One-dimensional contiguous numpy arrays (or other
        buffers) of ``float64``/``int64`` are copied without per-item work; other numeric dtypes
        are converted natively; anything else is iterated item by item with :meth:`log`'s rules.
        The file is synced by the next background flush, :meth:`MetricLog.sync` or ``close``.

        Args:
            key: The metric name.
            values: The values.
            steps: One int per value; ``None`` means ``0, 1, ..., n - 1``.
            timestamps: One nonnegative int (epoch milliseconds) per value; ``None`` means now.

        Returns:
            The number of points logged.

        Raises:
            tracklite.errors.InvalidParameterValue: An invalid key or item, or lengths differ.
            ValueError: The log is closed.
            OSError: Writing failed.
        """

    @property
    def run_id(self) -> str:
        """The run this writer logs to."""

    @property
    def run_index(self) -> int:
        """The run's index in the log file."""

def read_log(path: str | os.PathLike[str], offset: int, max_points: int = 4194304) -> _LogRead:
    """Reads complete records of a metric log from ``offset``, releasing the GIL.

    The file may be appended to by a live writer or left by a killed process. Definitions before
    ``offset`` are collected by skipping other records; from ``offset`` records are read until
    the end, an incomplete or corrupt record (``torn``), or until the next record would exceed
    ``max_points`` (the first one is always taken, however large).

    Args:
        path: The log file.
        offset: ``0`` (right after the header) or an ``end_offset`` returned earlier.
        max_points: Soft limit on the points returned.

    Raises:
        tracklite.errors.StoreCorruptError: The file is not a metric log (wrong magic).
        tracklite.errors.InvalidParameterValue: ``offset`` is not a record boundary of the file.
        OSError: The file cannot be read.
    """

def validate_metric_key(key: str) -> None:
    """Checks ``key`` against MLflow's metric-name rules.

    Raises:
        tracklite.errors.InvalidParameterValue: With MLflow's message.
    """

def log_metric(
    key: str,
    value: SupportsFloat,
    step: SupportsIndex | None = None,
    timestamp: SupportsIndex | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """``tracklite.log_metric``: logs one point to the active run (starting one if none is active).

    With no ``run_id`` and an active writer (:func:`set_active_writer`) this is exactly
    :meth:`RunWriter.log` of that writer (``synchronous`` is ignored). Otherwise it calls the
    fallback (:func:`set_log_metric_fallback`) as ``fn(key, value, step=step,
    timestamp=timestamp, synchronous=synchronous, run_id=run_id)`` and returns its result.

    Raises:
        tracklite.errors.InvalidParameterValue: An invalid key, value, step or timestamp.
        ValueError: The active writer's log is closed.
        RuntimeError: The fallback is needed and none is set.
    """

def set_active_writer(writer: RunWriter | None) -> None:
    """Sets (``None``: clears) the process-wide writer :func:`log_metric` logs to."""

def set_log_metric_fallback(fn: Callable[..., None]) -> None:
    """Sets the function :func:`log_metric` calls when it has no active writer or gets a ``run_id``.

    Raises:
        TypeError: ``fn`` is not callable.
    """

def enforce_action(
    kind: str, itemsize: int, pandas_string: bool, target: str
) -> Literal["keep", "cast", "cast_if_zero_one", "to_datetime", "reject"]:
    """MLflow's rule for a column of NumPy dtype ``kind``/``itemsize`` given to a schema column.

    Args:
        kind: The dtype's kind character (``"i"``, ``"u"``, ``"f"``, ``"b"``, ``"O"``, ``"M"`` ...).
        itemsize: The dtype's item size in bytes.
        pandas_string: Whether the column has a pandas string dtype.
        target: The schema type: boolean, integer, long, float, double, string, binary, datetime.

    Raises:
        tracklite.errors.InvalidParameterValue: For an unknown schema type.
    """

def cast_columns(jobs: list[tuple[Buffer, Buffer, bool]]) -> list[bool]:
    """Converts numeric columns into new buffers, on all cores and without the GIL.

    Args:
        jobs: ``(src, dst, zero_one)`` triples: ``src`` a 1-d numeric column (any stride),
            ``dst`` a writable, contiguous int32/int64/float32/float64 buffer of the same
            length, ``zero_one`` whether every value must be 0 or 1 (MLflow's int64-to-float rule).

    Returns:
        Per job, False if ``zero_one`` was asked and a value is neither 0 nor 1 (that
        destination is then partly written).

    Raises:
        tracklite.errors.InvalidParameterValue: For buffers that are not such columns, or of
            different lengths.
    """

def downsample(x: Buffer, y: Buffer, n_out: int) -> bytes:
    """Indices of the points of a series to draw with about ``n_out`` points (MinMaxLTTB).

    Releases the GIL: a million points take a few milliseconds. The interior points are split
    into ``n_out - 2`` buckets of equal count; each bucket's halves give their minimum and
    maximum as candidates (MinMax preselection, ratio 4), and LTTB keeps per bucket the
    candidate forming the largest triangle with its neighbours. The first and last points are
    always kept, and so are the minimum and maximum finite ``y`` when ``n_out >= 4``.

    NaN and infinite ``y`` never enter the triangles; each bucket instead keeps its first NaN,
    first ``+inf`` and first ``-inf`` point, so a chart can show the gaps. A point with a finite
    ``y`` and a non-finite ``x`` is dropped unless it is the first or last.

    Args:
        x: One-dimensional, contiguous ``float64`` positions, non-decreasing (steps or
            timestamps); unsorted ``x`` still gives valid indices, only a poorer picture.
        y: One-dimensional, contiguous ``float64`` values, as many as ``x``.
        n_out: The number of points wanted, at least 2.

    Returns:
        The kept indices, sorted and unique, as little-endian ``uint64``
        (``numpy.frombuffer(result, dtype="<u8")``): every index if ``len(x) <= n_out``, else
        at most ``n_out`` indices when ``y`` has no NaN or infinity and at most
        ``n_out + 3 * (n_out - 2)`` in general.

    Raises:
        tracklite.errors.InvalidParameterValue: ``x`` and ``y`` differ in length, are not
            one-dimensional contiguous ``float64`` buffers, or ``n_out < 2``.
        TypeError: ``x`` or ``y`` does not support the buffer protocol.
        OverflowError: ``n_out`` does not fit in 64 bits.
    """
