"""Generalised Lomb-Scargle (floating mean, 1/err^2 weights) with VARTOOLS's figures.

The power is nifty-ls's (a non-uniform FFT; astropy's ``LombScargle`` when nifty-ls
is not installed), on VARTOOLS's ``-LS`` grid: frequencies j * df, j = 1..n, with
df = subsample / T (T the time span) up to 1 / min_period. Peaks are grid maxima
above 1 / max_period (VARTOOLS does not refine them). The figures are VARTOOLS's:
``LS_Periodogram_Value`` the normalised GLS power (0-1), ``Log10_LS_Prob`` the
log10 false-alarm probability of Zechmeister & Kuerster (2009) for
M = 2 f_max T independent frequencies, ``LS_SNR`` (peak - mean) / std of the
periodogram with 5-sigma peaks left out. With ``whiten`` each peak's sinusoid is
removed before the next is sought, and a peak's SNR is measured on the periodogram
after its removal, as VARTOOLS does.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ccdphot.periods.fourier import whiten as remove_sinusoid
from ccdphot.periods.peaks import (clipped_mean_std, column, distinct_peaks,
                                   is_different_period, local_maxima)

log = logging.getLogger(__name__)

try:
    import nifty_ls
except ImportError:  # pragma: no cover - nifty-ls is a dependency; astropy is the fallback
    nifty_ls = None


@dataclass(frozen=True)
class LSGrid:
    """VARTOOLS's LS frequency grid for one light curve."""

    df: float
    n: int
    span: float

    @classmethod
    def for_lightcurve(cls, t, min_period, subsample):
        span = float(t[-1] - t[0])
        ofac = 1.0 / subsample
        hifac = (1.0 / min_period) * (2.0 * span / len(t))
        return cls(df=subsample / span, n=int(0.5 * ofac * hifac * len(t)), span=span)

    @property
    def frequencies(self):
        return self.df * np.arange(1, self.n + 1)


def gls_power(t, mag, err, grid):
    """Normalised generalised-LS power on ``grid`` (nifty-ls, else astropy)."""
    t, mag, err = (np.asarray(v, dtype=float) for v in (t, mag, err))
    if nifty_ls is not None:
        result = nifty_ls.lombscargle(t, mag, err, fmin=grid.df, fmax=grid.df * grid.n, Nf=grid.n,
                                      center_data=True, fit_mean=True, normalization="standard")
        return np.asarray(result.power)
    from astropy.timeseries import LombScargle

    return LombScargle(t, mag, err, fit_mean=True, center_data=True).power(
        grid.frequencies, method="fast")


def _log10_fap(power, best, n_points, n_independent):
    """log10 false-alarm probability of a GLS power (Zechmeister & Kuerster 2009, eq. 24)."""
    nu = n_points - 3
    z = nu * (power / (1.0 - best)) / 2.0
    log_single = -nu * np.log10(1.0 + 2.0 * z / nu) / 2.0
    value = np.log10(n_independent) + log_single
    if value > -2.0:  # not tiny: the exact form
        single = (1.0 + 2.0 * z / nu) ** (-nu / 2.0)
        value = np.log10(-np.expm1(n_independent * np.log1p(-single)))
    return value


def lomb_scargle(lc, min_period, max_period, subsample=0.1, npeaks=1, whiten=False,
                 clip=5.0, clip_iterate=True, index=0):
    """VARTOOLS ``-LS`` columns for ``lc`` and the periodogram(s) as a Table.

    Returns (columns dict, periodogram Table with FREQUENCY (1/d) and POWER_<cycle>).
    """
    t, mag, err = (np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))
    grid = LSGrid.for_lightcurve(t, min_period, subsample)
    freq = grid.frequencies
    n_independent = 2.0 * (1.0 / min_period) * grid.span
    searchable = freq > 1.0 / max_period
    power = gls_power(t, mag, err, grid)
    spectra = [power]
    peaks = []  # (period, power, best power of its periodogram, snr)
    if not whiten:
        mean, std = clipped_mean_std(power, clip, clip_iterate)
        maxima = local_maxima(power[searchable])
        candidates = np.flatnonzero(searchable)[maxima]
        chosen = distinct_peaks(1.0 / freq[candidates], power[candidates], npeaks, grid.span)
        peaks = [(1.0 / freq[candidates[c]], power[candidates[c]], power.max(),
                  (power[candidates[c]] - mean) / std) for c in chosen]
    else:
        current = mag
        # VARTOOLS takes the FAP's best power over the whole first periodogram, and
        # over frequencies >= 1 / max_period in the whitened ones.
        best_power = power.max()
        for _ in range(npeaks):
            periods = [p[0] for p in peaks]
            order = np.argsort(-np.where(searchable, power, -np.inf), kind="stable")
            best = next((i for i in order if searchable[i] and all(
                is_different_period(p, 1.0 / freq[i], grid.span) for p in periods)), None)
            if best is None:
                break
            period = 1.0 / freq[best]
            current = remove_sinusoid(t, current, err, period)
            after = gls_power(t, current, err, grid)
            mean, std = clipped_mean_std(after, clip, clip_iterate)
            peaks.append((period, power[best], best_power, (power[best] - mean) / std))
            power = after
            best_power = after[freq >= 1.0 / max_period].max()
            spectra.append(after)
    columns = {}
    for number, (period, value, best, snr) in enumerate(peaks, start=1):
        columns[column("LS_Period", index, number)] = period
        columns[column("Log10_LS_Prob", index, number)] = _log10_fap(value, best, len(t),
                                                                      n_independent)
        columns[column("LS_Periodogram_Value", index, number)] = value
        columns[column("LS_SNR", index, number)] = snr
    for number in range(len(peaks) + 1, npeaks + 1):  # VARTOOLS's "no peak" values
        columns.update({column("LS_Period", index, number): -1.0,
                        column("Log10_LS_Prob", index, number): 1.0,
                        column("LS_Periodogram_Value", index, number): -1.0,
                        column("LS_SNR", index, number): -1.0})
    table = Table({"FREQUENCY": freq})
    table["FREQUENCY"].unit = "1 / d"
    for cycle, spectrum in enumerate(spectra[: max(1, len(peaks))]):
        table[f"POWER_{cycle}"] = spectrum
    return columns, table
