"""``write`` step: sky positions, QC figures in meta, the unified table products.

Runs last, also after a failed step, so whatever the frame reached is kept.
"""

import logging

from ccdphot.frame.qc_plots import write_qc_plots
from ccdphot.frame.table import sky_positions, write_photometry

log = logging.getLogger(__name__)

# Header keywords reported in the QC meta, with unit-carrying names.
_HEADER_QC = (("exptime_s", "EXPTIME"), ("filter", "FILTER"), ("airmass", "AIRMASS"),
              ("date_obs_utc", "DATE-OBS"), ("object", "OBJECT"))


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
            "with_sky_position": int((~ctx.table["ALPHA_J2000"].mask).sum()),
            **write_qc_plots(ctx)}
