"""The colour-magnitude diagram of two bands (``ccdphot cmd``)."""

import logging

import numpy as np

from ccdphot.plots.common import agg_figure, save_png

log = logging.getLogger(__name__)


def plot_cmd(table, path):
    """Colour (band 1 - band 2) against band-2 magnitude, bright at the top, errors as bars.

    The axis labels say whether the magnitudes are calibrated or instrumental.
    """
    f1, f2 = table.meta["filters"]
    kind = table.meta["magnitudes"]
    colour = np.asarray(table["COLOUR"], float)
    mag = np.asarray(table[f"MAG_{f2}"], float)
    colour_err = np.hypot(np.asarray(table[f"MAGERR_{f1}"], float),
                          np.asarray(table[f"MAGERR_{f2}"], float))
    fig = agg_figure(5.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    precise = np.isfinite(colour_err) & (colour_err < 0.1)
    ax.errorbar(colour[precise], mag[precise], xerr=colour_err[precise], fmt=".", ms=3,
                color="C0", ecolor="0.75", elinewidth=0.5, label=f"colour error < 0.1 mag "
                f"({precise.sum()})")
    ax.plot(colour[~precise], mag[~precise], ".", ms=2, color="0.55",
            label=f"others ({(~precise).sum()})")
    ax.invert_yaxis()
    ax.set_xlabel(f"{f1} − {f2} [mag, {kind}]")
    ax.set_ylabel(f"{f2} [mag, {kind}]")
    frames = table.meta.get("frames", ["", ""])
    ax.set_title(f"{len(table)} stars in both frames:\n{frames[0]} ({f1}), {frames[1]} ({f2})",
                 fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
