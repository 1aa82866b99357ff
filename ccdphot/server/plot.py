"""The light-curve figure of a target's page: one series per telescope and band.

Detections with their error bars, upper limits as open downward triangles
(the object is fainter than the mark), magnitudes increasing downwards, time
as BJD_TDB. Drawn with matplotlib's object API (no pyplot state), so request
threads can draw at the same time.
"""

import io
import logging

import numpy as np
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

MARKERS = ("o", "s", "D", "^", "P", "X", "h", "*")
TIME_OFFSET_D = 2450000.0


def _series(table):
    """(label, row mask) per telescope and band, in order of first appearance."""
    keys = np.array([f"{telescope} - {band or 'no band'}"
                     for telescope, band in zip(table["TELESCOPE"], table["BAND"])])
    return [(label, keys == label) for label in dict.fromkeys(keys.tolist())]


def plot_lightcurve(table, title):
    """PNG bytes of the light curve of ``table`` (from :func:`lightcurve_table`)."""
    figure = Figure(figsize=(9.0, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    usable = np.isfinite(np.asarray(table["BJD_TDB"], float)) & \
        np.isfinite(np.asarray(table["MAG_CAL"], float))
    if not usable.any():
        axes.text(0.5, 0.5, "no calibrated point yet", ha="center", va="center",
                  transform=axes.transAxes, fontsize=14, color="0.4")
        axes.set_xticks([])
        axes.set_yticks([])
    else:
        _draw(axes, table, usable)
    axes.set_title(title)
    stream = io.BytesIO()
    figure.savefig(stream, format="png")
    return stream.getvalue()


def _draw(axes, table, usable):
    time = np.asarray(table["BJD_TDB"], float) - TIME_OFFSET_D
    magnitude = np.asarray(table["MAG_CAL"], float)
    error = np.nan_to_num(np.asarray(table["MAGERR_CAL"], float), nan=0.0)
    limit = np.asarray(table["IS_UPPER_LIMIT"], bool)
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, rows) in enumerate(_series(table)):
        colour = colours[index % len(colours)]
        detected = rows & usable & ~limit
        limits = rows & usable & limit
        if detected.any():
            axes.errorbar(time[detected], magnitude[detected], yerr=error[detected],
                          fmt=MARKERS[index % len(MARKERS)], color=colour, ms=5, capsize=2,
                          lw=1, label=f"{label} ({detected.sum()})")
        if limits.any():
            axes.plot(time[limits], magnitude[limits], "v", mfc="none", mec=colour, ms=8,
                      label=f"{label}: upper limit ({limits.sum()})")
    axes.invert_yaxis()
    bands = sorted({str(b) for b in table["BAND"][usable] if str(b)})
    axes.set_ylabel(f"calibrated magnitude ({', '.join(bands) or 'band unknown'}) [mag]")
    axes.set_xlabel(f"BJD_TDB - {TIME_OFFSET_D:.0f} [d]")
    axes.ticklabel_format(axis="x", useOffset=False)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best", frameon=True)
