"""The zero-point QC plot: residuals against magnitude and colour, the fitted relation.

Left: residual of each calibration star about the fit against its catalogue
magnitude, with the intrinsic scatter as a band. Right: catalogue minus
instrumental minus ZP against the colour, with the fitted colour term as a
line. Stars rejected by the fit are marked with crosses (drawn at +-0.8 mag
when further out).
"""

import logging

import numpy as np

from ccdphot.plots.common import agg_figure, label_axes, save_png, with_unit

log = logging.getLogger(__name__)

ZEROPOINT_PNG = "zeropoint.png"


def plot_zero_point(path, stars, figures):
    """Write the QC plot of a calibration (``Calibration.stars`` and ``.figures``)."""
    kept = stars["kept"]
    residual = stars["residual"]
    band = figures["zp_band"]
    colour_name = figures["zp_colour"]
    has_colour = stars["colour"] is not None
    fig = agg_figure(11 if has_colour else 6, 4.5)
    axes = fig.subplots(1, 2 if has_colour else 1, sharey=not has_colour, squeeze=False)
    left = axes[0, 0]
    scatter = figures["zp_intrinsic_scatter_mag"]
    left.axhspan(-scatter, scatter, color="0.9", label=f"intrinsic scatter {scatter:.3f} mag")
    left.axhline(0.0, color="k", lw=0.8)
    left.errorbar(stars["catalogue_mag"][kept], residual[kept], yerr=stars["total_sigma"][kept],
                  fmt="o", ms=4, color="tab:blue", ecolor="0.6", lw=0.8,
                  label=f"used ({int(kept.sum())})")
    if (~kept).any():
        left.plot(stars["catalogue_mag"][~kept], _clipped(residual[~kept]), "x",
                  color="tab:red", ms=7, label=f"rejected ({int((~kept).sum())})")
    label_axes(left, with_unit(f"catalogue {band}", "mag"),
               with_unit("residual about the fit", "mag"),
               f"{figures['zp_catalog']} → {band} ({figures['zp_system']})")
    left.legend(fontsize=8, loc="best")
    _limit_y(left, residual)
    if has_colour:
        right = axes[0, 1]
        colour = stars["colour"]
        shifted = stars["delta"] - figures["zp_mag"]
        grid = np.linspace(np.nanmin(colour), np.nanmax(colour), 50)
        term = figures["zp_colour_term"]
        right.plot(grid, term * grid, color="k", lw=1.2,
                   label=f"k = {term:.3f} ± {figures['zp_colour_term_error']:.3f}"
                   + (" (fixed)" if figures["zp_colour_term_fixed"] else ""))
        right.plot(colour[kept], shifted[kept], "o", ms=4, color="tab:blue", label="used")
        if (~kept).any():
            right.plot(colour[~kept], _clipped(shifted[~kept]), "x", color="tab:red", ms=7,
                       label="rejected")
        label_axes(right, with_unit(f"catalogue colour {colour_name}", "mag"),
                   with_unit("catalogue - instrumental - ZP", "mag"),
                   f"ZP = {figures['zp_mag']:.3f} ± {figures['zp_error_mag']:.3f} mag, "
                   f"transformation: {figures['zp_transformation']}", title_size=9)
        right.legend(fontsize=8, loc="best")
        _limit_y(right, shifted)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


# Rejected stars further out than this are drawn at this distance, so all are seen.
_SHOWN_MAG = 0.8


def _clipped(values):
    return np.clip(values, -_SHOWN_MAG, _SHOWN_MAG)


def _limit_y(axis, values):
    """Show every star: far outliers are drawn at +-0.8 mag."""
    if len(values) == 0:
        return
    shown = _clipped(values)
    pad = 0.05 * max(np.ptp(shown), 0.2)
    axis.set_ylim(shown.min() - pad, shown.max() + pad)
