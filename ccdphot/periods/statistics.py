"""Light-curve statistics, clipping, filtering, binning and folding, as VARTOOLS computes them.

Same names and definitions as VARTOOLS 1.51 so either engine fills the same
columns: ``-rms`` (mean, population RMS, expected RMS from the errors, N),
``-chi2`` (chi^2 about the 1/err^2-weighted mean per degree of freedom, N - 1),
``-stats`` (``stddev`` and ``meddev`` with N - 1, ``MAD`` = 1.483 x median
absolute deviation, ``kurtosis`` = m4 / m2^2 (not the excess), ``skewness`` =
m3 / m2^1.5, ``pctX`` VARTOOLS's interpolation between order statistics at
X (N - 1) / 100 - 1 / (2N)), ``-clip`` (iterated, population sigma about the mean),
``-medianfilter`` (running median over t - w <= t' < t + w), ``-binlc`` (bins from
the first time; median bins get 1.253 x the error of the mean) and ``-Phase``
(phase from the first time). The light curves are Tables (t, mag, err).
"""

import logging

import numpy as np
from astropy.table import Table

from ccdphot.periods.lightcurve import LightCurveError
from ccdphot.periods.peaks import column

log = logging.getLogger(__name__)

MAD_FACTOR = 1.483
MEDIAN_ERROR_FACTOR = 1.253


def _arrays(lc):
    return tuple(np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))


def rms(lc, index=0):
    """``-rms`` columns."""
    _, mag, err = _arrays(lc)
    return {column("Mean_Mag", index): mag.mean(), column("RMS", index): mag.std(),
            column("Expected_RMS", index): np.sqrt(np.mean(err * err)),
            column("Npoints", index): len(mag)}


def chi2(lc, index=0):
    """``-chi2`` columns."""
    _, mag, err = _arrays(lc)
    w = 1.0 / (err * err)
    mean = np.sum(w * mag) / np.sum(w)
    return {column("Chi2", index): np.sum(w * (mag - mean) ** 2) / (len(mag) - 1),
            column("Weighted_Mean_Mag", index): mean}


def percentile(values, pct):
    """VARTOOLS's percentile: interpolation at pct (N - 1) / 100 - 1 / (2N) of the sorted values."""
    data = np.sort(values)
    n = len(data)
    half_step = 0.5 / n
    if n == 1 or pct <= half_step:
        return data[0]
    if pct >= 100.0 - half_step:
        return data[-1]
    position = pct * (n - 1) / 100.0 - half_step
    low = min(max(int(np.floor(position)), 0), n - 1)
    high = min(max(int(np.ceil(position)), 0), n - 1)
    return data[low] + (position - low) * (data[high] - data[low]) if low != high else data[low]


def _moments(values):
    centred = values - values.mean()
    m2 = np.mean(centred ** 2)
    return m2, np.mean(centred ** 3), np.mean(centred ** 4)


def _median_absolute_deviation(values):
    return np.median(np.abs(values - np.median(values)))


STATISTICS = {
    "mean": np.mean,
    "median": np.median,
    "stddev": lambda v: np.std(v, ddof=1),
    "meddev": lambda v: np.sqrt(np.sum((v - np.median(v)) ** 2) / (len(v) - 1)),
    "medmeddev": _median_absolute_deviation,
    "MAD": lambda v: MAD_FACTOR * _median_absolute_deviation(v),
    "kurtosis": lambda v: (lambda m: m[2] / m[0] ** 2)(_moments(v)),
    "skewness": lambda v: (lambda m: m[1] / m[0] ** 1.5)(_moments(v)),
    "max": np.max,
    "min": np.min,
    "sum": np.sum,
}


def statistic(values, name, err=None):
    """One ``-stats`` statistic of ``values`` (``pctNN`` for percentiles)."""
    if name == "weightedmean":
        w = 1.0 / np.square(err)
        return np.sum(w * values) / np.sum(w)
    if name.lower().startswith("pct"):
        return percentile(values, float(name[3:]))
    if name not in STATISTICS:
        raise LightCurveError(f"statistic '{name}' unknown; use one of "
                              f"{', '.join(STATISTICS)}, weightedmean, pctNN")
    return STATISTICS[name](values)


def stat_column_name(variable, name, index):
    """``STATS_mag_MEAN_0``; percentiles as ``PCT10.00``."""
    label = f"PCT{float(name[3:]):.2f}" if name.lower().startswith("pct") else name.upper()
    return column(f"STATS_{variable}_{label}", index)


def stats(lc, variables, names, index=0):
    """``-stats`` columns for ``variables`` (t, mag, err) and statistic ``names``."""
    err = np.asarray(lc["err"], dtype=float)
    return {stat_column_name(v, n, index): statistic(np.asarray(lc[v], dtype=float), n, err)
            for v in variables for n in names}


def sigma_clip(lc, sigma, iterate=True):
    """``-clip``: (clipped light curve, number removed); population sigma about the mean."""
    mag = np.asarray(lc["mag"], dtype=float)
    keep = np.ones(len(mag), dtype=bool)
    while True:
        mean, std = mag[keep].mean(), mag[keep].std()
        clipped = keep & (np.abs(mag - mean) > sigma * std)
        if not clipped.any():
            break
        keep &= ~clipped
        if not iterate:
            break
    return lc[keep], int((~keep).sum())


def median_filter(lc, width, replace=False):
    """``-medianfilter``: mag minus (or, ``replace``, set to) the running median."""
    t, mag, _ = _arrays(lc)
    # The window tests t_i - t_j <= width and t_j - t_i < width as written, not
    # t_j >= t_i - width: on a time grid the two round differently at the edges.
    medians = np.empty(len(t))
    start = stop = 0
    for i, ti in enumerate(t):
        while ti - t[start] > width:
            start += 1
        stop = max(stop, i)
        while stop < len(t) and t[stop] - ti < width:
            stop += 1
        medians[i] = np.median(mag[start:stop])
    out = lc.copy()
    out["mag"] = medians if replace else mag - medians
    return out


BIN_METHODS = ("average", "median", "weightedaverage")


def bin_lightcurve(lc, binsize=None, nbins=None, method="average"):
    """``-binlc`` with bin-centre times, bins from the first time; empty bins dropped."""
    t, mag, err = _arrays(lc)
    if method not in BIN_METHODS:
        raise LightCurveError(f"binning method '{method}' unknown; use one of "
                              f"{', '.join(BIN_METHODS)}")
    t0, t1 = t.min(), t.max()
    if nbins is not None:
        binsize = (t1 - t0) / nbins
    else:
        nbins = int(np.ceil((t1 - t0) / binsize))
    index = np.clip(np.floor((t - t0) / binsize).astype(int), 0, nbins - 1)
    rows = []
    for b in np.unique(index):
        m, e = mag[index == b], err[index == b]
        if method == "weightedaverage":
            w = 1.0 / (e * e)
            rows.append((np.sum(w * m) / np.sum(w), np.sqrt(1.0 / np.sum(w)), b))
            continue
        error = np.sqrt(np.sum(e * e)) / len(e)
        if method == "median":
            rows.append((np.median(m), MEDIAN_ERROR_FACTOR * error, b))
        else:
            rows.append((m.mean(), error, b))
    values = np.array(rows)
    return Table({"t": t0 + (values[:, 2] + 0.5) * binsize, "mag": values[:, 0],
                  "err": values[:, 1]}, meta=dict(lc.meta))


def fold(lc, period, epoch=None):
    """``-Phase``: the light curve with ``t`` replaced by phase (0-1) and sorted by it."""
    t = np.asarray(lc["t"], dtype=float)
    epoch = t[0] if epoch is None else epoch
    phase = np.mod((t - epoch) / period, 1.0)
    out = lc.copy()
    out["t"] = phase
    out.sort("t")
    return out
