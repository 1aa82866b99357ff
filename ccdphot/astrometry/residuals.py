"""Per-star residuals of an accepted WCS against its reference stars (for QC plots).

The astrometry step writes them to ``work/astrometry_residuals.ecsv``; the
write step draws them as residual vectors over the chip. The stars are paired
as the final quality check pairs them (:func:`ccdphot.astrometry.solve.final_quality`).
"""

import logging

import numpy as np
from astropy import units as u
from astropy.table import Table

from ccdphot.astrometry import wcsfit
from ccdphot.astrometry.solve import usable_stars

log = logging.getLogger(__name__)

RESIDUALS_TABLE = "astrometry_residuals.ecsv"


def residual_table(wcs, detections, reference, max_rms_pix):
    """X_IMAGE, Y_IMAGE (FITS pixels) and DRA_ARCSEC (times cos Dec), DDEC_ARCSEC of
    ``wcs(xy)`` minus the reference position, for the detections paired with a
    reference star within 2 ``max_rms_pix``."""
    stars = usable_stars(detections)
    xy = np.column_stack([stars["x_pix"], stars["y_pix"]])
    sky = wcsfit.on_sky(reference["ra"], reference["dec"])
    radius = 2.0 * max_rms_pix * wcsfit.pixel_scale_arcsec(wcs)
    i_xy, i_sky = wcsfit.match_with_wcs(wcs, xy, sky, radius)
    offsets = wcsfit.sky_offsets_arcsec(wcs, xy[i_xy], sky[i_sky])
    return Table({"X_IMAGE": xy[i_xy, 0] * u.pix, "Y_IMAGE": xy[i_xy, 1] * u.pix,
                  "DRA_ARCSEC": offsets[:, 0] * u.arcsec, "DDEC_ARCSEC": offsets[:, 1] * u.arcsec})
