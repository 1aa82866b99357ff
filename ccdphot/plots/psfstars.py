"""A mosaic of cut-outs of the chosen PSF stars, for a look before trusting a PSF model."""

import logging
import math

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, MinMaxInterval

from ccdphot.plots.common import agg_figure, save_png

log = logging.getLogger(__name__)

_GAP_PIX = 2


def cutout_mosaic(image, x_pix, y_pix, half_size_pix):
    """One array of (2 h + 1)-pixel cut-outs around FITS positions, row by row.

    Each cut-out has its median subtracted and is divided by its peak, so
    stars of any brightness look alike; gaps and missing pixels are NaN.
    Returns (mosaic, number of columns).
    """
    size = 2 * half_size_pix + 1
    n = len(x_pix)
    columns = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    step = size + _GAP_PIX
    mosaic = np.full((rows * step - _GAP_PIX, columns * step - _GAP_PIX), np.nan)
    padded = np.pad(np.asarray(image, float), half_size_pix, constant_values=np.nan)
    for k, (x, y) in enumerate(zip(x_pix, y_pix)):
        # FITS (1-based) -> numpy index, shifted by the padding
        i, j = int(round(y)) - 1 + half_size_pix, int(round(x)) - 1 + half_size_pix
        h = half_size_pix
        cut = padded[i - h:i + h + 1, j - h:j + h + 1]
        cut = cut - np.nanmedian(cut)
        peak = np.nanmax(cut)
        row, col = divmod(k, columns)
        top = (rows - 1 - row) * step  # the first star at the top left (origin lower)
        mosaic[top:top + size, col * step:col * step + size] = cut / peak if peak > 0 else cut
    return mosaic, columns


def plot_psf_star_mosaic(image, stars, half_size_pix, path, title):
    """Cut-outs of ``stars`` (ID, X, Y, MAG; FITS pixels) labelled with ID and magnitude."""
    mosaic, columns = cutout_mosaic(image, np.asarray(stars["X"], float),
                                    np.asarray(stars["Y"], float), half_size_pix)
    rows = math.ceil(len(stars) / columns)
    step = 2 * half_size_pix + 1 + _GAP_PIX
    width = min(12.0, 1.3 * columns + 0.6)
    fig = agg_figure(width, width * mosaic.shape[0] / mosaic.shape[1] + 0.5)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 - 0.4 / fig.get_figheight()))
    ax.imshow(mosaic, origin="lower", cmap="viridis", interpolation="nearest",
              norm=ImageNormalize(vmin=-0.05, vmax=1.0, interval=MinMaxInterval(),
                                  stretch=AsinhStretch(0.05)))
    for k, star in enumerate(stars):
        row, col = divmod(k, columns)
        ax.text(col * step + 1, (rows - 1 - row) * step + 2 * half_size_pix - 1,
                f"{int(star['ID'])}  {float(star['MAG']):.2f}", color="white", fontsize=6,
                va="top")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return save_png(fig, path, dpi=100)
