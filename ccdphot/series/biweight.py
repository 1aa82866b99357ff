"""Time-windowed Tukey biweight: the slow trend of a long light curve.

At every point, the biweight location of the values whose times lie within
[t - window/2, t + window/2): Tukey's bisquare weights vanishing at c = 5 median
absolute deviations (MAD) of the window, iterated from the window's median until a
step moves the location by at most 1e-6 MAD. These are the definitions of wotan's
``biweight`` (Hippke et al. 2019, AJ 158, 143), which ccdphot called before. wotan
also cuts the curve at gaps longer than half a window; no such window can reach
across such a gap, so the cut changes nothing here.

Hand-written because wotan needs numba: its JIT compiler (numba + llvmlite, about
190 MB) kept the Docker image above 1 GB, and it compiled for 30-90 s in every
fresh container (``docker run --rm`` throws numba's cache away with the HOME).
It works on all windows at once (a sorted, NaN-padded matrix, in blocks of rows so
memory stays bounded); benchmarks/bench_biweight.py compares it with wotan on real
light curves.
"""

import logging
import math

import numpy as np

from ccdphot.errors import InputError

log = logging.getLogger(__name__)

TUNING_C = 5.0            # wotan's biweight constant, in MADs
TOLERANCE_MAD = 1e-6      # stop when a step moves the location by at most this many MADs
MAX_ITERATIONS = 1000
BLOCK_CELLS = 1 << 22     # window-matrix cells per block: 32 MB of float64


def window_bounds(time, window):
    """First and past-the-last index of every point's window in the sorted ``time``."""
    half = window / 2
    return (np.searchsorted(time, time - half, side="left"),
            np.searchsorted(time, time + half, side="left"))


def _window_matrix(values, lo, hi):
    """One row per window: its values sorted, NaN-padded to the widest window of the block."""
    index = lo[:, None] + np.arange(int((hi - lo).max()))
    inside = index < hi[:, None]
    return np.sort(np.where(inside, values[np.minimum(index, len(values) - 1)], np.nan), axis=1)


def _sorted_median(rows, count):
    """Median of each row's first ``count`` values (rows sorted, NaN last)."""
    lines = np.arange(len(rows))
    return (rows[lines, (count - 1) // 2] + rows[lines, count // 2]) / 2


def _iterated_location(rows, count):
    """Biweight location of every row (its first ``count`` values), iterated to the tolerance.

    One step is astropy's ``biweight_location`` with ``M`` the current estimate, written
    out here so that the median and MAD of each window are found once (by sorting the
    rows), not again at every step; tests/test_series_biweight.py checks the result
    against astropy's.
    """
    center = _sorted_median(rows, count)
    mad = _sorted_median(np.sort(np.abs(rows - center[:, None]), axis=1), count)
    active = np.flatnonzero(mad > 0)  # a zero MAD leaves the median, as in astropy
    for _ in range(MAX_ITERATIONS):
        if active.size == 0:
            break
        distance = rows[active] - center[active, None]
        u = distance / (TUNING_C * mad[active, None])
        weight = np.where(np.abs(u) < 1, np.square(1 - np.square(u)), 0.0)  # NaN: 0
        step = np.nansum(distance * weight, axis=1) / weight.sum(axis=1)
        center[active] += step
        active = active[np.abs(step) > TOLERANCE_MAD * mad[active]]
    if active.size:
        log.warning("biweight: %d windows not converged after %d iterations",
                    active.size, MAX_ITERATIONS)
    return center


def biweight_trend(time, values, window):
    """Trend of ``values`` (finite, any time order): the biweight of each point's window.

    ``window`` is the full width of the time window, in the unit of ``time``.
    """
    time = np.asarray(time, float)
    values = np.asarray(values, float)
    try:
        usable = math.isfinite(window) and window > 0
    except TypeError:
        usable = False
    if not usable:
        raise InputError(f"biweight: the window must be a positive number of days, not {window!r}")
    if time.shape != values.shape or time.ndim != 1:
        raise InputError("biweight: time and values must be 1-D arrays of one length")
    if not (np.isfinite(time).all() and np.isfinite(values).all()):
        raise InputError("biweight: time and values must be finite (leave NaN points out)")
    order = np.argsort(time, kind="stable")
    sorted_values = values[order]
    lo, hi = window_bounds(time[order], window)
    rows_per_block = max(1, BLOCK_CELLS // max(1, int((hi - lo).max(initial=1))))
    trend = np.empty(len(time))
    for start in range(0, len(time), rows_per_block):
        block = slice(start, start + rows_per_block)
        rows = _window_matrix(sorted_values, lo[block], hi[block])
        trend[order[block]] = _iterated_location(rows, hi[block] - lo[block])
    return trend
