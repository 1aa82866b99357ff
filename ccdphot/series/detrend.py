"""Detrending of a differential light curve.

Two ways, both keeping the raw curve beside the detrended one:

- ``bic``: a linear model in the frame conditions (airmass, seeing, sky, the
  star's position on the chip, time and time^2), the terms chosen among every
  subset of up to ``max_terms`` by the Bayesian information criterion
  n ln(RSS/n) + k ln n, fitted jointly with a transit when one is asked for
  (:mod:`ccdphot.series.transit`). Points beyond ``clip_sigma`` robust sigmas of
  the chosen model are left out and the choice is made again once.
- ``biweight``: a time-windowed Tukey biweight (wotan's definition, Hippke et al.
  2019; :mod:`ccdphot.series.biweight`), for long series whose slow changes no
  low-order model follows.

The trend includes the out-of-transit level, so a detrended curve is centred on 0.
"""

import itertools
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ccdphot.errors import InputError
from ccdphot.series.biweight import biweight_trend
from ccdphot.series.transit import fit_transit, starting_point, transit_mag

log = logging.getLogger(__name__)

REGRESSORS = ("AIRMASS", "SEEING", "SKY", "X", "Y", "TIME", "TIME2")


@dataclass
class Detrending:
    """The chosen trend and how it was chosen."""

    method: str
    trend: np.ndarray             # magnitudes, NaN where not fitted
    terms: tuple = ()
    coefficients: dict = field(default_factory=dict)
    bic: float = math.nan
    candidates: list = field(default_factory=list)  # (terms, BIC) of every model tried
    outliers: np.ndarray = None
    transit: object = None        # TransitFit when asked for
    window_days: float = math.nan

    def record(self):
        record = {"method": self.method}
        if self.method == "bic":
            record.update({"terms": list(self.terms), "bic": self.bic,
                           "coefficients_mag": self.coefficients,
                           "n_outliers": int(np.sum(self.outliers)) if self.outliers is not None else 0,
                           "n_models": len(self.candidates)})
        elif self.method == "biweight":
            record["window_days"] = self.window_days
        if self.transit is not None:
            record["transit"] = self.transit.record()
        return record


def regressors(conditions):
    """Standardised candidate regressors from {name: per-frame array}; constant ones dropped."""
    columns = {}
    for name in REGRESSORS:
        values = np.asarray(conditions.get(name, []), dtype=float)
        if values.size == 0 or not np.isfinite(values).all():
            log.info("detrending: %s not known for every frame; not used", name)
            continue
        spread = values.std()
        if spread > 0:
            columns[name] = (values - values.mean()) / spread
    return columns


def _weighted_rss(design, y, weight):
    coefficients, *_ = np.linalg.lstsq(design * weight[:, None], y * weight, rcond=None)
    return float(np.sum(np.square((y - design @ coefficients) * weight))), coefficients


def _fit(terms, columns, time, y, err, weight, start):
    design = np.column_stack([np.ones(len(y))] + [columns[t] for t in terms])
    if start is None:
        rss, coefficients = _weighted_rss(design, y, weight)
        return rss, coefficients, design, None, design.shape[1]
    fit = fit_transit(time, y, err, design, start)
    return fit.rss, fit.coefficients, design, fit, design.shape[1] + 4


def _select(time, y, err, columns, max_terms, transit):
    weight = 1.0 / np.where(np.isfinite(err) & (err > 0), err, np.nanmedian(err))
    weight = weight / np.median(weight)
    n = len(y)
    start = None
    if transit is not None:
        start = starting_point(time, y, err, transit)
        if start is None:
            raise InputError("transit fit: no dip in the light curve to start from; give "
                             "--transit-t0 and --transit-duration")
    tried, best = [], None
    names = list(columns)
    for k in range(0, min(max_terms, len(names)) + 1):
        for terms in itertools.combinations(names, k):
            rss, coefficients, design, fit, n_params = _fit(terms, columns, time, y, err,
                                                            weight, start)
            if n_params >= n or not math.isfinite(rss) or rss <= 0:
                continue
            bic = n * math.log(rss / n) + n_params * math.log(n)
            tried.append((terms, bic))
            if best is None or bic < best[0]:
                best = (bic, terms, coefficients, design, fit)
    if best is None:
        raise InputError(f"detrending: too few points ({n}) for any model")
    return best, tried


def detrend_bic(time, dmag, err, conditions, max_terms=3, clip_sigma=5.0, transit=None):
    """Choose and fit the linear systematics model (and transit) by BIC; see module doc."""
    time = np.asarray(time, float)
    dmag = np.asarray(dmag, float)
    err = np.asarray(err, float)
    good = np.isfinite(dmag) & np.isfinite(time)
    columns_all = regressors({k: np.asarray(v, float) for k, v in conditions.items()})
    outliers = np.zeros(len(dmag), bool)
    for _ in range(2):
        use = good & ~outliers
        columns = {k: v[use] for k, v in columns_all.items()}
        best, tried = _select(time[use], dmag[use], err[use], columns, max_terms, transit)
        bic, terms, coefficients, design, fit = best
        full_design = np.column_stack([np.ones(len(dmag))] + [columns_all[t] for t in terms])
        trend = full_design @ coefficients
        signal = _signal(fit, time)
        residual = dmag - trend - signal
        sigma = 1.4826 * np.nanmedian(np.abs(residual[use] - np.nanmedian(residual[use])))
        new = good & (np.abs(residual) > clip_sigma * sigma)
        if not new.any() or (new == outliers).all():
            break
        outliers = new
    trend[~good] = np.nan
    names = ("CONSTANT",) + tuple(terms)
    return Detrending("bic", trend, tuple(terms), dict(zip(names, map(float, coefficients))), bic,
                      tried, outliers, fit)


def _signal(fit, time):
    if fit is None:
        return np.zeros(len(time))
    return transit_mag(time, fit.t0, fit.depth, fit.duration, fit.ingress_fraction)


def detrend_biweight(time, dmag, window_days):
    """Biweight trend (magnitudes) over a sliding window of ``window_days``, taken in flux."""
    time = np.asarray(time, float)
    dmag = np.asarray(dmag, float)
    level = np.nanmedian(dmag)
    flux = 10 ** (-0.4 * (dmag - level))
    trend = level - 2.5 * np.log10(biweight_trend(time, flux, window_days))
    return Detrending("biweight", trend, window_days=window_days)


def no_detrending(dmag):
    """The constant (median) trend: the curve is only centred on 0."""
    return Detrending("none", np.full(len(dmag), np.nanmedian(dmag)))
