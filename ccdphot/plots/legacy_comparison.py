"""``legacy_comparison.png``: how a new PSF photometry agrees with a legacy ALLSTAR list.

Three panels: Δmag minus the offset against the legacy magnitude (precise stars
and outliers marked), the robust scatter per magnitude bin against the target,
and the position differences of the matched stars within the match radius.
Drawn from the table and summary of
:func:`ccdphot.daophot.legacy_comparison.compare_to_legacy`.
"""

import logging

import numpy as np

from ccdphot.plots.common import (agg_figure, float_values, label_axes, plain_log_y, save_png,
                                  with_unit)

log = logging.getLogger(__name__)

# |Δmag - offset| shown; outliers beyond it are drawn on its edge
_SHOWN_MAG = 0.5


def _dmag_panel(ax, table, summary):
    matched = np.asarray(table["MATCHED"], bool)
    outlier = np.asarray(table["OUTLIER"], bool)
    precise = np.asarray(table["PRECISE"], bool)
    mag = float_values(table["MAG_LEGACY"])
    dmag = float_values(table["DMAG"]) - summary["median_dmag_mag"]
    normal = matched & ~outlier
    ax.plot(mag[normal & ~precise], dmag[normal & ~precise], ".", ms=2, color="0.6",
            label="matched")
    ax.plot(mag[normal & precise], dmag[normal & precise], ".", ms=3, color="C0",
            label=f"legacy error < {summary['precise_err_mag']:g} mag")
    edge = 0.98 * _SHOWN_MAG
    ax.plot(mag[outlier], np.clip(dmag[outlier], -edge, edge), "x", ms=4, color="C3",
            label=f"outliers ({summary['n_outliers']})")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_ylim(-_SHOWN_MAG, _SHOWN_MAG)
    label_axes(ax, with_unit("legacy ALLSTAR magnitude", "mag"),
               with_unit(f"Δmag − offset ({summary['median_dmag_mag']:+.4f})", "mag"))
    ax.legend(fontsize=7, loc="upper left")


def _scatter_panel(ax, summary):
    bins = summary["bins"]
    target = summary["target_scatter_mag"]
    scatter = np.asarray(bins["ROBUST_SCATTER_MAG"], float) if len(bins) else np.array([])
    if len(bins):
        centre = 0.5 * (np.asarray(bins["MAG_LO"]) + np.asarray(bins["MAG_HI"]))
        ax.plot(centre, scatter, "o-", color="C0")
    ax.axhline(target, color="C3", ls="--", lw=0.8, label=f"target {target:g} mag")
    plain_log_y(ax)
    shown = scatter[np.isfinite(scatter) & (scatter > 0)]
    ax.set_ylim(bottom=0.7 * min(target, shown.min() if shown.size else target))
    label_axes(ax, with_unit("legacy ALLSTAR magnitude", "mag"),
               with_unit("robust scatter 1.4826·MAD of Δmag", "mag"))
    ax.legend(fontsize=7)


def _position_panel(ax, table, radius):
    from matplotlib.patches import Circle

    matched = np.asarray(table["MATCHED"], bool)
    dx, dy = float_values(table["DX_PIX"]), float_values(table["DY_PIX"])
    ax.plot(dx[matched], dy[matched], ".", ms=2, color="C0")
    ax.add_patch(Circle((0, 0), radius, fill=False, color="C3", lw=0.8))
    ax.set_xlim(-radius * 1.1, radius * 1.1)
    ax.set_ylim(-radius * 1.1, radius * 1.1)
    ax.set_aspect("equal")
    label_axes(ax, with_unit("Δx", "pix"), with_unit("Δy", "pix"))


def plot_legacy_comparison(table, summary, path):
    """Draw the comparison (see the module docstring) into a PNG at ``path``."""
    fig = agg_figure(11, 4.2)
    ax_mag, ax_bin, ax_xy = fig.subplots(1, 3)
    _dmag_panel(ax_mag, table, summary)
    _scatter_panel(ax_bin, summary)
    radius = summary["match_radius_pix"]
    _position_panel(ax_xy, table, radius)
    fig.suptitle(f"{summary['n_matched']}/{summary['n_legacy']} legacy stars matched within "
                 f"{radius:g} pix ({100 * summary['matched_fraction']:.1f} %), robust scatter "
                 f"{summary['robust_scatter_mag']:.4f} mag ({summary['n_precise_matched']} stars)",
                 fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
