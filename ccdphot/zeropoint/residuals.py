"""Per-star residuals of a zero-point fit (for QC plots).

The zeropoint step writes them to ``work/zeropoint_stars.ecsv``; the write step
draws them against the catalogue magnitude.
"""

import numpy as np
from astropy import units as u
from astropy.table import Table

ZEROPOINT_STARS = "zeropoint_stars.ecsv"


def zeropoint_star_table(catalog_mag, delta_mag, fit, colour=None, band=""):
    """MAG_REF, DELTA_MAG (catalogue - instrumental), RESIDUAL_MAG (after the fitted
    zero point and colour term) and USED (kept by the clipping), one row per star."""
    model = fit["zp"] + (0.0 if colour is None or fit["k"] is None else fit["k"] * colour)
    table = Table({"MAG_REF": np.asarray(catalog_mag, float) * u.mag,
                   "DELTA_MAG": np.asarray(delta_mag, float) * u.mag,
                   "RESIDUAL_MAG": (np.asarray(delta_mag, float) - model) * u.mag,
                   "USED": np.asarray(fit["kept"], bool)})
    table.meta.update(band=band, zp_mag=fit["zp"])
    return table
