"""Variability indices of many light curves at once, and the ranking of candidates.

Each function takes (frames x stars) arrays with NaN where a star was not
measured and returns one value per star. The indices are those compared by
Sokolovsky et al. (2017, MNRAS 464, 274), who recommend the interquartile range
and the von Neumann ratio 1/eta; their definitions, written out here because
no maintained package computes them vectorised over stars with gaps:

- reduced chi2 about the error-weighted mean;
- MAD = median |m - median(m)| (not scaled to sigma);
- IQR = 75th - 25th percentile (linear interpolation, numpy's default);
- 1/eta, eta = [sum (m[i+1]-m[i])^2 / (N-1)] / [sum (m - mean)^2 / (N-1)] over
  consecutive measurements of the star (frames in time order);
- Stetson (1996) J and K with delta_i = sqrt(N/(N-1)) (m_i - weighted mean) / err_i:
  J = mean over k of sign(P_k) sqrt|P_k|, where frames (0,1), (2,3), ... form pairs
  (P = delta_i delta_j) when both measure the star within ``max_pair_days`` and a
  frame without its partner stands alone (P = delta_i^2 - 1), all with weight 1;
  K = mean|delta| / sqrt(mean delta^2).
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import Table

log = logging.getLogger(__name__)

MIN_POINTS = 5  # fewer measurements give no index (NaN)


def _count(mag):
    return np.isfinite(mag).sum(axis=0)


def _nan_unless_enough(values, n):
    return np.where(n >= MIN_POINTS, values, np.nan)


def weighted_mean(mag, err):
    """Error-weighted mean per star."""
    weight = np.where(np.isfinite(mag) & np.isfinite(err) & (err > 0), 1.0 / np.square(err), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(np.where(weight > 0, mag, 0.0) * weight, axis=0) / weight.sum(axis=0)


def reduced_chi2(mag, err):
    """sum((m - weighted mean) / err)^2 / (N - 1) per star."""
    n = _count(mag)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.nansum(np.square((mag - weighted_mean(mag, err)) / err), axis=0) / (n - 1)
    return _nan_unless_enough(chi2, n)


def mad(mag):
    """Median absolute deviation from the median (unscaled) per star."""
    with np.errstate(invalid="ignore"):
        return _nan_unless_enough(np.nanmedian(np.abs(mag - np.nanmedian(mag, axis=0)), axis=0),
                                  _count(mag))


def iqr(mag):
    """Interquartile range per star."""
    n = _count(mag)
    if not mag.size or not (n >= MIN_POINTS).any():
        return np.full(mag.shape[1], np.nan)
    q75, q25 = np.nanpercentile(mag[:, n >= MIN_POINTS], [75, 25], axis=0)
    out = np.full(mag.shape[1], np.nan)
    out[n >= MIN_POINTS] = q75 - q25
    return out


def _previous_present(mag):
    """For each cell, the row of the star's previous measurement (-1 if none)."""
    rows = np.arange(mag.shape[0])[:, None]
    present_rows = np.where(np.isfinite(mag), rows, -1)
    last = np.maximum.accumulate(present_rows, axis=0)
    previous = np.full(mag.shape, -1)
    previous[1:] = last[:-1]
    return previous


def von_neumann_inverse(mag):
    """1/eta: the sample variance over the mean square successive difference, per star."""
    n = _count(mag)
    previous = _previous_present(mag)
    columns = np.broadcast_to(np.arange(mag.shape[1]), mag.shape)
    has_previous = np.isfinite(mag) & (previous >= 0)
    before = np.where(has_previous, mag[np.maximum(previous, 0), columns], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        delta2 = np.nansum(np.square(mag - before), axis=0) / (n - 1)
        variance = np.nanvar(mag, axis=0, ddof=1)
        return _nan_unless_enough(variance / delta2, n)


def _stetson_delta(mag, err):
    n = _count(mag)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(n / (n - 1.0)) * (mag - weighted_mean(mag, err)) / err


def stetson_j(mag, err, time, max_pair_days=np.inf):
    """Stetson's J per star, frames (0,1), (2,3), ... paired (see the module docstring)."""
    delta = _stetson_delta(mag, err)
    n_frames = mag.shape[0]
    present = np.isfinite(delta)
    terms = np.where(present, np.square(delta) - 1.0, np.nan)  # singles
    first = np.arange(0, n_frames - 1, 2)
    second = first + 1
    close = (np.abs(np.asarray(time)[second] - np.asarray(time)[first]) <= max_pair_days)[:, None]
    paired = present[first] & present[second] & close
    product = delta[first] * delta[second]
    terms[first] = np.where(paired, product, terms[first])
    terms[second] = np.where(paired, np.nan, terms[second])  # the pair counts once
    signed = np.sign(terms) * np.sqrt(np.abs(terms))
    with np.errstate(invalid="ignore"):
        return _nan_unless_enough(np.nanmean(signed, axis=0) if mag.size else np.nan,
                                  _count(mag))


def stetson_k(mag, err):
    """Stetson's K = mean|delta| / sqrt(mean delta^2) per star."""
    delta = _stetson_delta(mag, err)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.nanmean(np.abs(delta), axis=0) / np.sqrt(np.nanmean(np.square(delta), axis=0))
    return _nan_unless_enough(k, _count(mag))


def variability_indices(mag, err, time, max_pair_days=np.inf):
    """Table of every index per star (columns of ``mag``)."""
    n = _count(mag)
    table = Table()
    table["N_POINTS"] = n
    with np.errstate(invalid="ignore"):
        table["MEDIAN_MAG"] = np.where(n > 0, np.nanmedian(mag, axis=0) if mag.size else np.nan,
                                       np.nan) * u.mag
        table["MEDIAN_ERR"] = np.where(n > 0, np.nanmedian(err, axis=0) if mag.size else np.nan,
                                       np.nan) * u.mag
        table["RMS_MAG"] = _nan_unless_enough(np.nanstd(mag, axis=0, ddof=1), n) * u.mag
    table["MAD_MAG"] = mad(mag) * u.mag
    table["IQR_MAG"] = iqr(mag) * u.mag
    table["ETA_INV"] = von_neumann_inverse(mag)
    table["STETSON_J"] = stetson_j(mag, err, time, max_pair_days)
    table["STETSON_K"] = stetson_k(mag, err)
    table["CHI2_RED"] = reduced_chi2(mag, err)
    return table


def _trend_scores(index, magnitude, n_bins):
    """(index - running median) / running robust sigma, both as functions of magnitude."""
    good = np.isfinite(index) & np.isfinite(magnitude)
    score = np.full(len(index), np.nan)
    if good.sum() < 2 * MIN_POINTS:
        return score
    order = np.flatnonzero(good)[np.argsort(magnitude[good])]
    centres, medians, sigmas = [], [], []
    for chunk in np.array_split(order, min(n_bins, max(1, len(order) // 10))):
        values = index[chunk]
        median = np.median(values)
        centres.append(np.median(magnitude[chunk]))
        medians.append(median)
        sigmas.append(1.4826 * np.median(np.abs(values - median)))
    sigma_floor = np.median(sigmas) * 0.1 + 1e-12
    trend = np.interp(magnitude[good], centres, medians)
    scatter = np.maximum(np.interp(magnitude[good], centres, sigmas), sigma_floor)
    score[good] = (index[good] - trend) / scatter
    return score


def rank_candidates(indices, threshold=5.0, n_bins=10, min_points=MIN_POINTS, excluded=None):
    """Add robust scores of IQR and 1/eta against magnitude; flag and sort candidates.

    A star is a candidate when either score exceeds ``threshold`` (robust sigmas
    above stars of its brightness), it has at least ``min_points`` measurements
    and it is not ``excluded`` (e.g. saturated). Returns a copy sorted by SCORE,
    highest first.
    """
    table = indices.copy()
    magnitude = np.asarray(table["MEDIAN_MAG"], dtype=float)
    table["SCORE_IQR"] = _trend_scores(np.asarray(table["IQR_MAG"], float), magnitude, n_bins)
    table["SCORE_ETA"] = _trend_scores(np.asarray(table["ETA_INV"], float), magnitude, n_bins)
    scores = np.column_stack([table["SCORE_IQR"], table["SCORE_ETA"]])
    with np.errstate(invalid="ignore"):
        best = np.where(np.isfinite(scores).any(axis=1), np.nanmax(
            np.where(np.isfinite(scores), scores, -np.inf), axis=1), np.nan)
    table["SCORE"] = best
    eligible = np.asarray(table["N_POINTS"]) >= min_points
    if excluded is not None:
        eligible &= ~np.asarray(excluded, bool)
    table["CANDIDATE"] = (np.nan_to_num(best, nan=-np.inf) > threshold) & eligible
    table.sort("SCORE", reverse=True)
    missing = ~np.isfinite(np.asarray(table["SCORE"], float))
    return table[np.concatenate([np.flatnonzero(~missing), np.flatnonzero(missing)])]
