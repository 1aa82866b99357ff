"""How much a stack gained: background noise, limiting magnitude, position agreement.

Figures for the user (``ccdphot stack`` reports the noise ratio) and for the
tests and benchmarks that check a stack against its single frames.
"""

import logging

import numpy as np
from astropy.convolution import convolve
from astropy.stats import mad_std, sigma_clip
from photutils.background import Background2D
from photutils.segmentation import detect_sources, make_2dgaussian_kernel
from scipy.ndimage import binary_dilation

from ccdphot.astrometry.starmatch import cross_match

log = logging.getLogger(__name__)

_EDGE_PIX = 16
_MAG_PER_SNR = 2.5 / np.log(10.0)


def _central(array, size):
    ny, nx = array.shape
    y0, x0 = max((ny - size) // 2, 0), max((nx - size) // 2, 0)
    return array[y0:y0 + size, x0:x0 + size]


def background_noise_adu(data, valid=None, box_pix=64, size_pix=512):
    """Robust per-pixel noise of the sky (ADU) in the central ``size_pix`` square.

    The smooth background (photutils ``Background2D``) is subtracted; pixels of
    sources above 2 sigma, grown by 4 pixels, the edges and pixels outside
    ``valid`` are left out.
    """
    data = _central(np.asarray(data, dtype=float), size_pix)
    valid = np.isfinite(data) if valid is None else \
        _central(np.asarray(valid, bool), size_pix) & np.isfinite(data)
    bad = ~valid
    bad[:_EDGE_PIX, :] = bad[-_EDGE_PIX:, :] = True
    bad[:, :_EDGE_PIX] = bad[:, -_EDGE_PIX:] = True
    background = Background2D(np.where(bad, np.nanmedian(data[~bad]), data), box_pix,
                              filter_size=3, mask=bad)
    residual = data - background.background
    smoothed = convolve(np.where(bad, 0.0, residual), make_2dgaussian_kernel(2.0, size=5))
    segments = detect_sources(smoothed, 2.0 * background.background_rms, 5)  # >= 5 pixels
    if segments is not None:
        bad |= binary_dilation(segments.data > 0, iterations=4)
    return float(mad_std(residual[~bad]))


def limiting_magnitude(table, snr=5.0, mag="MAG_AUTO", err="MAGERR_AUTO"):
    """Magnitude at which the signal-to-noise ratio falls to ``snr``.

    log10(error) is fitted as a straight line of magnitude over the stars with
    errors between 0.05 and 0.5 mag (outliers clipped) and solved for the error
    of that S/N (1.0857 / snr). NaN with fewer than ten such stars.
    """
    m = np.ma.filled(np.ma.asarray(table[mag]).astype(float), np.nan)
    e = np.ma.filled(np.ma.asarray(table[err]).astype(float), np.nan)
    use = np.isfinite(m) & np.isfinite(e) & (e > 0.05) & (e < 0.5) & (m < 90)
    if use.sum() < 10:
        return float("nan")
    x, y = m[use], np.log10(e[use])
    keep = np.ones(len(x), bool)
    for _ in range(3):
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        keep = ~sigma_clip(y - (slope * x + intercept), sigma=3.0).mask
    return float((np.log10(_MAG_PER_SNR / snr) - intercept) / slope)


def position_offsets(table, reference, radius_pix=1.0, max_error_mag=0.02,
                     x="X_IMAGE", y="Y_IMAGE", err="MAGERR_AUTO"):
    """(dx, dy) in pixels of well-measured stars of ``table`` from their twins in ``reference``.

    Both tables are on the same pixel grid (a stack on its reference frame's
    grid); stars with an error below ``max_error_mag`` and FLAGS 0 in both are
    paired as mutual nearest neighbours within ``radius_pix``.
    """
    def good_xy(t):
        ok = (np.ma.filled(np.ma.asarray(t[err]).astype(float), np.inf) < max_error_mag)
        if "FLAGS" in t.colnames:
            ok &= np.ma.filled(np.ma.asarray(t["FLAGS"]), 1) == 0
        return np.column_stack([np.asarray(t[x], float), np.asarray(t[y], float)])[ok]

    xy, ref = good_xy(table), good_xy(reference)
    i_xy, i_ref = cross_match(xy, ref, radius_pix)
    return xy[i_xy] - ref[i_ref]
