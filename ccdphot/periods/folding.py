"""A light curve folded at its best period, and the model the method assumes there.

The model is a Fourier series (1 term for LS, ``nharm`` for harmonic AoV,
``fourier_terms`` for AoV and Fourier) fitted at the best period, or the BLS
box (its depth and duration, out-of-transit level fitted). The folded figure
(:func:`ccdphot.plots.periodogram.plot_folded`) draws what this returns.
"""

import logging

import numpy as np
from astropy.table import Table

from ccdphot.periods.fourier import fit_fourier

log = logging.getLogger(__name__)

MODEL_POINTS = 1001


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


def fold(lc, spec, row):
    """(folded light curve, model, period in days) at the best period of ``row``.

    Both tables have PHASE (0-1, phase 0 at the first point) and MAG columns.
    """
    period = spec.best_period(row)
    t = np.asarray(lc["t"], dtype=float)
    folded = Table({"PHASE": np.mod((t - t[0]) / period, 1.0),
                    "MAG": np.asarray(lc["mag"], dtype=float)})
    grid = np.linspace(0.0, 1.0, MODEL_POINTS)
    model = Table({"PHASE": grid, "MAG": _model_curve(lc, spec, row, period, grid)})
    return folded, model, period
