"""Per-frame QC figures: what an observer looks at first to trust a frame's photometry.

``qc_image.png``: a thumbnail of the frame (zscale) with the detections and the
PSF stars marked. ``qc_photometry.png``: magnitude error against magnitude for
each photometry method; PSF minus aperture magnitude against magnitude; the
astrometric residual vectors over the chip (when the astrometry step fitted a
WCS). The zero-point residuals are the zeropoint step's own figure
(``zeropoint.png``, :mod:`ccdphot.plots.zeropoint`). Small Agg figures, so
that drawing them costs a small fraction of the frame's time.
"""

import logging
import math

import numpy as np
from astropy.nddata import block_reduce

from ccdphot.plots.common import (agg_figure, label_axes, plain_log_y, save_png, table_values,
                                  with_unit, zscale_norm)

log = logging.getLogger(__name__)

QC_IMAGE = "qc_image.png"
QC_PHOTOMETRY = "qc_photometry.png"
_THUMBNAIL_PIX = 600
_KEY_STRIP = 0.12  # height of the astrometry panel's key strip, in chip heights
_METHODS = (("MAG_PSF", "MAGERR_PSF", "PSF (ALLSTAR)", "C3"),
            ("MAG_APER", "MAGERR_APER", "aperture", "C0"),
            ("MAG_AUTO", "MAGERR_AUTO", "AUTO (SExtractor)", "C2"))


def plot_thumbnail(image, table, path, title, psf_xy=None):
    """Thumbnail of ``image`` with the table's detections (X/Y_IMAGE) and ``psf_xy``
    (N, 2 FITS pixels) marked; written to ``path``."""
    ny, nx = image.shape
    factor = max(1, math.ceil(max(ny, nx) / _THUMBNAIL_PIX))
    small = block_reduce(np.nan_to_num(np.asarray(image, np.float32)), factor, func=np.mean)
    fig = agg_figure(6.0, 6.0 * ny / nx + 0.4)
    ax = fig.add_axes((0.11, 0.08, 0.86, 0.84))
    extent = (0.5, small.shape[1] * factor + 0.5, 0.5, small.shape[0] * factor + 0.5)
    ax.imshow(small, origin="lower", cmap="gray_r", norm=zscale_norm(small), extent=extent,
              interpolation="nearest")
    x, y = table_values(table, "X_IMAGE"), table_values(table, "Y_IMAGE")
    ax.scatter(x, y, s=9, facecolors="none", edgecolors="C0", linewidths=0.4,
               label=f"{np.isfinite(x).sum()} detections")
    if psf_xy is not None and len(psf_xy):
        ax.scatter(psf_xy[:, 0], psf_xy[:, 1], s=60, marker="s", facecolors="none",
                   edgecolors="C3", linewidths=1.0, label=f"{len(psf_xy)} PSF stars")
    ax.set_xlim(0.5, nx + 0.5)
    ax.set_ylim(0.5, ny + 0.5)
    label_axes(ax, with_unit("x", "pix"), with_unit("y", "pix"), title, title_size=9)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    return save_png(fig, path, dpi=90)


def _errors_panel(ax, table):
    for mag, err, label, colour in _METHODS:
        m, e = table_values(table, mag), table_values(table, err)
        ok = np.isfinite(m) & np.isfinite(e) & (e > 0)
        if ok.any():
            ax.plot(m[ok], e[ok], ".", ms=1.5, color=colour, label=f"{label} ({ok.sum()})")
    # decades only, as plain numbers: minor ticks and math-text labels cost most of the panel
    plain_log_y(ax)
    label_axes(ax, with_unit("instrumental magnitude", "mag"),
               with_unit("magnitude error", "mag"), "errors by method", title_size=9)
    ax.legend(fontsize=6, markerscale=4, loc="upper left")


def _psf_minus_aperture_panel(ax, table):
    psf, aper = table_values(table, "MAG_PSF"), table_values(table, "MAG_APER")
    ok = np.isfinite(psf) & np.isfinite(aper)
    diff = psf - aper
    median = float(np.median(diff[ok])) if ok.any() else 0.0
    ax.plot(aper[ok], np.clip(diff[ok], median - 1.0, median + 1.0), ".", ms=1.5, color="C3")
    ax.axhline(median, color="k", lw=0.8, label=f"median {median:+.3f} mag")
    ax.set_ylim(median - 1.05, median + 1.05)
    label_axes(ax, with_unit("MAG_APER", "mag"), with_unit("MAG_PSF − MAG_APER", "mag"),
               f"PSF − aperture ({ok.sum()} stars)", title_size=9)
    ax.legend(fontsize=7, loc="upper left")


def _astrometry_panel(ax, residuals, shape):
    from matplotlib.patches import Rectangle

    x, y = table_values(residuals, "X_IMAGE"), table_values(residuals, "Y_IMAGE")
    dra, ddec = table_values(residuals, "DRA_ARCSEC"), table_values(residuals, "DDEC_ARCSEC")
    rms = float(np.sqrt(np.mean(dra ** 2 + ddec ** 2))) if len(dra) else float("nan")
    key = float(np.round(max(rms, 0.01), 2 if rms < 1 else 1))
    scale = 0.08 * max(shape) / key  # the key arrow is 8 % of the chip long
    quiver = ax.quiver(x, y, dra * scale, ddec * scale, angles="xy", scale_units="xy", scale=1,
                       width=0.004, color="C0")
    quiver.set_clip_path(Rectangle((0.5, 0.5), shape[1], shape[0], transform=ax.transData))
    # the key sits in a strip above the chip, where no residual arrow starts
    top = shape[0] + 0.5 + _KEY_STRIP * shape[0]
    ax.axhline(shape[0] + 0.5, color="0.6", lw=0.6)
    ax.quiverkey(quiver, 0.06, 1.0 - 0.5 * _KEY_STRIP / (1.0 + _KEY_STRIP), key * scale,
                 f"{key:g} arcsec", labelpos="E", coordinates="axes",
                 fontproperties={"size": 7})
    ax.set_xlim(0.5, shape[1] + 0.5)
    ax.set_ylim(0.5, top)
    ax.set_aspect("equal")
    label_axes(ax, with_unit("x", "pix"), with_unit("y", "pix"),
               f"astrometric residuals (ΔRA cos δ, ΔDec)\n{len(x)} stars, RMS {rms:.3f} arcsec",
               title_size=8)


def plot_photometry_qc(table, path, title, shape, astrometry=None):
    """The photometry QC panels (see the module docstring) into one PNG at ``path``.

    ``astrometry`` is the astrometry step's per-star residual table, or None
    when the step fitted no WCS; its panel is then left out.
    """
    panels = [_errors_panel]
    if np.isfinite(table_values(table, "MAG_PSF")).any():
        panels.append(_psf_minus_aperture_panel)
    if astrometry is not None and len(astrometry):
        panels.append(lambda ax, t: _astrometry_panel(ax, astrometry, shape))
    width = 3.6 * len(panels)
    fig = agg_figure(width, 3.8)
    # fixed margins: tight_layout would cost more than drawing the panels
    fig.subplots_adjust(left=0.85 / width, right=1.0 - 0.15 / width, bottom=0.14, top=0.8,
                        wspace=0.38)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels):
        panel(ax, table)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    return save_png(fig, path, dpi=90)
