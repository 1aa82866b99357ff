"""What every periodogram shares: distinct peaks, the clipped mean and scatter, names.

VARTOOLS's conventions, so that both engines report the same figures: two
periods are "the same peak" when they differ by less than one peak width
(``T |P2 - P1| < P1 P2``) or when one is near a ratio b/a (a < b <= 5) of the
other; a periodogram's SNR is (peak - mean) / standard deviation of the
periodogram, the mean and deviation iterated with values beyond ``clip``
deviations left out. Column names end in ``_<peak>_<command index>``.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

MAX_RATIO = 5


def is_different_period(p1, p2, span):
    """False when ``p2`` is the same peak as ``p1`` or one of its near ratios b/a."""
    if span * abs(p2 - p1) < p1 * p2:
        return False
    for a in range(1, MAX_RATIO):
        for b in range(a + 1, MAX_RATIO + 1):
            multiple = p1 * b / a
            if span * abs(p2 - multiple) < p2 * multiple:
                return False
    return True


def clipped_mean_std(values, clip, iterate=True, upper=True):
    """Mean and population standard deviation with values beyond ``clip`` sigma dropped.

    ``upper``: drop values above mean + clip*std (peaks of a power spectrum);
    else values below mean - clip*std. Repeated while more values are dropped
    when ``iterate``.
    """
    values = np.asarray(values, dtype=float)
    mean, std = values.mean(), values.std()
    dropped = 0
    while True:
        keep = values < mean + clip * std if upper else values > mean - clip * std
        n_dropped = int((~keep).sum())
        mean, std = values[keep].mean(), values[keep].std()
        if not iterate or n_dropped <= dropped:
            return mean, std
        dropped = n_dropped


def local_maxima(values):
    """Indices of the local maxima of ``values`` (the ends count when above their neighbour)."""
    values = np.asarray(values)
    if len(values) < 2:
        return np.arange(len(values))
    left = np.concatenate([[True], values[1:] > values[:-1]])
    right = np.concatenate([values[:-1] > values[1:], [True]])
    return np.flatnonzero(left & right)


def distinct_peaks(periods, scores, npeaks, span):
    """Indices of the ``npeaks`` best ``scores`` whose periods are distinct peaks.

    ``scores`` larger is better; candidates are taken best first, each kept when
    it is not the same peak as one already kept.
    """
    chosen = []
    for index in np.argsort(-np.asarray(scores), kind="stable"):
        if all(is_different_period(periods[c], periods[index], span) for c in chosen):
            chosen.append(int(index))
            if len(chosen) == npeaks:
                break
    return chosen


def column(base, index, peak=None):
    """A VARTOOLS column name: ``column("LS_Period", 0, 1)`` -> ``LS_Period_1_0``."""
    return f"{base}_{peak}_{index}" if peak is not None else f"{base}_{index}"
