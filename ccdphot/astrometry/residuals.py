"""Per-star residuals of an accepted WCS against its reference stars (for QC plots).

The astrometry step writes them to ``work/astrometry_residuals.ecsv``; the
write step draws them as residual vectors over the chip.
"""

from astropy import units as u
from astropy.table import Table

from ccdphot.astrometry.wcsfit import match_with_wcs, sky_offsets_arcsec

RESIDUALS_TABLE = "astrometry_residuals.ecsv"


def residual_table(wcs, xy, sky, radius_arcsec):
    """X_IMAGE, Y_IMAGE (FITS pixels) and DRA_ARCSEC (times cos Dec), DDEC_ARCSEC of
    ``wcs(xy)`` minus the matched reference position, for stars paired within the radius."""
    i_xy, i_sky = match_with_wcs(wcs, xy, sky, radius_arcsec)
    offsets = sky_offsets_arcsec(wcs, xy[i_xy], sky[i_sky])
    return Table({"X_IMAGE": xy[i_xy, 0] * u.pix, "Y_IMAGE": xy[i_xy, 1] * u.pix,
                  "DRA_ARCSEC": offsets[:, 0] * u.arcsec, "DDEC_ARCSEC": offsets[:, 1] * u.arcsec})
