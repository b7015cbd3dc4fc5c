"""Enforcement's output buffers are reused only once nothing refers to them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
from tracklite.models.buffer_pool import BufferPool, pool
from tracklite.models.enforce import enforce_schema
from tracklite.types import ColSpec, Schema

ROWS = 300_000  # int64 output of 2.4 MB: above the pool's 1 MiB floor


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.integers(0, 1 << 30, ROWS, dtype="int32"), "b": rng.random(ROWS, dtype="float32")})


SCHEMA = Schema([ColSpec("long", "a"), ColSpec("double", "b")])


def test_a_result_still_held_is_never_overwritten() -> None:
    first_input, second_input = _frame(1), _frame(2)
    first = enforce_schema(first_input, SCHEMA)
    view = first["a"].to_numpy()[::2]
    arrow = pa.array(first["b"].to_numpy())
    first_values = first.copy(deep=True)
    enforce_schema(second_input, SCHEMA)
    del first
    enforce_schema(second_input, SCHEMA)
    # The view and the Arrow array still read the first frame's values.
    assert np.array_equal(view, first_values["a"].to_numpy()[::2])
    assert np.array_equal(arrow.to_numpy(), first_values["b"].to_numpy())
    assert view.dtype == np.int64


def test_a_dropped_result_lends_its_buffers_to_the_next_call() -> None:
    frame = _frame(3)
    first = enforce_schema(frame, SCHEMA)
    del first
    kept = [id(buf) for buf in pool()._buffers]
    second = enforce_schema(frame, SCHEMA)
    assert [id(buf) for buf in pool()._buffers if id(buf) not in kept] == []  # nothing new allocated
    assert any(buf is second["a"].to_numpy().base or buf is second["a"].to_numpy() for buf in pool()._buffers)
    assert np.array_equal(second["a"].to_numpy(), frame["a"].to_numpy().astype(np.int64))


def test_pool_reuses_by_dtype_and_length_and_caps_memory() -> None:
    pool = BufferPool(max_bytes=8 << 20)
    a = pool.empty(ROWS, np.int64)
    a_address = a.ctypes.data
    held = pool.empty(ROWS, np.int64)
    assert held.ctypes.data != a_address  # `a` is still referenced
    del a
    assert pool.empty(ROWS, np.int64).ctypes.data == a_address
    assert pool.empty(ROWS, np.float64).ctypes.data != a_address  # another dtype
    assert pool.empty(ROWS + 1, np.int64).ctypes.data != a_address  # another length
    assert pool._bytes <= pool.max_bytes
    small = pool.empty(10, np.int64)  # below the floor: never kept
    assert all(buf is not small for buf in pool._buffers)
    pool.clear()
    assert pool._bytes == 0 and held.sum() is not None


def test_zero_turns_reuse_off_and_a_bad_value_is_named() -> None:
    code = (
        "import numpy as np\n"
        "from tracklite.models import buffer_pool\n"
        "p = buffer_pool.pool()\n"
        "a = p.empty(300_000, np.int64); addr = a.ctypes.data; del a\n"
        "print(p.max_bytes, len(p._buffers))\n"
    )
    env_off = {"TRACKLITE_ENFORCE_BUFFER_MB": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env_off, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]
    bad = subprocess.run(
        [sys.executable, "-c", code],
        env={**env_off, "TRACKLITE_ENFORCE_BUFFER_MB": "lots"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "TRACKLITE_ENFORCE_BUFFER_MB must be a whole number of megabytes, got 'lots'" in bad.stderr


def test_concurrent_calls_get_their_own_buffers() -> None:
    threads = 4
    from concurrent.futures import ThreadPoolExecutor

    frames = [_frame(10 + i) for i in range(threads)]
    expected = [f["a"].to_numpy().astype(np.int64).sum() for f in frames]

    def work(i: int) -> list[int]:
        sums = []
        for _ in range(20):
            out = enforce_schema(frames[i], SCHEMA)
            sums.append(int(out["a"].to_numpy().sum()))
        return sums

    with ThreadPoolExecutor(threads) as ex:
        results = list(ex.map(work, range(threads)))
    for i, sums in enumerate(results):
        assert set(sums) == {expected[i]}
