"""Output buffers for signature enforcement, handed out again once nothing uses them.

Widening a column (int32 to long, float32 to double ...) writes a new buffer as large as
the column. Fresh memory costs page faults, and for a 1,000,000-row frame faulting in its
buffers takes several times longer than the conversion itself; whether the allocator hands
back warm or fresh pages also changes from call to call. A model being served converts
frames of the same shape again and again, so enforcement keeps the large buffers it made
and reuses one when its reference count says that nothing else holds it: no frame, Series,
NumPy view, Arrow array or memoryview refers to it any more (each of those keeps a
reference to the array it reads).

``TRACKLITE_ENFORCE_BUFFER_MB`` caps the memory kept (default 256; 0 turns reuse off).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import numpy as np

#: Buffers smaller than this are cheap to allocate and are not kept.
MIN_BYTES = 1 << 20
DEFAULT_MAX_MB = 256


def _refs(buffers: list[Any], i: int) -> int:
    buf = buffers[i]
    return sys.getrefcount(buf)


# The count `_refs` sees for a buffer that only the pool holds (list slot, local, argument).
_IDLE_REFS = _refs([np.empty(0)], 0)


class BufferPool:
    """Large 1-d output buffers, reused by dtype and length, least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffers: list[np.ndarray] = []  # least recently handed out first
        self._bytes = 0
        self._lock = threading.Lock()

    def empty(self, length: int, dtype: Any) -> np.ndarray:
        """An uninitialised array of ``length`` items of ``dtype``, possibly one handed out before
        that nothing refers to any more."""
        dtype = np.dtype(dtype)
        nbytes = length * dtype.itemsize
        if nbytes < MIN_BYTES or nbytes > self.max_bytes:
            return np.empty(length, dtype)
        with self._lock:
            for i in range(len(self._buffers)):
                buf = self._buffers[i]
                if buf.dtype == dtype and len(buf) == length and _refs(self._buffers, i) == _IDLE_REFS + 1:
                    self._buffers.append(self._buffers.pop(i))
                    return buf
            buf = np.empty(length, dtype)
            self._buffers.append(buf)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                self._bytes -= self._buffers.pop(0).nbytes  # a caller may still use it: only dropped here
            return buf

    def clear(self) -> None:
        """Forget every kept buffer (arrays still in use stay valid)."""
        with self._lock:
            self._buffers.clear()
            self._bytes = 0


def _max_bytes() -> int:
    raw = os.environ.get("TRACKLITE_ENFORCE_BUFFER_MB", str(DEFAULT_MAX_MB))
    try:
        return max(0, int(raw)) << 20
    except ValueError:
        raise ValueError(
            f"TRACKLITE_ENFORCE_BUFFER_MB must be a whole number of megabytes, got {raw!r}; "
            "unset it for the default of 256 or set 0 to turn buffer reuse off"
        ) from None


_pool: BufferPool | None = None


def pool() -> BufferPool:
    """The pool ``enforce_schema`` takes its conversion buffers from (made on first use)."""
    global _pool
    if _pool is None:
        _pool = BufferPool(_max_bytes())
    return _pool
