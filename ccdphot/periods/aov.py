"""Analysis of variance periodograms: phase-binned AoV and multi-harmonic AoV.

Both follow VARTOOLS's ``-aov`` / ``-aov_harm`` (Schwarzenberg-Czerny 1989, 1996):
the grid runs from 1 / min_period down to 1 / max_period in steps of subsample / T;
each peak is refined on a step of finetune / T within one grid step, then the
period ratios a/b (a, b <= 19) are tried and the best one kept; ``whiten`` removes
each peak's signal before the next is sought (the phase-bin means for AoV, a
Fourier series of ``nharm`` terms for harmonic AoV). SNR = (theta - mean) / std of
the periodogram with 5-sigma peaks left out (after whitening: of the periodogram
that follows); the false-alarm figure is -ln of the F-test tail probability of
theta times the number of independent frequencies, ``int((1/Pmin - 1/Pmax) T)``.

Hand-written (numpy): no maintained library computes AoV. The binned statistic is
vectorised over frequencies with ``bincount``; the harmonic one is the power of a
weighted least-squares Fourier fit, from nifty-ls's chi-squared backend on the
grid and from direct least squares at the refined periods.
"""

import logging
import math

import numpy as np
from astropy.table import Table
from scipy import special, stats

from ccdphot.periods.fourier import fit_fourier
from ccdphot.periods.lombscargle import nifty_ls
from ccdphot.periods.peaks import (clipped_mean_std, column, distinct_peaks,
                                   is_different_period, local_maxima)

log = logging.getLogger(__name__)

MIN_BIN_POINTS = 5  # VARTOOLS's CTMIN: fewer in a phase bin -> equal-count bins
MAX_RATIO = 19
CHUNK_ELEMENTS = 1_000_000  # frequencies x points per vectorised block


def period_grid(min_period, max_period, subsample, span):
    """VARTOOLS's AoV periods: 1 / (1/Pmin - i * subsample/T) while >= 1/Pmax."""
    f_max, f_min, step = 1.0 / min_period, 1.0 / max_period, subsample / span
    count = int(math.floor((f_max - f_min) / step * (1 + 1e-12))) + 1
    return 1.0 / (f_max - step * np.arange(count))


def neg_ln_f_tail(theta, dfn, dfd):
    """-ln P(F > theta) of an F(dfn, dfd) variable, also where the tail underflows.

    scipy first; where its log tail is -inf, the leading terms of the incomplete-beta
    series I_y(p, q), y = dfd / (dfd + dfn theta), p = dfd/2, q = dfn/2, in logs.
    """
    value = -stats.f.logsf(theta, dfn, dfd)
    if np.isfinite(value):
        return float(value)
    p, q = dfd / 2.0, dfn / 2.0
    y = dfd / (dfd + dfn * theta)
    term, total, k = 1.0, 1.0, 0
    while term > 1e-17 * total and k < 10000:
        term *= (p + q + k) / (p + 1 + k) * y
        total += term
        k += 1
    log_tail = (p * math.log(y) + q * math.log1p(-y) - math.log(p) - special.betaln(p, q)
                + math.log(total))
    return float(-log_tail)


class BinnedAoV:
    """Phase-binned AoV statistic theta of one light curve (VARTOOLS's ASZ version)."""

    grid_from_longest = False

    def __init__(self, t, mag, nbin):
        self.t = np.asarray(t, dtype=float)
        self.mag = np.asarray(mag, dtype=float)
        self.nbin = nbin
        self.dfn, self.dfd = nbin - 1, len(self.t) - nbin

    def theta(self, periods):
        t = self.t - self.t.mean()
        f = self.mag - self.mag.mean()
        total = np.sum(f * f)
        freqs = 1.0 / np.asarray(periods, dtype=float)
        out = np.empty(len(freqs))
        n, nbin = len(t), self.nbin
        step = max(1, CHUNK_ELEMENTS // n)
        for start in range(0, len(freqs), step):
            block = freqs[start:start + step]
            phase = np.multiply.outer(block, t)
            phase -= np.floor(phase)
            key = np.multiply(phase, nbin).astype(np.int64)
            np.minimum(key, nbin - 1, out=key)
            key += np.arange(len(block))[:, None] * nbin
            key = key.ravel()
            counts = np.bincount(key, minlength=len(block) * nbin).reshape(-1, nbin)
            sums = np.bincount(key, np.tile(f, len(block)), len(block) * nbin).reshape(-1, nbin)
            sparse = (counts < MIN_BIN_POINTS).any(axis=1)
            if sparse.any():  # poor phase coverage: bins of equal counts instead
                order = np.argsort(phase[sparse], axis=1, kind="stable")
                equal = (np.arange(n) * nbin // n)[None, :]
                rows_s = np.arange(sparse.sum())[:, None] * nbin
                key = (rows_s + equal).ravel()
                counts[sparse] = np.bincount(key, minlength=sparse.sum() * nbin).reshape(-1, nbin)
                sums[sparse] = np.bincount(key, weights=f[order].ravel(),
                                           minlength=sparse.sum() * nbin).reshape(-1, nbin)
            between = np.sum(sums * sums / np.maximum(counts, 1), axis=1)
            out[start:start + step] = (between / self.dfn) / (
                np.maximum(total - between, 1e-32) / self.dfd)
        return out

    def whitened(self, period):
        """A copy whose phase-bin means at ``period`` are subtracted."""
        phase = np.fmod(self.t, period) / period
        bins = np.minimum((phase * self.nbin).astype(np.int64), self.nbin - 1)
        counts = np.bincount(bins, minlength=self.nbin)
        means = np.bincount(bins, weights=self.mag, minlength=self.nbin) / np.maximum(counts, 1)
        return BinnedAoV(self.t, self.mag - means[bins], self.nbin)


class HarmonicAoV:
    """Multi-harmonic AoV theta: power of a weighted Fourier fit of ``nharm`` terms."""

    grid_from_longest = True

    def __init__(self, t, mag, err, nharm):
        self.t = np.asarray(t, dtype=float)
        self.mag = np.asarray(mag, dtype=float)
        self.err = np.asarray(err, dtype=float)
        self.nharm = nharm
        self.dfn, self.dfd = 2 * nharm, len(self.t) - 2 * nharm - 1

    def _theta_from_power(self, power):
        power = np.minimum(power, 1 - 1e-15)
        return self.dfd / self.dfn * power / (1 - power)

    def theta(self, periods):
        freqs = 1.0 / np.asarray(periods, dtype=float)
        steps = np.diff(freqs)
        if nifty_ls is not None and len(freqs) > 64 and np.allclose(steps, steps[0], rtol=1e-6):
            order = np.argsort(freqs)
            result = nifty_ls.lombscargle(self.t, self.mag, self.err, fmin=freqs[order[0]],
                                          fmax=freqs[order[-1]], Nf=len(freqs), nterms=self.nharm,
                                          backend="finufft_chi2", center_data=True,
                                          fit_mean=True, normalization="standard")
            power = np.empty(len(freqs))
            power[order] = result.power
            return self._theta_from_power(power)
        return self._theta_from_power(self._direct_power(freqs))

    def _direct_power(self, freqs):
        w = 1.0 / np.square(self.err)
        y = self.mag - np.sum(w * self.mag) / np.sum(w)
        total = np.sum(w * y * y)
        k = np.arange(1, self.nharm + 1)
        out = np.empty(len(freqs))
        step = max(1, CHUNK_ELEMENTS // (len(self.t) * (2 * self.nharm + 1)))
        for start in range(0, len(freqs), step):
            arg = 2 * np.pi * freqs[start:start + step, None, None] * self.t[None, :, None] * k
            design = np.concatenate([np.ones(arg.shape[:2] + (1,)), np.sin(arg), np.cos(arg)],
                                    axis=2)
            weighted = design * w[None, :, None]
            normal = np.einsum("fni,fnj->fij", weighted, design)
            rhs = np.einsum("fni,n->fi", weighted, y)
            coeffs = np.linalg.solve(normal, rhs[..., None])[..., 0]
            out[start:start + step] = np.einsum("fi,fi->f", coeffs, rhs) / total
        return out

    def whitened(self, period):
        fit = fit_fourier(self.t, self.mag, self.err, period, self.nharm - 1)
        w = 1.0 / np.square(self.err)
        mag = self.mag - fit.model(self.t) + np.sum(w * self.mag) / np.sum(w)
        return HarmonicAoV(self.t, mag, self.err, self.nharm)


def _refine(statistic, period, grid_step, finetune_step, min_period, max_period):
    """Best (period, theta) near ``period``: fine grid, then the ratios a/b."""
    f0 = 1.0 / period
    f_hi, f_lo = min(f0 + grid_step, 1.0 / min_period), max(f0 - grid_step, 1.0 / max_period)
    fine = f_hi - finetune_step * np.arange(int(math.floor((f_hi - f_lo) / finetune_step)) + 1)
    scores = statistic.theta(1.0 / fine)
    best = int(np.argmax(scores))
    period, score = 1.0 / fine[best], scores[best]
    ratios = np.array([a / b for a in range(1, MAX_RATIO + 1) for b in range(1, MAX_RATIO + 1)
                       if a != b])
    trial = period * ratios
    trial = trial[(trial > min_period) & (trial < max_period)]
    if len(trial):
        scores = statistic.theta(trial)
        best = int(np.argmax(scores))
        if scores[best] > score:
            period, score = trial[best], scores[best]
    return period, score


def aov_search(statistic, min_period, max_period, subsample, finetune, npeaks, whiten, clip,
               clip_iterate):
    """Peaks of an AoV statistic, VARTOOLS's way. Returns (peaks, periodograms, periods).

    ``peaks`` is a list of dicts with period, theta, snr, mean, std (of the
    periodogram the SNR is measured on).
    """
    span = float(statistic.t[-1] - statistic.t[0])
    periods = period_grid(min_period, max_period, subsample, span)
    grid_step, fine_step = subsample / span, finetune / span
    evaluated = periods
    if statistic.grid_from_longest:
        # VARTOOLS's -aov_harm computes its grid from 1/max_period upwards but labels
        # it with the periods from 1/min_period down; done alike so the peaks agree.
        evaluated = 1.0 / (1.0 / max_period + grid_step * np.arange(len(periods))[::-1])
    theta = statistic.theta(evaluated)
    spectra = [theta]
    peaks = []
    if not whiten:
        mean, std = clipped_mean_std(theta, clip, clip_iterate)
        maxima = local_maxima(theta)
        chosen = distinct_peaks(periods[maxima], theta[maxima], npeaks, span)
        for index in chosen:
            period, score = _refine(statistic, periods[maxima[index]], grid_step, fine_step,
                                    min_period, max_period)
            peaks.append({"period": period, "theta": score, "mean": mean, "std": std})
        peaks.sort(key=lambda p: -p["theta"])
    else:
        for _ in range(npeaks):
            order = np.argsort(-theta, kind="stable")
            start = next((i for i in order if all(
                is_different_period(p["period"], periods[i], span) for p in peaks)), None)
            if start is None:
                break
            period, score = _refine(statistic, periods[start], grid_step, fine_step,
                                    min_period, max_period)
            statistic = statistic.whitened(period)
            theta = statistic.theta(evaluated)
            mean, std = clipped_mean_std(theta, clip, clip_iterate)
            peaks.append({"period": period, "theta": score, "mean": mean, "std": std})
            spectra.append(theta)
    for peak in peaks:
        peak["snr"] = (peak["theta"] - peak["mean"]) / peak["std"]
    return peaks, spectra, periods


def _independent_frequencies(min_period, max_period, subsample, span):
    m_eff = int((1.0 / min_period - 1.0 / max_period) * span)
    if subsample > 1.0:
        m_eff = int(m_eff / subsample)
    return max(m_eff, 1)


def _search_columns(statistic, names, min_period, max_period, subsample, finetune, npeaks,
                    whiten, clip, clip_iterate, index):
    """Search ``statistic``; columns Period, then ``names`` (theta, SNR, -ln FAP) per peak."""
    peaks, spectra, periods = aov_search(statistic, min_period, max_period, subsample, finetune,
                                         npeaks, whiten, clip, clip_iterate)
    span = statistic.t[-1] - statistic.t[0]
    ln_m = math.log(_independent_frequencies(min_period, max_period, subsample, span))
    theta_name, snr_name, fap_name = names
    columns = {}
    for number, peak in enumerate(peaks, start=1):
        columns[column("Period", index, number)] = peak["period"]
        columns[column(theta_name, index, number)] = peak["theta"]
        columns[column(snr_name, index, number)] = peak["snr"]
        columns[column(fap_name, index, number)] = neg_ln_f_tail(
            peak["theta"], statistic.dfn, statistic.dfd) - ln_m
    table = Table({"PERIOD": periods})
    table["PERIOD"].unit = "d"
    for cycle, spectrum in enumerate(spectra[:max(1, npeaks)]):
        table[f"THETA_{cycle}"] = spectrum
    return columns, peaks, table


def aov(lc, min_period, max_period, subsample=0.1, finetune=0.01, npeaks=1, nbin=8,
        whiten=False, clip=5.0, clip_iterate=True, index=0):
    """VARTOOLS ``-aov`` columns and periodogram Table (PERIOD, THETA_<cycle>)."""
    t, mag = (np.asarray(lc[c], dtype=float) for c in ("t", "mag"))
    columns, _, table = _search_columns(
        BinnedAoV(t, mag, nbin), ("AOV", "AOV_SNR", "AOV_NEG_LN_FAP"), min_period, max_period,
        subsample, finetune, npeaks, whiten, clip, clip_iterate, index)
    return columns, table


def aov_harm(lc, nharm, min_period, max_period, subsample=0.1, finetune=0.01, npeaks=1,
             whiten=False, clip=5.0, clip_iterate=True, index=0):
    """VARTOOLS ``-aov_harm`` columns and periodogram Table (PERIOD, THETA_<cycle>).

    The periodogram's mean and deviation follow each peak when whitening, else
    come once after all peaks (``Mean_AOV_HARM``, ``RMS_AOV_HARM``), as VARTOOLS
    prints them.
    """
    t, mag, err = (np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))
    found, peaks, table = _search_columns(
        HarmonicAoV(t, mag, err, nharm), ("AOV_HARM", "AOV_HARM_SNR", "AOV_HARM_NEG_LOG_FAP"),
        min_period, max_period, subsample, finetune, npeaks, whiten, clip, clip_iterate, index)
    columns = {}
    for number, peak in enumerate(peaks, start=1):
        for name in ("Period", "AOV_HARM", "AOV_HARM_SNR", "AOV_HARM_NEG_LOG_FAP"):
            key = column(name, index, number)
            columns[key] = found[key]
        if whiten:
            columns[column("Mean_AOV_HARM", index, number)] = peak["mean"]
            columns[column("RMS_AOV_HARM", index, number)] = peak["std"]
    if not whiten and peaks:
        columns[column("Mean_AOV_HARM", index)] = peaks[0]["mean"]
        columns[column("RMS_AOV_HARM", index)] = peaks[0]["std"]
    return columns, table
