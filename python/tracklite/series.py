"""Downsampling metric series for charts: draw a million points with a few thousand.

The work is done by the Rust core (MinMaxLTTB, without the GIL); this module converts numpy
input and output. It imports numpy, so ``import tracklite`` does not import it: import
``tracklite.series`` where a chart is drawn.

Examples:
    >>> import numpy as np
    >>> from tracklite.series import downsample
    >>> steps = np.arange(1_000_000)
    >>> loss = 1.0 / (1.0 + steps)
    >>> xs, ys = downsample(steps, loss, 1000)
    >>> len(xs) <= 1000, int(xs[0]), int(xs[-1]), xs.dtype == steps.dtype
    (True, 0, 999999, True)
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import numpy.typing as npt

from tracklite import _core
from tracklite.errors import InvalidParameterValue

__all__ = ["downsample", "downsample_indices"]


def _column(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    try:
        column = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidParameterValue(f"{name} must be an array of numbers ({e})") from e
    if column.ndim != 1:
        raise InvalidParameterValue(f"{name} must be one-dimensional; got shape {column.shape}")
    return column


def downsample_indices(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int) -> npt.NDArray[np.uint64]:
    """The indices of the points of a series to draw, at most about ``max_points`` of them.

    Uses MinMaxLTTB: the series is split into ``max_points - 2`` buckets of equal point count,
    each bucket's halves give their minimum and maximum as candidates, and per bucket the
    candidate forming the largest triangle with its neighbours is kept (Largest Triangle Three
    Buckets). The first and last points are always kept, and so are the minimum and maximum
    finite ``y`` when ``max_points >= 4``.

    NaN and infinities never distort the picks: instead each bucket keeps its first NaN, its
    first ``+inf`` and its first ``-inf`` point, so the chart can show gaps. A point with a
    finite ``y`` but a non-finite ``x`` is dropped unless it is the first or last.

    Args:
        x: Positions, one-dimensional and non-decreasing (steps, or epoch-millisecond
            timestamps); any numeric dtype, converted to ``float64``. Unsorted ``x`` still gives
            valid indices, only a poorer picture.
        y: Values, one-dimensional, as many as ``x``; converted to ``float64``.
        max_points: The number of points wanted, at least 2.

    Returns:
        The kept indices into ``x`` and ``y``, sorted and unique (``uint64``). Every index when
        ``len(x) <= max_points``; otherwise at most ``max_points`` of them when ``y`` has no NaN
        or infinity, and at most ``max_points + 3 * (max_points - 2)`` in general.

    Raises:
        tracklite.errors.InvalidParameterValue: ``x`` or ``y`` is not a one-dimensional array of
            numbers, their lengths differ, or ``max_points`` is less than 2.
        TypeError: ``max_points`` is not an integer.

    Examples:
        >>> import numpy as np
        >>> y = np.zeros(10_000)
        >>> y[1234] = 5.0
        >>> idx = downsample_indices(np.arange(10_000), y, 100)
        >>> 1234 in idx, len(idx) <= 100
        (True, True)
    """
    if isinstance(max_points, bool):
        raise TypeError("max_points must be an int, not bool")
    n_out = operator.index(max_points)
    if n_out < 2:
        raise InvalidParameterValue(
            f"max_points must be at least 2 (the first and last points are always kept); got {n_out}"
        )
    xs, ys = _column(x, "x"), _column(y, "y")
    if len(xs) != len(ys):
        raise InvalidParameterValue(f"x and y must have the same length; got {len(xs)} and {len(ys)}")
    return np.frombuffer(_core.downsample(xs.data, ys.data, n_out), dtype="<u8").astype(np.uint64, copy=False)


def downsample(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The points of a series to draw, at most about ``max_points`` of them.

    :func:`downsample_indices` applied to ``x`` and ``y``.

    Args:
        x: Positions, one-dimensional and non-decreasing (steps or timestamps), any numeric dtype.
        y: Values, one-dimensional, as many as ``x``.
        max_points: The number of points wanted, at least 2.

    Returns:
        The kept ``x`` and ``y`` in order, each in its input's dtype (steps stay integers).

    Raises:
        tracklite.errors.InvalidParameterValue: ``x`` or ``y`` is not a one-dimensional array of
            numbers, their lengths differ, or ``max_points`` is less than 2.
        TypeError: ``max_points`` is not an integer.
    """
    idx = downsample_indices(x, y, max_points)
    return np.asarray(x)[idx], np.asarray(y)[idx]
