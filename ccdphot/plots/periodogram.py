"""Figures of a period search: the periodogram, and the light curve folded with its model.

One PNG per light curve and figure. The model over the folded curve is computed
by :mod:`ccdphot.periods.folding`; this module only draws.
"""

import logging

import numpy as np

from ccdphot.plots.common import agg_figure, label_axes, save_png, with_unit

log = logging.getLogger(__name__)

FIGSIZE_IN = (7.0, 4.0)
DPI = 110


def plot_periodogram(periodogram, best_period, title, path):
    """The periodogram against period (log scale), the best period (days) marked."""
    from matplotlib import ticker

    if "FREQUENCY" in periodogram.colnames:
        period = 1.0 / np.asarray(periodogram["FREQUENCY"])
        value, label = periodogram["POWER_0"], "generalised LS power"
    elif "THETA_0" in periodogram.colnames:
        period, value, label = periodogram["PERIOD"], periodogram["THETA_0"], "AoV theta"
    else:
        period, value, label = periodogram["PERIOD"], periodogram["SR"], "BLS signal residue"
    figure = agg_figure(*FIGSIZE_IN, layout="constrained")
    axes = figure.subplots()
    axes.plot(period, value, lw=0.6, color="0.2")
    axes.axvline(best_period, color="tab:red", lw=1, ls="--",
                 label=f"best period {best_period:.6f} d")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    label_axes(axes, with_unit("period", "d"), label, title, title_size=None)
    axes.legend(loc="upper right")
    return save_png(figure, path, dpi=DPI)


def plot_folded(folded, model, period, method, title, path):
    """The folded light curve (PHASE, MAG) over two cycles, with ``model`` (PHASE, MAG)."""
    phase, mag = np.asarray(folded["PHASE"], float), np.asarray(folded["MAG"], float)
    grid, curve = np.asarray(model["PHASE"], float), np.asarray(model["MAG"], float)
    figure = agg_figure(*FIGSIZE_IN, layout="constrained")
    axes = figure.subplots()
    for shift in (0.0, 1.0):
        axes.plot(phase + shift, mag, ".", ms=2, color="0.4",
                  label="observed" if shift == 0 else None)
        axes.plot(grid + shift, curve, color="tab:red", lw=1.2,
                  label=f"model ({method})" if shift == 0 else None)
    axes.invert_yaxis()
    label_axes(axes, f"phase (P = {period:.6f} d, phase 0 at the first point)",
               with_unit("magnitude", "mag"), title, title_size=None)
    axes.legend(loc="best")
    return save_png(figure, path, dpi=DPI)
