"""tracklite.series and ``_core.downsample``: MinMaxLTTB downsampling of metric series."""

from __future__ import annotations

import array
import doctest
import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
import tracklite.series
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracklite import _core
from tracklite.errors import InvalidParameterValue
from tracklite.series import downsample, downsample_indices


def _bound(n: int, max_points: int, y: npt.NDArray[np.float64]) -> int:
    """The documented maximum length of the result."""
    if n <= max_points:
        return n
    return max_points if np.isfinite(y).all() else max_points + 3 * (max_points - 2)


def _check(x: npt.ArrayLike, y: npt.NDArray[np.float64], max_points: int) -> npt.NDArray[np.uint64]:
    idx = downsample_indices(x, y, max_points)
    n = len(y)
    assert idx.dtype == np.uint64
    assert np.all(np.diff(idx.astype(np.int64)) > 0), "sorted and unique"
    assert len(idx) <= _bound(n, max_points, y)
    if n <= max_points:
        assert idx.tolist() == list(range(n))
    elif n:
        assert idx[0] == 0 and idx[-1] == n - 1
        assert idx[-1] < n
    return idx


# Values as a metric can hold them: any finite float of a sane range, NaN and both infinities.
_values = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0]),
)


@settings(max_examples=300, deadline=None)
@given(
    y=hnp.arrays(np.float64, st.integers(0, 400), elements=_values),
    max_points=st.integers(2, 60),
    gaps=st.integers(1, 5),
)
def test_properties(y: npt.NDArray[np.float64], max_points: int, gaps: int) -> None:
    x = np.cumsum(np.full(len(y), float(gaps)))  # increasing, uneven steps don't matter
    idx = _check(x, y, max_points)
    finite = np.isfinite(y)
    if len(y) > max_points and max_points >= 4 and finite.any():
        kept = y[idx]
        assert np.nanmax(np.where(np.isfinite(kept), kept, np.nan)) == y[finite].max()
        assert np.nanmin(np.where(np.isfinite(kept), kept, np.nan)) == y[finite].min()
    # At most one marker of each non-finite kind per bucket.
    if len(y) > max_points:
        for kind in (np.isnan, np.isposinf, np.isneginf):
            assert kind(y[idx[1:-1]]).sum() <= max_points - 2


@settings(max_examples=100, deadline=None)
@given(
    steps=hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(0, 10**6), unique=True),
    y=hnp.arrays(np.float64, 300, elements=st.floats(-1e6, 1e6)),
    max_points=st.integers(2, 100),
)
def test_int_steps_are_converted(steps: npt.NDArray[np.int64], y: npt.NDArray[np.float64], max_points: int) -> None:
    steps.sort()
    y = y[: len(steps)]
    xs, ys = downsample(steps, y, max_points)
    assert xs.dtype == np.int64 and ys.dtype == np.float64
    assert len(xs) == len(ys) <= min(len(steps), max_points)
    if len(steps):
        assert xs[0] == steps[0] and xs[-1] == steps[-1]
    assert np.all(np.diff(xs) > 0)


def test_million_points() -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    x = 1.7e12 + np.arange(n, dtype=np.int64) * 1000  # epoch-ms timestamps
    y = np.cumsum(rng.normal(size=n))
    y[123_456] = 1e6  # a spike
    y[500_000:500_100] = np.nan
    y[900_000] = np.inf
    idx = downsample_indices(x, y, 2000)
    assert 123_456 in idx
    assert 500_000 in idx and 900_000 in idx
    assert len(idx) <= 2000 + 3, "three non-finite markers at most here"
    assert np.isfinite(y[idx]).sum() <= 2000
    assert idx[0] == 0 and idx[-1] == n - 1


def test_spike_and_constant() -> None:
    y = np.zeros(10_000)
    assert len(downsample_indices(np.arange(10_000), y, 100)) == 100
    y[4321] = -3.0
    for max_points in (3, 4, 10, 500):
        assert 4321 in downsample_indices(np.arange(10_000), y, max_points)


def test_nan_and_inf() -> None:
    y = np.array([np.nan, 1.0, np.inf, np.inf, 2.0, -np.inf, 3.0, np.nan, 4.0, np.nan] * 100)
    x = np.arange(len(y))
    idx = _check(x, y, 10)
    assert np.isnan(y[idx]).any() and np.isposinf(y[idx]).any() and np.isneginf(y[idx]).any()
    only_nan = np.full(1000, np.nan)
    assert downsample_indices(np.arange(1000), only_nan, 10).tolist()[:2] == [0, 1]
    assert len(downsample_indices(np.arange(1000), only_nan, 10)) == 10


def test_small_inputs_return_everything() -> None:
    assert downsample_indices([], [], 2).tolist() == []
    assert downsample_indices([5], [1.0], 2).tolist() == [0]
    assert downsample_indices([1, 2, 3], [1.0, 2.0, 3.0], 3).tolist() == [0, 1, 2]
    assert downsample_indices(range(1000), np.sin(np.arange(1000)), 2).tolist() == [0, 999]


def test_bad_input() -> None:
    with pytest.raises(InvalidParameterValue, match="same length"):
        downsample_indices(np.arange(10), np.arange(11), 5)
    for bad in (1, 0, -5):
        with pytest.raises(InvalidParameterValue, match="at least 2"):
            downsample_indices(np.arange(10), np.arange(10), bad)
    with pytest.raises(ValueError, match="at least 2"):  # InvalidParameterValue is a ValueError
        downsample_indices(np.arange(10), np.arange(10), 1)
    with pytest.raises(TypeError):
        downsample_indices(np.arange(10), np.arange(10), 5.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        downsample_indices(np.arange(10), np.arange(10), True)
    with pytest.raises(InvalidParameterValue, match="one-dimensional"):
        downsample_indices(np.zeros((3, 3)), np.zeros((3, 3)), 5)
    with pytest.raises(InvalidParameterValue, match="array of numbers"):
        downsample_indices(["a", "b"], [1.0, 2.0], 5)


def test_wrapper_converts_dtypes_and_layouts() -> None:
    y = np.sin(np.arange(1000, dtype=np.float32))
    x = np.arange(2000, dtype=np.int32)[::2]  # strided, int32
    expected = downsample_indices(x.astype(np.float64), y.astype(np.float64), 50)
    assert downsample_indices(x, y, 50).tolist() == expected.tolist()
    from_lists = downsample_indices(x.tolist(), y.tolist(), np.int64(50))  # type: ignore[arg-type]
    assert from_lists.tolist() == expected.tolist()


def test_core_binding() -> None:
    x = np.arange(1000, dtype=np.float64)
    y = np.cos(x / 30)
    raw = _core.downsample(x.data, y.data, 100)
    assert isinstance(raw, bytes) and len(raw) % 8 == 0
    assert np.frombuffer(raw, dtype="<u8").tolist() == downsample_indices(x, y, 100).tolist()
    # Any float64 buffer works (ndarray directly: numpy's stubs give it __buffer__ from 3.12).
    assert _core.downsample(x, y, 100) == raw  # type: ignore[arg-type,unused-ignore]
    assert _core.downsample(array.array("d", x), array.array("d", y), 100) == raw
    unaligned = np.frombuffer(b"\0" + np.concatenate([x, y]).tobytes(), dtype=np.float64, offset=1)
    assert _core.downsample(unaligned[:1000].data, unaligned[1000:].data, 100) == raw
    with pytest.raises(InvalidParameterValue, match="same length"):
        _core.downsample(x.data, y[:-1].data, 100)
    with pytest.raises(InvalidParameterValue, match="at least 2"):
        _core.downsample(x.data, y.data, -1)
    with pytest.raises(InvalidParameterValue, match="float64"):
        _core.downsample(x.astype(np.int64).data, y.data, 100)
    with pytest.raises(InvalidParameterValue, match="float64"):
        _core.downsample(x[::2].data, y[::2].data, 100)  # not contiguous
    with pytest.raises(TypeError):
        _core.downsample([1.0, 2.0], [1.0, 2.0], 100)  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    result = doctest.testmod(tracklite.series)
    assert result.attempted > 0 and result.failed == 0


def test_import_tracklite_does_not_import_series_or_numpy_for_it() -> None:
    code = "import sys, tracklite; print('tracklite.series' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "False"
