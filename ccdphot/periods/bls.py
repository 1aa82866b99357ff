"""Box least squares (transits): Kovacs et al. (2002) binned BLS as VARTOOLS runs it.

The frequency grid is VARTOOLS's ``-BLS ... nf``: from max(1/T, 1/max_period) in
steps of (1/min_period - 1/max_period) / (nf - 1) up to 1/min_period. At each
frequency the light curve is folded into ``nbins`` phase bins (weights 1/err^2)
and every run of int(q_min nbins)..int(q_max nbins)+1 bins (holding at least
q_min of the weight and 5 points' worth) is a trial box; the signal residue of
the best box, SR = sqrt(s^2 / (r (1 - r))), is the spectrum.

Hand-written, vectorised over frequencies with numpy, instead of astropy's
``BoxLeastSquares``: astropy takes absolute durations where VARTOOLS scans a
fraction q of the period, and on the reference transit (``lc/3.transit``) its fast
method, with durations scaled to the period block by block, peaked 5 grid steps
from VARTOOLS (SR 0.00230 against 0.00243 at VARTOOLS's period) and took 5-12 times
as long; the binned algorithm gives VARTOOLS's spectrum itself.

Figures, as VARTOOLS defines them: ``BLS_SR``; ``BLS_SDE`` (SR - mean) / std of the
spectrum; ``BLS_SN`` (SR - mean) / std with SR values 3 sigma above the mean left
out (VARTOOLS's ``nobinnedrms`` form; without that option VARTOOLS first subtracts
a running binned mean, which the native engine does not do); ``BLS_Depth`` (mag,
positive = fainter); ``BLS_Qtran`` duration / period; ``BLS_i1``/``BLS_i2`` the
phases of the box's first and last bin from the first point; ``BLS_Tc`` = t0 +
(i1 + Qtran/2) P;
``BLS_deltaChi2`` = -SR^2 sum(1/err^2); ``BLS_MeanMag``. Not computed (NaN):
VARTOOLS's noise, night-fraction and inverse-transit figures; not done: the
``fittrap`` trapezoid refinement (and its ``BLS_Qingress``, ``BLS_OOTmag``).
"""

import logging
import math

import numpy as np
from astropy.table import Table

from ccdphot.periods.peaks import column, distinct_peaks

log = logging.getLogger(__name__)

MIN_BOX_POINTS = 5
SN_CLIP = 3.0
CHUNK_ELEMENTS = 1_000_000
NOT_COMPUTED = ("BLS_fraconenight", "BLS_Rednoise", "BLS_Whitenoise", "BLS_SignaltoPinknoise")
PER_COMMAND_NOT_COMPUTED = ("BLS_Period_invtransit", "BLS_deltaChi2_invtransit")


def frequency_grid(t, min_period, max_period, nfreq):
    """VARTOOLS's BLS frequencies for ``nfreq`` requested between the period limits."""
    span = float(t[-1] - t[0])
    df = (1.0 / min_period - 1.0 / max_period) / (nfreq - 1)
    f_min = max(1.0 / span, 1.0 / max_period)
    count = int(math.floor((1.0 / min_period - f_min) / df + 1.0))
    return f_min + df * np.arange(count)


def bls_spectrum(t, mag, err, freqs, q_min, q_max, nbins):
    """SR and the best box (first bin, number of bins, weight r, sum s) per frequency."""
    u = t - t[0]
    w = 1.0 / np.square(err)
    w /= w.sum()
    v = mag - np.sum(w * mag)
    k_min = max(1, int(q_min * nbins))
    k_max = int(q_max * nbins) + 1
    r_min = max(q_min, MIN_BOX_POINTS / len(t))
    out = {name: np.zeros(len(freqs)) for name in ("sr", "first", "width", "r", "s")}
    step = max(1, CHUNK_ELEMENTS // len(t))
    for start in range(0, len(freqs), step):
        block = freqs[start:start + step]
        phase = np.multiply.outer(block, u)
        np.subtract(phase, np.floor(phase, out=np.empty_like(phase)), out=phase)
        phase *= nbins
        key = phase.astype(np.int64)
        np.minimum(key, nbins - 1, out=key)
        key += np.arange(len(block))[:, None] * nbins
        key = key.ravel()
        size = len(block) * nbins
        weight = np.bincount(key, np.tile(w, len(block)), size).reshape(-1, nbins)
        signal = np.bincount(key, np.tile(v * w, len(block)), size).reshape(-1, nbins)
        # cumulative sums over the bins wrapped by k_max, so a box may cross phase 1
        zero = np.zeros((len(block), 1))
        cum_w = np.hstack([zero, np.cumsum(np.hstack([weight, weight[:, :k_max]]), axis=1)])
        cum_s = np.hstack([zero, np.cumsum(np.hstack([signal, signal[:, :k_max]]), axis=1)])
        best = np.zeros(len(block))
        first = np.zeros(len(block), dtype=int)
        width = np.ones(len(block), dtype=int)
        best_r, best_s = np.zeros(len(block)), np.zeros(len(block))
        for k in range(k_min, k_max + 1):
            r = cum_w[:, k:k + nbins] - cum_w[:, :nbins]
            s = cum_s[:, k:k + nbins] - cum_s[:, :nbins]
            with np.errstate(divide="ignore", invalid="ignore"):
                power = s * s / (r * (1 - r))
            power[(s <= 0) | (r < r_min) | (r >= 1)] = 0.0
            index = np.argmax(power, axis=1)
            value = power[np.arange(len(block)), index]
            better = value > best
            best[better] = value[better]
            first[better], width[better] = index[better], k
            best_r[better] = r[better, index[better]]
            best_s[better] = s[better, index[better]]
        chunk = slice(start, start + len(block))
        out["sr"][chunk], out["first"][chunk], out["width"][chunk] = np.sqrt(best), first, width
        out["r"][chunk], out["s"][chunk] = best_r, best_s
    return out


def _clipped_mean_std(values):
    """VARTOOLS's BLS clipping: one pass, values 3 sigma above the mean left out, / n."""
    n = len(values)
    mean, std = values.mean(), values.std()
    kept = values[(values - mean) < SN_CLIP * std]
    clipped_mean = kept.sum() / n
    return clipped_mean, math.sqrt(max(np.sum(kept * kept) / n - clipped_mean ** 2, 0.0))


def _transit_figures(t, period, first_phase, qtran):
    """Points in the box, in boxes of its width just before and after it; transits seen."""
    phase = np.mod((t - t[0]) / period - first_phase, 1.0)
    inside = phase < qtran
    before = (phase >= 1.0 - qtran)
    after = (phase >= qtran) & (phase < 2 * qtran)
    cycles = np.unique(np.floor((t[inside] - t[0]) / period - first_phase))
    return {"Npointsintransit": int(inside.sum()), "Ntransits": len(cycles),
            "Npointsbeforetransit": int(before.sum()), "Npointsaftertransit": int(after.sum())}


def bls(lc, q_min, q_max, min_period, max_period, nfreq, nbins=200, npeaks=1, index=0):
    """VARTOOLS ``-BLS`` (q form, ``nobinnedrms``) columns and the spectrum (PERIOD, SN, SR)."""
    t, mag, err = (np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))
    freqs = frequency_grid(t, min_period, max_period, nfreq)
    periods = 1.0 / freqs
    spectrum = bls_spectrum(t, mag, err, freqs, q_min, q_max, nbins)
    sr = spectrum["sr"]
    weights = 1.0 / np.square(err)
    weight_sum = np.sum(weights)
    clipped_mean, clipped_std = _clipped_mean_std(sr)
    sn = (sr - clipped_mean) / clipped_std
    sde = (sr - sr.mean()) / sr.std()
    # Like VARTOOLS, every frequency is a candidate (not only strict local maxima: the
    # binned spectrum has plateaus), and equal values go to the first frequency; SN
    # rounded to 1e-9 so that last-bit differences of a plateau do not break the tie.
    chosen = distinct_peaks(periods, np.round(sn, 9), npeaks, float(t[-1] - t[0]))
    columns = {}
    for number, best in enumerate(chosen, start=1):
        period = periods[best]
        first_phase = spectrum["first"][best] / nbins
        qtran = spectrum["width"][best] / nbins
        r = spectrum["r"][best]
        figures = _transit_figures(t, period, first_phase, qtran)
        values = {"Period": period, "Tc": t[0] + (0.5 * qtran + first_phase) * period,
                  "SN": sn[best], "SR": sr[best], "SDE": sde[best],
                  "Depth": spectrum["s"][best] / (r * (1 - r)), "Qtran": qtran,
                  "i1": first_phase, "i2": first_phase + qtran - 1.0 / nbins,
                  "deltaChi2": -sr[best] ** 2 * weight_sum,
                  "fraconenight": np.nan, **figures}
        for name, value in values.items():
            columns[column(f"BLS_{name}", index, number)] = value
        for name in NOT_COMPUTED[1:]:
            columns[column(name, index, number)] = np.nan
    for name in PER_COMMAND_NOT_COMPUTED:
        columns[column(name, index)] = np.nan
    columns[column("BLS_MeanMag", index)] = np.sum(weights * mag) / weight_sum
    table = Table({"PERIOD": periods, "SN": sn, "SR": sr})
    table["PERIOD"].unit = "d"
    return columns, table
