"""Figures of a period search: the periodogram, and the light curve folded with its model.

One PNG per light curve and figure, written atomically. The model drawn over the
folded light curve is the one the method assumes: a Fourier series (1 term for LS,
``nharm`` for harmonic AoV, ``fourier_terms`` for AoV and Fourier) fitted at the
best period, or the BLS box (its depth and duration, out-of-transit level fitted).
"""

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file backend)
from matplotlib import ticker  # noqa: E402
import numpy as np  # noqa: E402

from ccdphot.periods.fourier import fit_fourier  # noqa: E402
from ccdphot.products import atomic_target  # noqa: E402

log = logging.getLogger(__name__)

FIGSIZE = (7.0, 4.0)
DPI = 110


def _save(figure, path):
    with atomic_target(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    plt.close(figure)
    return path


def plot_periodogram(periodogram, best_period, title, path):
    """The periodogram against period (log scale), the best period marked."""
    if "FREQUENCY" in periodogram.colnames:
        period = 1.0 / np.asarray(periodogram["FREQUENCY"])
        value, label = periodogram["POWER_0"], "generalised LS power"
    elif "THETA_0" in periodogram.colnames:
        period, value, label = periodogram["PERIOD"], periodogram["THETA_0"], "AoV theta"
    else:
        period, value, label = periodogram["PERIOD"], periodogram["SR"], "BLS signal residue"
    figure, axes = plt.subplots(figsize=FIGSIZE, layout="constrained")
    axes.plot(period, value, lw=0.6, color="0.2")
    axes.axvline(best_period, color="tab:red", lw=1, ls="--",
                 label=f"best period {best_period:.6f} d")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    axes.set_xlabel("period (d)")
    axes.set_ylabel(label)
    axes.set_title(title)
    axes.legend(loc="upper right")
    return _save(figure, path)


def _model_curve(lc, spec, row, period, phase):
    """Model magnitudes on ``phase`` (0-1, from the first time)."""
    t, mag, err = (np.asarray(lc[c], dtype=float) for c in ("t", "mag", "err"))
    if spec.method == "bls":
        first, qtran = float(row["BLS_i1_1_0"]) % 1.0, float(row["BLS_Qtran_1_0"])
        inside = np.mod((t - t[0]) / period - first, 1.0) < qtran
        w = 1.0 / err ** 2
        level = np.sum(w[~inside] * mag[~inside]) / np.sum(w[~inside])
        box = np.mod(phase - first, 1.0) < qtran
        return np.where(box, level + float(row["BLS_Depth_1_0"]), level)
    terms = {"ls": 1, "aov_harm": spec.nharm}.get(spec.method, spec.fourier_terms)
    fit = fit_fourier(t, mag, err, period, terms - 1)
    return fit.model(t[0] + phase * period)


def plot_folded(lc, spec, row, title, path):
    """The light curve folded at the best period (two cycles), with the model."""
    period = spec.best_period(row)
    t, mag = np.asarray(lc["t"], dtype=float), np.asarray(lc["mag"], dtype=float)
    phase = np.mod((t - t[0]) / period, 1.0)
    grid = np.linspace(0.0, 1.0, 1001)
    model = _model_curve(lc, spec, row, period, grid)
    figure, axes = plt.subplots(figsize=FIGSIZE, layout="constrained")
    for shift in (0.0, 1.0):
        axes.plot(phase + shift, mag, ".", ms=2, color="0.4",
                  label="observed" if shift == 0 else None)
        axes.plot(grid + shift, model, color="tab:red", lw=1.2,
                  label=f"model ({spec.method})" if shift == 0 else None)
    axes.invert_yaxis()
    axes.set_xlabel(f"phase (P = {period:.6f} d, phase 0 at the first point)")
    axes.set_ylabel("magnitude (mag)")
    axes.set_title(title)
    axes.legend(loc="best")
    return _save(figure, path)
