"""``write`` step: sky positions, QC figures in meta, the unified table products.

Runs last, also after a failed step, so whatever the frame reached is kept.
"""

import logging

import numpy as np

from ..products import write_photometry

log = logging.getLogger(__name__)

# Header keywords reported in the QC meta, with unit-carrying names.
_HEADER_QC = (("exptime_s", "EXPTIME"), ("filter", "FILTER"), ("airmass", "AIRMASS"),
              ("date_obs_utc", "DATE-OBS"), ("object", "OBJECT"))


def sky_positions(table, wcs):
    """Fill ALPHA_J2000/DELTA_J2000 from the best pixel position of each row.

    The PSF position is used where the psf step measured one, else the
    detection position. Pixel coordinates are FITS (1-based), astropy's are 0-based.
    """
    use_psf = ~np.ma.getmaskarray(table["X_PSF"])
    x = np.where(use_psf, np.ma.getdata(table["X_PSF"]), np.ma.getdata(table["X_IMAGE"]))
    y = np.where(use_psf, np.ma.getdata(table["Y_PSF"]), np.ma.getdata(table["Y_IMAGE"]))
    known = ~(np.ma.getmaskarray(table["X_IMAGE"]) & ~use_psf)
    ra, dec = wcs.celestial.all_pix2world(x - 1.0, y - 1.0, 0)
    for name, values in (("ALPHA_J2000", ra), ("DELTA_J2000", dec)):
        table[name][known] = values[known]
        table[name].mask[known] = ~np.isfinite(values[known])


def run(ctx):
    for name, key in _HEADER_QC:
        value = ctx.header_value(key) if ctx.header is not None else None
        if value is not None and name not in ctx.qc:
            ctx.qc[name] = value
    if ctx.table is None:
        log.info("no photometry table to write (the frame stopped before detection)")
        return {"rows": 0}
    if ctx.wcs is not None:
        sky_positions(ctx.table, ctx.wcs)
    ctx.table.meta["qc"] = dict(ctx.qc)
    write_photometry(ctx.out_dir, ctx.table)
    return {"rows": len(ctx.table),
            "with_sky_position": int((~ctx.table["ALPHA_J2000"].mask).sum())}
